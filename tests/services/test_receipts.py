"""The server's decisions as evidence, on PostgreSQL and the embedded default: every way an entry
is signed leaves a receipt; the sealer seals them in signed, timestamped batches chained one to
the next; each entry then verifies PASSED at the server's time (whatever the phone's clock
said), its proof verifies offline, and any tampering with a proof is refused. Two sealers never
seal the same receipt (PostgreSQL); a crash before the seal's commit leaves the receipts for the
next run."""
import base64
import datetime as dt
import json
import threading

import pytest
from sqlalchemy import func, select

from core.access.authz import SYSTEM
from core.kernel.errors import Conflict, NotFound, PermissionDenied
from core.logbook.entries import entry_bytes, generate_week, sign_entry
from core.logbook.receipts import (
    Sealer,
    receipt_discrepancies,
    receipt_proof,
    receipts_anchor,
    seal_pending,
    verify_receipt,
)
from core.logbook.rules.receipts import GENESIS, batch_hash, batch_statement, receipt_hash
from core.logbook.submissions import Receipt, SignatureSubmission, submit_signatures
from core.logbook.verification import verify_entry_signature
from core.signatures import DemoPKI, KeyStore
from core.signatures.responder import Responder, free_port
from core.signatures.service import SEAL_OWNER, ServiceSeal
from core.storage.models import LogbookEntry, ReceiptBatch, Submission
from tests.conftest import committed_database
from tests.evidence._receipts import sealing  # noqa: F401 - a fixture
from tests.world import MONDAY, build_world

TUESDAY = MONDAY + dt.timedelta(days=1)
PHONE_CLOCK = dt.datetime(2031, 1, 1, 9, 0)  # the phone's clock is wrong: the server's decides


def at(day, h, m, s=0):
    return dt.datetime.combine(day, dt.time(h, m, s))


@pytest.fixture
def week(world):
    generate_week(world.db, SYSTEM, world.ids["A"], world.ids["week1"])
    return world


def phone_submits(w, who, klass, day, period, received, key):
    """What a teacher's app does: sign the entry's canonical bytes with the teacher's own key (its
    signing-time is the phone's clock), submit it; the server receives it at ``received``."""
    entry = w.entry(klass, day, period)
    with w.db.reading() as s:
        data = entry_bytes(s, s.get(LogbookEntry, entry))
    signature = w.signer(who).sign_detached(data, PHONE_CLOCK)
    answer = submit_signatures(w.db, w.trust, [SignatureSubmission(w.actor(who), entry, signature, key)],
                               at=received)[0]
    assert isinstance(answer, Receipt), answer
    return entry


def signed_every_way(w):
    """Lan signs through the service path (on time), Minh's app submits on time and late."""
    w.trust = w.pki.trust_store()
    service = w.entry("6A1", MONDAY, 1)
    sign_entry(w.db, w.actor("lan"), service, w.signer("lan"), at=at(MONDAY, 7, 30))
    on_time = phone_submits(w, "minh", "6A1", MONDAY, 2, at(MONDAY, 8, 37, 12), "app-1")
    late = phone_submits(w, "minh", "6A1", TUESDAY, 2, at(TUESDAY, 8, 52), "app-2")
    return service, on_time, late


