"""Who may sign in which role (chữ ký theo vai trò): a signature that verifies against a trusted CA
counts only for the role its certificate is bound to, at that school, at that time.

- **A person's signature** (giáo viên bộ môn, giáo viên chủ nhiệm, hiệu trưởng) counts when the
  certificate is a *personal* one registered to the member of staff who held the role — the
  holder of record of the document (the homeroom teacher and the principal who signed the
  transcript, the teacher of the period) — at the document's school, valid at the signing time
  (Nghị định 23/2025/NĐ-CP, Art. 3: not expired, not suspended, not revoked) and, where the
  school keeps the history of its staff's roles, inside that person's term in the role. Who
  signs what: the HCMC Department of Education and Training's provisional regulation on the
  digital transcript (Quy chế tạm thời quản lý, sử dụng hệ thống theo dõi, đánh giá học sinh và
  học bạ số, as reported by Thanh Niên, 22/06/2024): the subject teachers confirm, the homeroom
  teacher signs, the principal approves.
- **The seal** (con dấu số) counts when it is an *organisation* certificate bound to the unit
  it stands for: registered as that school's seal, or — for a unit this system does not keep
  the registry of (a school of another province) — issued under one of its CA's organisation
  (seal) certificate policies and carrying the unit's identifier, so that the CA, not the
  sender, vouches that the certificate is that unit's. Each school holds a seal certificate of
  its own, for public schools issued by the Government's CA (VGCA) (HCMC Department of
  Education and Training, Công văn 2817/SGDĐT-VP, 22/05/2025; public-service certificates:
  Nghị định 68/2024/NĐ-CP); where a law requires an organisation's seal, its digital signature
  fulfils it (Luật Giao dịch điện tử 2023, 20/2023/QH15).

A certificate that merely chains to a trusted CA proves who its holder is, not that they may
sign for this school: every rule here refuses it. Each rule returns ``None`` when the signature
counts, else why not: the sub-indication (``NOT_AUTHORISED_FOR_ROLE``, or the validity rule's
``REVOKED`` / ``EXPIRED`` / ``NOT_YET_VALID``) and the reason in English and in Vietnamese.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from core.signatures.rules.validity import REVOKED, validity_problem

PERSONAL, SEAL = "personal", "seal"
#: The roles a person signs in, in Vietnamese
ROLE_VI = {"teacher": "giáo viên dạy", "homeroom": "giáo viên chủ nhiệm", "principal": "hiệu trưởng",
           "subject_teacher": "giáo viên bộ môn", "seal": "con dấu của đơn vị",
           "delegate": "phó hiệu trưởng ký thay hiệu trưởng"}
#: How an organisation's identifier is written in its certificate (the subject's UID or
#: organizationIdentifier): ``MDV:<code>``, the unit's code in the education sector's database,
#: as Vietnamese CAs write ``MST:`` (tax code) or ``MNS:`` (budget-unit code)
IDENTIFIER_PREFIX = "MDV:"

NOT_AUTHORISED = "NOT_AUTHORISED_FOR_ROLE"
#: (sub-indication, reason, reason in Vietnamese)
Problem = tuple[str, str, str]


@dataclass(frozen=True)
class Registration:
    """What the registry of certificates (the ``certificate`` table) holds for one certificate."""

    kind: str                    # PERSONAL or SEAL
    staff_id: int | None         # the person, for a personal certificate
    unit_code: str | None        # the school (or department) it is registered at
    not_before: dt.datetime
    not_after: dt.datetime
    revoked_at: dt.datetime | None


@dataclass(frozen=True)
class OrganisationClaims:
    """What an organisation certificate says of itself: its certificate policies, the
    identifiers in its subject, and whether its key usage allows a committing signature
    (nonRepudiation / contentCommitment)."""

    policies: frozenset[str]
    identifiers: frozenset[str]
    commits: bool


def unit_identifier(code: str) -> str:
    """The identifier a unit's seal certificate carries for the unit ``code``."""
    return f"{IDENTIFIER_PREFIX}{code}"


def holds_role_at(terms: list[tuple[dt.date, dt.date | None]] | None, day: dt.date) -> bool:
    """Inside one of the person's terms in the role (both ends included, an open end = still
    holding it); ``None`` = the school keeps no history of the role, so the holder of record decides."""
    if terms is None:
        return True
    return any(start <= day and (end is None or day <= end) for start, end in terms)


