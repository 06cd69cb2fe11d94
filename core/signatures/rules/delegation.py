"""Signing for the principal (ký thay hiệu trưởng): who may sign in the principal's place, under
which written delegation, valid when.

The sources: the principal signs the học bạ (the forms of Thông tư 22/2021/TT-BGDĐT and Thông
tư 27/2020/TT-BGDĐT: "Hiệu trưởng (ký, ghi rõ họ tên và đóng dấu)"), and the national data
dictionary of học bạ số records the position of the school leader who signed ("chucvugiamhieu"),
so a deputy may sign. How a deputy signs for the head is Nghị định 30/2020/NĐ-CP (công tác văn
thư), Art. 13: the head signs every document of the organisation and may assign a deputy to
sign in their place ("KT." — ký thay); a signature on the head's behalf must rest on a written
act, limited in time and in content, and the one who signs on that basis may not pass it on.
(Read in secondary sources; check the official text before citing clause numbers.)

Our rule, one function (:func:`delegation_problem`):

1. only a **vice-principal** (phó hiệu trưởng) of the school, holding that role at the moment
   of signing, signs for the principal — never a teacher, never someone of another school;
2. under a **written delegation** (văn bản giao ký thay): its number and date, given by the
   person who was the school's principal on that date, to someone else;
3. **limited in time**: from a first day to a last day, both included (Vietnam local time);
   not before the day it was written;
4. **limited in content**: the acts it covers (:class:`SigningAct`), a signature for another act
   is not covered;
5. **revocable**: a signature at or after the revocation is not covered;
6. it lapses when the principal who gave it no longer holds the role (our reading: an
   authority cannot outlive that of its giver; the alternative keeps it to its last day);
7. not passed on: a delegation is given by a principal only.

The signature is then labelled "KT. HIỆU TRƯỞNG / PHÓ HIỆU TRƯỞNG" (Nghị định 30/2020/NĐ-CP,
Phụ lục I).
"""
from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Collection, Iterable
from dataclasses import dataclass

from core.kernel.errors import RuleViolation

ARTICLE = "Nghị định 30/2020/NĐ-CP, Art. 13"
PRINCIPAL_LABEL = "HIỆU TRƯỞNG"
DELEGATED_LABEL = "KT. HIỆU TRƯỞNG / PHÓ HIỆU TRƯỞNG"


class SigningAct(str, enum.Enum):
    """What the principal signs that a delegation may cover."""

    TRANSCRIPT = "transcript"      # phê duyệt học bạ (the principal's approval signature)
    WEEK_CLOSE = "week_close"      # ký chốt sổ đầu bài tuần (the principal's weekly close)


@dataclass(frozen=True)
class Delegation:
    """A written delegation (văn bản giao ký thay) as recorded."""

    school_id: int
    principal_id: int
    delegate_id: int
    document_no: str
    signed_on: dt.date
    valid_from: dt.date
    valid_until: dt.date
    acts: frozenset[SigningAct]
    revoked_at: dt.datetime | None = None
    id: int | None = None


@dataclass(frozen=True)
class RolesAt:
    """Who holds which role at the school at a moment (from the staff assignments)."""

    principals: frozenset[int]
    vice_principals: frozenset[int]


def _refuse(en: str, vi: str):
    raise RuleViolation(f"{ARTICLE}: {en}", message_vi=f"{ARTICLE.replace('Art.', 'Điều')}: {vi}")


def acts_of(acts) -> frozenset[SigningAct]:
    """The acts a delegation covers, at least one, each one the principal signs."""
    if isinstance(acts, str) or not isinstance(acts, Collection) or not acts:
        _refuse("a delegation names the acts it covers (transcript, week_close)",
                "văn bản giao ký thay phải ghi rõ nội dung được giao ký (học bạ, chốt sổ đầu bài)")
    found = set()
    for act in acts:
        try:
            found.add(SigningAct(act))
        except ValueError:
            _refuse(f"{act!r} is not something the principal signs (transcript, week_close)",
                    f"{act!r} không phải nội dung hiệu trưởng ký (học bạ, chốt sổ đầu bài)")
    return frozenset(found)


