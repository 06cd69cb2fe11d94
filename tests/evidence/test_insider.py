"""The database administrator, or anyone with superuser rights on PostgreSQL (the threat model), "fixes"
the record store quietly: triggers off, hashes recomputed. Every attack is done as they would do
it, in SQL as the superuser; ``sohoa verify-integrity`` — the core function and the command — must
list it, against the checkpoints signed by the service seal and kept outside the database. A clean
record store gives no discrepancy, so the check is not always red."""
import datetime as dt
import hashlib
import json
import os
from types import SimpleNamespace

from core.access import audit
from core.evidence.checkpoints import parse_file
from tests.evidence._insider import online, record, scenario  # noqa: F401 - fixtures


def findings(record, kind: str, subject: str) -> list:
    """The discrepancies of ``kind`` about ``subject`` the core function lists — and the command
    lists them too, in both languages, and exits 1."""
    found = record.check()
    chosen = [d for d in found if d.kind == kind and subject in d.subject]
    assert chosen, "\n".join(map(str, found)) or "no discrepancy at all"
    done = record.cli("verify-integrity")
    assert done.returncode == 1, done.stdout + done.stderr
    for d in chosen:
        assert d.message in done.stdout and d.message_vi in done.stdout, done.stdout
    return chosen


def test_a_clean_record_store_has_no_discrepancy(record):
    assert record.check() == []
    done = record.cli("verify-integrity")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Không phát hiện sai lệch nào / no discrepancy" in done.stdout


# ---------------------------------------------------------------- lesson entries
def test_an_entry_status_edited_with_triggers_off(record):
    """The late period becomes on time: its receipt time says late, and the week the homeroom
    teacher and the principal signed said late."""
    with record.superuser() as sql:
        sql.execute("UPDATE logbook_entry SET status = 'on_time' WHERE id = %s", (record.ids["late"],))
    entries = findings(record, "entry", f"entry {record.ids['late']}")  # the window; the sealed receipt too
    entry = next(d for d in entries if "signing window says late" in d.message)
    assert "ký muộn" in entry.message_vi
    weeks = findings(record, "week", "week close")
    assert any("differ from the week summary" in d.message for d in weeks)


def test_a_receipt_time_edited_to_fit_the_window(record):
    """The late period is moved into the window, status and receipt time together: the time
    inside the teacher's CMS signature and the signed week say otherwise."""
    with record.superuser() as sql:
        sql.execute("UPDATE logbook_entry SET status = 'on_time', signed_at = signed_at - interval '3 minutes' "
                    "WHERE id = %s", (record.ids["late"],))
    entries = findings(record, "entry", f"entry {record.ids['late']}")  # the CMS; the sealed receipt too
    assert any("is not the time inside the teacher's signature" in d.message for d in entries)
    findings(record, "week", "week close")


def test_an_app_receipt_rewritten(record):
    with record.superuser() as sql:
        sql.execute("UPDATE submission SET received_at = received_at - interval '1 hour', status = 'late'")
    receipts = findings(record, "receipt", "receipt")  # against its entry; and against its sealed leaf
    assert any(f"of entry {record.ids['receipted']}" in d.message for d in receipts)


# ---------------------------------------------------------------- transcripts
def test_an_issued_transcripts_pdf_swapped(record):
    with record.superuser() as sql:
        sql.execute("UPDATE transcript SET document = (SELECT document FROM transcript WHERE id = %s) "
                    "WHERE id = %s", (record.ids["cancelled"], record.ids["issued"]))
    [swap] = findings(record, "transcript", f"transcript {record.ids['issued']} ")
    assert "signed PDF" in swap.message and "tệp PDF đã ký" in swap.message_vi


def test_a_cancelled_transcript_uncancelled_with_the_trigger_disabled(record):
    with record.superuser(replica=False) as sql:
        sql.execute("ALTER TABLE transcript DISABLE TRIGGER transcript_no_change")
        sql.execute("UPDATE transcript SET status = 'issued', cancelled_at = NULL, cancel_reason = NULL WHERE id = %s",
                    (record.ids["cancelled"],))
        sql.execute("ALTER TABLE transcript ENABLE TRIGGER transcript_no_change")
    [uncancel] = findings(record, "transcript", f"transcript {record.ids['cancelled']} ")
    assert "as the rules forbid" in uncancel.message and "cancelled → issued" in uncancel.message
    assert "đã hủy → đã cấp" in uncancel.message_vi


def test_an_issued_transcript_moved_to_another_school_and_signer(record):
    with record.superuser() as sql:
        sql.execute("UPDATE transcript SET school_id = %s, principal_signed_by = %s WHERE id = %s",
                    (record.ids["B"], record.ids["dung"], record.ids["issued"]))
    [moved] = findings(record, "transcript", f"transcript {record.ids['issued']} ")
    assert "school" in moved.message and "principal who signed" in moved.message


