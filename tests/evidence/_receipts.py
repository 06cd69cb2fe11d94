"""What the receipts' tests share: the department system's service seal for a test PKI (issued
once per PKI, so that every module's trust store pins the same seal), a timestamp authority on
loopback, and sealing what is waiting."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pytest

from core.logbook.receipts import seal_all
from core.signatures import KeyStore
from core.signatures.pki import SERVICE_SEAL_PEM
from core.signatures.responder import Responder, free_port
from core.signatures.service import SEAL_OWNER, ServiceSeal


def service_seal_of(pki) -> None:
    """Issue the PKI's service seal unless it has one (its certificate is then pinned by
    ``pki.trust_store()``)."""
    if not (pki.directory / SERVICE_SEAL_PEM).exists():
        pki.issue_service_seal(not_before=dt.datetime(2025, 1, 1))


@dataclass
class Sealing:
    """The seal with its timestamp authority, and the PKI's trust store pinning it."""

    seal: ServiceSeal
    tsa_url: str
    pki: object

    def trust(self, **kwargs):
        return self.pki.trust_store(**kwargs)

    def seal_all(self, db) -> list:
        return seal_all(db, self.seal)


def start_sealing(pki) -> tuple[Sealing, Responder]:
    service_seal_of(pki)
    port = free_port()
    responder = Responder(pki).start(port)
    url = f"http://127.0.0.1:{port}/tsa"
    return Sealing(ServiceSeal(KeyStore(pki.directory).signer_for(SEAL_OWNER), url), url, pki), responder


@pytest.fixture(scope="module")
def sealing(pki):
    """The session PKI's service seal, timestamped by its TSA on loopback (for this module)."""
    found, responder = start_sealing(pki)
    yield found
    responder.stop()
