"""What an integrity check reports (kiểm tra toàn vẹn): each thing the record store says that its
evidence — signatures, signed receipts, the audit chain, checkpoints kept outside the database —
does not back. A check lists every discrepancy it finds, never only the first."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Discrepancy:
    """One finding: ``kind`` (``audit``, ``receipt``, ``entry``, ``transcript``, ``week``,
    ``checkpoint``), ``subject`` (what: ``entry 15875``, ``audit chain 3 event 17``), and what is
    wrong in English and Vietnamese."""

    kind: str
    subject: str
    message: str
    message_vi: str

    def __str__(self) -> str:
        return f"[{self.kind}] {self.subject}: {self.message} / {self.message_vi}"