def test_an_issued_transcript_deleted(record):
    with record.superuser() as sql:
        sql.execute("UPDATE transcript SET replaces_id = NULL WHERE replaces_id = %s", (record.ids["issued"],))
        sql.execute("DELETE FROM transcript WHERE id = %s", (record.ids["issued"],))
    [gone] = findings(record, "transcript", f"transcript {record.ids['issued']} ")
    assert "deleted" in gone.message


def test_a_transcript_cancelled_silently(record):
    """Cancelled without the service: no audit event says so."""
    with record.superuser() as sql:
        sql.execute("UPDATE transcript SET status = 'cancelled', cancelled_at = now() WHERE id = %s",
                    (record.ids["issued"],))
    [silent] = findings(record, "transcript", f"transcript {record.ids['issued']} ")
    assert "without an audit event" in silent.message


# ---------------------------------------------------------------- the weekly close
def test_a_week_summary_changed_to_match_edited_entries(record):
    """The careful attacker: an entry's status changed and the week's summary hash recomputed to
    match, so the record store agrees with itself; the checkpoint and the signatures do not."""
    from core.kernel.documents import week_document

    with record.superuser() as sql:
        sql.execute("UPDATE logbook_entry SET status = 'late' WHERE id = %s", (record.ids["on_time"],))
        week = sql.execute("SELECT s.code, c.name, w.number, w.monday FROM week_close k JOIN school s ON "
                           "s.id = k.school_id JOIN school_class c ON c.id = k.class_id JOIN school_week w ON "
                           "w.id = k.week_id").fetchone()
        entries = sql.execute("SELECT e.id, e.status, e.content_hash FROM logbook_entry e JOIN week_close k ON "
                              "k.class_id = e.class_id AND k.week_id = e.week_id").fetchall()
        summary = week_document(school_code=week[0], class_name=week[1], week_number=week[2], monday=week[3],
                                entries=[tuple(e) for e in entries])
        sql.execute("UPDATE week_close SET summary_hash = %s", (hashlib.sha256(summary).hexdigest(),))
    found = findings(record, "week", "week close")
    messages = " | ".join(d.message for d in found)
    assert "week summary signed" in messages and "signature does not verify over the week as it is now" in messages
    assert not any("differ from the week summary" in d.message for d in found)  # it agrees with itself


def test_a_closed_week_reopened_in_the_database(record):
    with record.superuser() as sql:
        sql.execute("UPDATE week_close SET status = 'open', principal_signature = NULL, closed_at = NULL")
    [week] = findings(record, "week", "week close")
    assert "as the rules forbid" in week.message


# ---------------------------------------------------------------- the audit trail
def _rewrite(sql, chain: int, from_seq: int, change) -> None:
    """Change the events of ``chain`` from ``from_seq`` on (``change`` edits their fields) and
    recompute every hash after them, and the head: a consistent rewrite."""
    columns = ["id", "chain", "seq", "at", "actor_id", "actor_name", "action", "entity", "entity_id", "school_id",
               "before", "after", "reason", "prev_hash", "hash"]
    rows = [SimpleNamespace(**dict(zip(columns, r))) for r in sql.execute(
        f"SELECT {', '.join(columns)} FROM audit_event WHERE chain = %s ORDER BY seq", (chain,)).fetchall()]
    prev = audit.GENESIS
    for event in rows:
        if event.seq >= from_seq:
            change(event)
            event.prev_hash = prev
            event.hash = audit._digest(prev, audit._fields(event))
            sql.execute("UPDATE audit_event SET after = %s, reason = %s, prev_hash = %s, hash = %s WHERE id = %s",
                        (json.dumps(event.after), event.reason, event.prev_hash, event.hash, event.id))
        prev = event.hash
    sql.execute("UPDATE audit_head SET hash = %s WHERE id = %s", (prev, chain))


def test_a_consistent_rewrite_of_the_audit_chain(record):
    from core.storage.db import Database, make_engine

    with record.superuser() as sql:
        chain, seq = sql.execute("SELECT chain, seq FROM audit_event WHERE action = 'transcript.cancel'").fetchone()
        _rewrite(sql, chain, seq, lambda event: setattr(event, "reason", "Học sinh chuyển trường")
                 if event.seq == seq else None)
    owner = Database(make_engine(record.url))
    with owner.reading() as session:
        assert audit.verify_chain(session).ok  # the record store agrees with itself…
    owner.engine.dispose()
    found = findings(record, "audit", f"audit chain {chain} event")  # …the checkpoint does not
    assert any("rewritten" in d.message for d in found)