def test_every_way_of_signing_verifies_passed_once_sealed(week, sealing):
    w = week
    entries = signed_every_way(w)
    trust = sealing.trust()
    with w.db.reading() as s:
        receipts = s.execute(select(Submission.entry_id, Submission.leaf_hash, Submission.batch_id)).all()
    assert sorted(r.entry_id for r in receipts) == sorted(entries) and all(r.leaf_hash for r in receipts)
    assert all(r.batch_id is None for r in receipts)  # settling does not seal: the bell stays fast
    assert [verify_entry_signature(w.db, w.actor("so"), e, trust).sub_indication for e in entries] == ["TRY_LATER"] * 3

    sealed = sealing.seal_all(w.db)
    assert [(b.batch_id, b.size, b.timestamped) for b in sealed] == [(1, 3, True)]
    for entry in entries:
        report = verify_entry_signature(w.db, w.actor("so"), entry, trust)
        assert report.indication == "PASSED", report.signatures
        assert [s.role for s in report.signatures] == ["teacher", "receipt"]
        # judged at the server's receipt time, not at the phone's 2031
        assert report.signatures[0].verification.signing_time.year == 2025
    with w.db.reading() as s:
        assert receipt_discrepancies(s, trust) == []
        anchor = receipts_anchor(s)
        assert anchor == {"batch_id": 1, "hash": batch_hash(s.get(ReceiptBatch, 1).statement)}

    # the next batch chains to the first
    phone_submits(w, "minh", "6A1", TUESDAY, 2, at(TUESDAY, 8, 50), "app-2")  # a retry: no new receipt
    sign_entry(w.db, w.actor("lan"), w.entry("6A2", MONDAY, 2), w.signer("lan"), at=at(MONDAY, 8, 30))
    second = seal_pending(w.db, sealing.seal)
    assert (second.batch_id, second.size) == (2, 1) and seal_pending(w.db, sealing.seal) is None
    with w.db.reading() as s:
        first, then = s.get(ReceiptBatch, 1), s.get(ReceiptBatch, 2)
        assert json.loads(first.statement)["previous"] == GENESIS
        assert json.loads(then.statement)["previous"] == batch_hash(first.statement)
        assert receipt_discrepancies(s, trust, anchored=anchor) == []


def test_a_proof_verifies_offline_and_says_what_the_server_decided(week, sealing):
    w = week
    _, on_time, late = signed_every_way(w)
    sealing.seal_all(w.db)
    trust = sealing.trust()
    proof = json.loads(json.dumps(receipt_proof(w.db, w.actor("minh"), on_time)))  # as the API sends it
    report = verify_receipt(proof, trust)
    assert report.valid, report
    assert report.leaf["status"] == "on_time" and report.leaf["received_at"] == "2025-10-13T08:37:12+07:00"
    assert "on time at 08:37:12 13/10/2025" in report.message and report.batch_id == 1
    assert verify_receipt(receipt_proof(w.db, w.actor("mon_a"), late), trust).leaf["status"] == "late"
    # who may ask: the teacher of the entry, a viewer of the school; another school's: not found
    with pytest.raises(PermissionDenied):
        receipt_proof(w.db, w.actor("lan"), on_time)
    with pytest.raises(NotFound):
        receipt_proof(w.db, w.actor("mon_b"), on_time)
    with pytest.raises(NotFound):  # not signed: no receipt
        receipt_proof(w.db, w.actor("so"), w.entry("6A2", MONDAY, 1))
    sign_entry(w.db, w.actor("lan"), w.entry("6A2", MONDAY, 2), w.signer("lan"), at=at(MONDAY, 8, 30))
    with pytest.raises(Conflict):  # signed a moment ago: ask again once sealed
        receipt_proof(w.db, w.actor("lan"), w.entry("6A2", MONDAY, 2))


def _reencoded(proof, **changes):
    return json.loads(json.dumps({**proof, **changes}))


