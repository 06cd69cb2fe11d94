"""Trust anchors (neo tin cậy): what a server — the API, the console, the jobs — reads of a PKI,
and nothing more: the root and intermediate certificates, and where to ask for revocation
status and timestamps (``anchors/`` of a PKI directory, see :mod:`core.signatures.pki`).

A server never holds a CA's private key: it verifies signatures and attests with its own
service seal (:mod:`core.signatures.service`), it does not issue certificates. The demo CA is
its own command (``sohoa pki``), and its CRL/OCSP/TSA responder its own process
(``sohoa pki serve``).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization

ANCHORS = "anchors"


@dataclass(frozen=True)
class TrustAnchors:
    """The root, the issuing CA's certificate and the responder's address (CRL at
    ``<responder_url>/crl``, OCSP at ``/ocsp``, the TSA at ``tsa_url``)."""

    root: x509.Certificate
    issuing: x509.Certificate
    responder_url: str | None = None
    tsa_url: str | None = None
    #: the department system's service seal(s) (:mod:`core.signatures.service`): a receipt
    #: batch or a checkpoint is the system's only when one of these signed it
    seals: tuple[x509.Certificate, ...] = ()
    #: the certificate policies under which the CA issues organisation certificates (seals)
    seal_policies: frozenset[str] = frozenset()

    def anchor(self, name: str = "demo", *, check_revocation: bool = False):
        """These anchors as one :class:`~core.signatures.cms.Anchor` (a trust store may hold several):
        the root, the issuing CA with its own CRL when ``check_revocation``, the seal policies."""
        from core.signatures.cms import Anchor
        from core.signatures.revocation import CrlChecker

        der = serialization.Encoding.DER
        revocation = None
        if check_revocation:
            if not self.responder_url:
                raise ValueError("these trust anchors name no responder: no revocation source")
            revocation = {self.issuing.public_bytes(der): CrlChecker(f"{self.responder_url}/crl", self.issuing)}
        return Anchor(name, self.root.public_bytes(der), (self.issuing.public_bytes(der),), revocation,
                      frozenset(self.seal_policies))

    def trust_store(self, *, check_revocation: bool = False):
        """A :class:`~core.signatures.cms.TrustStore`; with ``check_revocation`` the issuing
        CA's CRL from the responder is consulted (and cached) for every signature."""
        from core.signatures.cms import TrustStore

        der = serialization.Encoding.DER
        return TrustStore(anchors=[self.anchor(check_revocation=check_revocation)],
                          seals=[s.public_bytes(der) for s in self.seals])


def load_anchors(pki_dir: Path) -> TrustAnchors:
    """The trust anchors of a PKI directory (its ``anchors/`` part only)."""
    folder = Path(pki_dir) / ANCHORS
    if not (folder / "root.pem").exists():
        raise FileNotFoundError(f"no trust anchors in {folder} (run `sohoa pki init` or `sohoa demo`)")
    root = x509.load_pem_x509_certificate((folder / "root.pem").read_bytes())
    issuing = x509.load_pem_x509_certificate((folder / "issuing.pem").read_bytes())
    services = folder / "services.json"
    config = json.loads(services.read_text()) if services.exists() else {}
    return TrustAnchors(root, issuing, config.get("responder_url"), config.get("tsa_url"), read_seals(folder),
                        frozenset(config.get("seal_policies", ())))


def configured_anchors(settings, *, responder_tsa: bool = True) -> TrustAnchors:
    """The trust anchors of the installation (:class:`core.kernel.settings.Settings`): those of
    its ``pki_dir``, with its ``ocsp_url`` (the CRL / OCSP responder) when set. The timestamp
    authority they publish is used when the setting ``tsa_url`` is unset
    (:func:`core.signatures.ltv.use_published_tsa`); with ``responder_tsa`` the responder's
    ``/tsa`` when they publish none."""
    import dataclasses

    from core.signatures.ltv import use_published_tsa

    anchors = load_anchors(settings.effective_pki_dir)
    if settings.ocsp_url:
        anchors = dataclasses.replace(anchors, responder_url=settings.ocsp_url.rstrip("/"))
    fallback = f"{anchors.responder_url}/tsa" if anchors.responder_url and responder_tsa else None
    use_published_tsa(anchors.tsa_url or fallback)
    return anchors


def read_seals(folder: Path) -> tuple[x509.Certificate, ...]:
    """The service seal's certificate published in an ``anchors/`` folder, if any."""
    path = Path(folder) / "service-seal.pem"
    return (x509.load_pem_x509_certificate(path.read_bytes()),) if path.exists() else ()
