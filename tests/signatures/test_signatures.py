"""CMS lesson signatures: round trip, every failure with its ETSI sub-indication, and
interoperability with pyHanko's validator and OpenSSL."""
import asyncio
import datetime as dt
import shutil
import subprocess
import warnings

import pytest
from asn1crypto import cms
from asn1crypto import x509 as asn1_x509
from cryptography.hazmat.primitives import serialization
from pyhanko.sign.validation.generic_cms import async_validate_detached_cms
from pyhanko_certvalidator import ValidationContext

from core.signatures import DemoPKI, KeyAccessError, KeyStore, SoftwareSigner, verify_detached

WHEN = dt.datetime(2025, 10, 13, 8, 20)
DATA = "Tiết 2 — Bài 3: Số nguyên tố; vắng: 079213000001 (P)".encode()


@pytest.fixture(scope="module")
def ca(tmp_path_factory):
    pki = DemoPKI.create(tmp_path_factory.mktemp("ca"))
    pki.issue_personal("lan", "Nguyễn Thị Lan")
    pki.issue_personal("rsa", "Trần Văn Minh", key_type="rsa")
    pki.issue_personal("old", "Lê Thu Hà", not_before=dt.datetime(2024, 1, 1), not_after=dt.datetime(2025, 6, 30))
    pki.issue_seal("school", "Trường THCS Trần Văn Ơn")
    return pki


@pytest.fixture
def store(ca):
    return KeyStore(ca.directory)


@pytest.mark.parametrize("owner", ["lan", "rsa", "school"])
def test_round_trip_passes(ca, store, owner):
    signer = store.signer_for(owner)
    report = verify_detached(DATA, signer.sign_detached(DATA, WHEN), ca.trust_store())
    assert report.indication == "PASSED" and report.valid
    assert report.signing_time == WHEN
    assert report.signer_fingerprint == signer.fingerprint
    assert "Nguyễn Thị Lan" in report.signer_subject if owner == "lan" else report.signer_subject


def test_changed_content_is_hash_failure(ca, store):
    sig = store.signer_for("lan").sign_detached(DATA, WHEN)
    report = verify_detached(DATA + b" ", sig, ca.trust_store())
    assert (report.indication, report.sub_indication) == ("FAILED", "HASH_FAILURE") and not report.valid


def test_flipped_signature_byte_is_crypto_failure(ca, store):
    sig = bytearray(store.signer_for("rsa").sign_detached(DATA, WHEN))
    sig[-5] ^= 0x01  # inside the signature value, the last field
    report = verify_detached(DATA, bytes(sig), ca.trust_store())
    assert (report.indication, report.sub_indication) == ("FAILED", "SIG_CRYPTO_FAILURE")


def test_garbage_is_format_failure(ca):
    report = verify_detached(DATA, b"\x30\x03garbage", ca.trust_store())
    assert (report.indication, report.sub_indication) == ("FAILED", "FORMAT_FAILURE")


def test_unknown_ca_is_indeterminate(ca, tmp_path):
    other = DemoPKI.create(tmp_path / "rogue", root_name="Rogue Root", issuing_name="Rogue CA")
    other.issue_personal("lan", "Nguyễn Thị Lan")
    sig = KeyStore(other.directory).signer_for("lan").sign_detached(DATA, WHEN)
    report = verify_detached(DATA, sig, ca.trust_store())
    assert (report.indication, report.sub_indication) == ("INDETERMINATE", "NO_CERTIFICATE_CHAIN_FOUND")
    assert not report.valid


def test_signing_after_expiry_is_indeterminate_expired(ca, store):
    sig = store.signer_for("old").sign_detached(DATA, WHEN)  # certificate ended 2025-06-30
    report = verify_detached(DATA, sig, ca.trust_store())
    assert (report.indication, report.sub_indication) == ("INDETERMINATE", "EXPIRED") and not report.valid