def test_every_tampering_with_a_proof_is_refused(week, sealing, tmp_path):
    w = week
    _, on_time, late = signed_every_way(w)
    sealing.seal_all(w.db)
    trust = sealing.trust()
    proof = receipt_proof(w.db, w.actor("so"), on_time)
    other = receipt_proof(w.db, w.actor("so"), late)
    assert verify_receipt(proof, trust).valid

    def outcome(forged):
        report = verify_receipt(forged, trust)
        return report.indication, report.sub_indication

    leaf = proof["leaf"]
    # another decision or another time: the leaf no longer hashes to its sealed leaf...
    assert outcome(_reencoded(proof, leaf={**leaf, "status": "late"})) == ("FAILED", "HASH_FAILURE")
    assert outcome(_reencoded(proof, leaf={**leaf, "received_at": "2025-10-13T08:30:00+07:00"})) == \
        ("FAILED", "HASH_FAILURE")
    # ...and re-hashed, it is not in the sealed tree
    moved = {**leaf, "received_at": "2025-10-13T08:30:00+07:00"}
    assert outcome(_reencoded(proof, leaf=moved, leaf_hash=receipt_hash(moved))) == ("FAILED", "HASH_FAILURE")
    # another leaf's place, another receipt's path
    assert outcome(_reencoded(proof, leaf_index=other["leaf_index"])) == ("FAILED", "HASH_FAILURE")
    assert outcome(_reencoded(proof, audit_path=other["audit_path"])) == ("FAILED", "HASH_FAILURE")
    # another root: in the fields shown, or in a statement re-made with it (the seal no longer covers it)
    assert outcome(_reencoded(proof, batch={**proof["batch"], "root": "ab" * 32})) == ("FAILED", "FORMAT_FAILURE")
    fields = json.loads(base64.b64decode(proof["batch"]["statement"]))
    forged_statement = batch_statement(batch_id=fields["batch_id"], size=fields["size"], root="ab" * 32,
                                       previous=fields["previous"], sealed_at=at(MONDAY, 8, 38))
    restated = _reencoded(proof, batch={**proof["batch"], "root": "ab" * 32, "sealed_at": "2025-10-13T08:38:00+07:00",
                                        "statement": base64.b64encode(forged_statement).decode()})
    assert outcome(restated) == ("FAILED", "HASH_FAILURE")
    # a batch signed by another key: a teacher's (a trusted CA, not the seal), another PKI's seal
    teacher = ServiceSeal(w.signer("lan"), sealing.tsa_url)
    statement = base64.b64decode(proof["batch"]["statement"])
    by_teacher = teacher.attest(statement)
    assert outcome(_reencoded(proof, signature=base64.b64encode(by_teacher.signature).decode(),
                              timestamp=base64.b64encode(by_teacher.timestamp).decode())) == \
        ("FAILED", "NOT_AUTHORISED_FOR_ROLE")
    stranger = DemoPKI.create(tmp_path / "stranger")
    stranger.issue_service_seal()
    foreign_seal = ServiceSeal(KeyStore(stranger.directory).signer_for(SEAL_OWNER), sealing.tsa_url).attest(statement)
    report = verify_receipt(_reencoded(proof, signature=base64.b64encode(foreign_seal.signature).decode()), trust)
    assert report.indication == "INDETERMINATE" and not report.valid
    # a foreign timestamp: another statement's, or one from a TSA nobody trusts
    elsewhere = sealing.seal.attest(b'{"another":"statement"}')
    assert outcome(_reencoded(proof, timestamp=base64.b64encode(elsewhere.timestamp).decode())) == \
        ("FAILED", "HASH_FAILURE")
    port = free_port()
    stranger_tsa = Responder(stranger).start(port)
    try:
        untrusted = ServiceSeal(sealing.seal.signer, f"http://127.0.0.1:{port}/tsa").timestamp(statement)
    finally:
        stranger_tsa.stop()
    assert verify_receipt(_reencoded(proof, timestamp=base64.b64encode(untrusted).decode()), trust).indication \
        == "INDETERMINATE"
    assert outcome(_reencoded(proof, timestamp=None)) == ("INDETERMINATE", "NO_POE")
    # not a proof at all
    assert outcome({"leaf": "?"}) == ("FAILED", "FORMAT_FAILURE")
    assert outcome(_reencoded(proof, audit_path=["zz"])) == ("FAILED", "FORMAT_FAILURE")
    # and with trust anchors that pin no seal, nobody can tell who sealed it
    assert verify_receipt(proof, w.pki.trust_store().__class__(trust.roots_der, trust.intermediates_der)) \
        .indication == "INDETERMINATE"


def test_a_crash_before_the_seal_commits_leaves_the_receipts_to_the_next_run(week, sealing):
    w = week
    entries = signed_every_way(w)
    dead = ServiceSeal(sealing.seal.signer, f"http://127.0.0.1:{free_port()}/tsa")  # its TSA is away
    sealer = Sealer(w.db, dead, interval=3600)
    assert sealer.run_once() == 0 and sealer.failures == 1
    with w.db.reading() as s:
        assert s.scalar(select(func.count()).select_from(ReceiptBatch)) == 0
        assert s.scalar(select(func.count()).select_from(Submission).where(Submission.batch_id.is_(None))) == 3
    assert Sealer(w.db, sealing.seal).run_once() == 3
    with w.db.reading() as s:
        assert s.scalar(select(func.count()).select_from(Submission).where(Submission.batch_id.is_(None))) == 0
        assert receipt_discrepancies(s, sealing.trust()) == []
    assert all(verify_entry_signature(w.db, w.actor("so"), e, sealing.trust()).valid for e in entries)