def test_a_deleted_audit_event(record):
    with record.superuser() as sql:
        chain, seq = sql.execute("SELECT chain, seq FROM audit_event WHERE action = 'week.close'").fetchone()
        sql.execute("DELETE FROM audit_event WHERE chain = %s AND seq = %s", (chain, seq))
    [gone] = findings(record, "audit", f"audit chain {chain} event {seq}")
    assert "is missing" in gone.message and "bị mất" in gone.message_vi


def test_the_trail_cut_back_to_before_the_checkpoint(record):
    """The last events deleted and the head moved back: the chain is whole again, but shorter than
    the checkpoint says it was."""
    with record.superuser() as sql:
        chain, last = sql.execute("SELECT id, seq FROM audit_head ORDER BY seq DESC LIMIT 1").fetchone()
        sql.execute("DELETE FROM audit_event WHERE chain = %s AND seq > %s", (chain, last - 3))
        sql.execute("UPDATE audit_head SET seq = %s, hash = (SELECT hash FROM audit_event WHERE chain = %s AND "
                    "seq = %s) WHERE id = %s", (last - 3, chain, last - 3, chain))
    [cut] = findings(record, "audit", f"audit chain {chain} event {last}")
    assert "the event is gone" in cut.message


# ---------------------------------------------------------------- the checkpoints themselves
def _second_checkpoint(record):
    """Another checkpoint after a legitimate change (so that the chain of files has two links)."""
    from core.access.authz import SYSTEM
    from core.evidence.checkpoints import write_checkpoint
    from core.signatures import KeyStore
    from core.signatures.service import ServiceSeal

    with record.db.transaction() as session:
        audit.record(session, SYSTEM, "demo.note", "school", record.ids["A"], school_id=record.ids["A"])
    pki = record.scenario.pki
    seal = ServiceSeal(KeyStore(pki.directory).signer_for("service-seal"), f"{pki.responder_url}/tsa")
    return write_checkpoint(record.db, seal, record.store)


def test_a_checkpoint_file_edited(record):
    name = record.store.names()[0]
    path = record.store.path / name
    statement, attestation = parse_file(path.read_bytes())
    outer = json.loads(path.read_bytes())
    outer["statement"] = statement.decode().replace('"reason":"test"', '"reason":"edited"')
    os.chmod(path, 0o644)
    path.write_text(json.dumps(outer))
    edited = {d.message.split(" (")[0] for d in findings(record, "checkpoint", name)}
    assert edited == {"the seal's signature does not verify", "its timestamp does not hold",
                      "the file differs from the one the audit trail records"}


def test_a_checkpoint_file_deleted(record):
    second = _second_checkpoint(record)
    assert second is not None and record.check() == []
    first = record.store.names()[0]
    (record.store.path / first).unlink()
    found = findings(record, "checkpoint", first)
    assert {d.message for d in found} >= {"the checkpoint file is missing from the chain",
                                          "the audit trail records this checkpoint, but its file is gone from the store"}


def test_the_latest_checkpoint_file_deleted(record):
    """Nothing follows the last file in the chain: the audit trail's record of it is what tells."""
    second = _second_checkpoint(record)
    (record.store.path / second.name).unlink()
    [gone] = findings(record, "checkpoint", second.name)
    assert "its file is gone" in gone.message


def test_a_checkpoint_replaced_by_one_signed_with_another_certificate(record):
    """A teacher's valid certificate from the same CA is not the service seal."""
    from core.evidence.checkpoints import file_bytes
    from core.signatures import KeyStore
    from core.signatures.service import ServiceSeal

    pki = record.scenario.pki
    teacher = pki.issue_personal("insider-teacher", "Nguyễn Văn Gian")
    forger = ServiceSeal(KeyStore(pki.directory).signer_for(teacher.owner_key), f"{pki.responder_url}/tsa")
    name = record.store.names()[0]
    path = record.store.path / name
    statement, _ = parse_file(path.read_bytes())
    os.chmod(path, 0o644)
    path.write_bytes(file_bytes(statement, forger.attest(statement), forger.fingerprint))
    forged = {d.message for d in findings(record, "checkpoint", name)}
    assert "signed by another certificate than the service seal" in forged


