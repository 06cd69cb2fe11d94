"""PDF signatures (PAdES) with pyHanko: the weekly-close document signed by the homeroom
teacher, who *certifies* it allowing form filling and signing (DocMDP level 2), then by the
principal with an approval signature in the second prepared field (our choice of format, PAdES:
sequential signatures as incremental updates). With a timestamp authority the signatures
are PAdES B-T, so their signing time is proven.
"""
from __future__ import annotations

import functools
import hashlib
import io
import logging

from core.signatures import pdf_speedups
from core.signatures.cms import FAILED, INDETERMINATE, PASSED, Verification
from core.signatures.signer import run_coroutine

logging.getLogger("fontTools.subset").setLevel(logging.ERROR)
pdf_speedups.install()


def add_signature_fields(pdf: bytes, fields: list[tuple[str, tuple[int, int, int, int]]], page: int = -1) -> bytes:
    """Create every signature field up front (later signers only fill their own)."""
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign.fields import SigFieldSpec, append_signature_field

    writer = IncrementalPdfFileWriter(io.BytesIO(pdf))
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
                                   stamp_style=_stamp_style())
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf))
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


@functools.lru_cache(maxsize=1)
def _stamp_style():
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
                clock.from_utc(when) if when else None, message)))
        return results

    return run_coroutine(validate_all())
