"""Least privilege on PostgreSQL: the console, the API and the jobs connect as a runtime role that
owns nothing. Connected as it — what an attacker holding the application's credentials holds —
each statement that would let them rewrite evidence is refused: disabling or dropping a trigger,
``session_replication_role``, changing or removing evidence, creating objects, taking another
role. The product's own work succeeds as that role (the scenario of tests/evidence/_insider.py
did all of it as the runtime role), and ``sohoa init --roles`` sets it up, idempotently, even when
two set-ups race for the same cluster-wide roles."""
import subprocess
import sys
import uuid

import psycopg
import pytest
from psycopg import sql as pgsql

from core.kernel.vocabulary import EntryStatus, TranscriptStatus, WeekCloseStatus
from core.storage.privileges import EVIDENCE_TABLES, role_url, runtime_privileges
from core.storage.scratch import create_scratch_database, drop_scratch_database
from tests.evidence._insider import OWNER, ROOT, RUNTIME, libpq, online, record, scenario  # noqa: F401

#: (statement, why it must be refused); ``{issued}`` and ``{cancelled}`` are transcripts' ids.
FORBIDDEN = [
    ("ALTER TABLE audit_event DISABLE TRIGGER ALL", "only an owner disables triggers"),
    ("ALTER TABLE transcript DISABLE TRIGGER transcript_no_change", "only an owner disables triggers"),
    ("SET session_replication_role = replica", "a superuser's setting: it turns every trigger off"),
    ("SELECT set_config('session_replication_role', 'replica', false)", "the same, as a function"),
    ("DROP TRIGGER transcript_no_change ON transcript", "only an owner drops triggers"),
    ("DROP TRIGGER audit_event_no_change ON audit_event", "only an owner drops triggers"),
    ("CREATE TRIGGER sneak BEFORE UPDATE ON logbook_entry FOR EACH ROW EXECUTE FUNCTION sohoa_entry_reference()",
     "no TRIGGER privilege"),
    ("CREATE OR REPLACE FUNCTION transcript_immutable() RETURNS trigger LANGUAGE plpgsql AS "
     "$$ BEGIN RETURN NEW; END $$", "the trigger's function belongs to the owner"),
    ("ALTER FUNCTION sohoa_entry_year_partition(integer) SECURITY INVOKER", "only the owner alters it"),
    ("CREATE TABLE shadow (id int)", "no CREATE in the schema"),
    ("CREATE FUNCTION now2() RETURNS int LANGUAGE sql AS 'SELECT 1'", "no CREATE in the schema"),
    ("CREATE SCHEMA shadow", "no CREATE on the database"),
    ("CREATE RULE keep AS ON DELETE TO transcript DO INSTEAD NOTHING", "only an owner adds rules"),
    ("ALTER TABLE audit_event ADD COLUMN note text", "only an owner alters a table"),
    ("ALTER TABLE transcript OWNER TO {runtime}", "only an owner gives a table away"),
    ("DROP TABLE audit_event", "only an owner drops a table"),
    ("SET ROLE {owner}", "the runtime role is not a member of the owner"),
    ("ALTER SYSTEM SET log_statement = 'none'", "a superuser's command"),
    ("COPY audit_event FROM PROGRAM 'true'", "a superuser's command"),
    ("UPDATE audit_event SET reason = 'rewritten'", "evidence: insert and read only"),
    ("DELETE FROM audit_event", "evidence: insert and read only"),
    ("TRUNCATE audit_event", "no TRUNCATE anywhere (it skips row triggers)"),
    ("UPDATE submission SET received_at = received_at - interval '1 hour'", "the apps' receipts are evidence"),
    ("DELETE FROM submission", "the apps' receipts are evidence"),
    ("TRUNCATE submission", "no TRUNCATE anywhere"),
    ("UPDATE subject_confirmation SET results_hash = 'x'", "signed confirmations are evidence"),
    ("DELETE FROM week_reopen", "reopen reasons are evidence"),
    ("UPDATE received_transcript SET document = 'x'", "received transcripts are evidence"),
    ("DELETE FROM transcript WHERE id = {issued}", "records are never deleted"),
    ("TRUNCATE transcript", "no TRUNCATE anywhere (it would skip the trigger)"),
    ("DELETE FROM week_close", "records are never deleted"),
    ("DELETE FROM logbook_entry", "records are never deleted"),
    ("TRUNCATE logbook_entry", "no TRUNCATE anywhere"),
    ("DELETE FROM audit_head", "a chain's head only moves forward"),
    ("UPDATE logbook_entry_y2025_h0 SET status = 'on_time'", "partitions are written through their table only"),
    ("DELETE FROM logbook_entry_y2025_h1", "partitions are written through their table only"),
    ("UPDATE transcript SET school_id = school_id + 1 WHERE id = {issued}", "the trigger: school frozen once issued"),
    ("UPDATE transcript SET homeroom_signed_by = principal_signed_by WHERE id = {issued}",
     "the trigger: signers frozen once issued"),
    ("UPDATE transcript SET document = 'forged' WHERE id = {issued}", "the trigger: the PDF frozen once issued"),
    ("UPDATE transcript SET status = 'issued' WHERE id = {cancelled}", "the trigger: a cancelled one never changes"),
    ("UPDATE transcript SET status = 'draft' WHERE id = {issued}", "the trigger: issued only becomes cancelled"),
]


