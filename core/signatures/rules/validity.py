"""When a certificate is valid (chứng thư chữ ký số có hiệu lực): Nghị định 23/2025/NĐ-CP,
Art. 3 — a certificate is valid when it is *not expired, not suspended and not revoked*. At a
moment ``at``: inside its validity period (both ends included) and not revoked at or before
``at``. A signature made before a revocation stays valid; one made at the revocation's moment or
after does not.

The one home of this rule: the registry of certificates (registering, signing, the API's batches,
the coverage figures) and the cryptographic paths (the chain of a CMS signature, a CRL entry)
all ask it. :func:`valid_at` works on values and on SQL columns alike (the coverage figures and
the API's warm-up select with it); :func:`validity_problem` says why not, in both languages.
"""
from __future__ import annotations

import datetime as dt

EXPIRED, NOT_YET_VALID, REVOKED = "EXPIRED", "NOT_YET_VALID", "REVOKED"


def revoked_by(revoked_at, at):
    """Revoked at or before ``at`` (values or SQL columns; a value ``None`` = never revoked)."""
    if revoked_at is None:
        return False
    if hasattr(revoked_at, "is_not"):  # a SQL column
        return revoked_at.is_not(None) & (revoked_at <= at)
    return revoked_at <= at


def valid_at(not_before, not_after, revoked_at, at):
    """Inside [not_before, not_after] and not revoked by ``at``: values or SQL columns alike."""
    if revoked_at is None:
        return (not_before <= at) & (not_after >= at)
    if hasattr(revoked_at, "is_"):  # a SQL column
        return (not_before <= at) & (not_after >= at) & (revoked_at.is_(None) | (revoked_at > at))
    return (not_before <= at) & (not_after >= at) & (revoked_at > at)


def validity_problem(not_before: dt.datetime, not_after: dt.datetime, revoked_at: dt.datetime | None,
                     at: dt.datetime) -> tuple[str, str, str] | None:
    """None when valid at ``at``; else (indication, message, message in Vietnamese)."""
    if at < not_before:
        return (NOT_YET_VALID, f"the certificate is not valid at {at:%d/%m/%Y %H:%M}: not yet "
                               f"(valid {not_before:%d/%m/%Y}–{not_after:%d/%m/%Y})",
                f"Chứng thư số chưa có hiệu lực lúc {at:%H:%M %d/%m/%Y}")
    if at > not_after:
        return (EXPIRED, f"the certificate is not valid at {at:%d/%m/%Y %H:%M}: it expired "
                         f"(valid {not_before:%d/%m/%Y}–{not_after:%d/%m/%Y})",
                f"Chứng thư số đã hết hạn ({not_after:%d/%m/%Y})")
    if revoked_by(revoked_at, at):
        return (REVOKED, f"the certificate was revoked on {revoked_at:%d/%m/%Y %H:%M}, before signing",
                f"Chứng thư số đã bị thu hồi ngày {revoked_at:%d/%m/%Y}")
    return None
