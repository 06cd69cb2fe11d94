"""PDF signatures (PAdES) with pyHanko: the weekly-close document signed by the homeroom
teacher, who *certifies* it allowing form filling and signing (DocMDP level 2), then by the
principal with an approval signature in the second prepared field (our choice of format, PAdES:
sequential signatures as incremental updates). With a timestamp authority the signatures
are PAdES B-T, so their signing time is proven.
"""
from __future__ import annotations

import dataclasses
import functools
import hashlib
import io
import logging

from core.signatures import pdf_speedups
from core.signatures.cms import FAILED, INDETERMINATE, PASSED, Verification
from core.signatures.signer import run_coroutine, tlv

logging.getLogger("fontTools.subset").setLevel(logging.ERROR)
pdf_speedups.install()


def _writer(kind, pdf: bytes):
    """An incremental writer that leaves the document's XMP metadata and information dictionary
    as they are: a PDF/A document's two must keep agreeing (ISO 19005-3 6.6.3, the transcript's
    render writes both, :mod:`core.transcripts.pdfa`), and pyHanko would rewrite the XMP
    without its PDF/A identification (as :mod:`core.signatures.ltv` does not either)."""
    writer = kind(io.BytesIO(pdf))
    writer._update_meta = lambda: None
    return writer


def add_signature_fields(pdf: bytes, fields: list[tuple[str, tuple[int, int, int, int]]], page: int = -1) -> bytes:
    """Create every signature field up front (later signers only fill their own)."""
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign.fields import SigFieldSpec, append_signature_field

    writer = _writer(IncrementalPdfFileWriter, pdf)
    for name, box in fields:
        append_signature_field(writer, SigFieldSpec(name, on_page=page, box=box))
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def sign_pdf(pdf: bytes, signer, field: str, *, certify: bool, reason: str, tsa_url: str | None = None,
             new_fields: list[tuple[str, tuple[int, int, int, int]]] | None = None) -> bytes:
    """Sign ``field`` of ``pdf`` with our :class:`~core.signatures.signer.Signer`; the first
    signer certifies (FILL_FORMS keeps the other fields signable). ``new_fields`` are created
    in the same revision first (the certifying signature then covers every field, and the
    document is read and written once instead of twice).

    pyHanko lays out the incremental update (signature dictionary, appearance, DocMDP, byte
    range) and computes the digest; the CMS comes from the signer's own assembly
    (:meth:`~core.signatures.signer.CmsSigner.sign_pades_digest`), with the space for it
    reserved up front, which makes a signature ~6x cheaper than pyHanko's own CMS path (a
    city issues 132,000 transcripts of three signatures each). With a timestamp authority
    pyHanko's full pipeline runs instead, so the signature timestamp (PAdES B-T) is embedded.
    """
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import signers, timestamps
    from pyhanko.sign.fields import MDPPerm, SigSeedSubFilter
    from pyhanko.sign.signers.pdf_signer import PdfTBSDocument

    meta = signers.PdfSignatureMetadata(
        field_name=field, certify=certify, docmdp_permissions=MDPPerm.FILL_FORMS if certify else None,
        subfilter=SigSeedSubFilter.PADES, md_algorithm="sha256", reason=reason, location="Việt Nam")
    timestamper = timestamps.HTTPTimeStamper(tsa_url) if tsa_url else None
    pdf_signer = signers.PdfSigner(meta, signer=signer.pyhanko_signer(), timestamper=timestamper,
                                   stamp_style=_stamp_style(pdf))
    writer = _writer(IncrementalPdfFileWriter, pdf)
    if new_fields:
        from pyhanko.sign.fields import SigFieldSpec, append_signature_field

        for name, box in new_fields:
            append_signature_field(writer, SigFieldSpec(name, on_page=-1, box=box))
    if timestamper is not None or not hasattr(signer, "sign_pades_digest"):
        out = io.BytesIO()
        signer.run(pdf_signer.async_sign_pdf(writer, existing_fields_only=True, output=out))
        return out.getvalue()

    async def prepare():
        return await pdf_signer.async_digest_doc_for_signing(writer, existing_fields_only=True,
                                                             bytes_reserved=2 * signer.pades_size)  # hex digits

    prepared, _tbs, out = run_coroutine(prepare())
    cms_bytes = signer.sign_pades_digest(prepared.document_digest)
    run_coroutine(PdfTBSDocument.async_finish_signing(out, prepared, cms_bytes))
    return out.getvalue()