@pytest.mark.parametrize("statement,why", FORBIDDEN, ids=[s.split(" WHERE")[0][:60] for s, _ in FORBIDDEN])
def test_the_runtime_role_is_refused(record, statement, why):
    text = statement.format(runtime=RUNTIME, owner=OWNER, issued=record.ids["issued"],
                            cancelled=record.ids["cancelled"])
    with psycopg.connect(libpq(record.runtime_url), autocommit=True) as conn:
        assert conn.execute("SELECT current_user").fetchone()[0] == RUNTIME
        with pytest.raises((psycopg.errors.InsufficientPrivilege, psycopg.errors.RaiseException)) as refused:
            conn.execute(text)
        assert refused.value.sqlstate in ("42501", "P0001"), why


def test_the_runtime_role_owns_nothing_and_evidence_is_append_only(record):
    with psycopg.connect(libpq(record.url)) as conn:
        owned = conn.execute("""
            SELECT (SELECT count(*) FROM pg_class WHERE relowner = r.oid)
                 + (SELECT count(*) FROM pg_proc WHERE proowner = r.oid)
                 + (SELECT count(*) FROM pg_namespace WHERE nspowner = r.oid)
            FROM pg_roles r WHERE rolname = %s""", (RUNTIME,)).fetchone()[0]
        assert owned == 0
        power = conn.execute("SELECT rolsuper, rolcreaterole, rolcreatedb, rolbypassrls, rolreplication "
                             "FROM pg_roles WHERE rolname = %s", (RUNTIME,)).fetchone()
        assert power == (False, False, False, False, False)
        for table in EVIDENCE_TABLES:
            granted = {p for p in ("SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES", "TRIGGER")
                       if conn.execute("SELECT has_table_privilege(%s, %s, %s)", (RUNTIME, table, p)).fetchone()[0]}
            assert granted == {"SELECT", "INSERT"} == set(runtime_privileges(table)), table
        assert conn.execute("SELECT has_table_privilege(%s, 'audit_head', 'UPDATE')", (RUNTIME,)).fetchone()[0]
    with psycopg.connect(libpq(record.runtime_url), autocommit=True) as conn:  # granting oneself more does nothing
        conn.execute(pgsql.SQL("GRANT UPDATE ON audit_event TO {}").format(pgsql.Identifier(RUNTIME)))
        assert not conn.execute("SELECT has_table_privilege('audit_event', 'UPDATE')").fetchone()[0]


def test_the_products_work_succeeded_as_the_runtime_role(record):
    """The scenario signed periods through the service and the API's batch, closed the week,
    issued, cancelled and re-issued transcripts, inserted a school year — all as the runtime role."""
    with psycopg.connect(libpq(record.url)) as conn:
        statuses = dict(conn.execute("SELECT id, status FROM logbook_entry WHERE id = ANY(%s)", (
            [record.ids["on_time"], record.ids["late"], record.ids["receipted"]],)).fetchall())
        assert statuses == {record.ids["on_time"]: EntryStatus.ON_TIME.value, record.ids["late"]: EntryStatus.LATE.value,
                            record.ids["receipted"]: EntryStatus.ON_TIME.value}
        # every signing leaves the server's receipt (the service's two and the API's one), each
        # placed in a sealed batch by the sealer, as the runtime role
        assert conn.execute("SELECT count(*), count(batch_id) FROM submission").fetchone() == (3, 3)
        assert conn.execute("SELECT status FROM week_close").fetchone()[0] == WeekCloseStatus.CLOSED.value
        transcripts = dict(conn.execute("SELECT id, status FROM transcript").fetchall())
        assert transcripts == {record.ids["issued"]: TranscriptStatus.ISSUED.value,
                               record.ids["cancelled"]: TranscriptStatus.CANCELLED.value,
                               record.ids["reissued"]: TranscriptStatus.DRAFT.value}
        actors = {a for (a,) in conn.execute("SELECT DISTINCT actor_name FROM audit_event")}
        assert {"lan", "binh", "system"} <= actors
    # a new school year, inserted by the runtime role: its partition is made, owned by the owner
    with psycopg.connect(libpq(record.runtime_url), autocommit=True) as conn:
        conn.execute("INSERT INTO school_year (department_id, name, start_date, end_date) "
                     "VALUES (%s, '2031-2032', '2031-09-05', '2032-05-31')", (record.ids["dep"],))
        owners = {o for (o,) in conn.execute("SELECT DISTINCT tableowner FROM pg_tables "
                                              "WHERE tablename LIKE 'logbook_entry_y2031%'")}
        assert owners == {OWNER}


