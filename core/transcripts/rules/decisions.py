"""The principal's decisions on how a student is assessed or promoted (quyết định của hiệu
trưởng): an exemption from a practical part (Thông tư 22/2021/TT-BGDĐT Art. 10), a subject
assessed against an individual education plan (Art. 11), a promotion decided by the principal
(TT22 Art. 12; Thông tư 27/2020/TT-BGDĐT Art. 11 for a primary pupil who has not completed
the grade after help), and the supplementary assessment of a primary pupil (TT27 Art. 11).
A decision is recorded with its number, date and the principal who took it.
"""
from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Collection
from dataclasses import dataclass

from core.kernel.errors import InvalidAssessment
from core.transcripts.rules.values import normal_text


class DecisionKind(str, enum.Enum):
    """The principal's decisions about how a student is assessed (stored by their value)."""

    PRACTICAL_EXEMPTION = "practical_exemption"   # miễn học phần thực hành (TT22 Art. 10)
    INDIVIDUAL_PLAN = "individual_plan"           # đánh giá theo kế hoạch giáo dục cá nhân (TT22 Art. 11)
    PROMOTION = "promotion"                       # hiệu trưởng quyết định lên lớp / ở lại lớp (TT22 Art. 12; TT27 Art. 11)
    SUPPLEMENTARY = "supplementary"               # đánh giá bổ sung (TT27 Art. 11): the teacher's, after help


@dataclass(frozen=True)
class Decision:
    """A decision of the principal (quyết định của hiệu trưởng): what, for which terms
    (``(1,)``, ``(2,)`` or ``(1, 2)`` = the year), its number and date, and who signed it."""

    kind: DecisionKind
    document_no: str
    decided_on: dt.date
    decided_by: int
    subject: str | None = None
    terms: tuple[int, ...] = (1, 2)
    reason: str | None = None
    outcome: str | None = None


def _refuse(rule: tuple[str, str], value, article: str, field=()):
    raise InvalidAssessment(rule[0], rule[1], article=article, value=value, field=field)


def decision_terms(document_no, decided_on, decided_by, terms, article: str) -> tuple[int, ...]:
    """The parts every decision has, checked (its number, date, principal) — returns its terms."""
    if not isinstance(document_no, str) or not document_no.strip() or len(document_no) > 64:
        _refuse(("the principal's decision is recorded with its number (up to 64 characters)",
                 "quyết định của hiệu trưởng phải ghi số quyết định (tối đa 64 ký tự)"), document_no, article,
                field=(("decision number", "số quyết định"),))
    if not isinstance(decided_on, dt.date):
        _refuse(("the decision's date is a date", "ngày quyết định phải là ngày tháng"), decided_on, article,
                field=(("decision date", "ngày quyết định"),))
    if isinstance(decided_by, bool) or not isinstance(decided_by, int):
        _refuse(("the decision names the principal who took it", "quyết định phải ghi hiệu trưởng đã ký"),
                decided_by, article, field=(("decided by", "người quyết định"),))
    if not isinstance(terms, Collection) or isinstance(terms, str) or not terms or not set(terms) <= {1, 2}:
        _refuse(("a decision is for term 1, term 2 or both (the year)",
                 "quyết định áp dụng cho học kì I, học kì II hoặc cả năm"), terms, article,
                field=(("terms", "học kì"),))
    return tuple(sorted(set(terms)))


#: A principal's promotion decision, by its words.
PROMOTION_WORDS = {"Lên lớp": True, "Ở lại lớp": False}


def promotion_decision(outcome) -> bool:
    """The words of a principal's promotion decision: "Lên lớp" (True) or "Ở lại lớp" (False)."""
    found = next((v for k, v in PROMOTION_WORDS.items() if isinstance(outcome, str)
                  and normal_text(outcome) == normal_text(k)), None)
    if found is None:
        _refuse(("the principal decides Lên lớp or Ở lại lớp", "hiệu trưởng quyết định Lên lớp hoặc Ở lại lớp"),
                outcome, "TT22/2021 Art. 12", field=(("promotion decision", "quyết định lên lớp"),))
    return found


def principal_promotion(outcome, *, document_no, decided_on, decided_by,
                        article: str = "TT22/2021 Art. 12") -> Decision:
    """The principal's promotion decision — "Lên lớp" or "Ở lại lớp" — for a student the
    thresholds do not decide: a student with disabilities assessed against a plan (TT22
    Art. 12), a primary pupil who has not completed the grade after help (TT27 Art. 11)."""
    promoted = promotion_decision(outcome)
    decision_terms(document_no, decided_on, decided_by, (1, 2), article)
    return Decision(DecisionKind.PROMOTION, document_no.strip(), decided_on, decided_by,
                    outcome="Lên lớp" if promoted else "Ở lại lớp")