#: What marks a PDF/A document (its XMP identification, core.transcripts.pdfa)
_PDFA_MARK = b"<pdfaid:part>"


def _stamp_style(pdf: bytes | None = None):
    """The appearance of a signature in ``pdf``: :func:`_text_stamp_style`, or for a PDF/A
    document :func:`_pdfa_stamp_style` (no text, so no font left unembedded, ISO 19005-3
    6.2.11.4.1)."""
    if pdf is not None and _PDFA_MARK in pdf:
        return _pdfa_stamp_style()
    return _text_stamp_style()


@functools.lru_cache(maxsize=1)
def _pdfa_stamp_style():
    """A drawn check mark in a border, vector only: the page prints who signs in each box and a
    reader shows the signature's details; pyHanko's text stamp would name Courier, a standard
    font that is not embedded (embedding a font in every signature costs ~0.4 s)."""
    from pyhanko.pdf_utils.content import RawContent
    from pyhanko.pdf_utils.layout import BoxConstraints
    from pyhanko.stamp import StaticStampStyle

    check = RawContent(b"q 0 0.45 0.2 RG 8 w 1 J 1 j 22 52 m 42 30 l 80 74 l S Q",
                       box=BoxConstraints(width=100, height=100))
    return StaticStampStyle(background=check, border_width=1)


@functools.lru_cache(maxsize=1)
def _text_stamp_style():
    """The signer's name and role are printed by the page itself under each box; the stamp
    carries only ASCII (the signing time), so no font is embedded per signature — embedding
    a Vietnamese font in every appearance costs ~0.4 s a signature."""
    from pyhanko.pdf_utils.text import TextBoxStyle
    from pyhanko.stamp import TextStampStyle

    return TextStampStyle(stamp_text="Digitally signed / Da ky so\n%(ts)s", text_box_style=TextBoxStyle(font_size=7))


def _indication(status) -> tuple[str, str | None, str]:
    if not status.intact:
        return FAILED, "HASH_FAILURE", "the document changed after it was signed"
    if not status.valid:
        return FAILED, "SIG_CRYPTO_FAILURE", "the signature value does not verify"
    if getattr(status, "revoked", False):
        return FAILED, "REVOKED", "the signer's certificate was revoked"
    if not status.trusted:
        sub = getattr(status, "trust_problem_indic", None)
        name = getattr(sub, "name", None) or "NO_CERTIFICATE_CHAIN_FOUND"
        if name.startswith("REVOKED"):
            return FAILED, "REVOKED", "the signer's certificate was revoked"
        return INDETERMINATE, name, "the signer's certificate could not be validated"
    if getattr(status, "docmdp_ok", True) is False:
        return FAILED, "DISALLOWED_MODIFICATION", "the document was modified in a way its certification forbids"
    return PASSED, None, "the signature is valid"


