"""An issued transcript never changes (học bạ đã phát hành không được sửa): a wrong one is
cancelled and a corrected one issued in its place (hủy và cấp lại; the Ministry's rollout of
học bạ số, 2024-2025: "rà soát, hủy bỏ, điều chỉnh" before upload to the city).

The workflow's steps (:mod:`core.transcripts.workflow`) move a transcript forward only::

    draft ──homeroom signs──▶ homeroom_signed ──principal + seal sign──▶ issued ──cancel──▶ cancelled

The record store enforces the same rule with triggers (migrations 0003 and 0012), so that
nothing — not a bug, not a hand-written UPDATE — rewrites an issued record; this module is the
rule's Python form and writes its SQL form (:func:`change_refused_sql`, from which migration 0012
generates the triggers), and ``tests/rules/test_transcript_lifecycle.py`` proves the two agree.
"""
from __future__ import annotations

from core.kernel.errors import RuleViolation
from core.kernel.vocabulary import TranscriptStatus as S

#: The steps of the workflow: from each status, where a transcript may go next.
NEXT: dict[S, frozenset[S]] = {
    S.DRAFT: frozenset({S.HOMEROOM_SIGNED}),
    S.HOMEROOM_SIGNED: frozenset({S.ISSUED}),
    S.ISSUED: frozenset({S.CANCELLED}),
    S.CANCELLED: frozenset(),
}

#: What an issued transcript keeps for ever: the columns no change may touch once it is issued —
#: what it says, whose it is, where and when it was issued, who signed it, what it replaced. The
#: status moves only along :data:`NEXT`. The one list: the triggers are generated from it.
FROZEN_ONCE_ISSUED = ("content", "content_hash", "document", "student_id", "school_id", "class_id",
                      "school_year_id", "version", "verification_code", "issued_at", "homeroom_signed_by",
                      "principal_signed_by", "replaces_id", "issued_length")

#: Statuses whose record can no longer be deleted.
KEPT = frozenset({S.ISSUED, S.CANCELLED})


def is_final(status: S) -> bool:
    """Issued or cancelled: the record is evidence from now on."""
    return status in KEPT


def require_step(old: S, new: S) -> None:
    """The workflow moves a transcript one step forward only."""
    if new not in NEXT[old]:
        raise RuleViolation(f"a transcript that is {old.value} cannot become {new.value}",
                            message_vi=f"Học bạ ở trạng thái {old.value} không thể chuyển sang {new.value}")


def change_allowed(old: S, new: S, changed: set[str]) -> bool:
    """Whether a change of a stored transcript is allowed at all (what the triggers let through):
    a cancelled transcript never changes; an issued one may only be cancelled, without touching
    :data:`FROZEN_ONCE_ISSUED`; a draft or a signed draft may change (the workflow's services
    decide how)."""
    if old == S.CANCELLED:
        return False
    if old == S.ISSUED:
        return new in (S.ISSUED, S.CANCELLED) and not (changed & set(FROZEN_ONCE_ISSUED))
    return True


def document_may_grow(old: S, new: S, old_document: bytes | None, new_document: bytes | None) -> bool:
    """The one change :data:`FROZEN_ONCE_ISSUED` admits: an issued transcript's document grows by
    appended revisions (the renewal of its archive timestamp, PAdES B-LTA), every issued byte
    staying as it was, and it stays issued. A cancelled transcript is kept exactly as it was."""
    return (old == S.ISSUED and new == S.ISSUED and old_document is not None and new_document is not None
            and len(new_document) > len(old_document) and new_document.startswith(old_document))


def deletion_allowed(status: S) -> bool:
    """Only a transcript that was never issued may be deleted."""
    return status not in KEPT


def change_refused_sql(dialect: str, *, documents_may_grow: bool = True,
                       columns: tuple[str, ...] = FROZEN_ONCE_ISSUED) -> str:
    """:func:`change_allowed` negated, as the SQL condition of a row trigger over ``OLD`` and
    ``NEW`` (``postgresql`` or ``sqlite``): true when the record store must refuse the UPDATE.
    With ``documents_may_grow`` (from migration 0016) the one exception of
    :func:`document_may_grow` is let through: an issued document grown by appended revisions.
    ``columns``: the frozen columns (a migration passes those of its own revision)."""
    final = [s.value for s in S if not NEXT[s]]
    issued_may_become = [S.ISSUED.value, *sorted(s.value for s in NEXT[S.ISSUED])]
    length, prefix = (("octet_length", "substring(NEW.document FROM 1 FOR octet_length(OLD.document))")
                      if dialect == "postgresql" else ("length", "substr(NEW.document, 1, length(OLD.document))"))
    grown = (f"NEW.status = '{S.ISSUED.value}' AND OLD.document IS NOT NULL AND NEW.document IS NOT NULL "
             f"AND {length}(NEW.document) > {length}(OLD.document) AND {prefix} = OLD.document")

    def changed(column: str) -> str:
        if dialect == "postgresql":  # json has no equality: compared as text
            cast = "::text" if column == "content" else ""
            different = f"NEW.{column}{cast} IS DISTINCT FROM OLD.{column}{cast}"
        else:
            different = f"NEW.{column} IS NOT OLD.{column}"
        if column == "document" and documents_may_grow:
            return f"({different} AND NOT ({grown}))"
        return different

    def listed(values: list[str]) -> str:
        return ", ".join(f"'{v}'" for v in values)

    return (f"OLD.status IN ({listed(final)}) OR (OLD.status = '{S.ISSUED.value}' AND ("
            f"NEW.status NOT IN ({listed(issued_may_become)}) OR "
            + " OR ".join(changed(c) for c in columns) + "))")


def deletion_refused_sql() -> str:
    """:func:`deletion_allowed` negated, as the SQL condition of a row trigger over ``OLD``."""
    return "OLD.status IN (" + ", ".join(f"'{s.value}'" for s in S if s in KEPT) + ")"