def test_revocation_hook_before_and_after_signing(ca, store):
    signer = store.signer_for("lan")
    sig = signer.sign_detached(DATA, WHEN)
    revoked_at = dt.datetime(2025, 11, 1)

    def checker(cert, signing_time):
        return ("REVOKED", f"revoked {revoked_at}") if signing_time >= revoked_at else None

    trust = ca.trust_store()
    trust.revocation_checker = checker
    assert verify_detached(DATA, sig, trust).valid  # signed before the revocation: stays valid
    late = signer.sign_detached(DATA, dt.datetime(2025, 11, 2))
    report = verify_detached(DATA, late, trust)
    assert (report.indication, report.sub_indication) == ("FAILED", "REVOKED")


def test_wrong_pin_is_a_clear_error(ca):
    with pytest.raises(KeyAccessError, match="wrong PIN"):
        SoftwareSigner.from_pkcs12(ca.directory / "keys" / "lan.p12", "0000")
    with pytest.raises(KeyAccessError, match="no key file"):
        KeyStore(ca.directory).signer_for("nobody")


def test_output_is_standard_cms(ca, store):
    info = cms.ContentInfo.load(store.signer_for("lan").sign_detached(DATA, WHEN))
    assert info["content_type"].native == "signed_data"
    sd = info["content"]
    assert sd["encap_content_info"]["content"].native is None  # detached
    attrs = {a["type"].native for a in sd["signer_infos"][0]["signed_attrs"]}
    assert attrs == {"content_type", "signing_time", "message_digest", "signing_certificate_v2"}
    assert info.dump(force=True) == info.dump()  # our DER re-encodes identically


@pytest.mark.parametrize("owner", ["lan", "rsa"])
def test_pyhanko_validator_accepts(ca, store, owner):
    sig = store.signer_for(owner).sign_detached(DATA, WHEN)
    der = serialization.Encoding.DER
    vc = ValidationContext(trust_roots=[asn1_x509.Certificate.load(ca.root.public_bytes(der))],
                           other_certs=[asn1_x509.Certificate.load(ca.issuing.public_bytes(der))],
                           allow_fetching=False, revocation_mode="soft-fail",
                           moment=dt.datetime(2025, 10, 13, 1, 20, tzinfo=dt.timezone.utc))
    status = asyncio.run(async_validate_detached_cms(DATA, cms.ContentInfo.load(sig)["content"],
                                                     signer_validation_context=vc))
    assert status.intact and status.valid and status.bottom_line, status.pretty_print_details()