def verify_pdf(pdf: bytes, trust, *, online: bool | None = None) -> list[tuple[str, Verification]]:
    """Every signature of ``pdf``: (field name, verification in the ETSI vocabulary), against
    a :class:`~core.signatures.cms.TrustStore`; when the store checks revocation, so does
    this (OCSP/CRL fetched from the addresses in the certificates, hard-fail).

    A document with a document timestamp (PAdES B-LTA) is validated with the declared long-term
    policy (:func:`core.signatures.ltv.validate_lta`: pyHanko's AdES LTA validation; revocation
    data from the document for the past; the newest archive timestamp's current status fetched
    online unless ``online=False``, without which a document is INDETERMINATE an hour after
    its last timestamp). Document timestamps are not signatures and are not listed."""
    from asn1crypto import x509 as asn1_x509
    from pyhanko.pdf_utils.misc import PdfReadError
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.validation import async_validate_pdf_signature
    from pyhanko_certvalidator import ValidationContext

    from core.kernel import clock

    try:
        reader = PdfFileReader(io.BytesIO(pdf))
        signatures = list(reader.embedded_regular_signatures)
        long_term = bool(reader.embedded_timestamp_signatures)
    except (PdfReadError, ValueError, KeyError) as err:
        return [("-", Verification(FAILED, "FORMAT_FAILURE", None, None, None, f"unreadable PDF: {err}"))]
    if signatures and long_term:
        from core.signatures.ltv import validate_lta

        return validate_lta(pdf, trust, online=True if online is None else online)
    if not signatures:
        return [("-", Verification(INDETERMINATE, "SIGNED_DATA_NOT_FOUND", None, None, None, "no signature"))]
    from cryptography.hazmat.primitives.serialization import Encoding
    from pyhanko_certvalidator.fetchers.requests_fetchers import RequestsFetcherBackend

    revocation = trust.revocation_checker is not None
    context = ValidationContext(trust_roots=[asn1_x509.Certificate.load(c.public_bytes(Encoding.DER))
                                             for c in trust.roots],
                                other_certs=[asn1_x509.Certificate.load(c.public_bytes(Encoding.DER))
                                             for c in trust.intermediates],
                                allow_fetching=revocation, revocation_mode="hard-fail" if revocation else "soft-fail",
                                fetcher_backend=RequestsFetcherBackend())

    async def validate_all():
        results = []
        for sig in signatures:
            try:
                status = await async_validate_pdf_signature(sig, context)
                indication, sub, message = _indication(status)
                cert = status.signing_cert
                when = status.timestamp_validity.timestamp if status.timestamp_validity else status.signer_reported_dt
            except Exception as err:  # noqa: BLE001 - a broken signature must be reported, not crash
                results.append((sig.field_name, Verification(FAILED, "FORMAT_FAILURE", None, None, None,
                                                              f"{type(err).__name__}: {err}")))
                continue
            results.append((sig.field_name, Verification(
                indication, sub, hashlib.sha256(cert.dump()).hexdigest(), cert.subject.human_friendly,
                clock.from_utc(when) if when else None, message, cert.dump())))
        return results

    return run_coroutine(validate_all())


# ---------------------------------------------------------------- signing in two steps
# Prepare / complete (ký số hai bước): the server lays out the signature in the PDF and hands the
# signer's device the CMS signed attributes to sign (or the byte-range digest, for an app that
# builds a whole CMS); the device signs with a key only it holds and returns the signature; the
# server checks it against the person's registered certificate and embeds it. The PDF is the
# same PAdES signature as :func:`sign_pdf` makes, B-T with the server's timestamp authority.

MD = "sha256"
#: DER bytes kept free in /Contents for the signature timestamp token (~2.5 KB with the demo TSA).
TST_ALLOWANCE = 8192
#: What a device-built CMS may add over the server's own estimate (its chain, RSA-4096, ...).
DEVICE_CMS_ALLOWANCE = 8192

#: Refusal reasons (:class:`~core.kernel.errors.SignatureRejected`), ETSI EN 319 102-1 where one fits.
FORMAT_FAILURE = "FORMAT_FAILURE"
HASH_FAILURE = "HASH_FAILURE"                     # the CMS covers another document
SIG_CRYPTO_FAILURE = "SIG_CRYPTO_FAILURE"         # the signature value does not verify
WRONG_SIGNER = "WRONG_SIGNER"                     # not the certificate the signing was prepared for
NO_SIGNING_CERTIFICATE_FOUND = "NO_SIGNING_CERTIFICATE_FOUND"
CRYPTO_CONSTRAINTS_FAILURE = "CRYPTO_CONSTRAINTS_FAILURE"
SIGNING_TIME_NOT_ALLOWED = "SIGNING_TIME_NOT_ALLOWED"
UNSIGNED_ATTRIBUTES_NOT_ALLOWED = "UNSIGNED_ATTRIBUTES_NOT_ALLOWED"
TOO_LARGE = "TOO_LARGE"
STATE_CORRUPT = "STATE_CORRUPT"
CERTIFICATE_NOT_VALID = "CERTIFICATE_NOT_VALID"   # chain, validity or revocation at the server's time


