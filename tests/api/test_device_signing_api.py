"""The weekly close signed on the signer's own device (ký số hai bước), over the API on SQLite and
PostgreSQL, with a server that holds nobody's key (``pki_dir=None``): prepare, the phone signs,
complete; both signatures verify PASSED through core's verifier; idempotent prepares and
completes; a newer prepare supersedes; refusals change nothing; and the CSC remote-signing
service fits the same two steps."""
import base64
import datetime as dt
import hashlib

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from api.app import create_app
from core.access.accounts import open_sessions
from core.access.authz import SYSTEM
from core.kernel import clock
from core.kernel.vocabulary import WeekCloseStatus
from core.logbook.entries import generate_week
from core.logbook.verification import verify_week_document
from core.logbook.week_pdf import HOMEROOM_FIELD, PRINCIPAL_FIELD
from core.signatures.pades import verify_pdf
from core.storage.models import AuditEvent, PdfSigning, WeekClose
from tests.evidence._keys import Phone
from tests.world import MONDAY

SATURDAY = dt.datetime.combine(MONDAY + dt.timedelta(days=5), dt.time(10, 0))


@pytest.fixture
def api(world, pki, monkeypatch):
    generate_week(world.db, SYSTEM, world.ids["A"], world.ids["week1"])
    app = create_app(world.db, pki.trust_store(), pki_dir=None, batch_window=0.001, warm=False,
                     token_cache_seconds=0)
    with TestClient(app) as client:
        client.world, client.trust, client.pki, client.app = world, pki.trust_store(), pki, app

        def at(moment):
            monkeypatch.setattr(clock, "now", lambda: moment)
        client.at = at
        at(SATURDAY)
        yield client


def login(api, username):
    token = open_sessions(api.world.db, [username], authenticated_by="test", at=clock.now())[username]
    return {"Authorization": f"Bearer {token}"}


def phone(api, username) -> Phone:
    return Phone.from_pkcs12(api.pki.directory / "keys" / f"staff-{api.world.ids[username]}.p12")


def url(api, action, verb, klass="6A1"):
    return f"/api/v1/classes/{api.world.ids[klass]}/weeks/{api.world.ids['week1']}/{action}/{verb}"


def prepare(api, username, action="homeroom-signature", key="k1", mode="signed_attributes"):
    return api.post(url(api, action, "prepare"), headers={**login(api, username), "Idempotency-Key": key},
                    json={"mode": mode})


def complete(api, username, answer, action="homeroom-signature"):
    return api.post(url(api, action, "complete"), headers=login(api, username), json=answer)


def refused(response, status, code, reason=None):
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code and error["message"] and error["message_vi"], error
    if reason is not None:
        assert error["reason"] == reason, error
    return error


def week(api):
    with api.world.db.reading() as s:
        return s.scalar(select(WeekClose).where(WeekClose.class_id == api.world.ids["6A1"],
                                                WeekClose.week_id == api.world.ids["week1"]))


def signed_on_device(api, username, action, mode="signed_attributes", key="k1"):
    prepared = prepare(api, username, action, key=key, mode=mode)
    assert prepared.status_code == 201, prepared.text
    body = prepared.json()
    pdf = api.get(body["document_url"], headers=login(api, username))
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    done = complete(api, username, phone(api, username).answer(body, pdf.content), action)
    assert done.status_code == 200, done.text
    return body, done.json()


@pytest.mark.parametrize("mode", ["signed_attributes", "cms"])
def test_homeroom_and_principal_sign_on_their_devices_and_both_verify(api, mode):
    body, done = signed_on_device(api, "lan", "homeroom-signature", mode)
    assert done["status"] == "homeroom_signed" and done["replayed"] is False and done["your_step"] is None
    assert body["step"] == "homeroom" and body["mode"] == mode and body["replayed"] is False
    assert body["certificate_fingerprint"] == hashlib.sha256(phone(api, "lan").cert_der).hexdigest()
    api.at(SATURDAY + dt.timedelta(hours=2))
    _, closed = signed_on_device(api, "binh", "close", mode, key="k2")
    assert closed["status"] == "closed" and closed["summary_hash"] == done["summary_hash"]

    w = api.world
    report = verify_week_document(w.db, w.actor("mon_a"), w.ids["6A1"], w.ids["week1"], api.trust)
    assert report.valid and [s.role for s in report.signatures] == ["homeroom", "principal", "homeroom_summary", "principal_summary"], report.signatures
    row = week(api)
    assert [(f, v.indication) for f, v in verify_pdf(row.document, api.trust)] == \
        [(HOMEROOM_FIELD, "PASSED"), (PRINCIPAL_FIELD, "PASSED")]
    times = [v.signing_time for _, v in verify_pdf(row.document, api.trust)]
    assert times == [SATURDAY, SATURDAY + dt.timedelta(hours=2)]  # the server's clock (/M), not the phone's
    assert row.homeroom_signed_at == SATURDAY and row.homeroom_signature and row.principal_signature
    with w.db.reading() as s:
        events = s.scalars(select(AuditEvent).where(AuditEvent.action.in_(["week.homeroom_sign", "week.close"]))
                           .order_by(AuditEvent.id)).all()
        assert [e.after["key"] for e in events] == ["device", "device"]
        signings = s.scalars(select(PdfSigning).order_by(PdfSigning.created_at)).all()
        assert [(g.status, g.signed_content, g.tail) for g in signings] == [("completed", None, None)] * 2


