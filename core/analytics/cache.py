"""Aggregates kept for reuse, keyed so that they can never leak across scopes (bộ nhớ đệm theo
phạm vi): a cached frame is found again only by a caller whose **scope** (the exact set of
schools they see, or "every school") is the same, on the same **store fingerprint** (a digest of
the analytics store's content: what a refresh changes), for the same query and arguments, in
the same **minute** (an unsigned period turns from pending to missed with the clock, so the
figures depend on the time too). Two supervisors of the same district share an entry; a school
monitor never meets a district's entry, since the scope is part of the key, not a filter applied
afterwards. The permission is checked on every call, cached or not. Bounded (least recently used
dropped); each hit is a copy, so a caller cannot change what another will read."""
from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from typing import Callable

import pandas as pd

from core.access.authz import Actor, Permission, require
from core.kernel import clock


def scope_key(actor: Actor) -> tuple:
    """The caller's scope as a key: every school, or exactly these schools."""
    return ("every school",) if actor.school_ids is None else tuple(sorted(int(s) for s in actor.school_ids))


def store_fingerprint(store) -> str:
    """A digest of the store's content (its weeks', years' and synthetic facts' fingerprints);
    unchanged by a refresh that found nothing new."""
    state = store.state()
    content = {k: state.get(k) for k in ("weeks", "years", "synthetic", "schema")}
    return hashlib.sha256(json.dumps(content, sort_keys=True, default=str).encode()).hexdigest()


class ScopedCache:
    """An LRU of aggregates keyed by (scope, store fingerprint, minute, query, arguments)."""

    def __init__(self, max_entries: int = 512):
        self.max_entries = max_entries
        self._entries: OrderedDict[tuple, pd.DataFrame] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def get(self, store, actor: Actor, name: str, compute: Callable[[], pd.DataFrame], **arguments) -> pd.DataFrame:
        """``compute()`` (a query of ``actor``'s scope on ``store``), or its kept result."""
        require(actor, Permission.VIEW)
        minute = clock.now().replace(second=0)
        key = (scope_key(actor), store_fingerprint(store), minute, name,
               tuple(sorted((k, repr(v)) for k, v in arguments.items())))
        with self._lock:
            if key in self._entries:
                self._entries.move_to_end(key)
                self.hits += 1
                return self._entries[key].copy()
        frame = compute()
        with self._lock:
            self.misses += 1
            self._entries[key] = frame.copy()
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)
        return frame

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
