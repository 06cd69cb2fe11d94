"""The insider's world, shared by tests/evidence/test_insider.py and test_least_privilege.py.

One record store on PostgreSQL set up with least privilege (``sohoa init --roles``: an owner role
that migrated it, a runtime role that owns nothing), in which the product did its normal work
*as the runtime role*: a school year inserted (its partition made by the owner's function), a week
planned, periods signed through the service (on time and late) and through the API's batch (with a
receipt), the week closed by the homeroom teacher and the principal, two transcripts issued and
one cancelled and re-issued; then a checkpoint written outside the database (signed by the service
seal, timestamped by the TSA). Each test gets a copy of that database and of the checkpoint
directory, and acts on it as the attacker would: as the PostgreSQL superuser ``root``, with
``session_replication_role = replica`` or the triggers disabled."""
from __future__ import annotations

import contextlib
import datetime as dt
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import pytest

from core.access.authz import SYSTEM
from core.evidence.checkpoints import write_checkpoint
from core.evidence.integrity import verify_integrity
from core.evidence.store import DirectoryStore
from core.logbook.entries import entry_bytes, generate_week, sign_entry
from core.logbook.receipts import seal_all
from core.logbook.submissions import SignatureSubmission, submit_signatures
from core.logbook.weekly_close import homeroom_sign_week, principal_close_week
from core.signatures import DemoPKI, KeyStore
from core.signatures.responder import Responder, free_port
from core.signatures.service import ServiceSeal
from core.storage.db import Database, make_engine
from core.storage.models import LogbookEntry
from core.storage.privileges import role_url, setup_roles
from core.storage.scratch import create_scratch_database, drop_scratch_database
from core.transcripts.workflow import cancel_and_reissue
from tests.conftest import OWNER_ROLE, RUNTIME_ROLE
from tests.services.test_transcripts import issue_all, with_seal
from tests.world import MONDAY, build_world

OWNER, RUNTIME = OWNER_ROLE, RUNTIME_ROLE
ROOT = Path(__file__).resolve().parents[2]
SATURDAY = MONDAY + dt.timedelta(days=5)


