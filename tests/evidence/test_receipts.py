"""Records an insider cannot rewrite (THREATS.md: the database administrator; the teacher):
each attack done as the attacker would — SQL as a superuser, triggers disabled — and each
asserting detection.

- a lesson decided LATE rewritten ON_TIME, with its receipt time moved into the window: entry
  verification FAILED and the integrity check lists it — and so on up the evidence, as the
  attacker rewrites the receipt, re-hashes its leaf, recomputes the batch's root and restates the
  batch, re-signs it with a key they hold and timestamps it again: each step is detected by the
  next layer (leaf, root, seal, timestamp, chain, checkpoint);
- a forged inclusion proof for a decision the server never sealed: refused;
- a closed week whose entries changed after the homeroom teacher and the principal signed it:
  FAILED, for a week closed through the service (PDF and summary) and for the demo's closes
  (CMS over the summary).
"""
import base64
import datetime as dt
import json

import pytest
from sqlalchemy import func, select, text

from core.access.authz import SYSTEM
from core.demo.synthetic import Scale, generate
from core.kernel import merkle
from core.kernel.errors import NotFound
from core.kernel.vocabulary import EntryStatus, WeekCloseStatus
from core.logbook.entries import entry_bytes, generate_week, teaching_hours
from core.logbook.receipts import receipt_discrepancies, receipt_proof, receipts_anchor, verify_receipt
from core.logbook.rules.receipts import batch_hash, batch_statement, receipt_hash, receipt_leaf
from core.logbook.submissions import Receipt, SignatureSubmission, submit_signatures
from core.logbook.verification import verify_entry_signature, verify_week_document
from core.logbook.weekly_close import homeroom_sign_week, principal_close_week
from core.signatures import DemoPKI, TrustStore
from core.signatures.service import ServiceSeal
from core.storage.models import LogbookEntry, ReceiptBatch, Submission, WeekClose
from tests.evidence._receipts import sealing  # noqa: F401 - a fixture
from tests.world import MONDAY, build_world

P1_LATE = dt.datetime.combine(MONDAY, dt.time(7, 58))   # period 1 ends 07:45: late after 07:50:00
P1_ON_TIME = dt.datetime.combine(MONDAY, dt.time(7, 44))


def superuser(db, *statements):
    """The database administrator at work: raw SQL, and on PostgreSQL as superuser with every
    trigger of the session disabled (``session_replication_role = replica``); on the embedded
    default, whoever holds the file drops the guard of the receipts first."""
    with db.transaction() as s:
        if db.is_postgres:
            s.execute(text("SET LOCAL session_replication_role = replica"))
        else:
            s.execute(text("DROP TRIGGER IF EXISTS submission_placed_once"))
        for sql, params in statements:
            s.execute(text(sql), params)


def sign_late(w, sealing):
    """Lan's app signs Monday's period 1 of 6A1 thirteen minutes after it ended: LATE, by the
    server's clock (Hà's app signs period 3 on time); the receipts are sealed."""
    generate_week(w.db, SYSTEM, w.ids["A"], w.ids["week1"])
    w.trust = sealing.trust()
    entry = w.entry("6A1", MONDAY, 1)
    with w.db.reading() as s:
        data = entry_bytes(s, s.get(LogbookEntry, entry))
    signature = w.signer("lan").sign_detached(data, P1_ON_TIME)  # the phone's clock claims on time
    answer = submit_signatures(w.db, w.trust, [SignatureSubmission(w.actor("lan"), entry, signature, "k1")],
                               at=P1_LATE)[0]
    assert isinstance(answer, Receipt) and answer.status == EntryStatus.LATE
    other = w.entry("6A1", MONDAY, 3)  # Hà signs her period on time: the batch holds two receipts
    with w.db.reading() as s:
        data = entry_bytes(s, s.get(LogbookEntry, other))
    answer = submit_signatures(w.db, w.trust, [SignatureSubmission(
        w.actor("ha"), other, w.signer("ha").sign_detached(data, P1_ON_TIME), "k2")],
        at=dt.datetime.combine(MONDAY, dt.time(9, 20)))[0]
    assert isinstance(answer, Receipt) and answer.status == EntryStatus.ON_TIME
    sealing.seal_all(w.db)
    assert verify_entry_signature(w.db, w.actor("so"), entry, w.trust).valid
    return entry


def hours(w):
    return teaching_hours(w.db, w.actor("binh"), w.ids["lan"], MONDAY, MONDAY)["counted"]


def listed(w, trust, **kwargs):
    with w.db.reading() as s:
        return receipt_discrepancies(s, trust, **kwargs)


