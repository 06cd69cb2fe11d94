"""Evidence anchored outside the record store (bằng chứng được neo bên ngoài cơ sở dữ liệu):
checkpoints signed by the service seal and timestamped, kept in an append-only store
(:mod:`core.evidence.checkpoints`, :mod:`core.evidence.store`), their sections
(:mod:`core.evidence.sections`), and the integrity check that compares the record store with
them (:mod:`core.evidence.integrity`, ``sohoa verify-integrity``)."""
