"""receipt batches: the server's receipts as leaves of Merkle trees, sealed in a hash chain

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-08

Each receipt (``submission``) gains what its leaf attests beside what it had (the content's and
the signer's hashes), its leaf hash, and where the sealer put it (batch and index); each batch
(``receipt_batch``) keeps its statement, the service seal's CMS signature and the RFC 3161
timestamp token (core.logbook.receipts). Receipts kept before this revision have no leaf.

A receipt never changes once written, but for being placed once in a batch: a trigger refuses
any other update (its place set a second time included), on both databases.
"""
import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "receipt_batch",
        sa.Column("id", BigId, autoincrement=False, nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("root", sa.String(length=64), nullable=False),
        sa.Column("previous", sa.String(length=64), nullable=False),
        sa.Column("sealed_at", sa.DateTime(), nullable=False),
        sa.Column("statement", sa.LargeBinary(), nullable=False),
        sa.Column("signature", sa.LargeBinary(), nullable=False),
        sa.Column("timestamp", sa.LargeBinary(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_receipt_batch")),
    )
    with op.batch_alter_table("submission") as batch:
        batch.add_column(sa.Column("content_hash", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("signer_fingerprint", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("leaf_hash", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("batch_id", BigId, nullable=True))
        batch.add_column(sa.Column("leaf_index", sa.Integer(), nullable=True))
        batch.create_foreign_key(op.f("fk_submission_batch_id_receipt_batch"), "receipt_batch",
                                 ["batch_id"], ["id"])
        batch.create_unique_constraint(op.f("uq_submission_batch_id_leaf_index"), ["batch_id", "leaf_index"])
    unsealed = sa.text("batch_id IS NULL AND leaf_hash IS NOT NULL")  # the sealer's queue, oldest first
    op.create_index("ix_submission_unsealed", "submission", ["id"], postgresql_where=unsealed, sqlite_where=unsealed)
    frozen = ("user_id", "idempotency_key", "entry_id", "status", "received_at", "signature_hash", "content_hash",
              "signer_fingerprint", "leaf_hash")
    if op.get_bind().dialect.name == "postgresql":
        changed = " OR ".join(f"NEW.{c} IS DISTINCT FROM OLD.{c}" for c in frozen)
        op.execute(f"""
            CREATE FUNCTION submission_placed_once() RETURNS trigger AS $$
            BEGIN
                IF {changed} OR OLD.batch_id IS NOT NULL OR OLD.leaf_index IS NOT NULL THEN
                    RAISE EXCEPTION 'receipt % is evidence: it is only placed once in a batch', OLD.id;
                END IF;
                RETURN NEW;
            END $$ LANGUAGE plpgsql""")
        op.execute("CREATE TRIGGER submission_placed_once BEFORE UPDATE ON submission "
                   "FOR EACH ROW EXECUTE FUNCTION submission_placed_once()")
    else:
        changed = " OR ".join(f"NEW.{c} IS NOT OLD.{c}" for c in frozen)
        op.execute(f"""
            CREATE TRIGGER submission_placed_once BEFORE UPDATE ON submission
            WHEN {changed} OR OLD.batch_id IS NOT NULL OR OLD.leaf_index IS NOT NULL
            BEGIN SELECT RAISE(ABORT, 'a receipt is evidence: it is only placed once in a batch'); END""")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS submission_placed_once ON submission")
        op.execute("DROP FUNCTION IF EXISTS submission_placed_once()")
    else:
        op.execute("DROP TRIGGER IF EXISTS submission_placed_once")
    op.drop_index("ix_submission_unsealed", table_name="submission")
    with op.batch_alter_table("submission") as batch:
        batch.drop_constraint(op.f("uq_submission_batch_id_leaf_index"), type_="unique")
        batch.drop_constraint(op.f("fk_submission_batch_id_receipt_batch"), type_="foreignkey")
        for column in ("leaf_index", "batch_id", "leaf_hash", "signer_fingerprint", "content_hash"):
            batch.drop_column(column)
    op.drop_table("receipt_batch")
