"""JSON Web Signatures (RFC 7515) made and checked like the product's CMS signatures: made with
any of the product's keys (:class:`~core.signatures.signer.CmsSigner`: a PKCS#12 file, a USB
token, a remote signer), the signer's certificate chain in the ``x5c`` header, and verified
against the trust store (:class:`~core.signatures.cms.TrustStore`: the chain to a trusted
anchor, the chain's validity and the certificate's revocation status) with the result in the
same ETSI EN 319 102-1 vocabulary (:class:`~core.signatures.cms.Verification`), so that a trust
policy (:mod:`core.signatures.policy`) judges it like any other signature.

The JOSE encoding and the signature check are joserfc's (``jws.serialize_compact``,
``jws.deserialize_compact``); the signature value is the signer's own ``sign_raw`` (SHA-256;
ECDSA as joserfc's ES256 turns it into r‖s, RSA PKCS#1 v1.5 as RS256), so the key never leaves
its holder. A JWS carries no timestamp: it is judged at the moment it is verified (its
certificate valid and not revoked *now*); a credential outliving its seal certificate is
issued again.
"""
from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from core.kernel import clock
from core.signatures.cms import FAILED, INDETERMINATE, PASSED, TrustStore, Verification
from core.signatures.rules.validity import validity_problem

#: The algorithms accepted, by key kind (RFC 7518): P-256 with SHA-256, RSA PKCS#1 v1.5 with SHA-256
ALGORITHMS = ("ES256", "RS256")


#: The protected header carries the certificate chain (x5c): a few kB, beyond joserfc's 512-byte default
MAX_HEADER = 16_384


def _registry(algorithms):
    from joserfc.jws import JWSRegistry

    class Registry(JWSRegistry):
        max_header_length = MAX_HEADER

    return Registry(algorithms=list(algorithms))


class _HeldSigningKey:
    """What joserfc's algorithms call to sign (``get_op_key("sign").sign(msg, ...)``): the
    product's signer, whatever holds its key."""

    def __init__(self, signer):
        self.signer = signer

    def sign(self, msg: bytes, *_args) -> bytes:
        return self.signer.sign_raw(msg)


def _jose_key(signer):
    """A joserfc key of the signer's certificate whose signing operation is the signer's."""
    from joserfc.jwk import ECKey, RSAKey

    public = x509.load_der_x509_certificate(signer.certificate_der).public_key()
    if isinstance(public, ec.EllipticCurvePublicKey):
        if public.curve.name != "secp256r1":
            raise ValueError(f"a JWS seal needs a P-256 key, not {public.curve.name}")
        kind, alg = ECKey, "ES256"
    elif isinstance(public, rsa.RSAPublicKey):
        kind, alg = RSAKey, "RS256"
    else:  # pragma: no cover - the product issues EC and RSA keys only
        raise ValueError("unsupported key type")

    class HeldKey(kind):
        def get_op_key(self, operation):
            if operation == "sign":
                return _HeldSigningKey(signer)
            return super().get_op_key(operation)

    return HeldKey.import_key(public), alg


def sign_compact(payload: bytes, signer, header: dict) -> str:
    """``payload`` signed by ``signer`` as a JWS in compact serialization, ``header`` plus
    ``alg`` and the signer's chain (``x5c``, RFC 7515 4.1.6) in the protected header."""
    from joserfc import jws

    key, alg = _jose_key(signer)
    chain = [signer.certificate_der, *getattr(signer, "_chain_der", ())]
    protected = {**header, "alg": alg, "x5c": [base64.b64encode(der).decode() for der in chain]}
    return jws.serialize_compact(protected, payload, key, registry=_registry([alg]))


def _fail(indication: str, sub: str, message: str, fingerprint=None, subject=None, when=None) -> Verification:
    return Verification(indication, sub, fingerprint, subject, when, message)


def verify_compact(token: str, trust: TrustStore, *, at: dt.datetime | None = None
                   ) -> tuple[Verification, dict | None, bytes | None]:
    """Verify a compact JWS: (the signature's verification, its protected header, its payload).
    The header and payload are None unless the token reads as a JWS; the payload is returned
    whatever the verdict (the caller trusts it only when PASSED). ``at`` (VN-local) is the
    moment it is judged at, default now."""
    from joserfc import jws
    from joserfc.errors import JoseError
    from joserfc.jwk import ECKey, RSAKey

    when = at or clock.now()
    try:
        parsed = jws.extract_compact(token.strip().encode("ascii"), registry=_registry(ALGORITHMS))
        header, payload = dict(parsed.headers()), parsed.payload
    except (JoseError, ValueError, UnicodeError, TypeError, json.JSONDecodeError) as err:
        return _fail(FAILED, "FORMAT_FAILURE", f"not a JSON Web Signature ({type(err).__name__})", when=when), \
            None, None
    alg, chain_b64 = header.get("alg"), header.get("x5c")
    if alg not in ALGORITHMS:
        return _fail(INDETERMINATE, "CRYPTO_CONSTRAINTS_FAILURE", f"algorithm {alg!r} is not accepted",
                     when=when), header, payload
    try:
        cert_der = base64.b64decode(chain_b64[0], validate=True)
        x509.load_der_x509_certificate(cert_der)
    except (TypeError, IndexError, KeyError, ValueError):
        return _fail(INDETERMINATE, "NO_SIGNING_CERTIFICATE_FOUND", "the signer's certificate (x5c) is missing "
                     "or unreadable", when=when), header, payload
    fingerprint = hashlib.sha256(cert_der).hexdigest()
    chain = trust.chain(cert_der)
    public = chain.public_key if chain.ok else x509.load_der_x509_certificate(cert_der).public_key()
    key = ECKey.import_key(public) if isinstance(public, ec.EllipticCurvePublicKey) else RSAKey.import_key(public)
    try:
        jws.deserialize_compact(token.strip(), key, registry=_registry([alg]))
    except (JoseError, ValueError) as err:
        return _fail(FAILED, "SIG_CRYPTO_FAILURE", f"the signature value does not verify ({type(err).__name__})",
                     fingerprint, chain.subject, when), header, payload
    if not chain.ok:
        return _fail(INDETERMINATE, chain.sub_indication, chain.message, fingerprint, chain.subject, when), \
            header, payload
    problem = validity_problem(chain.not_before, chain.not_after, None, when)
    if problem:
        return _fail(INDETERMINATE, problem[0], problem[1], fingerprint, chain.subject, when), header, payload
    checker = trust.revocation_for(chain)
    if checker is not None:
        try:
            problem = checker(x509.load_der_x509_certificate(cert_der), when)
        except Exception as err:  # noqa: BLE001 - no status is "try later", never "valid"
            problem = ("TRY_LATER", f"revocation status unavailable ({type(err).__name__})")
        if problem is not None:
            sub, message = problem
            return _fail(FAILED if sub == "REVOKED" else INDETERMINATE, sub, message, fingerprint, chain.subject,
                         when), header, payload
    return Verification(PASSED, None, fingerprint, chain.subject, when, "the signature is valid", cert_der), \
        header, payload
