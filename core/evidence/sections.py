"""The sections of a checkpoint (các phần của mốc kiểm chứng): one per kind of evidence the
record store attests, in a registry, so that a new kind is a few lines.

A :class:`Section` says

- ``anchor(session, events)``: what a checkpoint states of it, as JSON (``events``: the audit
  events since the previous checkpoint, or None for the first one);
- ``fold(state, stated, checkpoint)``: how the checkpoints, read in order, add up (by default
  the latest one stands); it returns the state and any discrepancy between checkpoints;
- ``discrepancies(session, trust, *, anchored)``: the record store checked against the state
  (None when no checkpoint has the section yet), as :class:`~core.kernel.integrity.Discrepancy`.

The signed receipt batches of the apps' signatures (:mod:`core.logbook.receipts`) are a section:
a checkpoint states the head of their chain, and the check verifies every batch and every
receipt against it.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from core.evidence import facts
from core.evidence.facts import FactKind
from core.evidence.transcripts import TRANSCRIPTS
from core.evidence.weeks import WEEKS, week_discrepancies
from core.logbook.receipts import receipt_discrepancies, receipts_anchor


def latest(state: Any, stated: dict, checkpoint) -> tuple[Any, list]:
    """The default fold: what the latest checkpoint states stands."""
    return stated, []


@dataclass(frozen=True)
class Section:
    """One section of a checkpoint (see the module's docstring)."""

    name: str
    anchor: Callable[..., dict]
    discrepancies: Callable[..., list]
    fold: Callable[[Any, dict, Any], tuple[Any, list]] = latest


#: The registered sections, by name, in the order a checkpoint states them.
SECTIONS: dict[str, Section] = {}


def register(section: Section) -> Section:
    SECTIONS[section.name] = section
    return section


@dataclass(frozen=True)
class Anchored:
    """What the checkpoints anchor of a kind of record: each record's latest anchored fact and
    the checkpoint that stated it, and the latest checkpoint (whose audit heads end what is
    anchored)."""

    facts: dict[int, tuple[dict, Any]]
    latest: Any


def fact_section(kind: FactKind, more: Callable[..., list] | None = None) -> Section:
    """A section of records anchored fact by fact (:mod:`core.evidence.facts`); ``more``: the
    kind's own further checks, ``more(session, trust, anchored)``."""

    def fold(state: Anchored | None, stated: dict, checkpoint) -> tuple[Anchored, list]:
        merged, found = facts.fold(kind, state.facts if state else None, stated, checkpoint)
        return Anchored(merged, checkpoint), found

    def discrepancies(session, trust, *, anchored: Anchored | None) -> list:
        found = facts.compare(kind, session, anchored.facts if anchored else None,
                              anchored.latest.heads if anchored else None)
        return found + (more(session, trust, anchored) if more else [])

    return Section(kind.section, anchor=lambda session, events: facts.anchor(kind, session, events),
                   discrepancies=discrepancies, fold=fold)


register(fact_section(TRANSCRIPTS))
register(fact_section(WEEKS, week_discrepancies))
register(Section("receipts", anchor=lambda session, events: receipts_anchor(session),
                 discrepancies=receipt_discrepancies))
