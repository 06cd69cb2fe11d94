"""Signatures valid for life (chữ ký có giá trị lâu dài): PAdES B-LTA for issued transcripts and
closed weeks, its renewal, and its validation (ETSI EN 319 142-1 baseline levels; ETSI EN 319
102-1 for validation).

A signer's certificate lives two to three years (Nghị định 23/2025/NĐ-CP: at most 3 for a
subscriber), a transcript a lifetime. What keeps its signatures checkable after the
certificates expire, a CA is replaced or a signer is revoked:

1. **a signature timestamp** on every signature (B-T): an RFC 3161 token over the signature
   value, put into the CMS as the unsigned attribute ``id-aa-signatureTimeStampToken``. It
   proves the signature existed then, so a revocation *after* it does not touch it;
2. **the validation data** (B-LT): the certificates of every path and their revocation status
   at the time (OCSP answers for end entities, CRLs for CAs), in the document's DSS;
3. **a document timestamp** (B-LTA) over all of it; before that timestamp's own certificate
   (or its CA, or SHA-256) stops being trustworthy, :func:`extend` adds the status of its
   TSA and a new document timestamp from a newer TSA (``sohoa retimestamp``, docs/long-term-signatures.md).

The fast path reuses the product's CMS assembly (:class:`~core.signatures.signer.CmsSigner`,
pyHanko laying out the incremental update and digesting it): a signature timestamp is one TSA
round trip and a few hundred bytes more. At issuance the DSS and the document timestamp go into
*one* revision. :class:`DocumentBatch` signs a chunk of documents in phases (every first
signature, then every second one, then every finish), so that each phase's timestamp requests
are in flight together: a remote TSA's round trips overlap instead of adding up.

Which certificates go into the DSS is read from the signed document itself (a DER walk over the
signatures and their timestamps), so it works whichever process made the earlier signatures.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import io
import re
import threading
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass

from asn1crypto import cms as asn1_cms
from asn1crypto import crl as asn1_crl
from asn1crypto import ocsp as asn1_ocsp
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp

from core.kernel import clock as vn_clock
from core.signatures import pdf_speedups
from core.signatures.cms import FAILED, INDETERMINATE, PASSED, Verification, _kids, _tlv
from core.signatures.signer import tlv
from core.signatures.tsa import TimestampError, TsaClient, pyhanko_timestamper

pdf_speedups.install()

UTC = dt.timezone.utc
OID_SIGNATURE_TS = bytes.fromhex("060b2a864886f70d010910020e")  # 1.2.840.113549.1.9.16.2.14
_MESSAGE_DIGEST_OID = bytes.fromhex("06092a864886f70d010904")
#: An archive timestamp is renewed this long before the first certificate of its path expires.
RENEWAL_MARGIN = dt.timedelta(days=365)
#: A cached OCSP answer or CRL is used for new signatures while younger than this.
REVOCATION_MAX_AGE = dt.timedelta(minutes=30)


def real_time() -> dt.datetime:
    return dt.datetime.now(UTC)


def run_sync(coroutine):
    """Drive a coroutine that never waits on I/O (pyHanko's finishing steps with our synchronous
    TSA client) without an event loop: ``asyncio.run`` costs ~0.5 ms a call, several per document."""
    try:
        coroutine.send(None)
    except StopIteration as done:
        return done.value
    coroutine.close()
    raise RuntimeError("the coroutine waited on I/O")


# ---------------------------------------------------------------- revocation data, cached
@dataclass
class Evidence:
    """One OCSP answer or CRL, as fetched (DER) and as asn1crypto reads it for the DSS."""

    der: bytes
    parsed: object
    this_update: dt.datetime
    next_update: dt.datetime
    status: str = "good"


class RevocationCache:
    """OCSP answers (end entities) and CRLs (CAs), fetched from the addresses in the certificates,
    checked, and reused while younger than ``max_age``: a batch of transcripts shares the same
    few answers. ``clock`` gives aware UTC (injectable for time travel)."""

    def __init__(self, clock: Callable[[], dt.datetime] = real_time, max_age: dt.timedelta = REVOCATION_MAX_AGE,
                 timeout: float = 10.0):
        self.clock, self.max_age, self.timeout = clock, max_age, timeout
        self._ocsp: dict[bytes, Evidence] = {}
        self._crl: dict[str, Evidence] = {}
        self._lock = threading.Lock()
        self.fetches = 0

    def _fresh(self, ev: Evidence | None) -> bool:
        now = self.clock()
        return ev is not None and ev.this_update <= now and now - ev.this_update < self.max_age \
            and now < ev.next_update

    def _fetch(self, url: str, body: bytes | None = None) -> bytes:
        headers = {"Content-Type": "application/ocsp-request"} if body else {}
        with urllib.request.urlopen(urllib.request.Request(url, data=body, headers=headers),
                                    timeout=self.timeout) as response:
            self.fetches += 1
            return response.read()

    def ocsp(self, cert: x509.Certificate, issuer: x509.Certificate) -> Evidence:
        key = hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).digest()
        ev = self._ocsp.get(key)
        if self._fresh(ev):
            return ev
        with self._lock:
            url = _ocsp_url(cert)
            request = ocsp.OCSPRequestBuilder().add_certificate(cert, issuer, hashes.SHA1()).build()
            try:
                der = self._fetch(url, request.public_bytes(serialization.Encoding.DER))
                answer = ocsp.load_der_ocsp_response(der)
            except (OSError, ValueError) as err:
                raise TimestampError(f"no OCSP answer from {url}: {err}") from err
            if answer.response_status != ocsp.OCSPResponseStatus.SUCCESSFUL or answer.serial_number != \
                    cert.serial_number:
                raise TimestampError(f"the OCSP answer from {url} is not about this certificate")
            _verify(issuer, answer.signature, answer.tbs_response_bytes, answer.signature_hash_algorithm)
            ev = Evidence(der, asn1_ocsp.OCSPResponse.load(der), answer.this_update_utc,
                          answer.next_update_utc or answer.this_update_utc + dt.timedelta(hours=1),
                          answer.certificate_status.name.lower())
            self._ocsp[key] = ev
            return ev

    def crl(self, cert: x509.Certificate, issuer: x509.Certificate | None) -> Evidence:
        url = _crl_url(cert)
        ev = self._crl.get(url)
        if self._fresh(ev):
            return ev
        with self._lock:
            try:
                der = self._fetch(url)
                crl = x509.load_der_x509_crl(der)
            except (OSError, ValueError) as err:
                raise TimestampError(f"no CRL from {url}: {err}") from err
            if crl.issuer != cert.issuer or (issuer is not None and not crl.is_signature_valid(issuer.public_key())):
                raise TimestampError(f"the CRL from {url} is not its CA's")
            ev = Evidence(der, asn1_crl.CertificateList.load(der), crl.last_update_utc, crl.next_update_utc)
            self._crl[url] = ev
            return ev


def _ocsp_url(cert: x509.Certificate) -> str | None:
    try:
        access = cert.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
    except x509.ExtensionNotFound:
        return None
    return next((d.access_location.value for d in access
                 if d.access_method == x509.oid.AuthorityInformationAccessOID.OCSP), None)


def _crl_url(cert: x509.Certificate) -> str | None:
    try:
        points = cert.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    except x509.ExtensionNotFound:
        return None
    return next((n.value for p in points for n in (p.full_name or ()) if isinstance(n, x509.UniformResourceIdentifier)),
                None)


def _verify(issuer: x509.Certificate, signature: bytes, data: bytes, hash_alg) -> None:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

    key = issuer.public_key()
    try:
        if isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signature, data, ec.ECDSA(hash_alg))
        elif isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, data, padding.PKCS1v15(), hash_alg)
        else:
            raise TimestampError("unsupported CA key")
    except InvalidSignature as err:
        raise TimestampError("an OCSP answer not signed by the certificate's CA") from err


# ---------------------------------------------------------------- reading signed documents
def _cms_certificates(b: bytes) -> tuple[bytes | None, list[bytes], list[bytes]]:
    """A CMS SignedData (trailing zeros of a PDF /Contents ignored), by a DER walk: (the
    signer's certificate, the other certificates it carries, its signature timestamp tokens)."""
    _, s, e = _tlv(b, 0, len(b))
    top = _kids(b, s, e)
    sd = _kids(b, *_tlv(b, top[1][2], top[1][3])[1:])
    certs = next((p for p in sd if p[0] == 0xA0), None)
    infos = _kids(b, sd[-1][2], sd[-1][3])
    si = _kids(b, infos[0][2], infos[0][3])
    sid = _kids(b, si[1][2], si[1][3])  # issuerAndSerialNumber
    issuer, serial = b[sid[0][1]:sid[0][3]], b[sid[1][1]:sid[1][3]]
    signer, others = None, []
    for _, cstart, cs, ce in _kids(b, certs[2], certs[3]) if certs else ():
        tbs = _kids(b, *_tlv(b, cs, ce)[1:])
        k = 1 if tbs[0][0] == 0xA0 else 0
        if signer is None and b[tbs[k][1]:tbs[k][3]] == serial and b[tbs[k + 2][1]:tbs[k + 2][3]] == issuer:
            signer = b[cstart:ce]
        else:
            others.append(b[cstart:ce])
    tokens = []
    if si[-1][0] == 0xA1:  # unsignedAttrs
        for _, _, as_, ae in _kids(b, si[-1][2], si[-1][3]):
            oid, values = _kids(b, as_, ae)
            if b[oid[1]:oid[3]] == OID_SIGNATURE_TS:
                tokens += [b[vs:ve] for _, vs, _, ve in _kids(b, values[2], values[3])]
    return signer, others, tokens


def _signature_objects(reader) -> list[tuple[str, dict]]:
    from pyhanko.sign.fields import enumerate_sig_fields

    out = []
    for name, sig_obj, _ in enumerate_sig_fields(reader, filled_status=True):
        sig_obj = sig_obj.get_object() if hasattr(sig_obj, "get_object") else sig_obj
        out.append((name, sig_obj))
    return out


_CONTENTS = re.compile(rb"/Contents\s*<([0-9A-Fa-f]{64,})>")
_OID_TST_INFO = bytes.fromhex("060b2a864886f70d0109100104")  # id-ct-TSTInfo: a document timestamp


def signed_end_entities(pdf: bytes) -> tuple[list[bytes], list[bytes]]:
    """(end-entity certificates a DSS must validate: each signature's signer and its signature
    timestamps' TSAs, in order; every other certificate the signatures carry, e.g. their CAs).

    Read from the signature dictionaries' ``/Contents`` in the file itself (pyHanko writes them
    as plain objects; document timestamps, whose CMS encapsulates a TSTInfo, are left out): an
    object-model walk over the fields costs ~2 ms a document, this ~0.1 ms. A document whose
    signatures cannot be found that way is read with pyHanko's model."""
    contents = [bytes.fromhex(m.group(1).decode()) for m in _CONTENTS.finditer(pdf)]
    if not contents:
        from pyhanko.pdf_utils.reader import PdfFileReader

        contents = [bytes(sig_obj["/Contents"]) for _, sig_obj in _signature_objects(PdfFileReader(io.BytesIO(pdf)))]
    ends, others = [], []
    for cms in contents:
        try:
            if _OID_TST_INFO in cms[:64]:
                continue
            signer, extra, tokens = _cms_certificates(cms)
        except (ValueError, IndexError):
            continue  # not a CMS: not a signature of ours
        ends.append(signer)
        others += extra
        for token in tokens:
            tsa, tsa_extra, _ = _cms_certificates(token)
            ends.append(tsa)
            others += tsa_extra
    return list(dict.fromkeys(c for c in ends if c)), list(dict.fromkeys(others))


def signer_certificates(pdf: bytes) -> list[bytes]:
    """The signer's certificate (DER) of each signature of ``pdf`` (not the timestamps)."""
    from pyhanko.pdf_utils.reader import PdfFileReader

    out = []
    for _, sig_obj in _signature_objects(PdfFileReader(io.BytesIO(pdf))):
        if sig_obj.get("/Type") != "/DocTimeStamp":
            signer, _, _ = _cms_certificates(bytes(sig_obj["/Contents"]))
            if signer:
                out.append(signer)
    return out


def revision_prefixes(pdf: bytes) -> list[bytes]:
    """The document as it was after each revision (every ``%%EOF`` and its end of line): a copy
    downloaded before a renewal is one of these."""
    out, pos = [], 0
    while True:
        k = pdf.find(b"%%EOF", pos)
        if k < 0:
            return out
        end = k + 5
        while end < len(pdf) and pdf[end:end + 1] in b"\r\n":
            end += 1
        out.append(pdf[:end])
        pos = end


def _last_document_timestamp(reader):
    stamps = reader.embedded_timestamp_signatures
    return max(stamps, key=lambda s: s.signed_revision) if stamps else None


# ---------------------------------------------------------------- the long-term signer
class LongTermSigner:
    """B-T signatures, the B-LTA finish and its renewal for one process and one TSA.

    ``ca_certs``: CA certificates known beforehand (the trust anchors and intermediates);
    CA certificates carried by the signatures and timestamps are added as they are met. A CA
    whose issuer is unknown (the root, when not given) has its CRL checked against its issuer's
    name only; the validator checks every signature later anyway."""

    def __init__(self, tsa_url: str, ca_certs: list[x509.Certificate] = (), *,
                 clock: Callable[[], dt.datetime] = real_time, revocation: RevocationCache | None = None):
        self.tsa = TsaClient(tsa_url)
        self.stamper = pyhanko_timestamper(self.tsa)
        self.clock = clock
        self.revocation = revocation or RevocationCache(clock)
        self._cas: dict[bytes, x509.Certificate] = {}
        for cert in ca_certs:
            self._learn(cert)
        sample = self.tsa.token(b"\0" * 32)
        self.ts_room = len(sample) + 512  # longer serials and names, a TSA of another kind
        self._chains: dict[bytes, tuple] = {}
        self._asn1: dict[bytes, asn1_x509.Certificate] = {}
        self._horizons: dict[bytes, dt.datetime] = {}

    def _learn(self, cert: x509.Certificate) -> None:
        try:
            ca = cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
        except x509.ExtensionNotFound:
            ca = False
        if ca:
            self._cas.setdefault(cert.subject.public_bytes(), cert)

    @staticmethod
    def _writer(pdf: bytes):
        from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

        writer = IncrementalPdfFileWriter(io.BytesIO(pdf))
        # the document's XMP and /Info are the render's: pyHanko would parse, update and write
        # them again in every revision (~1 ms each)
        writer._update_meta = lambda: None
        return writer

    # ---------------------------------------------------------------- signatures (B-T)
    def _prepare(self, pdf: bytes, signer, field: str, certify: bool, reason: str, new_fields, at):
        from pyhanko.sign import signers
        from pyhanko.sign.fields import MDPPerm, SigFieldSpec, SigSeedSubFilter, append_signature_field

        from core.signatures.pades import _stamp_style

        meta = signers.PdfSignatureMetadata(
            field_name=field, certify=certify, docmdp_permissions=MDPPerm.FILL_FORMS if certify else None,
            subfilter=SigSeedSubFilter.PADES, md_algorithm="sha256", reason=reason, location="Việt Nam")
        pdf_signer = signers.PdfSigner(meta, signer=signer.pyhanko_signer(), stamp_style=_stamp_style())
        writer = self._writer(pdf)
        for name, box in new_fields or ():
            append_signature_field(writer, SigFieldSpec(name, on_page=-1, box=box))
        session = pdf_signer.init_signing_session(writer, existing_fields_only=True)
        session.system_time = vn_clock.to_utc(at) if at is not None else self.clock()  # the claimed time (/M)
        tbs = session.prepare_tbs_document(validation_info=None,
                                           bytes_reserved=2 * (signer.pades_size + self.ts_room + 32))
        prepared, out = tbs.digest_tbs_document()
        digest_attr = tlv(0x30, _MESSAGE_DIGEST_OID + tlv(0x31, tlv(0x04, prepared.document_digest)))
        attrs = b"".join(sorted([*signer._fixed_attrs, digest_attr]))
        return prepared, out, attrs, signer.sign_raw(tlv(0x31, attrs))

    @staticmethod
    def _complete(signer, prepared, out, attrs: bytes, signature: bytes, token: bytes) -> bytes:
        from pyhanko.sign.signers.pdf_signer import PdfTBSDocument

        unsigned = tlv(0xA1, tlv(0x30, OID_SIGNATURE_TS + tlv(0x31, token)))
        signer_info = tlv(0x30, signer._si_head + tlv(0xA0, attrs) + signer._sig_alg + tlv(0x04, signature)
                          + unsigned)
        cms = tlv(0x30, signer._ci_oid + tlv(0xA0, tlv(0x30, signer._sd_head + tlv(0x31, signer_info))))
        run_sync(PdfTBSDocument.async_finish_signing(out, prepared, cms))
        return out.getvalue()

    def sign(self, pdfs: list[bytes], signer, field: str, *, certify: bool, reason: str, new_fields=None,
             at: dt.datetime | None = None) -> list[bytes]:
        """Sign ``field`` of each document with ``signer`` (a
        :class:`~core.signatures.signer.CmsSigner`), PAdES B-T: the product's CMS plus a
        signature timestamp; the TSA requests of all documents in flight together. ``at``
        (VN-local) is the claimed signing time (/M), else now."""
        parts = [self._prepare(p, signer, field, certify, reason, new_fields, at) for p in pdfs]
        tokens = self.tsa.tokens([hashlib.sha256(part[3]).digest() for part in parts])
        return [self._complete(signer, *part, token) for part, token in zip(parts, tokens)]

    # ---------------------------------------------------------------- validation data
    def _x509(self, der: bytes) -> x509.Certificate:
        return x509.load_der_x509_certificate(der)

    def _asn1_of(self, cert: x509.Certificate) -> asn1_x509.Certificate:
        der = cert.public_bytes(serialization.Encoding.DER)
        got = self._asn1.get(der)
        if got is None:
            got = self._asn1[der] = asn1_x509.Certificate.load(der)
        return got

    def _chain(self, der: bytes):
        """(path [(certificate, issuer or None)] up to the root or the first unknown issuer,
        its certificates as asn1crypto objects), once per certificate."""
        got = self._chains.get(der)
        if got is None:
            cert = self._x509(der)
            path, current = [], cert
            for _ in range(8):
                if current.issuer == current.subject:  # a root: trusted, not checked
                    break
                issuer = self._cas.get(current.issuer.public_bytes())
                path.append((current, issuer))
                if issuer is None:
                    break
                current = issuer
            got = self._chains[der] = (path, [self._asn1_of(c) for c, _ in path]
                                       + ([self._asn1_of(current)] if current.issuer == current.subject else []))
        return got

    def evidence_for(self, end_entities: list[bytes]):
        """(certificates, OCSP answers, CRLs) validating ``end_entities`` up to the root: an
        OCSP answer for each end entity (its CA's CRL if it has no OCSP address) and the CRL of
        each CA above it, from the process's :class:`RevocationCache`."""
        certs, ocsps, crls, seen = [], [], [], set()
        for der in end_entities:
            path, asn1_certs = self._chain(der)
            for c in asn1_certs:
                if id(c) not in seen:
                    seen.add(id(c))
                    certs.append(c)
            for k, (current, issuer) in enumerate(path):
                use_ocsp = k == 0 and issuer is not None and _ocsp_url(current) is not None
                if use_ocsp:
                    ev = self.revocation.ocsp(current, issuer)
                elif _crl_url(current) is not None:
                    ev = self.revocation.crl(current, issuer)
                else:
                    continue  # declares no revocation service: nothing to fetch
                if id(ev.parsed) not in seen:
                    seen.add(id(ev.parsed))
                    (ocsps if use_ocsp else crls).append(ev.parsed)
        return certs, ocsps, crls

    # ---------------------------------------------------------------- DSS + document timestamp (LTA)
    def _stamp(self, writers: list, field_names: list[str]) -> list[bytes]:
        """A document timestamp on each prepared writer (its DSS written), the requests together:
        pyHanko's PdfCMSEmbedder step by step, as PdfTimeStamper does, so the token can be
        fetched between the digest and the fill."""
        from pyhanko.sign.fields import SigFieldSpec
        from pyhanko.sign.signers.cms_embedder import PdfCMSEmbedder, SigIOSetup, SigObjSetup
        from pyhanko.sign.signers.pdf_byterange import DocumentTimestamp
        from pyhanko.sign.signers.pdf_signer import _ensure_esic_ext

        pending = []
        for writer, name in zip(writers, field_names):
            _ensure_esic_ext(writer)
            embedder = PdfCMSEmbedder(new_field_spec=SigFieldSpec(sig_field_name=name))
            steps = embedder.write_cms(field_name=name, writer=writer, existing_fields_only=False)
            next(steps)
            steps.send(SigObjSetup(sig_placeholder=DocumentTimestamp(bytes_reserved=2 * (self.ts_room + 32))))
            prepared, output = steps.send(SigIOSetup(md_algorithm="sha256", in_place=False, output=io.BytesIO()))
            pending.append((steps, prepared, output))
        tokens = self.tsa.tokens([prepared.document_digest for _, prepared, _ in pending])
        out = []
        for (steps, _, output), token in zip(pending, tokens):
            steps.send(asn1_cms.ContentInfo.load(token))
            out.append((output.getvalue(), self.valid_until(token)))
        return out

    def valid_until(self, token: bytes) -> dt.datetime:
        """Until when a timestamp ``token`` can be validated: the earliest end of its TSA's
        certificate and the CAs above it (aware UTC), once per TSA certificate."""
        tsa, others, _ = _cms_certificates(token)
        got = self._horizons.get(tsa)
        if got is None:
            for der in others:
                self._learn(self._x509(der))
            cert = self._x509(tsa)
            got = cert.not_valid_after_utc
            for current, issuer in self._chain(tsa)[0]:
                if issuer is not None:
                    got = min(got, issuer.not_valid_after_utc)
            self._horizons[tsa] = got
        return got

    def _supply(self, writer, end_entities: list[bytes]) -> None:
        from pyhanko.sign.validation.dss import DocumentSecurityStore

        certs, ocsps, crls = self.evidence_for(end_entities)
        if "/DSS" in writer.root:
            DocumentSecurityStore.supply_dss_in_writer(writer, None, certs=certs, ocsps=ocsps, crls=crls)
        else:
            _write_new_dss(writer, certs, ocsps, crls)

    def finish(self, pdfs: list[bytes]) -> list[tuple[bytes, dt.datetime]]:
        """B-LTA at issuance, one revision each: a DSS with what validates every signature and
        signature timestamp of the document, and a document timestamp covering it. Returns each
        document with the end of its archive timestamp's validity (:meth:`valid_until`)."""
        writers = []
        for pdf in pdfs:
            writer = self._writer(pdf)
            ends, others = signed_end_entities(pdf)
            for der in others:
                self._learn(self._x509(der))
            self._supply(writer, ends)
            writers.append(writer)
        return self._stamp(writers, ["DocTS1"] * len(writers))

    def extend(self, pdfs: list[bytes]) -> list[tuple[bytes, dt.datetime]]:
        """Renewal, one revision each: the status *now* of the newest document timestamp's TSA
        and CAs into the DSS, and a new document timestamp (this signer's TSA) over it. The
        newest timestamp must still cover its revision (checked per document; its TSA's path is
        judged by the validator)."""
        writers, names = [], []
        for pdf in pdfs:
            writer = self._writer(pdf)
            last = _last_document_timestamp(writer.prev)
            if last is None:
                raise ValueError("no document timestamp to renew: the document is not B-LTA")
            imprint = last.signed_data["encap_content_info"]["content"].parsed["message_imprint"]
            if imprint["hash_algorithm"]["algorithm"].native != "sha256" or \
                    imprint["hashed_message"].native != last.compute_digest():
                raise ValueError("the newest document timestamp does not cover its revision")
            tsa, others, _ = _cms_certificates(last.pkcs7_content)
            for der in others:
                self._learn(self._x509(der))
            self._supply(writer, [tsa])
            writers.append(writer)
            names.append(f"DocTS{len(writer.prev.embedded_timestamp_signatures) + 1}")
        return self._stamp(writers, names)


def _write_new_dss(writer, certs, ocsps, crls) -> None:
    """A new /DSS (ISO 32000-2 12.8.4.3) with one stream per certificate, OCSP answer and CRL, no
    /VRI (optional in PAdES baseline): what ``DocumentSecurityStore.supply_dss_in_writer`` writes
    for a document without one, minus its bookkeeping (~1 ms a document)."""
    from pyhanko.pdf_utils import generic
    from pyhanko.pdf_utils.generic import pdf_name

    def streams(objs):
        return generic.ArrayObject(writer.add_object(generic.StreamObject(stream_data=o.dump())) for o in objs)

    dss = generic.DictionaryObject({pdf_name("/Certs"): streams(certs)})
    if ocsps:
        dss[pdf_name("/OCSPs")] = streams(ocsps)
    if crls:
        dss[pdf_name("/CRLs")] = streams(crls)
    writer.root[pdf_name("/DSS")] = writer.add_object(dss)
    writer.update_root()


_SIGNERS: dict[str, LongTermSigner] = {}
_SIGNERS_LOCK = threading.Lock()


def long_term_signer(tsa_url: str) -> LongTermSigner:
    """The process's :class:`LongTermSigner` for ``tsa_url`` (one TSA connection per thread, one
    revocation cache)."""
    with _SIGNERS_LOCK:
        got = _SIGNERS.get(tsa_url)
        if got is None:
            got = _SIGNERS[tsa_url] = LongTermSigner(tsa_url)
        return got


def tsa_url() -> str | None:
    """The timestamp authority (setting ``tsa_url``, ``SOHOA_TSA_URL``). With one, issued transcripts
    and closed weeks are PAdES B-LTA; without, their signatures are B-B (docs/long-term-signatures.md).
    Unset, a process that read the trust anchors uses the TSA they publish (:func:`use_published_tsa`)."""
    from core.kernel import settings

    configured = settings.current().tsa_url
    if configured is None:
        return _PUBLISHED_TSA[0]
    return configured or None


_PUBLISHED_TSA: list[str | None] = [None]


def use_published_tsa(url: str | None) -> None:
    """The TSA the trust anchors publish (``anchors/services.json``), used when the setting
    ``tsa_url`` is unset (a server does this once at start, having read its anchors)."""
    _PUBLISHED_TSA[0] = url or None


# ---------------------------------------------------------------- a chunk of documents, in phases
@dataclass
class _Job:
    pdf: bytes
    steps: list[tuple]
    finish: bool
    then: Callable[[bytes, dt.datetime | None], None]


class DocumentBatch:
    """The PDF signatures of one chunk of a batch (a transaction's worth), made together in
    phases when they are B-LTA: every document's first signature (its timestamp requests sent
    together), then every second one, ..., then every DSS + document timestamp. Nothing is
    written until :meth:`complete`, which hands each document to its ``then`` with the end of its
    archive timestamp's validity (VN-local; None when not finished or not B-LTA); if a TSA or a
    responder fails, it raises and the chunk's transaction rolls back whole."""

    def __init__(self, tsa: str | None = None):
        self.tsa = tsa
        self._jobs: list[_Job] = []

    def add(self, pdf: bytes, steps: list[tuple], *, finish: bool,
            then: Callable[[bytes, dt.datetime | None], None]) -> None:
        """``steps``: (signer, field, certify, reason, new_fields or None, at or None) in order;
        ``finish``: the document is final after them (issued, closed): make it B-LTA."""
        self._jobs.append(_Job(pdf, list(steps), finish, then))

    def complete(self) -> None:
        jobs, self._jobs = self._jobs, []
        if not jobs:
            return
        current = [job.pdf for job in jobs]
        valid_until: list[dt.datetime | None] = [None] * len(jobs)
        if self.tsa is None:  # B-B: the product's signature alone, document by document
            from core.signatures.pades import sign_pdf

            for i, job in enumerate(jobs):
                for signer, field, certify, reason, new_fields, _at in job.steps:
                    current[i] = sign_pdf(current[i], signer, field, certify=certify, reason=reason,
                                          new_fields=new_fields)
        else:
            lts = long_term_signer(self.tsa)
            for k in range(max(len(job.steps) for job in jobs)):
                groups: dict[tuple, list[int]] = {}
                for i, job in enumerate(jobs):
                    if k < len(job.steps):
                        signer, field, certify, reason, new_fields, at = job.steps[k]
                        groups.setdefault((id(signer), field, certify, reason, repr(new_fields), at), []).append(i)
                for members in groups.values():
                    signer, field, certify, reason, new_fields, at = jobs[members[0]].steps[k]
                    if not hasattr(signer, "sign_pades_digest"):  # not our CMS assembly: pyHanko's B-T
                        from core.signatures.pades import sign_pdf

                        for i in members:
                            current[i] = sign_pdf(current[i], signer, field, certify=certify, reason=reason,
                                                  tsa_url=self.tsa, new_fields=new_fields)
                        continue
                    done = lts.sign([current[i] for i in members], signer, field, certify=certify, reason=reason,
                                    new_fields=new_fields, at=at)
                    for i, document in zip(members, done):
                        current[i] = document
            finishing = [i for i, job in enumerate(jobs) if job.finish]
            for i, (document, until) in zip(finishing, lts.finish([current[i] for i in finishing])):
                current[i], valid_until[i] = document, vn_clock.from_utc(until)
        for job, document, until in zip(jobs, current, valid_until):
            job.then(document, until)


def sign_document(pdf: bytes, signer, field: str, *, certify: bool, reason: str, finish: bool,
                  new_fields=None, at: dt.datetime | None = None) -> tuple[bytes, dt.datetime | None]:
    """One document's signature (and, with ``finish``, its B-LTA finish) as :class:`DocumentBatch`
    makes it: B-LTA with ``SOHOA_TSA_URL``, else B-B. Returns the document and the end of its
    archive timestamp's validity (VN-local; None unless finished as B-LTA)."""
    result = []
    batch = DocumentBatch(tsa_url())
    batch.add(pdf, [(signer, field, certify, reason, new_fields, at)], finish=finish,
              then=lambda document, until: result.append((document, until)))
    batch.complete()
    return result[0]


# ---------------------------------------------------------------- validation (ETSI EN 319 102-1)
def lta_policy(trust, *, online: bool):
    """The declared validation policy for B-LTA documents: trust anchors = the store's roots (and
    its intermediates as known certificates);
    revocation data required for every certificate of a path (end entities and CAs), no older
    than its own validity period at the time it is used for (MAX_DIFF_REVOCATION_VALIDATION);
    fetched online only for the current time (NO_HISTORICAL_FETCH) when ``online``, else only
    what the document holds (LOCAL_ONLY): the past is judged from what the document carries."""
    from pyhanko.sign.validation.policy_decl import (
        LocalKnowledge,
        PdfSignatureValidationSpec,
        RevinfoOnlineFetchingRule,
        RevocationInfoGatheringSpec,
        SignatureValidationSpec,
    )
    from pyhanko_certvalidator import policy_decl as pd
    from pyhanko_certvalidator.context import CertValidationPolicySpec
    from pyhanko_certvalidator.fetchers.requests_fetchers import RequestsFetcherBackend
    from pyhanko_certvalidator.registry import SimpleTrustManager

    roots = [asn1_x509.Certificate.load(d) for d in trust.roots_der]
    rule = pd.RevocationCheckingRule
    policy = pd.RevocationCheckingPolicy(rule.CRL_OR_OCSP_REQUIRED, rule.CRL_OR_OCSP_REQUIRED)
    fetching = RevinfoOnlineFetchingRule.NO_HISTORICAL_FETCH if online else RevinfoOnlineFetchingRule.LOCAL_ONLY
    return PdfSignatureValidationSpec(SignatureValidationSpec(
        cert_validation_policy=CertValidationPolicySpec(
            trust_manager=SimpleTrustManager.build(roots),
            revinfo_policy=pd.CertRevTrustPolicy(
                revocation_checking_policy=policy,
                freshness_req_type=pd.FreshnessReqType.MAX_DIFF_REVOCATION_VALIDATION)),
        revinfo_gathering_policy=RevocationInfoGatheringSpec(
            online_fetching_rule=fetching, fetcher_backend=RequestsFetcherBackend()),
        # the anchors as known certificates too: pyHanko 0.38 looks for a CRL's issuer (the root,
        # for an issuing CA's status) among known certificates only, not among the anchors
        local_knowledge=LocalKnowledge(known_certs=roots + [asn1_x509.Certificate.load(d)
                                                            for d in trust.intermediates_der])))


def _verification(field: str, result) -> Verification:
    """A pyHanko AdES result in the product's vocabulary. pyHanko 0.38 reports a signature made
    *after* its signer's revocation as INDETERMINATE/REVOKED_NO_POE; when the revocation data
    (signed by the CA) dates the revocation at or before the signature's proven time, it is
    FAILED/REVOKED, as :mod:`core.signatures.revocation` decides for CMS signatures."""
    sub = result.ades_subindic
    status = result.api_status
    cert = getattr(status, "signing_cert", None)
    when = result.best_signature_time
    indication = {"PASSED": PASSED, "FAILED": FAILED}.get(sub.status.name, INDETERMINATE)
    name = None if indication == PASSED else sub.name
    message = "the signature is valid" if indication == PASSED else (result.failure_msg or sub.name)
    revoked = getattr(status, "revocation_details", None)
    proven = _signature_timestamp_time(status)
    if name == "REVOKED_NO_POE" and revoked is not None and proven is not None and \
            revoked.revocation_date <= proven:
        indication, name = FAILED, "REVOKED"
        revoked_at = vn_clock.from_utc(revoked.revocation_date)
        message = (f"the signer's certificate was revoked on {revoked_at:%d/%m/%Y %H:%M}, before the "
                   "signature's timestamp")
    if indication == PASSED and _modified(status):
        indication, name = FAILED, "DISALLOWED_MODIFICATION"
        message = "the document was modified after this signature in a way no signature or timestamp allows"
    if indication == PASSED and proven is not None:
        when = proven
    return Verification(indication, name, hashlib.sha256(cert.dump()).hexdigest() if cert else None,
                        cert.subject.human_friendly if cert else None,
                        vn_clock.from_utc(when) if when else None, message, cert.dump() if cert else None)


def _modified(status) -> bool:
    """A later revision changed more than form filling, signatures, DSS and timestamps allow."""
    from pyhanko.sign.diff_analysis import ModificationLevel

    diff = getattr(status, "diff_result", None)
    level = getattr(diff, "modification_level", None)
    return getattr(status, "docmdp_ok", True) is False or level == ModificationLevel.OTHER \
        or getattr(status, "coverage", None) is not None and status.coverage.name != "ENTIRE_REVISION"


def _signature_timestamp_time(status) -> dt.datetime | None:
    validity = getattr(status, "timestamp_validity", None)
    return getattr(validity, "timestamp", None) if validity is not None else None


def validate_lta(pdf: bytes, trust, *, online: bool = True) -> list[tuple[str, Verification]]:
    """Every signature of a B-LTA ``pdf`` (not its document timestamps) validated with pyHanko's
    AdES long-term validation (``ades_lta_validation``) under :func:`lta_policy`, now."""
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.validation import ades

    from core.signatures.signer import run_coroutine

    reader = PdfFileReader(io.BytesIO(pdf))
    spec = lta_policy(trust, online=online)

    async def run():
        out = []
        for sig in reader.embedded_regular_signatures:
            try:
                out.append((sig.field_name, _verification(sig.field_name, await ades.ades_lta_validation(sig, spec))))
            except Exception as err:  # noqa: BLE001 - a broken signature is reported, never a crash
                out.append((sig.field_name, Verification(FAILED, "FORMAT_FAILURE", None, None, None,
                                                         f"{type(err).__name__}: {err}")))
        return out

    return run_coroutine(run())
