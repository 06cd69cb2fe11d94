"""The signer's phone, simulated for the tests of keys under the signer's sole control: it holds
a private key and its certificate and shares nothing with the server. Only ``cryptography`` and
``asn1crypto`` are used (no pyHanko, nothing of the product), as a phone app has only its
platform's key store and a small DER library.

A real app signs with Android Keystore ``Signature.getInstance("SHA256withECDSA")`` (a key made in
StrongBox/TEE, user authentication required) or iOS ``SecKeyCreateSignature`` with
``.ecdsaSignatureMessageX962SHA256`` (Secure Enclave): both sign a *message*, which is what
:meth:`Phone.sign_signed_attributes` does.
"""
from __future__ import annotations

import base64
import datetime as dt
import hashlib
from pathlib import Path

from asn1crypto import algos, cms, tsp
from asn1crypto import x509 as asn1_x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.serialization import pkcs12


class DeviceRefused(Exception):
    """The app will not sign what the server asked (its own checks failed)."""


class Phone:
    def __init__(self, private_key, cert_der: bytes):
        self._key = private_key
        self.cert_der = cert_der
        self._cert = asn1_x509.Certificate.load(cert_der)

    @classmethod
    def from_pkcs12(cls, path: Path, pin: str = "1234") -> Phone:
        """The key as issued to the person (the demo CA issues PKCS#12 files), now on their phone."""
        key, cert, _ = pkcs12.load_key_and_certificates(Path(path).read_bytes(), pin.encode())
        return cls(key, cert.public_bytes(serialization.Encoding.DER))

    def sign_raw(self, message: bytes) -> bytes:
        """The key store's raw signature, without the app's checks (an attacker's app)."""
        return self._sign(message)

    def _sign(self, message: bytes) -> bytes:
        if isinstance(self._key, ec.EllipticCurvePrivateKey):
            return self._key.sign(message, ec.ECDSA(hashes.SHA256()))
        if isinstance(self._key, rsa.RSAPrivateKey):
            return self._key.sign(message, padding.PKCS1v15(), hashes.SHA256())
        raise DeviceRefused(f"unsupported key {type(self._key).__name__}")

    def sign_signed_attributes(self, attrs_der: bytes, *, expected_digest: bytes | None = None) -> bytes:
        """Check the attributes the server sent (content-type, message-digest and a
        signing-certificate-v2 naming *this* certificate; with ``expected_digest`` — recomputed
        from the prepared PDF — the message-digest must be it), then sign their DER."""
        attrs = cms.CMSAttributes.load(attrs_der, strict=True)
        by_type = {a["type"].native: a["values"][0] for a in attrs}
        if set(by_type) != {"content_type", "message_digest", "signing_certificate_v2"} or len(attrs) != 3:
            raise DeviceRefused(f"unexpected signed attributes {sorted(by_type)}")
        if by_type["signing_certificate_v2"]["certs"][0]["cert_hash"].native != hashlib.sha256(self.cert_der).digest():
            raise DeviceRefused("the attributes name another certificate than mine")
        if expected_digest is not None and by_type["message_digest"].native != expected_digest:
            raise DeviceRefused("the message-digest is not the digest of the document I was shown")
        return self._sign(attrs_der)

    @staticmethod
    def digest_of(prepared_pdf: bytes, byte_range) -> bytes:
        a, b, c, d = byte_range
        return hashlib.sha256(prepared_pdf[a:a + b] + prepared_pdf[c:c + d]).digest()

    def build_cms(self, digest: bytes, *, signing_time: dt.datetime | None = None, signed_by: Phone | None = None,
                  signing_certificate: bool = True) -> bytes:
        """A detached CMS SignedData over content whose SHA-256 is ``digest``. ``signed_by``
        (an attack) signs with another phone's key while naming this certificate."""
        cert = self._cert
        attrs = [cms.CMSAttribute({"type": "content_type", "values": ["data"]}),
                 cms.CMSAttribute({"type": "message_digest", "values": [digest]})]
        if signing_certificate:
            attrs.append(cms.CMSAttribute({"type": "signing_certificate_v2", "values": [tsp.SigningCertificateV2({
                "certs": [tsp.ESSCertIDv2({"hash_algorithm": {"algorithm": "sha256"},
                                           "cert_hash": hashlib.sha256(self.cert_der).digest(),
                                           "issuer_serial": {"issuer": [asn1_x509.GeneralName(
                                               {"directory_name": cert.issuer})],
                                               "serial_number": cert.serial_number}})]})]}))
        if signing_time is not None:
            attrs.append(cms.CMSAttribute({"type": "signing_time", "values": [cms.Time({"utc_time": signing_time})]}))
        attrs.sort(key=lambda a: a.dump())
        signed = cms.CMSAttributes(attrs)
        signer = signed_by or self
        kind = "sha256_ecdsa" if isinstance(signer._key, ec.EllipticCurvePrivateKey) else "sha256_rsa"
        signer_info = cms.SignerInfo({
            "version": "v1",
            "sid": cms.SignerIdentifier({"issuer_and_serial_number": cms.IssuerAndSerialNumber(
                {"issuer": cert.issuer, "serial_number": cert.serial_number})}),
            "digest_algorithm": algos.DigestAlgorithm({"algorithm": "sha256"}), "signed_attrs": signed,
            "signature_algorithm": algos.SignedDigestAlgorithm({"algorithm": kind}),
            "signature": signer._sign(signed.dump()),
        })
        signed_data = cms.SignedData({
            "version": "v1", "digest_algorithms": [algos.DigestAlgorithm({"algorithm": "sha256"})],
            "encap_content_info": {"content_type": "data"},
            "certificates": [cms.CertificateChoices({"certificate": cert})], "signer_infos": [signer_info]})
        return cms.ContentInfo({"content_type": "signed_data", "content": signed_data}).dump()

    def sign_detached(self, data: bytes) -> bytes:
        """CAdES-BES over ``data`` with the phone's clock: what the app sends for a period, and
        for the week summary."""
        return self.build_cms(hashlib.sha256(data).digest(),
                              signing_time=dt.datetime.now(dt.timezone.utc).replace(microsecond=0))

    def answer(self, prepared: dict, prepared_pdf: bytes | None = None) -> dict:
        """What the app sends to complete, from the prepare response (and, when it fetched it,
        the prepared PDF: then it checks that it signs the digest of what it was shown)."""
        summary = self.sign_detached(base64.b64decode(prepared["summary_b64"]))
        out = {"signing_id": prepared["signing_id"], "summary_signature_b64": base64.b64encode(summary).decode()}
        if prepared["mode"] == "signed_attributes":
            seen = self.digest_of(prepared_pdf, prepared["byte_range"]) if prepared_pdf is not None else None
            raw = self.sign_signed_attributes(base64.b64decode(prepared["signed_attributes_b64"]),
                                              expected_digest=seen)
            out["signature_b64"] = base64.b64encode(raw).decode()
        else:
            out["cms_b64"] = base64.b64encode(self.build_cms(
                base64.b64decode(prepared["document_digest_b64"]))).decode()
        return out
