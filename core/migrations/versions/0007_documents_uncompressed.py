"""signed PDFs stored without TOAST compression

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01

A signed PDF is already compressed (Flate streams, a certificate chain, signature values):
PostgreSQL's pglz would spend CPU on every write of a transcript for next to nothing, and a
city issues 132,000 of them in one sitting, each written three times. STORAGE EXTERNAL keeps
them out of line, uncompressed. SQLite has no such setting.
"""
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

DOCUMENTS = (("transcript", "document"), ("received_transcript", "document"), ("week_close", "document"))


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table, column in DOCUMENTS:
            op.execute(f"ALTER TABLE {table} ALTER COLUMN {column} SET STORAGE EXTERNAL")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table, column in DOCUMENTS:
            op.execute(f"ALTER TABLE {table} ALTER COLUMN {column} SET STORAGE EXTENDED")