def personal_signature_problem(role: str, registration: Registration | None, *, holder_staff_id: int | None,
                               unit_code: str, signing_time: dt.datetime,
                               terms: list[tuple[dt.date, dt.date | None]] | None = None) -> Problem | None:
    """May this certificate sign as ``role`` for the unit ``unit_code``, where the document names
    ``holder_staff_id`` as the holder of the role, at ``signing_time``?"""
    role_vi = ROLE_VI.get(role, role)
    if registration is None:
        return (NOT_AUTHORISED, f"the signer's certificate is not registered to the {role} of record",
                f"Chứng thư số của người ký chưa được đăng ký cho {role_vi} của đơn vị")
    if registration.kind != PERSONAL:
        return (NOT_AUTHORISED, f"an organisation's certificate cannot sign as the {role}",
                f"Chứng thư số của tổ chức không được ký thay {role_vi}")
    if registration.unit_code != unit_code:
        other = registration.unit_code
        return (NOT_AUTHORISED, f"the signer's certificate is registered at another unit ({other}), not {unit_code}",
                f"Chứng thư số của người ký thuộc đơn vị khác ({other}), không phải {unit_code}")
    if holder_staff_id is None or registration.staff_id != holder_staff_id:
        return (NOT_AUTHORISED, f"the signer is not the {role} of record",
                f"Người ký không phải là {role_vi} đã ký văn bản này theo hồ sơ")
    problem = validity_problem(registration.not_before, registration.not_after, registration.revoked_at,
                               signing_time)
    if problem:
        return problem
    if not holds_role_at(terms, signing_time.date()):
        return (NOT_AUTHORISED, f"the signer did not hold the role of {role} on {signing_time:%d/%m/%Y}",
                f"Người ký không giữ vai trò {role_vi} vào ngày {signing_time:%d/%m/%Y}")
    return None


def seal_problem(registration: Registration | None, claims: OrganisationClaims, *, unit_code: str,
                 unit_has_registered_seal: bool, seal_policies: frozenset[str],
                 signing_time: dt.datetime) -> Problem | None:
    """May this certificate stand for the seal of the unit ``unit_code`` at ``signing_time``?
    ``seal_policies``: the organisation-certificate policies of the CA the certificate chains
    to; ``unit_has_registered_seal``: the registry holds a seal for this unit (then only a
    registered seal counts)."""
    if registration is not None:
        if registration.kind != SEAL:
            return (NOT_AUTHORISED, "a personal certificate cannot stand for a school's seal",
                    "Chứng thư số cá nhân không được dùng thay con dấu của trường")
        if registration.unit_code != unit_code:
            other = registration.unit_code
            return (NOT_AUTHORISED, f"the seal is registered to another unit ({other}), not {unit_code}",
                    f"Con dấu số đã đăng ký cho đơn vị khác ({other}), không phải {unit_code}")
        return validity_problem(registration.not_before, registration.not_after, registration.revoked_at,
                                signing_time)
    if unit_has_registered_seal:
        return (NOT_AUTHORISED, f"the certificate is not the seal registered for {unit_code}",
                f"Chứng thư số không phải con dấu số đã đăng ký của đơn vị {unit_code}")
    if not claims.policies & seal_policies:
        return (NOT_AUTHORISED, "the certificate is not an organisation (seal) certificate of its CA",
                "Chứng thư số không phải chứng thư số tổ chức (con dấu) do CA cấp")
    if not claims.commits:
        return (NOT_AUTHORISED, "the certificate's key usage does not allow a committing signature",
                "Chứng thư số không cho phép ký cam kết (nonRepudiation)")
    if unit_identifier(unit_code) not in claims.identifiers:
        return (NOT_AUTHORISED, f"the seal does not carry the identifier of {unit_code}",
                f"Con dấu số không mang mã định danh của đơn vị {unit_code}")
    return None


def indication_of(problem: Problem) -> str:
    """FAILED for a revoked certificate or a signer without the role; INDETERMINATE for a
    certificate outside its validity period (ETSI EN 319 102-1, as the CMS path reports it)."""
    sub = problem[0]
    return "FAILED" if sub in (NOT_AUTHORISED, REVOKED) else "INDETERMINATE"
