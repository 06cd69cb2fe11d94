"""The service seal attests statements: a CMS signature by the department's system certificate
plus an RFC 3161 timestamp from the TSA, both checkable with the trust anchors alone; a changed
statement, another signer or a foreign timestamp is reported, never accepted."""
import datetime as dt

import pytest

from core.kernel import clock
from core.signatures import DemoPKI, KeyStore
from core.signatures.responder import Responder, free_port
from core.signatures.service import Attestation, ServiceSeal, timestamp_time, verify_attestation


@pytest.fixture(scope="module")
def online(tmp_path_factory):
    port = free_port()
    pki = DemoPKI.create(tmp_path_factory.mktemp("pki"), responder_url=f"http://127.0.0.1:{port}")
    seal = pki.issue_service_seal()
    responder = Responder(pki).start(port)
    yield pki, seal
    responder.stop()


def test_an_attestation_verifies_with_the_trust_anchors_alone(online):
    pki, credential = online
    seal = ServiceSeal(KeyStore(pki.directory).signer_for(credential.owner_key), f"{pki.responder_url}/tsa")
    statement = b'{"batch":1,"root":"ab"}'
    attestation = seal.attest(statement)
    check = verify_attestation(statement, attestation, pki.trust_store(), seal_fingerprint=credential.fingerprint)
    assert check.valid, (check.signature, check.timestamp)
    assert abs(check.timestamped_at - clock.now()) < dt.timedelta(minutes=1)
    assert timestamp_time(attestation.timestamp) == check.timestamped_at


def test_a_changed_statement_another_signer_or_a_moved_timestamp_is_reported(online, tmp_path):
    pki, credential = online
    trust = pki.trust_store()
    seal = ServiceSeal(KeyStore(pki.directory).signer_for(credential.owner_key), f"{pki.responder_url}/tsa")
    statement, other = b'{"root":"ab"}', b'{"root":"cd"}'
    attestation = seal.attest(statement)
    changed = verify_attestation(other, attestation, trust)
    assert not changed.valid and changed.signature.sub_indication == "HASH_FAILURE"
    assert changed.timestamp.indication == "FAILED"
    # the other statement's genuine timestamp under this statement's signature
    moved = Attestation(attestation.signature, seal.attest(other).timestamp)
    assert verify_attestation(statement, moved, trust).timestamp.indication == "FAILED"
    # a teacher's key is not the seal
    teacher = pki.issue_personal("teacher-x", "Nguyễn Văn X")
    by_teacher = ServiceSeal(KeyStore(pki.directory).signer_for(teacher.owner_key), f"{pki.responder_url}/tsa")
    wrong = verify_attestation(statement, by_teacher.attest(statement), trust, seal_fingerprint=credential.fingerprint)
    assert (wrong.signature.indication, wrong.signature.sub_indication) == ("FAILED", "NOT_AUTHORISED_FOR_ROLE")
    # a PKI we do not trust
    stranger = DemoPKI.create(tmp_path / "stranger")
    assert verify_attestation(statement, attestation, stranger.trust_store()).timestamp.indication == "INDETERMINATE"
    # no timestamp: the signature alone is weaker evidence, and says so
    bare = verify_attestation(statement, Attestation(attestation.signature, None), trust)
    assert bare.signature.valid and not bare.valid and bare.timestamp.sub_indication == "NO_POE"