def _rejected(reason: str, message: str):
    from core.kernel.errors import SignatureRejected

    return SignatureRejected(reason, message)


@dataclasses.dataclass(frozen=True)
class PreparedSigning:
    """What the server keeps between prepare and complete (a ``pdf_signing`` row): the prepared
    PDF (the incremental update with a zero-filled /Contents), the reserved region's offsets and
    the byte-range digest. Stored as its *signed content* (the bytes of the /ByteRange) and the
    offsets — the placeholder is rebuilt — or, when the server already stores the document the
    update extends (the principal signs ``week_close.document``), only the content after it."""

    prepared_pdf: bytes
    reserved_start: int          # offset of '<' of the /Contents hex string
    reserved_end: int            # offset just after its '>'
    document_digest: bytes       # SHA-256 over pdf[:start] + pdf[end:] (the /ByteRange)
    md_algorithm: str = MD

    @property
    def capacity(self) -> int:
        """DER bytes of CMS that fit in the reserved /Contents."""
        return (self.reserved_end - self.reserved_start - 2) // 2

    @property
    def byte_range(self) -> tuple[int, int, int, int]:
        return 0, self.reserved_start, self.reserved_end, len(self.prepared_pdf) - self.reserved_end

    def signed_content(self) -> bytes:
        """The bytes the signature covers (what a device recomputes the digest from)."""
        return self.prepared_pdf[:self.reserved_start] + self.prepared_pdf[self.reserved_end:]

    def check_integrity(self) -> None:
        pdf, start, end = self.prepared_pdf, self.reserved_start, self.reserved_end
        placeholder = pdf[start:end]
        if not (placeholder[:1] == b"<" and placeholder[-1:] == b">" and not placeholder[1:-1].strip(b"0")):
            raise _rejected(STATE_CORRUPT, "the reserved /Contents is not an empty placeholder")
        if hashlib.new(self.md_algorithm, self.signed_content()).digest() != self.document_digest:
            raise _rejected(STATE_CORRUPT, "the prepared document no longer matches its digest")

    def to_row(self, base: bytes | None = None) -> dict:
        row = {"reserved_start": self.reserved_start, "reserved_end": self.reserved_end,
               "document_digest": self.document_digest, "md_algorithm": self.md_algorithm,
               "signed_content": None, "base_sha256": None, "tail": None}
        content = self.signed_content()
        if base is None:
            row["signed_content"] = content
        else:
            if not (content.startswith(base) and self.reserved_start >= len(base)):
                raise ValueError("the prepared PDF does not extend this base document")
            row["base_sha256"], row["tail"] = hashlib.sha256(base).hexdigest(), content[len(base):]
        return row

    @classmethod
    def from_row(cls, row: dict, base: bytes | None = None) -> PreparedSigning:
        if row.get("tail") is not None:
            if base is None or hashlib.sha256(base).hexdigest() != row["base_sha256"]:
                raise _rejected(STATE_CORRUPT, "the base document changed since the signing was prepared")
            content = base + bytes(row["tail"])
        elif row.get("signed_content") is not None:
            content = bytes(row["signed_content"])
        else:
            raise _rejected(STATE_CORRUPT, "the prepared document is no longer kept")
        start, end = int(row["reserved_start"]), int(row["reserved_end"])
        if not 0 < start < end or start > len(content):
            raise _rejected(STATE_CORRUPT, "the reserved region is outside the document")
        pdf = content[:start] + b"<" + b"0" * (end - start - 2) + b">" + content[start:]
        state = cls(pdf, start, end, bytes(row["document_digest"]), row.get("md_algorithm") or MD)
        state.check_integrity()
        return state


def _asn1_cert(der: bytes):
    from asn1crypto import x509 as asn1_x509

    return asn1_x509.Certificate.load(der)