def _init(url: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "core.cli", "--database", url, "init", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=300,
                          env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "HOME": str(ROOT)})


def test_sohoa_init_sets_up_the_roles_idempotently_and_grants_again(pg_server_url):
    url = create_scratch_database(pg_server_url, "sohoa_roles")
    try:
        for _ in range(2):
            done = _init(url, "--roles", "--owner", OWNER, "--runtime", RUNTIME)
            assert done.returncode == 0, done.stderr
            assert f"{RUNTIME} is the runtime role" in done.stdout and role_url(url, RUNTIME) in done.stdout
        with psycopg.connect(libpq(url), autocommit=True) as conn:
            owners = {o for (o,) in conn.execute("SELECT DISTINCT tableowner FROM pg_tables WHERE schemaname = 'public'")}
            assert owners == {OWNER}
            conn.execute(pgsql.SQL("GRANT DELETE ON audit_event TO {}").format(pgsql.Identifier(RUNTIME)))
        # a later migration as the owner (plain `sohoa init`) grants the runtime role again: least again
        done = _init(role_url(url, OWNER))
        assert done.returncode == 0 and f"runtime role {RUNTIME}: privileges granted again" in done.stdout, done.stderr
        with psycopg.connect(libpq(url)) as conn:
            assert not conn.execute("SELECT has_table_privilege(%s, 'audit_event', 'DELETE')",
                                    (RUNTIME,)).fetchone()[0]
    finally:
        drop_scratch_database(pg_server_url, url)


def test_two_set_ups_racing_for_new_roles_both_succeed(pg_server_url):
    """Roles are cluster-wide: two databases set up at the same moment (two test workers, two
    deployments on one cluster) both create the same new roles; neither fails."""
    tag = uuid.uuid4().hex[:8]
    owner, runtime = f"sohoa_race_{tag}_owner", f"sohoa_race_{tag}_app"
    urls = [create_scratch_database(pg_server_url, "sohoa_race") for _ in range(2)]
    try:
        inits = [subprocess.Popen([sys.executable, "-m", "core.cli", "--database", url, "init", "--roles",
                                   "--owner", owner, "--runtime", runtime], cwd=ROOT, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True, env={"PATH": "/usr/bin:/bin",
                                                                          "PYTHONPATH": str(ROOT), "HOME": str(ROOT)})
                 for url in urls]
        for init in inits:
            out, err = init.communicate(timeout=300)
            assert init.returncode == 0, err
        for url in urls:
            with psycopg.connect(libpq(role_url(url, runtime))) as conn:
                assert conn.execute("SELECT has_table_privilege('audit_event', 'INSERT') AND NOT "
                                    "has_table_privilege('audit_event', 'UPDATE')").fetchone()[0]
    finally:
        for url in urls:
            drop_scratch_database(pg_server_url, url)
        with psycopg.connect(libpq(pg_server_url), autocommit=True) as conn:
            for role in (runtime, owner):
                conn.execute(pgsql.SQL("DROP ROLE IF EXISTS {}").format(pgsql.Identifier(role)))


def test_creating_the_same_role_from_eight_sessions_at_once_is_not_an_error(pg_server_url):
    import threading

    from core.storage.privileges import create_role

    role, errors = f"sohoa_race_{uuid.uuid4().hex[:8]}", []
    start = threading.Barrier(8)
    sessions = [psycopg.connect(libpq(pg_server_url), autocommit=True) for _ in range(8)]

    def create(conn):
        start.wait()
        try:
            create_role(conn, role)
        except psycopg.Error as err:
            errors.append(err)

    try:
        threads = [threading.Thread(target=create, args=(c,)) for c in sessions]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert errors == []
        assert sessions[0].execute("SELECT count(*) FROM pg_roles WHERE rolname = %s", (role,)).fetchone()[0] == 1
    finally:
        for conn in sessions:
            conn.close()
        with psycopg.connect(libpq(pg_server_url), autocommit=True) as conn:
            conn.execute(pgsql.SQL("DROP ROLE IF EXISTS {}").format(pgsql.Identifier(role)))