def delegation(*, school_id: int, principal_id: int, delegate_id: int, document_no: str, signed_on: dt.date,
               valid_from: dt.date, valid_until: dt.date, acts, roles_on_signing: RolesAt,
               delegate_roles: RolesAt) -> Delegation:
    """A delegation as it may be recorded, checked: a number; written by the principal of the
    school on ``signed_on`` (``roles_on_signing``) to a vice-principal of the school
    (``delegate_roles``, on ``valid_from``), not to themselves; a first and a last day, the
    first not before it was written; at least one act. Refused with the reason otherwise."""
    if not isinstance(document_no, str) or not document_no.strip() or len(document_no) > 64:
        _refuse("a written delegation is recorded with its number (up to 64 characters)",
                "văn bản giao ký thay phải có số văn bản (tối đa 64 ký tự)")
    for name, day in (("signed_on", signed_on), ("valid_from", valid_from), ("valid_until", valid_until)):
        if not isinstance(day, dt.date) or isinstance(day, dt.datetime):
            _refuse(f"{name} is a date", f"{name} phải là ngày tháng")
    if valid_until < valid_from:
        _refuse("a delegation is limited in time: its last day is on or after its first",
                "văn bản giao ký thay phải giới hạn thời gian: ngày cuối không trước ngày đầu")
    if valid_from < signed_on:
        _refuse("a delegation does not start before the day it was written",
                "văn bản giao ký thay không có hiệu lực trước ngày ký văn bản")
    if principal_id not in roles_on_signing.principals:
        _refuse("only the school's principal gives a delegation to sign in their place (no delegation is passed on)",
                "chỉ hiệu trưởng của trường được giao ký thay (không được giao lại)")
    if delegate_id == principal_id or delegate_id not in delegate_roles.vice_principals:
        _refuse("only a vice-principal of the school signs for the principal",
                "chỉ phó hiệu trưởng của trường được ký thay hiệu trưởng")
    return Delegation(school_id, principal_id, delegate_id, document_no.strip(), signed_on, valid_from, valid_until,
                      acts_of(acts))


def delegation_problem(d: Delegation, *, school_id: int, signer_id: int, act, at: dt.datetime,
                       roles: RolesAt) -> tuple[str, str] | None:
    """Why ``d`` does not let ``signer_id`` sign ``act`` for the principal of ``school_id`` at
    ``at`` — ``None`` when it does. ``roles`` are the roles held at ``at``. Reasons in English
    and Vietnamese."""
    act = SigningAct(act)
    if d.school_id != school_id:
        return "the delegation is another school's", "văn bản giao ký thay của trường khác"
    if d.delegate_id != signer_id:
        return "the delegation was given to someone else", "văn bản giao ký thay cho người khác"
    if act not in d.acts:
        return (f"the delegation does not cover {act.value}",
                f"văn bản giao ký thay không gồm nội dung {act.value}")
    if at.date() < d.valid_from:
        return (f"the delegation applies from {d.valid_from:%d/%m/%Y}",
                f"văn bản giao ký thay có hiệu lực từ {d.valid_from:%d/%m/%Y}")
    if at.date() > d.valid_until:
        return (f"the delegation ended on {d.valid_until:%d/%m/%Y}",
                f"văn bản giao ký thay hết hiệu lực ngày {d.valid_until:%d/%m/%Y}")
    if d.revoked_at is not None and at >= d.revoked_at:
        return (f"the delegation was revoked at {d.revoked_at:%H:%M %d/%m/%Y}",
                f"văn bản giao ký thay đã bị thu hồi lúc {d.revoked_at:%H:%M %d/%m/%Y}")
    if signer_id not in roles.vice_principals:
        return ("the signer is not a vice-principal of the school at that time",
                "người ký không còn là phó hiệu trưởng của trường vào thời điểm ký")
    if d.principal_id not in roles.principals:
        return ("the principal who gave the delegation no longer holds the role",
                "hiệu trưởng giao ký thay không còn giữ chức vụ")
    return None


@dataclass(frozen=True)
class SigningAuthority:
    """In what capacity a person signs for the principal: as the principal, under a delegation,
    or not at all (``allowed`` False, with the reason). ``label`` is the line above the
    signer's name on the document."""

    allowed: bool
    capacity: str                 # "principal", "delegated" or "none"
    label: str | None
    delegation: Delegation | None
    reason: str | None = None
    reason_vi: str | None = None


def signing_authority(*, school_id: int, signer_id: int, act, at: dt.datetime, roles: RolesAt,
                      delegations: Iterable[Delegation]) -> SigningAuthority:
    """Whether ``signer_id`` may sign ``act`` for the principal of ``school_id`` at ``at``: as
    the principal (holding the role then), or under one of ``delegations`` with no problem
    (:func:`delegation_problem`). Otherwise refused, with the reason of the delegation that
    came closest (or "no delegation")."""
    act = SigningAct(act)
    if signer_id in roles.principals:
        return SigningAuthority(True, "principal", PRINCIPAL_LABEL, None)
    reasons = []
    for d in delegations:
        problem = delegation_problem(d, school_id=school_id, signer_id=signer_id, act=act, at=at, roles=roles)
        if problem is None:
            return SigningAuthority(True, "delegated", DELEGATED_LABEL, d)
        if d.delegate_id == signer_id and d.school_id == school_id:
            reasons.append(problem)
    en, vi = reasons[0] if reasons else ("the signer is not the principal and holds no written delegation",
                                         "người ký không phải hiệu trưởng và không có văn bản giao ký thay")
    return SigningAuthority(False, "none", None, None, en, vi)