def _external_signer(cert_der: bytes, chain_der: list[bytes], signature: bytes | None = None):
    from pyhanko.sign.signers.pdf_cms import ExternalSigner
    from pyhanko_certvalidator.registry import SimpleCertificateStore

    return ExternalSigner(signing_cert=_asn1_cert(cert_der),
                          cert_registry=SimpleCertificateStore.from_certs([_asn1_cert(c) for c in chain_der]),
                          signature_value=signature, embed_roots=False)


def _server_cms_size(cert_der: bytes, chain_der: list[bytes]) -> int:
    """Upper bound of the DER size of the CMS the server assembles around a raw signature."""
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import ec

    key = x509.load_der_x509_certificate(cert_der).public_key()
    max_sig = 2 * (key.key_size + 7) // 8 + 9 if isinstance(key, ec.EllipticCurvePublicKey) else key.key_size // 8
    return len(cert_der) + sum(map(len, chain_der)) + len(cert_der) // 2 + max_sig + 600


def prepare_pdf_signature(pdf: bytes, *, field: str, certify: bool, reason: str, cert_der: bytes,
                          chain_der: list[bytes] = (), at=None,
                          new_fields: list[tuple[str, tuple[int, int, int, int]]] | None = None,
                          timestamp: bool = True) -> PreparedSigning:
    """Lay out the signature of ``field`` in ``pdf`` as an incremental update, as :func:`sign_pdf`
    does (the first signer certifies with DocMDP FILL_FORMS and creates ``new_fields`` in the same
    revision; later signers approve), with /Contents zero-filled. ``at`` (naive VN-local) is the
    server's clock: the /M entry, the claimed signing time of a PAdES B-B signature. The space
    reserved holds the server-assembled CMS, a timestamp token and a device-built CMS's extras."""
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import signers
    from pyhanko.sign.fields import MDPPerm, SigFieldSpec, SigSeedSubFilter, append_signature_field

    from core.kernel import clock

    chain_der = list(chain_der)
    reserve = _server_cms_size(cert_der, chain_der) + (TST_ALLOWANCE if timestamp else 0) + DEVICE_CMS_ALLOWANCE
    meta = signers.PdfSignatureMetadata(
        field_name=field, certify=certify, docmdp_permissions=MDPPerm.FILL_FORMS if certify else None,
        subfilter=SigSeedSubFilter.PADES, md_algorithm=MD, reason=reason, location="Việt Nam")
    pdf_signer = signers.PdfSigner(meta, signer=_external_signer(cert_der, chain_der), stamp_style=_stamp_style(pdf))
    writer = _writer(IncrementalPdfFileWriter, pdf)
    for name, box in new_fields or ():
        append_signature_field(writer, SigFieldSpec(name, on_page=-1, box=box))

    async def prepare():
        # the granular path: the only one that takes the server's clock (/M and the stamp's time)
        session = pdf_signer.init_signing_session(writer, existing_fields_only=True)
        if at is not None:
            session.system_time = clock.to_utc(at)
        validation_info = await session.perform_presign_validation(writer)
        tbs = session.prepare_tbs_document(validation_info=validation_info, bytes_reserved=2 * reserve)
        return tbs.digest_tbs_document()

    prepared, out = run_coroutine(prepare())
    out.seek(0)
    state = PreparedSigning(out.read(), prepared.reserved_region_start, prepared.reserved_region_end,
                            prepared.document_digest, MD)
    state.check_integrity()
    return state


_MESSAGE_DIGEST_OID = bytes.fromhex("06092a864886f70d010904")


def signed_attributes(state: PreparedSigning, cert_der: bytes) -> bytes:
    """The DER (SET OF) of the CMS signed attributes the device signs: content-type data,
    message-digest (the byte-range digest), signing-certificate-v2 of ``cert_der``; no
    signing-time (PAdES: the /M entry carries the claimed time). Deterministic, so it is rebuilt
    at complete from the state and the registered certificate, never stored; the same bytes as
    pyHanko's ``Signer.signed_attrs(..., use_pades=True)`` and
    :meth:`~core.signatures.signer.CmsSigner.sign_pades_digest`."""
    digest_attr = tlv(0x30, _MESSAGE_DIGEST_OID + tlv(0x31, tlv(0x04, state.document_digest)))
    return tlv(0x31, b"".join(sorted([*_constant_attributes(cert_der), digest_attr])))