@pytest.mark.parametrize("owner", ["lan", "rsa"])
def test_openssl_cms_verify_accepts(ca, store, tmp_path, owner):
    openssl = shutil.which("openssl")
    assert openssl, "openssl is required for the interoperability test (apt-get install openssl)"
    (tmp_path / "sig.der").write_bytes(store.signer_for(owner).sign_detached(DATA, WHEN))
    (tmp_path / "data.bin").write_bytes(DATA)
    (tmp_path / "chain.pem").write_bytes(ca.chain_pem())
    args = [openssl, "cms", "-verify", "-binary", "-inform", "DER", "-in", str(tmp_path / "sig.der"),
            "-content", str(tmp_path / "data.bin"), "-CAfile", str(tmp_path / "chain.pem"), "-purpose", "any",
            "-attime", "1760340000", "-out", "/dev/null"]
    done = subprocess.run(args, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    (tmp_path / "data.bin").write_bytes(DATA + b"!")
    assert subprocess.run(args, capture_output=True).returncode != 0  # and it rejects changed content


@pytest.mark.parametrize("owner", ["lan", "rsa"])
def test_pyhanko_made_signatures_verify_too(ca, store, owner):
    """A CMS made by pyHanko's own general-data signer (another encoder) is read and verified."""
    from pyhanko.sign import signers

    ours = store.signer_for(owner)
    key = ours._key
    from asn1crypto import keys as asn1_keys
    pk = asn1_keys.PrivateKeyInfo.load(key.private_bytes(serialization.Encoding.DER,
                                                         serialization.PrivateFormat.PKCS8,
                                                         serialization.NoEncryption()))
    theirs = signers.SimpleSigner(signing_cert=asn1_x509.Certificate.load(ours.certificate_der), signing_key=pk,
                                  cert_registry=None)
    from pyhanko.sign.signers.pdf_cms import PdfCMSSignedAttributes

    attrs = PdfCMSSignedAttributes(signing_time=dt.datetime(2025, 10, 13, 1, 20, tzinfo=dt.timezone.utc))
    info = asyncio.run(theirs.async_sign_general_data(DATA, "sha256", detached=True, signed_attr_settings=attrs))
    report = verify_detached(DATA, info.dump(), ca.trust_store())
    assert report.valid, report.message
    assert not verify_detached(DATA + b"x", info.dump(), ca.trust_store()).valid


@pytest.mark.parametrize("owner", ["lan", "rsa"])
def test_no_flipped_bit_passes_or_raises(ca, store, owner):
    """Every single-bit change anywhere a verifier reads (all but the intermediate certificate
    in the unsigned certificate bag, which the trust store supplies) is reported, never valid,
    and never raises: lengths, versions, algorithm identifiers, eContentType, attributes."""
    sig = store.signer_for(owner).sign_detached(DATA, WHEN)
    bag = ca.issuing.public_bytes(serialization.Encoding.DER)
    skip = range(sig.index(bag), sig.index(bag) + len(bag))
    trust = ca.trust_store()
    valid = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # cryptography warns about some damaged certificates
        for pos in range(len(sig)):
            if pos in skip:
                continue
            for bit in range(8):
                damaged = bytearray(sig)
                damaged[pos] ^= 1 << bit
                if verify_detached(DATA, bytes(damaged), trust).valid:
                    valid.append((pos, bit))
    assert valid == []
    assert verify_detached(DATA, sig, trust).valid


@pytest.mark.parametrize("damage", [lambda s: s + b"\0", lambda s: s[:-1], lambda s: b"", lambda s: s[:40]])
def test_trailing_or_missing_bytes_are_format_failures(ca, store, damage):
    sig = store.signer_for("lan").sign_detached(DATA, WHEN)
    report = verify_detached(DATA, damage(sig), ca.trust_store())
    assert (report.indication, report.sub_indication) == ("FAILED", "FORMAT_FAILURE")


def test_signing_certificate_attribute_must_name_the_signer(ca, store):
    """A signature whose ESS signing-certificate-v2 names another certificate does not
    identify its signer (the attribute is swapped in the signer's precomputed parts)."""
    signer = SoftwareSigner.from_pkcs12(ca.directory / "keys" / "lan.p12", "1234")
    other = store.signer_for("school")
    signer._fixed_attrs[1] = other._fixed_attrs[1]
    report = verify_detached(DATA, signer.sign_detached(DATA, WHEN), ca.trust_store())
    assert (report.indication, report.sub_indication) == ("INDETERMINATE", "NO_SIGNING_CERTIFICATE_FOUND")


def test_signing_time_from_2050_is_generalized_time(ca, store):
    when = dt.datetime(2051, 3, 1, 9, 0)
    sig = store.signer_for("lan").sign_detached(DATA, when)
    info = cms.ContentInfo.load(sig)
    attrs = {a["type"].native: a["values"][0] for a in info["content"]["signer_infos"][0]["signed_attrs"]}
    assert attrs["signing_time"].name == "generalized_time"
    assert info.dump(force=True) == sig  # still DER: the attributes stay sorted
    report = verify_detached(DATA, sig, ca.trust_store())
    assert report.signing_time == when
    assert (report.indication, report.sub_indication) == ("INDETERMINATE", "EXPIRED")


def test_key_must_match_certificate(ca, store):
    lan, school = store.signer_for("lan"), store.signer_for("school")
    with pytest.raises(KeyAccessError, match="does not belong"):
        SoftwareSigner(lan._key, school.certificate_der, [])


def test_chain_cache_is_bounded(ca, store):
    trust = ca.trust_store()
    trust.cache_size = 2
    for owner in ("lan", "rsa", "school", "old"):
        verify_detached(DATA, store.signer_for(owner).sign_detached(DATA, WHEN), trust)
    assert len(trust._chains) == 2
