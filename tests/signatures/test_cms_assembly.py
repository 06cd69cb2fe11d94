"""The signer's constant CMS parts, assembled by hand from the certificate's DER, are byte for
byte what asn1crypto builds from the same certificate (EC and RSA keys)."""
import pytest
from asn1crypto import cms, tsp
from asn1crypto import x509 as asn1_x509

from core.signatures.signer import SoftwareSigner


@pytest.mark.parametrize("key_type", ["ec", "rsa"])
def test_attributes_and_signer_id_match_asn1crypto(pki, key_type):
    pki.issue_personal(f"assembly-{key_type}", "Trần Thị Ánh", key_type=key_type)
    signer = SoftwareSigner.from_pkcs12(pki.directory / "keys" / f"assembly-{key_type}.p12", "1234")
    cert = asn1_x509.Certificate.load(signer.certificate_der)
    import hashlib
    ess = tsp.SigningCertificateV2({"certs": [tsp.ESSCertIDv2({
        "hash_algorithm": {"algorithm": "sha256"}, "cert_hash": hashlib.sha256(signer.certificate_der).digest(),
        "issuer_serial": {"issuer": [asn1_x509.GeneralName({"directory_name": cert.issuer})],
                          "serial_number": cert.serial_number}})]})
    expected_ess = cms.CMSAttribute({"type": "signing_certificate_v2", "values": [ess]}).dump()
    expected_sid = cms.SignerIdentifier({"issuer_and_serial_number": cms.IssuerAndSerialNumber(
        {"issuer": cert.issuer, "serial_number": cert.serial_number})}).dump()
    assert signer._fixed_attrs[1] == expected_ess
    assert signer._si_head[3:3 + len(expected_sid)] == expected_sid


def test_a_wrong_pin_never_gets_a_key_someone_unlocked(pki):
    from core.signatures import KeyAccessError, KeyStore

    pki.issue_personal("pin-owner", "Phạm Thị Mã")
    keys = KeyStore(pki.directory)
    assert keys.signer_for("pin-owner", "1234") is keys.signer_for("pin-owner", "1234")
    with pytest.raises(KeyAccessError):
        keys.signer_for("pin-owner", "0000")


def test_a_pin_with_a_nul_byte_is_a_wrong_pin_not_a_crash(pki):
    """OpenSSL's PKCS#12 reader aborts on a NUL in the password (found by schemathesis)."""
    from core.signatures import KeyAccessError, KeyStore

    pki.issue_personal("nul-owner", "Trần Văn Nul")
    with pytest.raises(KeyAccessError, match="wrong PIN"):
        KeyStore(pki.directory).signer_for("nul-owner", "12\x0034")
