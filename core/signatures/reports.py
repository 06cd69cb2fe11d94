"""What verifying a signed thing reports (báo cáo xác thực chữ ký), in the ETSI EN 319 102-1
vocabulary — PASSED, INDETERMINATE, FAILED with a sub-indication — per signature and the role it
stands for, plus our own check that the signer held that role (``NOT_AUTHORISED_FOR_ROLE``).
INDETERMINATE is never valid."""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from core.signatures.cms import FAILED, INDETERMINATE, PASSED, Verification
from core.signatures.policy import check_person

ROLE_VI = {"teacher": "Giáo viên dạy", "homeroom": "Giáo viên chủ nhiệm", "principal": "Hiệu trưởng"}


@dataclass(frozen=True)
class SignatureReport:
    role: str                 # teacher / homeroom / principal
    verification: Verification


@dataclass(frozen=True)
class VerificationReport:
    target: str
    signatures: list[SignatureReport]

    @property
    def indication(self) -> str:
        """FAILED if any signature failed, INDETERMINATE if any is undecided, else PASSED."""
        found = {s.verification.indication for s in self.signatures} or {INDETERMINATE}
        return FAILED if FAILED in found else INDETERMINATE if INDETERMINATE in found else PASSED

    @property
    def valid(self) -> bool:
        return self.indication == PASSED

    @property
    def sub_indication(self) -> str | None:
        """The sub-indication of the first signature that did not pass."""
        return next((s.verification.sub_indication for s in self.signatures if not s.verification.valid), None)


def authorised_for_role(session: Session, result: Verification, role: str, staff_id: int | None) -> Verification:
    """Keep a PASSED only if the certificate is registered to the person holding ``role`` — the
    trust policy's rule for a person (:func:`core.signatures.policy.check_person`): a personal
    certificate of ``staff_id``, at their school, valid and inside their term at the signing time."""
    return check_person(session, result, role, holder_staff_id=staff_id)
