"""The three kinds of key behind one signer interface, each tested for real: a software key
(PKCS#12), a USB token through PKCS#11 (SoftHSM2 standing in), and remote signing through
the CSC API (a small CSC service on 127.0.0.1)."""
import datetime as dt

import pytest
from cryptography.hazmat.primitives import serialization

from core.signatures import DemoPKI, KeyAccessError, KeyStore, Signer, verify_detached
from core.signatures.remote import RemoteSigner
from core.signatures.tokens import SOFTHSM_MODULE, TokenSigner, provision_softhsm
from tests.csc_service import CSCService

WHEN = dt.datetime(2025, 10, 13, 8, 20)
DATA = "Tiết 3 — Bài 5: Phân số".encode()


@pytest.fixture(scope="module")
def ca(tmp_path_factory):
    pki = DemoPKI.create(tmp_path_factory.mktemp("kinds"))
    for owner, kind in (("ec-teacher", "ec"), ("rsa-teacher", "rsa")):
        pki.issue_personal(owner, f"Giáo viên {owner}", key_type=kind)
    return pki


@pytest.fixture(scope="module")
def tokens(ca, tmp_path_factory):
    """SoftHSM2 tokens, one per person. A missing softhsm2 fails the run (it is installed by
    the test command); it never skips."""
    chain = [ca.issuing.public_bytes(serialization.Encoding.DER)]
    provision_softhsm(tmp_path_factory.mktemp("softhsm"), "2468",
                      {f"tok-{o}": (ca.directory / "keys" / f"{o}.p12", "1234") for o in ("ec-teacher", "rsa-teacher")},
                      chain)
    return SOFTHSM_MODULE


@pytest.fixture(scope="module")
def csc(ca):
    chain = [ca.issuing.public_bytes(serialization.Encoding.DER)]
    service = CSCService()
    for owner in ("ec-teacher", "rsa-teacher"):
        service.add(owner, ca.directory / "keys" / f"{owner}.p12", "1234", chain, pin="135790", otp="424242")
    service.start()
    yield service
    service.stop()


def check(signer: Signer, ca):
    assert isinstance(signer, Signer)
    report = verify_detached(DATA, signer.sign_detached(DATA, WHEN), ca.trust_store())
    assert report.indication == "PASSED", report.message
    assert report.signer_fingerprint == signer.fingerprint
    assert not verify_detached(DATA + b".", signer.sign_detached(DATA, WHEN), ca.trust_store()).valid


@pytest.mark.parametrize("owner", ["ec-teacher", "rsa-teacher"])
def test_software_key(ca, owner):
    check(KeyStore(ca.directory).signer_for(owner), ca)


@pytest.mark.parametrize("owner", ["ec-teacher", "rsa-teacher"])
def test_usb_token_through_pkcs11(ca, tokens, owner):
    signer = TokenSigner(tokens, f"tok-{owner}", f"tok-{owner}", "2468")
    check(signer, ca)
    software = KeyStore(ca.directory).signer_for(owner)
    assert signer.fingerprint == software.fingerprint  # the same certificate, now on a token


def test_token_wrong_pin_is_a_clear_error(ca, tokens):
    with pytest.raises(KeyAccessError, match="wrong PIN"):
        TokenSigner(tokens, "tok-ec-teacher", "tok-ec-teacher", "9999")


def test_unknown_token_is_a_clear_error(tokens):
    with pytest.raises(KeyAccessError, match="cannot be opened"):
        TokenSigner(tokens, "no-such-token", "x", "2468")


@pytest.mark.parametrize("owner", ["ec-teacher", "rsa-teacher"])
def test_remote_signing_through_csc(ca, csc, owner):
    signer = RemoteSigner(csc.url, owner, oauth_token=csc.token, pin="135790", otp="424242")
    try:
        check(signer, ca)
    finally:
        signer.close()


@pytest.mark.parametrize("pin,otp", [("000000", "424242"), ("135790", "111111")])
def test_remote_wrong_pin_or_otp_is_a_clear_error(ca, csc, pin, otp):
    signer = RemoteSigner(csc.url, "ec-teacher", oauth_token=csc.token, pin=pin, otp=otp)
    try:
        with pytest.raises(KeyAccessError, match="Invalid PIN or OTP"):
            signer.sign_detached(DATA, WHEN)
    finally:
        signer.close()


def test_remote_bad_token_or_credential(ca, csc):
    with pytest.raises(KeyAccessError, match="not available"):
        RemoteSigner(csc.url, "ec-teacher", oauth_token="stolen", pin="135790", otp="424242")
    with pytest.raises(KeyAccessError, match="not available"):
        RemoteSigner(csc.url, "nobody", oauth_token=csc.token, pin="135790", otp="424242")
