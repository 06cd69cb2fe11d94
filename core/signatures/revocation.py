"""Revocation status for the fast verification path: the issuing CA's CRL, fetched over
HTTP, checked against its issuer and cached until its nextUpdate ("cached for their
validity time; never skip a check"). If no valid CRL can be had the answer is TRY_LATER,
so the signature is INDETERMINATE, never valid.

A signature made *before* a revocation stays valid: the comparison is with the signing
time (for lesson entries, the server's receipt time, which :func:`verify_entry` checks
against the time recorded when the signature was received).
"""
from __future__ import annotations

import datetime as dt
import threading
import urllib.request

from cryptography import x509

from core.kernel import clock
from core.signatures.rules.validity import revoked_by


class CrlChecker:
    """A :data:`core.signatures.cms.RevocationChecker` backed by the issuer's CRL."""

    def __init__(self, url: str, issuer: x509.Certificate, timeout: float = 5.0):
        self.url, self.issuer, self.timeout = url, issuer, timeout
        self._crl: x509.CertificateRevocationList | None = None
        self._lock = threading.Lock()
        self.fetches = 0

    def _current(self) -> x509.CertificateRevocationList | None:
        now = dt.datetime.now(dt.timezone.utc)
        crl = self._crl
        if crl is not None and crl.next_update_utc and now < crl.next_update_utc:
            return crl
        with self._lock:
            try:
                with urllib.request.urlopen(self.url, timeout=self.timeout) as response:
                    fresh = x509.load_der_x509_crl(response.read())
            except (OSError, ValueError):
                return None
            if fresh.issuer != self.issuer.subject or not fresh.is_signature_valid(self.issuer.public_key()):
                return None
            self._crl, self.fetches = fresh, self.fetches + 1
            return fresh

    def __call__(self, cert: x509.Certificate, signing_time: dt.datetime):
        crl = self._current()
        if crl is None:
            return "TRY_LATER", f"revocation status unavailable (no valid CRL from {self.url})"
        entry = crl.get_revoked_certificate_by_serial_number(cert.serial_number)
        if entry is None:
            return None
        revoked_at = clock.from_utc(entry.revocation_date_utc)
        if revoked_by(revoked_at, signing_time):
            return "REVOKED", f"the certificate was revoked on {revoked_at:%d/%m/%Y %H:%M}, before signing"
        return None