@pytest.fixture(params=["postgresql"])
def committed(request, tmp_path, pki, keys):
    with committed_database(request, tmp_path, "sohoa_receipts") as db:
        world = build_world(db, pki, keys)
        generate_week(db, SYSTEM, world.ids["A"], world.ids["week1"])
        yield world


def test_two_sealers_never_seal_the_same_receipt(committed, sealing):
    """Two API processes' sealers at once, while teachers keep signing (PostgreSQL: SKIP LOCKED
    under the chain's lock): every receipt in exactly one batch, one chain without a fork."""
    w = committed
    w.trust = w.pki.trust_store()
    stop = threading.Event()
    sealed: list[list] = [[], []]
    errors = []

    def sealer(n):
        seal = ServiceSeal(sealing.seal.signer, sealing.tsa_url)
        while not stop.is_set():
            try:
                batch = seal_pending(w.db, seal, max_leaves=2)
            except Exception as err:  # noqa: BLE001 - reported below
                errors.append(err)
                return
            if batch is not None:
                sealed[n].append(batch)

    threads = [threading.Thread(target=sealer, args=(n,)) for n in (0, 1)]
    for t in threads:
        t.start()
    try:
        periods = [("6A1", d, p) for d in (MONDAY, TUESDAY) for p in (1, 2, 3)] + \
                  [("6A2", d, p) for d in (MONDAY, TUESDAY) for p in (1, 2)]
        teachers = {"6A1": {1: "lan", 2: "minh", 3: "ha"}, "6A2": {1: "minh", 2: "lan"}}
        for n, (klass, day, period) in enumerate(periods):
            phone_submits(w, teachers[klass][period], klass, day, period, at(day, 7, 30) + dt.timedelta(
                minutes=50 * (period - 1)), f"k{n}")
        deadline = threading.Event()
        for _ in range(300):
            with w.db.reading() as s:
                if not s.scalar(select(func.count()).select_from(Submission).where(Submission.batch_id.is_(None))):
                    break
            deadline.wait(0.1)
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert not errors, errors
    with w.db.reading() as s:
        placed = s.execute(select(Submission.id, Submission.batch_id, Submission.leaf_index)).all()
        batches = s.scalars(select(ReceiptBatch).order_by(ReceiptBatch.id)).all()
        assert len(placed) == len(periods) and all(r.batch_id is not None for r in placed)
        assert len({(r.batch_id, r.leaf_index) for r in placed}) == len(placed)
        ids = sorted(b.batch_id for run in sealed for b in run)
        assert ids == [b.id for b in batches] == list(range(1, len(batches) + 1))  # one chain, no fork
        assert sum(b.size for run in sealed for b in run) == len(placed)
        assert receipt_discrepancies(s, sealing.trust()) == []


def test_a_sealer_at_work_is_never_waited_for_nor_overtaken(committed, sealing):
    """While one sealer holds the chain and its receipts (its transaction open: timestamping),
    another finds nothing to do at once — it neither waits nor seals the same receipts — and
    takes what is left when the first is done (PostgreSQL)."""
    from sqlalchemy import text

    w = committed
    w.trust = w.pki.trust_store()
    phone_submits(w, "minh", "6A1", MONDAY, 2, at(MONDAY, 8, 37), "a")
    with w.db.engine.connect() as first:
        with first.begin():
            first.execute(text("SELECT pg_try_advisory_xact_lock(hashtext('sohoa.receipts.chain'))"))
            held = first.execute(text("SELECT id FROM submission WHERE batch_id IS NULL FOR UPDATE")).all()
            assert len(held) == 1
            started = dt.datetime.now()
            assert seal_pending(w.db, sealing.seal) is None
            assert dt.datetime.now() - started < dt.timedelta(seconds=5)
    phone_submits(w, "lan", "6A1", MONDAY, 1, at(MONDAY, 7, 40), "b")
    with w.db.engine.connect() as first:  # the receipts alone held (FOR UPDATE): skipped, not waited for
        with first.begin():
            held = first.execute(text("SELECT id FROM submission WHERE batch_id IS NULL ORDER BY id LIMIT 1 "
                                      "FOR UPDATE")).scalar()
            taken = seal_pending(w.db, sealing.seal)
            assert taken.size == 1
    with w.db.reading() as s:
        assert s.scalar(select(Submission.batch_id).where(Submission.id == held)) is None
    assert seal_pending(w.db, sealing.seal).size == 1
