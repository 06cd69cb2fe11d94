"""A scope-keyed cache (bộ nhớ đệm theo phạm vi) for aggregates: a kept frame is found again only
by a caller whose **scope** (the exact set of schools they see, or "every school") is the same,
for the same data **version** (what the caller reads to know the data changed), query and
arguments; the permission is checked on every call, cached or not. Bounded (least recently used
dropped); each hit is a copy. :mod:`core.analytics.cache` keys it on the analytics store's
fingerprint; the logbook's read models on the record store's own version."""
from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Callable

import pandas as pd

from core.access.authz import Actor, Permission, require


def scope_key(actor: Actor) -> tuple:
    """The caller's scope as a key: every school, or exactly these schools."""
    return ("every school",) if actor.school_ids is None else tuple(sorted(int(s) for s in actor.school_ids))


class ScopedCache:
    """An LRU of aggregates keyed by (scope, version, query, arguments)."""

    def __init__(self, max_entries: int = 512):
        self.max_entries = max_entries
        self._entries: OrderedDict[tuple, pd.DataFrame] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def get_versioned(self, actor: Actor, version: str, name: str, compute: Callable[[], pd.DataFrame], *,
                      shared: bool = False, **arguments) -> pd.DataFrame:
        """``compute()`` (a query of ``actor``'s scope), or its kept result for the same
        ``version`` of the data behind it (and, when it depends on the time, the time it
        depends on). ``shared``: the kept frame itself, not a copy — for core's own rollups of
        every school, which are only read, to be narrowed into a new frame (a year's finished
        class-weeks are two million rows: a copy a page would cost more than the narrowing)."""
        require(actor, Permission.VIEW)
        return self._get((scope_key(actor), version, name,
                          tuple(sorted((k, repr(v)) for k, v in arguments.items()))), compute, shared)

    def _get(self, key: tuple, compute: Callable[[], pd.DataFrame], shared: bool = False) -> pd.DataFrame:
        with self._lock:
            if key in self._entries:
                self._entries.move_to_end(key)
                self.hits += 1
                return self._entries[key] if shared else self._entries[key].copy()
        frame = compute()
        with self._lock:
            self.misses += 1
            self._entries[key] = frame if shared else frame.copy()
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)
        return frame

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


def narrowed(rows: pd.DataFrame, actor: Actor, school_id: int | None = None, **equal) -> pd.DataFrame:
    """The rows of a frame shared by every scope (a ``shared`` entry: core's rollup of every
    school, with a ``school_id`` column) that belong to the caller's schools — and to
    ``school_id`` and the other ``equal`` column filters when given, which narrow the scope,
    never widen it: a school outside it selects nothing, as :meth:`Actor.school_filter` does in
    SQL. A new frame, in the shared frame's order and index."""
    keep = pd.Series(True, index=rows.index)
    if actor.school_ids is not None:
        keep &= rows["school_id"].isin(list(actor.school_ids))
    for column, value in (("school_id", school_id), *equal.items()):
        if value is not None:
            keep &= rows[column] == int(value)
    return rows[keep]

