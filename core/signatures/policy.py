"""The trust policy (chính sách tin cậy): which certificate may sign in which role. A signature
that verifies cryptographically against the trust store's anchors (PASSED) is kept only if
the rules of :mod:`core.signatures.rules.signing_policy` accept its certificate for the role
— a personal certificate registered to the holder of the role, a seal bound to its unit —
else it becomes FAILED / ``NOT_AUTHORISED_FOR_ROLE`` with the reason in both languages.

The facts come from the registry (the ``certificate`` table, the staff's roles in
``staff_assignment``) and from the certificate itself (its policies, its subject's
identifiers, its key usage, and the anchor it chains to).
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import threading

from cryptography import x509
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.kernel.vocabulary import CertificateKind, StaffRole
from core.signatures.cms import TrustStore, Verification
from core.signatures.rules import signing_policy as rules
from core.storage.models import Certificate, Department, School, Staff, StaffAssignment, TeachingAssignment

NOT_AUTHORISED = rules.NOT_AUTHORISED
#: Changes when the rules change, so that a cached verification made under older rules is redone
#: (core.transcripts.verification keys its cache with :attr:`TrustPolicy.key`)
RULES_VERSION = "2"  # 2: a vice-principal under a written delegation signs for the principal
#: The staff roles whose terms (staff_assignment) bound when a person may sign in a role
_TERM_ROLES = {"homeroom": StaffRole.HOMEROOM_TEACHER, "principal": StaffRole.PRINCIPAL,
               "delegate": StaffRole.VICE_PRINCIPAL}
_UID = x509.ObjectIdentifier("0.9.2342.19200300.100.1.1")
_ORGANIZATION_IDENTIFIER = x509.ObjectIdentifier("2.5.4.97")


def refused(result: Verification, problem: rules.Problem) -> Verification:
    """``result`` turned into a refusal for the role, with the reason in both languages."""
    return dataclasses.replace(result, indication=rules.indication_of(problem), sub_indication=problem[0],
                               message=problem[1], message_vi=problem[2])


def registration(session: Session, fingerprint: str | None) -> rules.Registration | None:
    """What the registry holds for the certificate with this SHA-256, or None."""
    if fingerprint is None:
        return None
    row = session.execute(select(Certificate.kind, Certificate.staff_id, School.code, Certificate.not_before,
                                 Certificate.not_after, Certificate.revoked_at)
                          .join(School, School.id == Certificate.school_id)
                          .where(Certificate.fingerprint == fingerprint)).first()
    if row is None:
        return None
    kind = rules.SEAL if row.kind == CertificateKind.SEAL else rules.PERSONAL
    return rules.Registration(kind, row.staff_id, row.code, row.not_before, row.not_after, row.revoked_at)


def terms(session: Session, role: str, school_id: int | None, staff_id: int | None, *,
          class_id: int | None = None, subject_id: int | None = None):
    """The person's terms in ``role`` at the school from its staff history, or None when the
    school keeps no history of that role (the holder of record then decides). The subject
    teacher of a class (``subject_teacher``, with ``class_id`` and ``subject_id``) has the
    terms of their teaching assignment: always kept, so without one there is no term."""
    if role == "subject_teacher":
        rows = session.execute(select(TeachingAssignment.valid_from, TeachingAssignment.valid_to).where(
            TeachingAssignment.class_id == class_id, TeachingAssignment.subject_id == subject_id,
            TeachingAssignment.teacher_id == staff_id)).all()
        return [(r.valid_from, r.valid_to) for r in rows]
    staff_role = _TERM_ROLES.get(role)
    if staff_role is None or school_id is None:
        return None
    rows = session.execute(select(StaffAssignment.staff_id, StaffAssignment.valid_from, StaffAssignment.valid_to)
                           .where(StaffAssignment.school_id == school_id, StaffAssignment.role == staff_role)).all()
    if not rows:
        return None
    return [(r.valid_from, r.valid_to) for r in rows if r.staff_id == staff_id]


def check_person(session: Session, result: Verification, role: str, *, holder_staff_id: int | None,
                 school_id: int | None = None, at: dt.datetime | None = None, **scope) -> Verification:
    """Keep a PASSED only if its certificate is a personal one registered to the holder of
    ``role`` of record (``holder_staff_id``), at the school (``school_id``; default: the
    holder's own), valid and inside the holder's term in the role at the signing time
    (``scope``: the class and subject of a subject teacher, :func:`terms`)."""
    if not result.valid:
        return result
    when = at or result.signing_time
    if school_id is None and holder_staff_id is not None:
        school_id = session.scalar(select(Staff.school_id).where(Staff.id == holder_staff_id))
    unit = session.scalar(select(School.code).where(School.id == school_id)) if school_id is not None else None
    if when is None or unit is None:
        return refused(result, (NOT_AUTHORISED, f"no {role} of record to check the signer against",
                                "Không có người giữ vai trò này theo hồ sơ để đối chiếu người ký"))
    problem = rules.personal_signature_problem(
        role, registration(session, result.signer_fingerprint), holder_staff_id=holder_staff_id, unit_code=unit,
        signing_time=when, terms=terms(session, role, school_id, holder_staff_id, **scope))
    return refused(result, problem) if problem else result


class TrustPolicy:
    """The trust store and the rules: what a signature means for a role. ``key`` names the
    anchors and the rules version (a cached verification made under others is stale)."""

    def __init__(self, trust: TrustStore):
        self.trust = trust
        self._claims: dict[str, rules.OrganisationClaims] = {}
        self._lock = threading.Lock()
        anchors = sorted(hashlib.sha256(d).hexdigest() for d in trust.roots_der)
        policies = sorted(p for a in trust.anchors for p in a.seal_policies)
        self.key = hashlib.sha256("|".join([RULES_VERSION, *anchors, *policies]).encode()).hexdigest()[:32]

    def claims(self, cert_der: bytes) -> rules.OrganisationClaims:
        """What an organisation certificate says of itself (read once per certificate)."""
        key = hashlib.sha256(cert_der).hexdigest()
        found = self._claims.get(key)
        if found is None:
            cert = x509.load_der_x509_certificate(cert_der)
            try:
                policies = frozenset(p.policy_identifier.dotted_string for p in
                                     cert.extensions.get_extension_for_class(x509.CertificatePolicies).value)
            except x509.ExtensionNotFound:
                policies = frozenset()
            try:
                usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
                commits = usage.content_commitment
            except x509.ExtensionNotFound:
                commits = False
            identifiers = frozenset(str(a.value) for oid in (_UID, _ORGANIZATION_IDENTIFIER)
                                    for a in cert.subject.get_attributes_for_oid(oid))
            found = rules.OrganisationClaims(policies, identifiers, commits)
            with self._lock:
                self._claims[key] = found
        return found

    def seal_policies(self, cert_der: bytes) -> frozenset[str]:
        """The organisation-certificate policies of the anchor ``cert_der`` chains to."""
        anchor = self.trust.anchor_of(self.trust.chain(cert_der))
        return anchor.seal_policies if anchor is not None else frozenset()

    def check_seal(self, session: Session, result: Verification, *, unit_code: str,
                   at: dt.datetime | None = None) -> Verification:
        """Keep a PASSED only if its certificate is the seal of the unit ``unit_code`` (a school
        or a department): registered as its seal, or, for a unit without a registered seal,
        an organisation certificate of its CA carrying the unit's identifier."""
        if not result.valid:
            return result
        when = at or result.signing_time
        if result.certificate is None or when is None:
            return refused(result, (NOT_AUTHORISED, "the seal's certificate or signing time is missing",
                                    "Thiếu chứng thư số hoặc thời điểm ký của con dấu"))
        has_seal = session.scalar(select(Certificate.id).join(School, School.id == Certificate.school_id)
                                  .where(School.code == unit_code, Certificate.kind == CertificateKind.SEAL)
                                  .limit(1)) is not None
        problem = rules.seal_problem(registration(session, result.signer_fingerprint),
                                     self.claims(result.certificate), unit_code=unit_code,
                                     unit_has_registered_seal=has_seal,
                                     seal_policies=self.seal_policies(result.certificate), signing_time=when)
        return refused(result, problem) if problem else result


def as_policy(trust: TrustStore | TrustPolicy) -> TrustPolicy:
    """The policy of a trust store (one per store, kept on it), or the policy itself."""
    if isinstance(trust, TrustPolicy):
        return trust
    policy = getattr(trust, "_sohoa_policy", None)
    if policy is None:
        policy = TrustPolicy(trust)
        trust._sohoa_policy = policy
    return policy


def unit_known(session: Session, code: str) -> bool:
    """A school or a department of this system's registry has this code."""
    return (session.scalar(select(School.id).where(School.code == code)) is not None
            or session.scalar(select(Department.id).where(Department.code == code)) is not None)
