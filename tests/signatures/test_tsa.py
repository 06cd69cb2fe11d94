"""The RFC 3161 client and the demo TSA's token issuer: tokens read as asn1crypto and pyHanko read
them, and an answer that is not for the request (another imprint, a replayed nonce) or a
refusal is never used."""
import datetime as dt

import pytest
from asn1crypto import cms, tsp

from core.signatures import DemoPKI
from core.signatures.ltv_responder import LongTermResponder
from core.signatures.responder import free_port
from core.signatures.tsa import TimestampError, TsaClient


@pytest.fixture
def served(tmp_path):
    port = free_port()
    pki = DemoPKI.create(tmp_path, responder_url=f"http://127.0.0.1:{port}")
    responder = LongTermResponder(pki).start(port)
    yield pki, responder
    responder.stop()


def test_a_token_is_for_the_digest_asked_and_reads_as_rfc_3161(served):
    pki, _ = served
    digest = bytes(range(32))
    with TsaClient(f"{pki.responder_url}/tsa") as client:
        token = cms.ContentInfo.load(client.token(digest))
    info = token["content"]["encap_content_info"]["content"].parsed
    assert isinstance(info, tsp.TSTInfo)
    assert info["message_imprint"]["hashed_message"].native == digest
    assert token["content"]["certificates"][0].chosen.subject.native["common_name"] == "Sohoa Demo TSA"


def test_an_answer_for_another_request_is_refused(served):
    """A man in the middle (or a confused TSA) answers with a token for another digest, then with
    one whose nonce is not ours: the client raises instead of embedding it."""
    pki, responder = served
    stale = TsaClient(f"{pki.responder_url}/tsa")
    other = {}
    original = responder.timestamp

    def replay(label, request):
        if "answer" not in other:
            other["answer"] = original(label, request)
        return other["answer"]

    responder.timestamp = replay
    with TsaClient(f"{pki.responder_url}/tsa") as client, stale:
        client.token(b"\x01" * 32)  # the first answer, recorded
        with pytest.raises(TimestampError, match="does not match"):
            client.token(b"\x01" * 32)  # same digest, replayed: its nonce is the old request's
        with pytest.raises(TimestampError, match="does not match"):
            stale.token(b"\x02" * 32)  # another digest


def test_a_tsa_whose_certificate_has_ended_refuses_and_the_client_says_so(tmp_path):
    port = free_port()
    pki = DemoPKI.create(tmp_path, responder_url=f"http://127.0.0.1:{port}")
    responder = LongTermResponder(pki, clock=lambda: dt.datetime(2040, 1, 1, tzinfo=dt.timezone.utc)).start(port)
    try:
        with TsaClient(f"{pki.responder_url}/tsa") as client, pytest.raises(TimestampError, match="refused"):
            client.token(b"\x03" * 32)
    finally:
        responder.stop()
