"""Students exempted from the practical part of a subject (miễn học phần thực hành, Thông tư
22/2021/TT-BGDĐT Art. 10) and students with disabilities (học sinh khuyết tật, Art. 11; the
principal's decision on promotion, Art. 12). Each case rests on a decision of the principal,
recorded with its number and date (:class:`Decision`): nothing here is assumed without one.

Art. 10: only the **practical part** of **Giáo dục thể chất** and **Giáo dục quốc phòng và an
ninh** can be exempted, for illness, disability or an accident, for a term or the whole year,
by the principal on the student's application with a medical record. The practical
assessments are replaced by theory: the student still has the number of assessments Art. 6
and 7 require, and is assessed as any other student on them.

Art. 11: a student with disabilities in inclusive education is assessed like the others, with
adjusted requirements, in the subjects they can follow; a subject they cannot follow is
assessed against their **individual education plan** (kế hoạch giáo dục cá nhân) and exempted
content is not assessed. Our reading (the articles say nothing of the levels): subjects
assessed against the plan are left out of the learning level of Art. 9, which is computed on
the others when at least 6 scored subjects remain, and not at all otherwise (the national data
dictionary's "cokhuyettatkhongdanhgia"); the promotion of a student with a plan is the
principal's decision (Art. 12), recorded, not computed.
"""
from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Collection, Mapping
from decimal import Decimal

from core.kernel.errors import InvalidAssessment
from core.transcripts.rules.decisions import Decision, DecisionKind, decision_terms, promotion_decision
from core.transcripts.rules.tt22_2021 import (
    Level,
    Outcome,
    Promotion,
    comment_result,
    learning_level,
    subject_results,
)
from core.transcripts.rules.values import normal_text

ART_10, ART_11, ART_12 = "TT22/2021 Art. 10", "TT22/2021 Art. 11", "TT22/2021 Art. 12"


class ExemptionReason(str, enum.Enum):
    """Why the practical part may be exempted (Art. 10.1)."""

    ILLNESS = "ốm đau"
    DISABILITY = "khuyết tật"
    ACCIDENT = "tai nạn"


#: The subjects whose practical part can be exempted, by curriculum code and by name.
EXEMPTIBLE_CODES = frozenset({"CS-GDTC", "PT-GDTC", "PT-QPAN"})
EXEMPTIBLE_NAMES = frozenset({normal_text("Giáo dục thể chất"), normal_text("Giáo dục quốc phòng và an ninh")})


def _refuse(rule: tuple[str, str], value, article: str, subject: str | None = None, field=()):
    raise InvalidAssessment(rule[0], rule[1], article=article, value=value, subject=subject, field=field)


def practical_exemption(subject_code: str, subject_name: str, *, reason, document_no: str, decided_on: dt.date,
                        decided_by: int, terms=(1, 2)) -> Decision:
    """An exemption from the practical part (Art. 10), checked: the subject is Giáo dục thể
    chất or Giáo dục quốc phòng và an ninh; the reason illness, disability or accident; for
    a term or the year; with the principal's decision. Example (constructed): a grade-10
    student with a broken arm, exempted from GDQP-AN practice in term 2 by decision
    "15/QĐ-THPT" — granted; the same for Toán — refused."""
    if subject_code not in EXEMPTIBLE_CODES and normal_text(subject_name or "") not in EXEMPTIBLE_NAMES:
        _refuse(("only the practical part of Giáo dục thể chất or Giáo dục quốc phòng và an ninh can be exempted",
                 "chỉ miễn học phần thực hành môn Giáo dục thể chất hoặc Giáo dục quốc phòng và an ninh"),
                subject_name, ART_10, subject=subject_name)
    found = next((r for r in ExemptionReason if isinstance(reason, str) and normal_text(reason) == normal_text(r.value)),
                 reason if isinstance(reason, ExemptionReason) else None)
    if found is None:
        _refuse(("the reason of an exemption is illness, disability or an accident (ốm đau, khuyết tật, tai nạn)",
                 "lí do miễn là ốm đau, khuyết tật hoặc tai nạn"), reason, ART_10, subject=subject_name,
                field=(("reason", "lí do"),))
    terms = decision_terms(document_no, decided_on, decided_by, terms, ART_10)
    return Decision(DecisionKind.PRACTICAL_EXEMPTION, document_no.strip(), decided_on, decided_by,
                    subject_code, terms, found.value)


def assessments_with_exemption(required: int, exempted: bool) -> tuple[int, str]:
    """Art. 10.2: the number of assessments a term stays what Art. 6 and 7 require — the
    practical ones are replaced by theory. Returns (number, basis): (4, "lí thuyết") for an
    exempted GDTC term, (4, "thực hành và lí thuyết") otherwise."""
    return required, ("lí thuyết" if exempted else "thực hành và lí thuyết")


def individual_plan(subject_code: str, subject_name: str, *, document_no: str, decided_on: dt.date,
                    decided_by: int, terms=(1, 2)) -> Decision:
    """A subject assessed against the individual education plan of a student with
    disabilities (Art. 11.2), by the principal's decision approving the plan."""
    if not isinstance(subject_code, str) or not subject_code:
        _refuse(("an individual plan names the subject it covers", "kế hoạch giáo dục cá nhân phải ghi môn học"),
                subject_code, ART_11)
    terms = decision_terms(document_no, decided_on, decided_by, terms, ART_11)
    return Decision(DecisionKind.INDIVIDUAL_PLAN, document_no.strip(), decided_on, decided_by, subject_code, terms)


def plan_result(value, subject: str) -> bool:
    """A subject assessed against the plan: Đạt or Chưa đạt on the plan's goals (a comment,
    no score; Art. 11.2 — "assessed to encourage effort and progress")."""
    return comment_result(value, (("against the individual plan", "theo kế hoạch giáo dục cá nhân"),),
                          subject=subject)


def learning_level_with_plan(scored: Mapping[str, Decimal], comments: Mapping[str, bool],
                             plan_subjects: Collection[str]) -> Level | None:
    """The learning level of a student with an individual plan (Art. 11, our reading): the
    subjects assessed against the plan are left out; the level of Art. 9 is computed on the
    others when at least 6 scored subjects remain, else there is no level (``None``). Example
    (constructed): 8 scored subjects all 7.0, two of them on the plan → Khá on the six left;
    four on the plan → no level."""
    scored, comments = subject_results(scored, comments)
    plan = set(plan_subjects)
    kept_scored = {k: v for k, v in scored.items() if k not in plan}
    kept_comments = {k: v for k, v in comments.items() if k not in plan}
    if plan and len(kept_scored) < 6:
        return None
    return learning_level(kept_scored, kept_comments)


def promotion_with_plan(decision: Decision | None) -> Promotion:
    """A student assessed with an individual plan is promoted or not by the principal's
    decision (Art. 12), not by the thresholds; without a decision, it is awaited."""
    if decision is None:
        return Promotion(Outcome.AWAITING_DECISION, "chờ hiệu trưởng xét (học sinh khuyết tật, kế hoạch giáo dục cá nhân)")
    if decision.kind != DecisionKind.PROMOTION:
        _refuse(("a promotion is decided by a promotion decision", "lên lớp do quyết định xét lên lớp"),
                decision.kind.value, ART_12)
    promoted = promotion_decision(decision.outcome)
    return Promotion(Outcome.PROMOTED if promoted else Outcome.NOT_PROMOTED,
                     f"quyết định của hiệu trưởng số {decision.document_no}")