def test_a_later_checkpoint_does_not_launder_a_forbidden_change(record):
    """The insider un-cancels a transcript and, knowing the code, appends a matching audit event
    with its hash computed the right way, so that the next periodic checkpoint anchors the forged
    state: the chain of checkpoints shows a change the lifecycle rule forbids."""
    from core.access.authz import SYSTEM
    from core.storage.db import Database, make_engine

    with record.superuser() as sql:
        sql.execute("UPDATE transcript SET status = 'issued', cancelled_at = NULL WHERE id = %s",
                    (record.ids["cancelled"],))
    owner = Database(make_engine(record.url))
    with owner.transaction() as session:
        from core.storage.models import Transcript
        from core.transcripts.facts import transcript_fact

        row = session.get(Transcript, record.ids["cancelled"])
        audit.record(session, SYSTEM, "transcript.cancel", "transcript", row.id, school_id=row.school_id,
                     after={"status": "issued", "fact": transcript_fact(row)}, reason="sửa lỗi")
    owner.engine.dispose()
    assert _second_checkpoint(record) is not None
    found = findings(record, "checkpoint", "checkpoint-00000002.json")
    assert any("changed between checkpoint-00000001.json and checkpoint-00000002.json as the rules forbid"
               in d.message and "cancelled → issued" in d.message for d in found)


# ---------------------------------------------------------------- when checkpoints are written
def test_a_weekly_close_through_the_api_is_anchored_moments_later(record, monkeypatch):
    """The API runs the checkpoint loop; the principal's close, once committed, is anchored by a
    checkpoint written moments later (not at the next hourly round), and the check stays clean."""
    import time

    from fastapi.testclient import TestClient

    from api.app import create_app
    from core.access.accounts import open_sessions
    from core.evidence.checkpoints import Checkpointer, read_checkpoints
    from core.kernel import clock
    from core.signatures import KeyStore
    from core.signatures.pki import DEFAULT_PIN
    from core.signatures.service import ServiceSeal
    from tests.evidence._insider import SATURDAY

    pki = record.scenario.pki
    seal = ServiceSeal(KeyStore(pki.directory).signer_for("service-seal"), f"{pki.responder_url}/tsa")
    loop = Checkpointer(record.db, seal, record.store, interval=3600, settle=0.2)
    monkeypatch.setattr(clock, "now", lambda: dt.datetime.combine(SATURDAY, dt.time(15)))
    app = create_app(record.db, pki.trust_store(), pki_dir=pki.directory, batch_window=0.001, warm=False,
                     token_cache_seconds=0, checkpoints=loop)
    tokens = open_sessions(record.db, ["minh", "binh"], authenticated_by="test", at=clock.now())
    week = f"/api/v1/classes/{record.ids['6A2']}/weeks/{record.ids['week1']}"
    with TestClient(app) as client:
        for who, step in (("minh", "homeroom-signature"), ("binh", "close")):
            r = client.post(f"{week}/{step}", json={"pin": DEFAULT_PIN},
                            headers={"Authorization": f"Bearer {tokens[who]}"})
            assert r.status_code == 200, r.text
        deadline = time.monotonic() + 60
        while not loop.written and time.monotonic() < deadline:
            time.sleep(0.1)
    assert [w.name for w in loop.written] == ["checkpoint-00000002.json"]
    checkpoints, problems = read_checkpoints(record.store, pki.trust_store(), seals=[seal.fingerprint])
    assert problems == [] and len(checkpoints) == 2
    anchored = checkpoints[1].sections["weeks"]["facts"]
    assert [(f["class_id"], f["status"]) for f in anchored.values()] == [(record.ids["6A2"], "closed")]
    assert record.check() == []


def test_sohoa_checkpoint_for_cron_writes_only_when_something_happened(record):
    done = record.cli("checkpoint")
    assert done.returncode == 0 and "nothing new since the last checkpoint" in done.stdout, done.stdout + done.stderr
    with record.db.transaction() as session:
        from core.access.authz import SYSTEM

        audit.record(session, SYSTEM, "demo.note", "school", record.ids["A"], school_id=record.ids["A"])
    done = record.cli("checkpoint")
    assert done.returncode == 0 and "checkpoint-00000002.json" in done.stdout, done.stdout + done.stderr
    assert record.store.names() == ["checkpoint-00000001.json", "checkpoint-00000002.json"]
    assert record.check() == []


def test_two_writers_racing_never_overwrite_each_other(record):
    """Two API workers' loops write at the same moment: one takes the next name, the other takes
    a fresh look and writes the one after; the chain of files holds."""
    import threading

    from core.evidence.checkpoints import write_checkpoint
    from core.signatures import KeyStore
    from core.signatures.service import ServiceSeal

    pki = record.scenario.pki
    seal = ServiceSeal(KeyStore(pki.directory).signer_for("service-seal"), f"{pki.responder_url}/tsa")
    start, written, errors = threading.Barrier(2), [], []

    def write():
        start.wait()
        try:
            written.append(write_checkpoint(record.db, seal, record.store, force=True))
        except Exception as err:  # noqa: BLE001 - reported below
            errors.append(err)

    threads = [threading.Thread(target=write) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert errors == [] and sorted(w.name for w in written) == ["checkpoint-00000002.json",
                                                                 "checkpoint-00000003.json"]
    assert record.check() == []
