"""Operations (vận hành): the scheduler and its jobs, backup and restore, logs and metrics."""