def libpq(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


def least_privilege_database(server_url: str, prefix: str) -> tuple[str, str]:
    """A new database set up as ``sohoa init --roles`` does: (its superuser URL, its runtime URL)."""
    url = create_scratch_database(server_url, prefix)
    setup_roles(url, OWNER, RUNTIME)
    return url, role_url(url, RUNTIME)


@pytest.fixture(scope="session")
def online(tmp_path_factory):
    """A PKI whose CRL, OCSP and timestamp authority answer on loopback, and the service seal."""
    port = free_port()
    pki = DemoPKI.create(tmp_path_factory.mktemp("insider-pki"), responder_url=f"http://127.0.0.1:{port}")
    credential = pki.issue_service_seal()
    responder = Responder(pki).start(port)
    yield pki, credential
    responder.stop()


@dataclass
class Scenario:
    """The template database (superuser URL) and its checkpoint directory, with what the tests name."""

    url: str
    checkpoints: Path
    pki: DemoPKI
    seal_key: Path
    seal_fingerprint: str
    ids: dict = field(default_factory=dict)


@pytest.fixture(scope="session")
def scenario(pg_server_url, online, tmp_path_factory):
    pki, credential = online
    url, runtime_url = least_privilege_database(pg_server_url, "sohoa_insider_template")
    checkpoints = tmp_path_factory.mktemp("insider-checkpoints")
    db = Database(make_engine(runtime_url))
    try:
        ids = _the_product_at_work(db, pki)
        seal = ServiceSeal(KeyStore(pki.directory).signer_for(credential.owner_key), f"{pki.responder_url}/tsa")
        assert seal_all(db, seal)  # the API's sealer, run as the runtime role: every receipt in a signed batch
        assert write_checkpoint(db, seal, DirectoryStore(checkpoints), reason="test") is not None
    finally:
        db.engine.dispose()
    yield Scenario(url, checkpoints, pki, credential.p12_path, credential.fingerprint, ids)
    drop_scratch_database(pg_server_url, url)


def _the_product_at_work(db: Database, pki: DemoPKI) -> dict:
    """The product's normal work, done as the runtime role (see the module's docstring)."""
    w = build_world(db, pki, KeyStore(pki.directory))
    ids = dict(w.ids)
    generate_week(db, SYSTEM, ids["A"], ids["week1"])
    ids["on_time"] = w.entry("6A1", MONDAY, 1)
    sign_entry(db, w.actor("lan"), ids["on_time"], w.signer("lan"), at=dt.datetime.combine(MONDAY, dt.time(7, 30)))
    ids["late"] = w.entry("6A1", MONDAY, 2)
    sign_entry(db, w.actor("minh"), ids["late"], w.signer("minh"), at=dt.datetime.combine(MONDAY, dt.time(8, 41)))
    # the API's batch: a signature from the app, with its receipt
    ids["receipted"] = w.entry("6A1", MONDAY + dt.timedelta(days=1), 1)
    at = dt.datetime.combine(MONDAY + dt.timedelta(days=1), dt.time(7, 44))
    with db.reading() as session:
        data = entry_bytes(session, session.get(LogbookEntry, ids["receipted"]))
    [receipt] = submit_signatures(db, pki.trust_store(), [SignatureSubmission(
        w.actor("lan"), ids["receipted"], w.signer("lan").sign_detached(data, at), "app-key-1")], at=at)
    assert receipt.status.value == "on_time", receipt
    homeroom_sign_week(db, w.actor("lan"), ids["6A1"], ids["week1"], w.signer("lan"),
                       at=dt.datetime.combine(SATURDAY, dt.time(10)))
    principal_close_week(db, w.actor("binh"), ids["6A1"], ids["week1"], w.signer("binh"),
                         at=dt.datetime.combine(SATURDAY, dt.time(11)))
    with_seal(w)
    transcripts, result = issue_all(w)
    assert result.signed == transcripts and len(transcripts) == 2
    ids["issued"], ids["cancelled"] = transcripts
    ids["reissued"] = cancel_and_reissue(db, w.actor("binh"), ids["cancelled"], "Sai điểm môn Toán")
    return ids


@dataclass
class Record:
    """A copy of the scenario for one test: its database (as the superuser and as the runtime
    role) and its checkpoint directory."""

    url: str
    runtime_url: str
    store: DirectoryStore
    scenario: Scenario
    db: Database

    @property
    def ids(self) -> dict:
        return self.scenario.ids

    @contextlib.contextmanager
    def superuser(self, *, replica: bool = True):
        """A connection as the PostgreSQL superuser, with the triggers off (``replica``)."""
        with psycopg.connect(libpq(self.url), autocommit=True) as conn:
            if replica:
                conn.execute("SET session_replication_role = replica")
            yield conn

    def check(self):
        """What ``verify_integrity`` finds, with the service seal pinned."""
        return verify_integrity(self.db, self.scenario.pki.trust_store(), self.store,
                                seals=[self.scenario.seal_fingerprint])

    def cli(self, *args: str) -> subprocess.CompletedProcess:
        """``sohoa verify-integrity`` as an operator runs it, as the runtime role."""
        env = {**os.environ, "PYTHONPATH": str(ROOT), "SOHOA_PKI_DIR": str(self.scenario.pki.directory),
               "SOHOA_SEAL_KEY": str(self.scenario.seal_key), "SOHOA_CHECKPOINT_DIR": str(self.store.path),
               "SOHOA_TSA_URL": f"{self.scenario.pki.responder_url}/tsa"}
        return subprocess.run([sys.executable, "-m", "core.cli", "--database", self.runtime_url, *args],
                              cwd=self.store.path.parent, env=env, capture_output=True, text=True, timeout=300)


@pytest.fixture
def record(scenario, pg_server_url, tmp_path):
    url = create_scratch_database(pg_server_url, "sohoa_insider", template=scenario.url.rsplit("/", 1)[1])
    store = DirectoryStore(tmp_path / "checkpoints")
    shutil.copytree(scenario.checkpoints, store.path)
    runtime_url = role_url(url, RUNTIME)
    db = Database(make_engine(runtime_url))
    try:
        yield Record(url, runtime_url, store, scenario, db)
    finally:
        db.engine.dispose()
        drop_scratch_database(pg_server_url, url)