@functools.lru_cache(maxsize=4096)
def _constant_attributes(cert_der: bytes) -> tuple[bytes, bytes]:
    from asn1crypto import cms, tsp
    from asn1crypto import x509 as asn1_x509

    cert = _asn1_cert(cert_der)
    ess = tsp.SigningCertificateV2({"certs": [tsp.ESSCertIDv2({
        "hash_algorithm": {"algorithm": "sha256"}, "cert_hash": hashlib.sha256(cert_der).digest(),
        "issuer_serial": {"issuer": [asn1_x509.GeneralName({"directory_name": cert.issuer})],
                          "serial_number": cert.serial_number}})]})
    return (cms.CMSAttribute({"type": "content_type", "values": ["data"]}).dump(),
            cms.CMSAttribute({"type": "signing_certificate_v2", "values": [ess]}).dump())


def verify_raw(cert_der: bytes, signature: bytes, data: bytes) -> bool:
    """Is ``signature`` the certificate key's SHA-256 signature over ``data`` (ECDSA DER or RSA
    PKCS#1 v1.5)?"""
    from cryptography import x509
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

    key = x509.load_der_x509_certificate(cert_der).public_key()
    try:
        if isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signature, data, ec.ECDSA(hashes.SHA256()))
        elif isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, data, padding.PKCS1v15(), hashes.SHA256())
        else:
            return False
    except (InvalidSignature, ValueError):
        return False
    return True


def _timestamper(tsa_url: str | None):
    if not tsa_url:
        return None
    from pyhanko.sign.timestamps import HTTPTimeStamper

    return HTTPTimeStamper(tsa_url)


def assemble_cms(state: PreparedSigning, signature: bytes, cert_der: bytes, chain_der: list[bytes] = (),
                 *, tsa_url: str | None = None) -> bytes:
    """A raw signature over :func:`signed_attributes`, checked against ``cert_der``, as a CMS
    SignedData (with a signature timestamp when ``tsa_url`` is given: PAdES B-T)."""
    from asn1crypto import cms

    attrs_der = signed_attributes(state, cert_der)
    if not verify_raw(cert_der, signature, attrs_der):
        raise _rejected(SIG_CRYPTO_FAILURE, "the signature value does not verify with your registered certificate "
                                            "over the prepared signed attributes")
    signer = _external_signer(cert_der, list(chain_der), signature)
    content = run_coroutine(signer.async_sign_prescribed_attributes(
        state.md_algorithm, cms.CMSAttributes.load(attrs_der), timestamper=_timestamper(tsa_url)))
    return content.dump()


def _signed_attrs_der(signer_info) -> bytes:
    """The signed attributes as signed: their original encoding, re-tagged as SET OF (0x31)."""
    from core.signatures.signer import der_length

    contents = signer_info["signed_attrs"].contents
    return b"\x31" + der_length(len(contents)) + contents


_SIG_ALGOS = {"sha256_ecdsa": "ec", "ecdsa": "ec", "sha256_rsa": "rsa", "rsassa_pkcs1v15": "rsa"}