def test_prepare_and_complete_are_idempotent(api):
    first = prepare(api, "lan").json()
    again = prepare(api, "lan")
    assert again.status_code == 200 and again.json()["replayed"] is True
    assert again.json()["signed_attributes_b64"] == first["signed_attributes_b64"]
    assert again.json()["signing_id"] == first["signing_id"]
    answer = phone(api, "lan").answer(first)
    assert complete(api, "lan", answer).json()["replayed"] is False
    document = week(api).document
    replay = complete(api, "lan", answer)
    assert replay.status_code == 200 and replay.json()["replayed"] is True
    assert week(api).document == document
    other = phone(api, "lan").answer(first)   # ECDSA is randomised: another answer
    refused(complete(api, "lan", other), 409, "AlreadyCompleted")
    refused(prepare(api, "lan"), 409, "AlreadyCompleted")


def test_a_newer_prepare_supersedes_and_expiry(api):
    old = prepare(api, "lan", key="a").json()
    new = prepare(api, "lan", key="b").json()
    assert new["signing_id"] != old["signing_id"] and new["document_digest_b64"] != old["document_digest_b64"]
    refused(complete(api, "lan", phone(api, "lan").answer(old)), 409, "SigningSuperseded")
    refused(api.get(old["document_url"], headers=login(api, "lan")), 410, "SigningExpired")
    # the answer for the old document sent with the new signing's id: another document
    crossed = {**phone(api, "lan").answer(old), "signing_id": new["signing_id"]}
    refused(complete(api, "lan", crossed), 422, "SignatureRejected", "SIG_CRYPTO_FAILURE")
    api.at(SATURDAY + dt.timedelta(minutes=6))
    refused(complete(api, "lan", phone(api, "lan").answer(new)), 410, "SigningExpired")
    assert week(api).status == WeekCloseStatus.OPEN and week(api).document is None


def test_refusals_change_nothing(api):
    body = prepare(api, "lan").json()
    minh = phone(api, "minh")   # another teacher's own key (her app would refuse: it names Lan's certificate)
    stolen = phone(api, "lan").answer(body)
    stolen["signature_b64"] = base64.b64encode(minh.sign_raw(base64.b64decode(body["signed_attributes_b64"]))).decode()
    refused(complete(api, "lan", stolen), 422, "SignatureRejected", "SIG_CRYPTO_FAILURE")
    cms_body = prepare(api, "lan", key="c", mode="cms").json()
    wrong = phone(api, "lan").answer(cms_body)
    wrong["cms_b64"] = base64.b64encode(minh.build_cms(base64.b64decode(cms_body["document_digest_b64"]))).decode()
    refused(complete(api, "lan", wrong), 422, "SignatureRejected", "WRONG_SIGNER")
    forged = phone(api, "lan").answer(cms_body)
    forged["cms_b64"] = base64.b64encode(phone(api, "lan").build_cms(
        base64.b64decode(cms_body["document_digest_b64"]), signed_by=minh)).decode()
    refused(complete(api, "lan", forged), 422, "SignatureRejected", "SIG_CRYPTO_FAILURE")
    timed = phone(api, "lan").answer(cms_body)
    timed["cms_b64"] = base64.b64encode(phone(api, "lan").build_cms(
        base64.b64decode(cms_body["document_digest_b64"]), signing_time=dt.datetime(2031, 1, 1, tzinfo=dt.UTC))).decode()
    refused(complete(api, "lan", timed), 422, "SignatureRejected", "SIGNING_TIME_NOT_ALLOWED")
    summary = phone(api, "lan").answer(cms_body)
    summary["summary_signature_b64"] = base64.b64encode(minh.sign_detached(
        base64.b64decode(cms_body["summary_b64"]))).decode()
    refused(complete(api, "lan", summary), 422, "SignatureRejected", "WRONG_SIGNER")
    # someone else completing Lan's signing: not theirs
    refused(complete(api, "minh", phone(api, "minh").answer(cms_body)), 404, "NotFound")
    refused(prepare(api, "minh"), 403, "PermissionDenied")          # not the homeroom teacher of 6A1
    refused(prepare(api, "binh", "close"), 409, "RuleViolation")    # the homeroom teacher has not signed
    refused(api.post(url(api, "homeroom-signature", "prepare"), headers=login(api, "lan"), json={}), 422,
            "InvalidRequest")  # no Idempotency-Key
    assert week(api).status == WeekCloseStatus.OPEN and week(api).document is None
    done = complete(api, "lan", phone(api, "lan").answer(cms_body))   # the right answer still works
    assert done.status_code == 200, done.text