def test_a_late_lesson_rewritten_on_time_in_sql_is_detected_at_every_layer(world, sealing):
    w = world
    entry = sign_late(w, sealing)
    trust = sealing.trust()
    with w.db.reading() as s:
        anchor = receipts_anchor(s)  # a checkpoint kept outside the database (another engineer's part)
    assert hours(w) == 0 and listed(w, trust, anchored=anchor) == []

    # 1. the entry's row: LATE -> ON_TIME, its receipt time moved into the window; hours go up
    superuser(w.db, ("UPDATE logbook_entry SET status = 'on_time', signed_at = :t WHERE id = :id",
                     {"t": P1_ON_TIME, "id": entry}))
    assert hours(w) == 1
    report = verify_entry_signature(w.db, w.actor("so"), entry, trust)
    receipt = [s.verification for s in report.signatures if s.role == "receipt"][0]
    assert (report.indication, receipt.indication, receipt.sub_indication) == \
        ("FAILED", "FAILED", "SIG_CONSTRAINTS_FAILURE")
    assert "status: on_time in the database, late in the sealed receipt" in receipt.message
    assert "07:44:00 in the database, 13/10/2025 07:58:00 in the sealed receipt" in receipt.message
    found = listed(w, trust)
    assert [(d.kind, d.subject) for d in found] == [("entry", f"entry {entry}")]
    assert "status: on_time in the database, late in the sealed receipt" in found[0].message

    # 2. ...and the receipt row to match: its fields no longer give its sealed leaf
    superuser(w.db, ("UPDATE submission SET status = 'on_time', received_at = :t WHERE entry_id = :id",
                     {"t": P1_ON_TIME, "id": entry}))
    report = verify_entry_signature(w.db, w.actor("so"), entry, trust)
    assert (report.indication, report.sub_indication) == ("FAILED", "HASH_FAILURE")
    assert [(d.kind, d.subject) for d in listed(w, trust)] == [("receipt", f"entry {entry}")]

    # 3. ...re-hashed: the batch's leaves no longer give its sealed root
    with w.db.reading() as s:
        row = s.scalar(select(Submission).where(Submission.entry_id == entry))
        forged = receipt_hash(receipt_leaf(entry_id=entry, status="on_time", received_at=P1_ON_TIME,
                                           content_hash=row.content_hash, signature_hash=row.signature_hash,
                                           signer_fingerprint=row.signer_fingerprint))
        batch = s.get(ReceiptBatch, row.batch_id)
    superuser(w.db, ("UPDATE submission SET leaf_hash = :h WHERE entry_id = :id", {"h": forged, "id": entry}))
    assert verify_entry_signature(w.db, w.actor("so"), entry, trust).sub_indication == "HASH_FAILURE"
    assert "its receipts no longer give its sealed root" in " ".join(d.message for d in listed(w, trust))

    # 4. ...the root recomputed and the statement restated: the seal no longer covers it
    with w.db.reading() as s:
        leaves = [bytes.fromhex(h) for h in s.scalars(select(Submission.leaf_hash).where(
            Submission.batch_id == batch.id).order_by(Submission.leaf_index))]
    root = merkle.root(leaves).hex()
    statement = batch_statement(batch_id=batch.id, size=batch.size, root=root, previous=batch.previous,
                                sealed_at=batch.sealed_at)
    superuser(w.db, ("UPDATE receipt_batch SET root = :r, statement = :st WHERE id = :id",
                     {"r": root, "st": statement, "id": batch.id}))
    report = verify_entry_signature(w.db, w.actor("so"), entry, trust)
    assert (report.indication, report.sub_indication) == ("FAILED", "HASH_FAILURE")
    messages = " ".join(d.message for d in listed(w, trust))
    assert "its seal does not verify: FAILED HASH_FAILURE" in messages and "its timestamp does not verify" in messages

    # 5. ...re-signed with a key the attacker holds (a teacher's, from the trusted CA) and
    #    timestamped anew: not the department system's seal; and the chain no longer reaches
    #    the head a checkpoint anchored
    forger = ServiceSeal(w.signer("binh"), sealing.tsa_url).attest(statement)
    superuser(w.db, ("UPDATE receipt_batch SET signature = :sig, timestamp = :ts WHERE id = :id",
                     {"sig": forger.signature, "ts": forger.timestamp, "id": batch.id}))
    report = verify_entry_signature(w.db, w.actor("so"), entry, trust)
    assert (report.indication, report.sub_indication) == ("FAILED", "NOT_AUTHORISED_FOR_ROLE")
    found = listed(w, trust, anchored=anchor)
    assert "it is signed by another certificate than the service seal" in " ".join(d.message for d in found)
    assert any("differs from the anchored head" in d.message for d in found)
    assert hours(w) == 1  # the figure the attacker wanted is in the database, and every check says so


