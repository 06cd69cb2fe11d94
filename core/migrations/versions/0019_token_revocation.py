"""token revocation announced: on PostgreSQL, a session that ends (logout, revoke-all, an
account deactivated, a session deleted) and an account whose standing changes (deactivated, its
role or scope changed, its staff member moved school) are announced on the channel
``sohoa_session_ended`` at commit, so every API process evicts the tokens it cached at once
(core.access.accounts.TokenCache). Nothing on SQLite: the embedded mode is one process.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-07
"""
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None

#: payloads: ``s:<token hash>`` (a session), ``u:<user id>`` (an account), ``t:<staff id>`` (a staff member)
_FUNCTION = """
    CREATE OR REPLACE FUNCTION sohoa_announce_session_ended() RETURNS trigger AS $$
    BEGIN
        IF TG_TABLE_NAME = 'login_session' THEN
            PERFORM pg_notify('sohoa_session_ended', 's:' || OLD.token_hash);
        ELSIF TG_TABLE_NAME = 'user_account' THEN
            PERFORM pg_notify('sohoa_session_ended', 'u:' || OLD.id);
        ELSE
            PERFORM pg_notify('sohoa_session_ended', 't:' || OLD.id);
        END IF;
        RETURN NULL;
    END $$ LANGUAGE plpgsql
"""
_TRIGGERS = {
    "login_session_ended": "AFTER UPDATE OF ended_at ON login_session FOR EACH ROW "
                           "WHEN (OLD.ended_at IS NULL AND NEW.ended_at IS NOT NULL)",
    "login_session_deleted": "AFTER DELETE ON login_session FOR EACH ROW",
    "user_account_standing": "AFTER UPDATE ON user_account FOR EACH ROW WHEN ("
                             "OLD.active IS DISTINCT FROM NEW.active OR OLD.role IS DISTINCT FROM NEW.role "
                             "OR OLD.staff_id IS DISTINCT FROM NEW.staff_id OR OLD.school_id IS DISTINCT FROM NEW.school_id "
                             "OR OLD.department_id IS DISTINCT FROM NEW.department_id "
                             "OR OLD.district_id IS DISTINCT FROM NEW.district_id)",
    "staff_school_moved": "AFTER UPDATE OF school_id ON staff FOR EACH ROW "
                          "WHEN (OLD.school_id IS DISTINCT FROM NEW.school_id)",
}


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(_FUNCTION)
    for name, when in _TRIGGERS.items():
        op.execute(f"CREATE TRIGGER {name} {when} EXECUTE FUNCTION sohoa_announce_session_ended()")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for name, when in _TRIGGERS.items():
        op.execute(f"DROP TRIGGER IF EXISTS {name} ON {when.split(' ON ')[1].split()[0]}")
    op.execute("DROP FUNCTION IF EXISTS sohoa_announce_session_ended()")