@pytest.fixture
def csc_api(api):
    """The same API with the department's remote signing service (a CSC service on loopback
    holding Lan's and Bình's keys: the server reaches them, never holds them)."""
    from core.signatures.remote import RemoteSigning
    from tests.csc_service import CSCService

    service = CSCService()
    chain = [api.pki.issuing_der]
    for name in ("lan", "binh"):
        staff = api.world.ids[name]
        service.add(f"staff-{staff}", api.pki.directory / "keys" / f"staff-{staff}.p12", "1234", chain,
                    pin="135790", otp="424242")
    service.start()
    api.app.state.sohoa.remote_signing = RemoteSigning(service.url, service.token)
    yield api
    service.stop()


def test_remote_signing_service_fits_the_two_steps(csc_api):
    api = csc_api
    body = prepare(api, "lan", mode="remote_csc").json()
    assert body["mode"] == "remote_csc" and base64.b64decode(body["hash_to_authorize"]) == \
        hashlib.sha256(base64.b64decode(body["signed_attributes_b64"])).digest()
    wrong = complete(api, "lan", {"signing_id": body["signing_id"], "pin": "135790", "otp": "000000"})
    refused(wrong, 403, "KeyAccessError")
    assert week(api).status == WeekCloseStatus.OPEN and week(api).document is None
    # a device's answer is not accepted for a signing prepared for the service
    refused(complete(api, "lan", phone(api, "lan").answer({**body, "mode": "signed_attributes"})), 400, "BadRequest")
    done = complete(api, "lan", {"signing_id": body["signing_id"], "pin": "135790", "otp": "424242"})
    assert done.status_code == 200 and done.json()["status"] == "homeroom_signed", done.text
    api.at(SATURDAY + dt.timedelta(hours=1))
    closing = prepare(api, "binh", "close", key="k9", mode="remote_csc").json()
    done = complete(api, "binh", {"signing_id": closing["signing_id"], "pin": "135790", "otp": "424242"}, "close")
    assert done.status_code == 200 and done.json()["status"] == "closed", done.text
    w = api.world
    report = verify_week_document(w.db, w.actor("mon_a"), w.ids["6A1"], w.ids["week1"], api.trust)
    assert report.valid and [s.role for s in report.signatures] == ["homeroom", "principal", "homeroom_summary", "principal_summary"], report.signatures
    with w.db.reading() as s:
        keys = s.scalars(select(AuditEvent.after).where(AuditEvent.action.in_(["week.homeroom_sign", "week.close"]))
                         .order_by(AuditEvent.id)).all()
        assert [k["key"] for k in keys] == ["remote_csc", "remote_csc"]


def test_remote_signing_not_configured_is_not_offered(api):
    refused(prepare(api, "lan", mode="remote_csc"), 400, "SigningNotOffered")