def test_a_forged_inclusion_proof_is_refused(world, sealing):
    """A teacher (or anyone) presents a proof of a decision the server never sealed: their LATE
    period as ON_TIME, with a path and index taken from a real proof."""
    w = world
    entry = sign_late(w, sealing)
    trust = sealing.trust()
    proof = receipt_proof(w.db, w.actor("lan"), entry)
    wanted = {**proof["leaf"], "status": "on_time", "received_at": "2025-10-13T07:44:00+07:00"}
    forged = json.loads(json.dumps({**proof, "leaf": wanted, "leaf_hash": receipt_hash(wanted)}))
    report = verify_receipt(forged, trust)
    assert (report.indication, report.sub_indication) == ("FAILED", "HASH_FAILURE") and not report.valid
    # an inner node passed off as the leaf (a second preimage): the leaf is re-hashed from its fields
    forged = json.loads(json.dumps({**proof, "leaf_hash": proof["batch"]["root"], "audit_path": []}))
    assert verify_receipt(forged, trust).sub_indication == "HASH_FAILURE"
    # a whole batch of the attacker's own, signed by a seal of their own PKI and timestamped
    own = DemoPKI.create(w.pki.directory.parent / "attacker")
    own.issue_service_seal()
    from core.signatures import KeyStore
    leaf = bytes.fromhex(receipt_hash(wanted))
    statement = batch_statement(batch_id=1, size=1, root=merkle.root([leaf]).hex(), previous="0" * 64,
                                sealed_at=dt.datetime(2025, 10, 13, 7, 44, 30))
    theirs_seal = KeyStore(own.directory).signer_for("service-seal")
    theirs = ServiceSeal(theirs_seal, sealing.tsa_url).attest(statement)
    fake = {**proof, "leaf": wanted, "leaf_hash": leaf.hex(), "leaf_index": 0, "audit_path": [],
            "batch": {**json.loads(statement), "statement": base64.b64encode(statement).decode()},
            "signature": base64.b64encode(theirs.signature).decode(),
            "timestamp": base64.b64encode(theirs.timestamp).decode(),
            "seal_certificate": base64.b64encode(theirs_seal.certificate_der).decode()}
    del fake["batch"]["format"]
    report = verify_receipt(json.loads(json.dumps(fake)), trust)
    assert report.indication == "INDETERMINATE" and report.sub_indication == "NO_CERTIFICATE_CHAIN_FOUND"
    # (well formed: with the attacker's anchors and seal pinned — and our TSA's — it would pass)
    theirs_trusted = TrustStore(own.trust_store().roots_der + trust.roots_der,
                                own.trust_store().intermediates_der + trust.intermediates_der,
                                seals=own.trust_store().seals)
    passed = verify_receipt(json.loads(json.dumps(fake)), theirs_trusted)
    assert passed.indication == "PASSED", passed


def test_a_week_changed_after_it_was_closed_fails(world, sealing):
    """The homeroom teacher and the principal closed week 1 of 6A1 (PDF and summary signed);
    then a missed period is marked on time in SQL: the week no longer verifies."""
    w = world
    entry = sign_late(w, sealing)
    saturday = dt.datetime.combine(MONDAY + dt.timedelta(days=5), dt.time(10, 0))
    homeroom_sign_week(w.db, w.actor("lan"), w.ids["6A1"], w.ids["week1"], w.signer("lan"), at=saturday)
    principal_close_week(w.db, w.actor("binh"), w.ids["6A1"], w.ids["week1"], w.signer("binh"),
                         at=saturday + dt.timedelta(hours=1))
    trust = sealing.trust()
    report = verify_week_document(w.db, w.actor("mon_a"), w.ids["6A1"], w.ids["week1"], trust)
    assert report.valid, report.signatures
    missed = w.entry("6A1", MONDAY, 2)
    superuser(w.db, ("UPDATE logbook_entry SET status = 'on_time' WHERE id = :id", {"id": missed}))
    report = verify_week_document(w.db, w.actor("mon_a"), w.ids["6A1"], w.ids["week1"], trust)
    assert (report.indication, report.sub_indication) == ("FAILED", "HASH_FAILURE")
    failed = {s.role: s.verification for s in report.signatures if not s.verification.valid}
    assert set(failed) == {"homeroom_summary", "principal_summary"}
    assert "the week's entries changed after it was signed" in failed["homeroom_summary"].message
    assert entry != missed


