"""Least privilege in PostgreSQL (quyền tối thiểu): who may do what to the record store.

Two roles, besides the cluster's administrators:

- the **owner role** (``sohoa_owner``) owns the schema's tables, sequences and functions and
  runs the migrations (``sohoa init``). Only an owner (or a superuser) may disable a trigger,
  drop one, or change a table.
- the **runtime role** (``sohoa_app``) is what the console, the API and the jobs connect as. It
  owns nothing, may create nothing, may not change ``session_replication_role`` (a superuser's
  setting), and has only the privileges its work needs (:func:`runtime_privileges`):

  ======================== ===================================== ===============================
  tables                    runtime privileges                    why
  ======================== ===================================== ===============================
  :data:`EVIDENCE_TABLES`   SELECT, INSERT (and the sealer's      once written, evidence stays
                            UPDATE of a receipt's batch and
                            index, once: a trigger)
  :data:`RECORD_TABLES`     SELECT, INSERT, UPDATE                the workflows move records
                                                                  forward (triggers guard what is
                                                                  final); never deleted
  the others                SELECT, INSERT, UPDATE, DELETE        the school's working data
  ``alembic_version``       SELECT                                the schema's version
  ======================== ===================================== ===============================

  Never TRUNCATE (it bypasses row triggers), REFERENCES or TRIGGER. Partitions of a table get
  SELECT only: the parent's privileges are what is checked when the runtime role goes through
  it, and nobody may write a partition directly. Sequences: USAGE, SELECT, UPDATE (bulk loads
  move them with ``setval``). Functions: EXECUTE only where granted (the school year's partition,
  a ``SECURITY DEFINER`` function of the owner, migration 0012).

:func:`prepare_roles` (``sohoa init --roles`` and ``sohoa setup --roles``) checks what it is
given and calls :func:`setup_roles`, which creates both roles if needed, hands every object of
the schema to the owner, runs the migrations as the owner and grants; :func:`grant_runtime`
(also run by a plain ``sohoa init`` when a runtime role was set up) grants again after a
migration. Both are idempotent, and creating a role that another process creates at the same
moment is not an error (roles are cluster-wide: two databases' set-ups may race).
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import psycopg
from psycopg import sql

from core.kernel.errors import BadRequest
from core.storage.db import make_engine, normalise_url
from core.storage.migrate import upgrade

OWNER_ROLE, RUNTIME_ROLE = "sohoa_owner", "sohoa_app"

#: Evidence (bằng chứng): the runtime role appends and reads, never changes or removes. The
#: audit trail, the apps' signing receipts, the subject teachers' signed confirmations, the
#: reasons weeks were reopened, the transcripts received from other schools.
EVIDENCE_TABLES = ("audit_event", "submission", "receipt_batch", "subject_confirmation", "week_reopen",
                   "received_transcript")
#: Columns of evidence the runtime role may set once: the sealer places each receipt in its
#: batch (a trigger of migration 0011 refuses any other change, and a second placing).
EVIDENCE_PLACED_ONCE = {"submission": ("batch_id", "leaf_index")}
#: Records that move forward and are never deleted: lesson entries (signed once), the weekly
#: close, transcripts (issued ones frozen by triggers: core.transcripts.rules.lifecycle), the
#: heads of the audit chains (moved by every audit event), the certificate registry (revocations).
RECORD_TABLES = ("logbook_entry", "week_close", "transcript", "audit_head", "certificate")
READ_ONLY_TABLES = ("alembic_version",)
#: Functions the runtime role calls (directly or from a trigger running as it).
RUNTIME_FUNCTIONS = ("sohoa_entry_year_partition(integer)",)

_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def runtime_privileges(table: str) -> tuple[str, ...]:
    """What the runtime role may do to ``table`` (a table of the schema, not a partition)."""
    if table in EVIDENCE_TABLES:
        return ("SELECT", "INSERT")
    if table in RECORD_TABLES:
        return ("SELECT", "INSERT", "UPDATE")
    if table in READ_ONLY_TABLES:
        return ("SELECT",)
    return ("SELECT", "INSERT", "UPDATE", "DELETE")


def role_url(url: str, role: str) -> str:
    """``url`` with its user replaced by ``role`` (its password dropped: give the role's own
    password with ``PGPASSWORD``, a ``.pgpass`` file or the URL you configure)."""
    url = normalise_url(url)
    scheme, rest = url.split("://", 1)
    host = rest.rsplit("@", 1)[1] if "@" in rest.split("/", 1)[0] else rest
    return f"{scheme}://{role}@{host}"


def _libpq(url: str) -> str:
    return normalise_url(url).replace("postgresql+psycopg://", "postgresql://")


def _check_name(role: str) -> str:
    if not _NAME.match(role):
        raise ValueError(f"{role!r} is not a plain role name (lower-case letters, digits, _)")
    return role


def create_role(conn: psycopg.Connection, role: str) -> None:
    """A login role with no special power (idempotent, and safe when another session creates
    the same role at the same moment)."""
    _check_name(role)
    conn.execute(sql.SQL("""
        DO $$ BEGIN
            IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = {name}) THEN
                CREATE ROLE {role} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS;
            END IF;
        EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
        END $$""").format(name=sql.Literal(role), role=sql.Identifier(role)))


def setup_roles(admin_url: str, owner: str = OWNER_ROLE, runtime: str = RUNTIME_ROLE) -> None:
    """Make the database at ``admin_url`` (connected as a superuser, or a role that may create
    roles and owns the schema's objects) run with least privilege: the two roles, the schema's
    objects owned by ``owner``, the migrations run as ``owner``, the runtime grants and the
    default privileges of what the owner creates later. Idempotent."""
    if owner == runtime:
        raise ValueError("the owner and the runtime role must differ")
    url = _libpq(admin_url)
    with psycopg.connect(url, autocommit=True) as conn:
        for role in (owner, runtime):
            create_role(conn, role)
        schema = conn.execute("SELECT current_schema()").fetchone()[0]
        database = conn.execute("SELECT current_database()").fetchone()[0]
        ident = {"db": sql.Identifier(database), "schema": sql.Identifier(schema),
                 "owner": sql.Identifier(owner), "runtime": sql.Identifier(runtime)}
        conn.execute(sql.SQL("REVOKE CREATE ON SCHEMA {schema} FROM PUBLIC").format(**ident))
        conn.execute(sql.SQL("GRANT CONNECT ON DATABASE {db} TO {owner}, {runtime}").format(**ident))
        conn.execute(sql.SQL("GRANT USAGE, CREATE ON SCHEMA {schema} TO {owner}").format(**ident))
        conn.execute(sql.SQL("GRANT USAGE ON SCHEMA {schema} TO {runtime}").format(**ident))
        _hand_over(conn, schema, owner)
    owner_engine = make_engine(normalise_url(admin_url), connect_args={"options": f"-c role={owner}"})
    try:
        upgrade(owner_engine)
    finally:
        owner_engine.dispose()
    with psycopg.connect(url, autocommit=True, options=f"-c role={owner}") as conn:
        grant_runtime(conn, runtime)


@dataclass(frozen=True)
class RolesReady:
    """The two roles a set-up left ready, and the URLs to configure for them."""

    owner: str
    runtime: str
    owner_url: str  #: the migrations' (``migration_database_url``)
    runtime_url: str  #: the console's, the API's and the jobs' (``database_url``)


def prepare_roles(admin_url: str, owner: str = OWNER_ROLE, runtime: str = RUNTIME_ROLE) -> RolesReady:
    """Least privilege for the database at ``admin_url``, as ``sohoa init --roles`` and
    ``sohoa setup --roles`` both ask it: refused (:class:`~core.kernel.errors.BadRequest`) for
    the embedded database, which has no roles, for one name used for both roles and for a name
    that is not a plain role name; else :func:`setup_roles` (idempotent)."""
    url = normalise_url(admin_url)
    if not url.startswith("postgresql"):
        raise BadRequest("--roles is for PostgreSQL: the embedded database has no roles",
                         message_vi="--roles chỉ dùng với PostgreSQL: cơ sở dữ liệu nhúng không có vai trò")
    if owner == runtime:
        raise BadRequest("the owner and the runtime role must differ",
                         message_vi="Vai trò sở hữu và vai trò chạy ứng dụng phải khác nhau")
    for role in (owner, runtime):
        if not _NAME.match(role):
            raise BadRequest(f"{role!r} is not a plain role name (lower-case letters, digits, _)",
                             message_vi=f"{role!r} không phải tên vai trò hợp lệ (chữ thường, chữ số, _)")
    setup_roles(url, owner, runtime)
    return RolesReady(owner, runtime, role_url(url, owner), role_url(url, runtime))


def _hand_over(conn: psycopg.Connection, schema: str, owner: str) -> None:
    """Every table, sequence and function of ``schema`` (not the partitions: they follow their
    table) owned by ``owner``."""
    objects = conn.execute("""
        SELECT CASE c.relkind WHEN 'S' THEN 'SEQUENCE' ELSE 'TABLE' END, quote_ident(n.nspname) || '.' || quote_ident(c.relname)
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = %s AND c.relkind IN ('r', 'p', 'S') AND NOT c.relispartition
          AND pg_get_userbyid(c.relowner) <> %s
          AND NOT EXISTS (SELECT FROM pg_depend d WHERE d.objid = c.oid AND d.deptype IN ('a', 'i')
                          AND d.classid = 'pg_class'::regclass AND c.relkind = 'S')  -- a table's own
        UNION ALL
        SELECT 'FUNCTION', p.oid::regprocedure::text FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
        WHERE n.nspname = %s AND pg_get_userbyid(p.proowner) <> %s""", (schema, owner, schema, owner)).fetchall()
    for kind, name in objects:
        conn.execute(sql.SQL("ALTER {kind} {name} OWNER TO {owner}").format(
            kind=sql.SQL(kind), name=sql.SQL(name), owner=sql.Identifier(owner)))
    # partitions made before (by whoever ran the migrations) follow their table's owner
    for (name,) in conn.execute("""
            SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = %s AND c.relispartition AND pg_get_userbyid(c.relowner) <> %s""",
                                (schema, owner)).fetchall():
        conn.execute(sql.SQL("ALTER TABLE {name} OWNER TO {owner}").format(
            name=sql.SQL(name), owner=sql.Identifier(owner)))


def grant_runtime(conn: psycopg.Connection, runtime: str) -> None:
    """The runtime role's privileges on every table, sequence and function of the current
    schema, and the default privileges of what the connected role (the owner) creates later
    (fail closed: a new table is readable until this runs again). Idempotent."""
    schema = conn.execute("SELECT current_schema()").fetchone()[0]
    ident = {"schema": sql.Identifier(schema), "runtime": sql.Identifier(_check_name(runtime))}
    tables = conn.execute("""
        SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname), c.relispartition,
               (SELECT r.relname FROM pg_class r WHERE r.oid = pg_partition_root(c.oid))
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = %s AND c.relkind IN ('r', 'p')""", (schema,)).fetchall()
    for name, is_partition, root in tables:
        target = sql.SQL(name)
        conn.execute(sql.SQL("REVOKE ALL ON TABLE {t} FROM {runtime}").format(t=target, **ident))
        privileges = ("SELECT",) if is_partition else runtime_privileges(root or name.split(".")[-1].strip('"'))
        conn.execute(sql.SQL("GRANT {p} ON TABLE {t} TO {runtime}").format(
            p=sql.SQL(", ").join(sql.SQL(p) for p in privileges), t=target, **ident))
        placed = EVIDENCE_PLACED_ONCE.get(name.split(".")[-1].strip('"'))
        if placed and not is_partition:
            conn.execute(sql.SQL("GRANT UPDATE ({c}) ON TABLE {t} TO {runtime}").format(
                c=sql.SQL(", ").join(sql.Identifier(c) for c in placed), t=target, **ident))
    conn.execute(sql.SQL("GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA {schema} TO {runtime}")
                 .format(**ident))
    for function in RUNTIME_FUNCTIONS:
        if conn.execute("SELECT to_regprocedure(%s)", (function,)).fetchone()[0] is not None:
            conn.execute(sql.SQL("GRANT EXECUTE ON FUNCTION {f} TO {runtime}").format(
                f=sql.SQL(function), **ident))
    conn.execute(sql.SQL("ALTER DEFAULT PRIVILEGES IN SCHEMA {schema} GRANT SELECT ON TABLES TO {runtime}")
                 .format(**ident))
    conn.execute(sql.SQL("ALTER DEFAULT PRIVILEGES IN SCHEMA {schema} GRANT USAGE, SELECT, UPDATE ON SEQUENCES "
                         "TO {runtime}").format(**ident))
    conn.execute(sql.SQL("ALTER DEFAULT PRIVILEGES REVOKE EXECUTE ON FUNCTIONS FROM PUBLIC"))


def runtime_roles(conn: psycopg.Connection) -> list[str]:
    """The runtime roles set up for the connected (owner) role: those its default privileges
    name (how a plain ``sohoa init`` knows whom to grant to again after migrating)."""
    return [r for (r,) in conn.execute("""
        SELECT DISTINCT pg_get_userbyid(a.grantee) FROM pg_default_acl d, aclexplode(d.defaclacl) a
        WHERE d.defaclrole = (SELECT oid FROM pg_roles WHERE rolname = current_user)
          AND d.defaclobjtype = 'r' AND a.grantee <> 0 AND a.grantee <> d.defaclrole
        ORDER BY 1""").fetchall()]


def grant_again(url: str) -> list[str]:
    """After migrating as the owner (``url``): the runtime roles' grants made again; returns
    them (none when the database was never set up with roles, or is not PostgreSQL)."""
    if not normalise_url(url).startswith("postgresql"):
        return []
    with psycopg.connect(_libpq(url), autocommit=True) as conn:
        roles = runtime_roles(conn)
        for role in roles:
            grant_runtime(conn, role)
        return roles