def test_a_usb_token_is_a_device_too(api, tmp_path):
    """The signer's desktop app with a USB token (SoftHSM2, its own process): the same two steps,
    and the week verifies PASSED."""
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    from core.signatures.tokens import SOFTHSM_MODULE, provision_softhsm

    before = os.environ.get("SOFTHSM2_CONF")
    people = {name: api.pki.directory / "keys" / f"staff-{api.world.ids[name]}.p12" for name in ("lan", "binh")}
    env = provision_softhsm(tmp_path, "2468", {f"tok-{n}": (p, "1234") for n, p in people.items()}, [api.pki.issuing_der])
    if before is None:   # provisioning sets it for this process; the token lives in the app's process only
        os.environ.pop("SOFTHSM2_CONF", None)
    else:
        os.environ["SOFTHSM2_CONF"] = before
    root = Path(__file__).resolve().parents[2]

    def token_app(name, prepared):
        job = {"module": SOFTHSM_MODULE, "token": f"tok-{name}", "pin": "2468", **prepared}
        done = subprocess.run([sys.executable, "-m", "tests.evidence._token_app"], input=json.dumps(job),
                              capture_output=True, text=True, env={**env, "PYTHONPATH": str(root)}, cwd=root)
        assert done.returncode == 0, done.stderr[-2000:]
        return json.loads(done.stdout.strip().splitlines()[-1])

    for name, action, key in (("lan", "homeroom-signature", "t1"), ("binh", "close", "t2")):
        prepared = prepare(api, name, action, key=key).json()
        done = complete(api, name, token_app(name, prepared), action)
        assert done.status_code == 200, done.text
    w = api.world
    report = verify_week_document(w.db, w.actor("mon_a"), w.ids["6A1"], w.ids["week1"], api.trust)
    assert report.valid and [s.role for s in report.signatures] == ["homeroom", "principal", "homeroom_summary", "principal_summary"], report.signatures


def test_a_protected_server_held_key_signs_and_verifies(world, pki, monkeypatch, tmp_path):
    """Where a department insists on server-held keys (``protected``): sealed under Argon2id and
    a pepper, opened by a 6-digit PIN; the close verifies PASSED; a wrong PIN opens nothing."""
    import os

    from cryptography.hazmat.primitives.serialization import pkcs12

    from core.signatures.held_keys import PROTECTED, HeldKeys

    generate_week(world.db, SYSTEM, world.ids["A"], world.ids["week1"])
    held = HeldKeys(tmp_path / "server", PROTECTED, os.urandom(32))
    for name, pin in (("lan", "830571"), ("binh", "590264")):
        owner = f"staff-{world.ids[name]}"
        key, cert, extra = pkcs12.load_key_and_certificates((pki.directory / "keys" / f"{owner}.p12").read_bytes(),
                                                            b"1234")
        from cryptography.hazmat.primitives.serialization import Encoding
        held.enrol(owner, key, cert.public_bytes(Encoding.DER), [c.public_bytes(Encoding.DER) for c in extra], pin)
    monkeypatch.setattr(clock, "now", lambda: SATURDAY)
    with TestClient(create_app(world.db, pki.trust_store(), pki_dir=held, warm=False, token_cache_seconds=0)) as api:
        base = f"/api/v1/classes/{world.ids['6A1']}/weeks/{world.ids['week1']}"

        def head(name):
            return {"Authorization": "Bearer " + open_sessions(world.db, [name], authenticated_by="test",
                                                               at=SATURDAY)[name]}
        refused(api.post(f"{base}/homeroom-signature", headers=head("lan"), json={"pin": "1234"}), 403, "KeyNotOpened")
        assert api.post(f"{base}/homeroom-signature", headers=head("lan"), json={"pin": "830571"}).status_code == 200
        closed = api.post(f"{base}/close", headers=head("binh"), json={"pin": "590264"})
        assert closed.status_code == 200 and closed.json()["status"] == "closed", closed.text
    report = verify_week_document(world.db, world.actor("mon_a"), world.ids["6A1"], world.ids["week1"],
                                  pki.trust_store())
    assert report.valid and [s.role for s in report.signatures] == ["homeroom", "principal", "homeroom_summary", "principal_summary"], report.signatures


def test_dead_signings_are_swept(api):
    """The periodic clean-up: superseded and expired states lose their bytes at once, finished
    rows go a day later; a live one is kept whole."""
    from core.logbook.weekly_close import sweep_signings

    prepare(api, "lan", key="s1")
    prepare(api, "lan", key="s2")   # supersedes s1
    assert sweep_signings(api.world.db, SATURDAY) == 0
    with api.world.db.reading() as s:
        rows = {g.prepare_key: g for g in s.scalars(select(PdfSigning))}
        assert rows["s1"].signed_content is None and rows["s2"].signed_content is not None
    assert sweep_signings(api.world.db, SATURDAY + dt.timedelta(minutes=10)) == 0   # s2 expired: bytes dropped
    with api.world.db.reading() as s:
        assert [g.signed_content for g in s.scalars(select(PdfSigning))] == [None, None]
    assert sweep_signings(api.world.db, SATURDAY + dt.timedelta(days=2)) == 2
