"""Alembic environment: the engine comes from core (see core.storage.migrate)."""
from alembic import context

from core.storage.db import make_engine
from core.storage.models import Base

config = context.config
target_metadata = Base.metadata


def include_object(obj, name, type_, reflected, compare_to) -> bool:
    """What ``alembic check`` compares. On PostgreSQL ``logbook_entry`` is partitioned
    (migration 0009): its partitions are storage, not tables of the model, and the references
    to it are enforced by triggers, since PostgreSQL has no foreign key to a partitioned
    table's ``id`` alone."""
    if type_ == "table" and reflected and name.startswith("logbook_entry_"):
        return False
    if type_ == "foreign_key_constraint" and obj.referred_table.name == "logbook_entry" \
            and context.get_bind().dialect.name == "postgresql":
        return False
    return True


def run_migrations_online() -> None:
    engine = config.attributes.get("engine") or make_engine(config.get_main_option("sqlalchemy.url"))
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
            include_object=include_object,
        )
        with context.begin_transaction():
            context.run_migrations()
        connection.commit()


run_migrations_online()