def check_device_cms(state: PreparedSigning, cms_der: bytes, expected_cert_der: bytes, *, trust=None, at=None):
    """Everything checked before embedding a CMS the device built; the first failure is raised
    as :class:`~core.kernel.errors.SignatureRejected` with its reason. ``trust`` adds the chain,
    validity and revocation check at the server's time ``at`` (naive VN-local)."""
    from asn1crypto import cms

    if len(cms_der) > state.capacity:
        raise _rejected(TOO_LARGE, f"the CMS has {len(cms_der)} bytes; {state.capacity} were reserved")
    try:
        info = cms.ContentInfo.load(cms_der, strict=True)
        if info["content_type"].native != "signed_data":
            raise _rejected(FORMAT_FAILURE, "not a CMS SignedData")
        signed_data = info["content"]
        signer_infos = signed_data["signer_infos"]
        encap = signed_data["encap_content_info"]
        certificates = [c.chosen for c in signed_data["certificates"] or [] if c.name == "certificate"]
        if len(signer_infos) != 1:
            raise _rejected(FORMAT_FAILURE, f"{len(signer_infos)} signer infos; exactly one is expected")
        si = signer_infos[0]
        digest_algo = si["digest_algorithm"]["algorithm"].native
        sig_algo = si["signature_algorithm"]["algorithm"].native
        attrs = si["signed_attrs"]
        by_type: dict[str, list] = {}
        for attr in attrs:
            by_type.setdefault(attr["type"].native, []).append(attr["values"])
        unsigned = si["unsigned_attrs"]
        sid = si["sid"]
        signature = si["signature"].native
        content_type = encap["content_type"].native
        detached = encap["content"].native is None
    except Exception as err:  # noqa: BLE001 - whatever the parser says, the answer is a refusal
        from core.kernel.errors import SignatureRejected

        if isinstance(err, SignatureRejected):
            raise
        raise _rejected(FORMAT_FAILURE, f"unreadable CMS: {type(err).__name__}") from err
    if content_type != "data" or not detached:
        raise _rejected(FORMAT_FAILURE, "the CMS must be detached with content type data")
    if digest_algo != state.md_algorithm:
        raise _rejected(CRYPTO_CONSTRAINTS_FAILURE, f"digest algorithm {digest_algo}; {state.md_algorithm} expected")
    kind = _SIG_ALGOS.get(sig_algo)
    if kind is None:
        raise _rejected(CRYPTO_CONSTRAINTS_FAILURE, f"signature algorithm {sig_algo} is not accepted")
    if len(attrs) == 0:
        raise _rejected(FORMAT_FAILURE, "no signed attributes")
    for name, values in by_type.items():
        if len(values) != 1 or len(values[0]) != 1:
            raise _rejected(FORMAT_FAILURE, f"attribute {name} must occur once with one value")
    if [v.native for v in by_type.get("content_type", [[None]])[0]] != ["data"]:
        raise _rejected(FORMAT_FAILURE, "the content-type attribute must be present and say data")
    if "message_digest" not in by_type:
        raise _rejected(FORMAT_FAILURE, "no message-digest attribute")
    if by_type["message_digest"][0][0].native != state.document_digest:
        raise _rejected(HASH_FAILURE, "the signature covers another document: its message-digest is not the "
                                      "digest of the prepared byte range")
    if "signing_time" in by_type:
        raise _rejected(SIGNING_TIME_NOT_ALLOWED, "a PAdES signature carries no signing-time attribute (the "
                                                  "server's time is in the PDF)")
    if unsigned is not None and unsigned.native:
        raise _rejected(UNSIGNED_ATTRIBUTES_NOT_ALLOWED, "unsigned attributes are added by the server only")
    cert = None
    for candidate in certificates:
        if sid.name == "issuer_and_serial_number":
            if (candidate.issuer == sid.chosen["issuer"]
                    and candidate.serial_number == sid.chosen["serial_number"].native):
                cert = candidate
        elif candidate.key_identifier == sid.chosen.native:
            cert = candidate
    if cert is None:
        raise _rejected(NO_SIGNING_CERTIFICATE_FOUND, "the CMS does not carry the certificate its signer names")
    cert_der = cert.dump()
    if cert_der != expected_cert_der:
        raise _rejected(WRONG_SIGNER, f"signed by {cert.subject.human_friendly}, not with the registered "
                                      "certificate the signing was prepared for")
    ess = by_type.get("signing_certificate_v2")
    if ess is None:
        raise _rejected(NO_SIGNING_CERTIFICATE_FOUND, "no signing-certificate-v2 attribute (PAdES requires it)")
    first = ess[0][0]["certs"][0]
    ess_algo = first["hash_algorithm"]["algorithm"].native
    if ess_algo not in ("sha256", "sha384", "sha512") or \
            hashlib.new(ess_algo, cert_der).digest() != first["cert_hash"].native:
        raise _rejected(NO_SIGNING_CERTIFICATE_FOUND, "signing-certificate-v2 names another certificate")
    if kind != ("ec" if cert.public_key.algorithm == "ec" else "rsa") or \
            not verify_raw(cert_der, signature, _signed_attrs_der(si)):
        raise _rejected(SIG_CRYPTO_FAILURE, "the signature value does not verify (tampered, or made with another "
                                            "key than the certificate's)")
    if trust is not None:
        from core.signatures.cms import verify_detached

        report = verify_detached(state.signed_content(), cms_der, trust, at=at)
        if not report.valid:
            raise _rejected(report.sub_indication if report.sub_indication in (HASH_FAILURE, SIG_CRYPTO_FAILURE)
                            else CERTIFICATE_NOT_VALID, f"{report.sub_indication}: {report.message}")
    return info