def test_the_demos_closes_and_receipts_verify_until_an_entry_is_changed(db, tmp_path):
    """The demo's weeks are closed with CMS signatures over the summary (no PDF) and its
    receipts sealed: all verify; an entry of a closed week changed in SQL fails both its own
    verification and its week's."""
    generate(db, Scale(districts=1, schools_per_district=1, classes_per_school=2, weeks=2, students_per_class=3,
                       seed=5), pki_dir=tmp_path / "pki", progress=False)
    trust = DemoPKI.load(tmp_path / "pki").trust_store()
    from core.access.authz import actor_by_username
    with db.reading() as s:
        so = actor_by_username(s, "so.giamsat")
        close = s.scalars(select(WeekClose).where(WeekClose.status == WeekCloseStatus.CLOSED,
                                                  WeekClose.document.is_(None)).order_by(WeekClose.id)).first()
        late = s.scalar(select(LogbookEntry.id).where(LogbookEntry.class_id == close.class_id,
                                                      LogbookEntry.week_id == close.week_id,
                                                      LogbookEntry.status == EntryStatus.LATE).limit(1))
        assert late is not None
        assert receipt_discrepancies(s, trust) == []
        assert s.scalar(select(func.count()).select_from(ReceiptBatch)) >= 1
        assert s.scalar(select(func.count()).select_from(Submission).where(Submission.batch_id.is_(None))) == 0
    week = verify_week_document(db, so, close.class_id, close.week_id, trust)
    assert week.valid and [s.role for s in week.signatures] == ["homeroom", "principal"], week.signatures
    assert verify_entry_signature(db, so, late, trust).valid
    superuser(db, ("UPDATE logbook_entry SET status = 'on_time' WHERE id = :id", {"id": late}))
    assert verify_week_document(db, so, close.class_id, close.week_id, trust).sub_indication == "HASH_FAILURE"
    assert verify_entry_signature(db, so, late, trust).indication == "FAILED"
    with db.reading() as s:
        assert [d.subject for d in receipt_discrepancies(s, trust)] == [f"entry {late}"]


def test_a_signed_entry_without_any_receipt_is_never_valid(world, sealing):
    """The administrator deletes the receipt that says LATE: the entry is no longer proven, and
    the integrity check says a signed entry has no receipt."""
    w = world
    entry = sign_late(w, sealing)
    trust = sealing.trust()
    superuser(w.db, ("UPDATE submission SET batch_id = NULL, leaf_index = NULL WHERE entry_id = :id", {"id": entry}),
              ("DELETE FROM submission WHERE entry_id = :id", {"id": entry}))
    report = verify_entry_signature(w.db, w.actor("so"), entry, trust)
    assert (report.indication, report.sub_indication) == ("INDETERMINATE", "NO_POE") and not report.valid
    subjects = [(d.kind, d.subject) for d in listed(w, trust)]
    assert ("entry", f"entry {entry}") in subjects and ("receipt", "receipt batch 1") in subjects
    with w.db.reading() as s:
        assert receipts_anchor(s)["hash"] == batch_hash(s.get(ReceiptBatch, 1).statement)


def test_a_deleted_batch_is_detected(pg_db, pki, keys, sealing):
    """The administrator deletes the only sealed batch (PostgreSQL, foreign-key triggers off):
    its entries are no longer proven, the integrity check names each receipt whose batch is gone,
    and the chain no longer reaches the head a checkpoint anchored."""
    w = build_world(pg_db, pki, keys)
    entry = sign_late(w, sealing)
    trust = sealing.trust()
    with w.db.reading() as s:
        anchor = receipts_anchor(s)
    superuser(w.db, ("DELETE FROM receipt_batch", {}))
    report = verify_entry_signature(w.db, w.actor("so"), entry, trust)
    assert (report.indication, report.sub_indication) == ("FAILED", "SIGNED_DATA_NOT_FOUND")
    with pytest.raises(NotFound):
        receipt_proof(w.db, w.actor("lan"), entry)
    found = [(d.kind, d.subject, d.message) for d in listed(w, trust, anchored=anchor)]
    assert ("receipt", f"entry {entry}", "its sealed batch 1 is missing") in found
    assert any(subject == "receipt batch 1" and "removed after the checkpoint" in message
               for _, subject, message in found)


@pytest.fixture
def world(world):  # noqa: F811 - the shared world, as the attacks need it
    return world