def add_signature_timestamp(cms_der: bytes, tsa_url: str) -> bytes:
    """An RFC 3161 timestamp over the signature value as the unsigned attribute
    signature-time-stamp-token (PAdES B-T); the signed attributes keep their original bytes."""
    from asn1crypto import cms

    info = cms.ContentInfo.load(cms_der)
    signer_info = info["content"]["signer_infos"][0]
    signed_before = _signed_attrs_der(signer_info)
    digest = hashlib.sha256(signer_info["signature"].native).digest()
    token = run_coroutine(_timestamper(tsa_url).async_timestamp(digest, MD))
    signer_info["unsigned_attrs"] = cms.CMSAttributes(
        [cms.CMSAttribute({"type": "signature_time_stamp_token", "values": [token]})])
    out = info.dump()
    if _signed_attrs_der(cms.ContentInfo.load(out)["content"]["signer_infos"][0]) != signed_before:
        raise _rejected(FORMAT_FAILURE, "the signed attributes would be re-encoded by the timestamp")
    return out


def embed(state: PreparedSigning, cms_der: bytes) -> bytes:
    """Write the CMS into the reserved /Contents (pyHanko's ``async_finish_signing`` with the
    byte-range digest rebuilt from the state): the signed PDF."""
    from pyhanko.sign.signers.pdf_byterange import PreparedByteRangeDigest
    from pyhanko.sign.signers.pdf_signer import PdfTBSDocument

    if len(cms_der) > state.capacity:
        raise _rejected(TOO_LARGE, f"the CMS has {len(cms_der)} bytes; {state.capacity} were reserved")
    prepared = PreparedByteRangeDigest(document_digest=state.document_digest,
                                       reserved_region_start=state.reserved_start,
                                       reserved_region_end=state.reserved_end)
    out = io.BytesIO(state.prepared_pdf)
    run_coroutine(PdfTBSDocument.async_finish_signing(out, prepared, cms_der))
    return out.getvalue()


def complete_pdf_signature(state: PreparedSigning, cert_der: bytes, chain_der: list[bytes] = (), *,
                           signature: bytes | None = None, cms: bytes | None = None, tsa_url: str | None = None,
                           trust=None, at=None) -> bytes:
    """The signed PDF from the device's answer: ``signature`` (a raw signature over
    :func:`signed_attributes`, the recommended mode) or ``cms`` (a whole detached CMS, checked by
    :func:`check_device_cms`); with ``tsa_url`` the signature is timestamped (PAdES B-T)."""
    state.check_integrity()
    if (signature is None) == (cms is None):
        raise _rejected(FORMAT_FAILURE, "send either the raw signature or a CMS")
    if signature is not None:
        return embed(state, assemble_cms(state, signature, cert_der, chain_der, tsa_url=tsa_url))
    check_device_cms(state, cms, cert_der, trust=trust, at=at)
    if tsa_url:
        cms = add_signature_timestamp(cms, tsa_url)
    return embed(state, cms)
