"""Aggregates kept for reuse, keyed so that they can never leak across scopes (bộ nhớ đệm theo
phạm vi): a cached frame is found again only by a caller whose **scope** (the exact set of
schools they see, or "every school") is the same, on the same **store fingerprint** (a digest of
the analytics store's content: what a refresh changes), for the same query and arguments, in
the same **minute** (an unsigned period turns from pending to missed with the clock, so the
figures depend on the time too), or the same **day** for a query that reads the clock only as a
date (an unsigned period of an earlier day is missed). Two supervisors of the same district share an entry; a school
monitor never meets a district's entry, since the scope is part of the key, not a filter applied
afterwards. The permission is checked on every call, cached or not. Bounded (least recently used
dropped); each hit is a copy, so a caller cannot change what another will read — except core's own
shared rollups of every school (``shared``), only read, narrowed into a new frame for each caller."""
from __future__ import annotations

import hashlib
import json
from typing import Callable

import pandas as pd

from core.access import cache as scoped
from core.access.authz import Actor
from core.access.cache import scope_key  # noqa: F401 - part of this module's API
from core.kernel import clock


def store_fingerprint(store) -> str:
    """A digest of the store's content (its weeks', years' and synthetic facts' fingerprints);
    unchanged by a refresh that found nothing new."""
    state = store.state()
    content = {k: state.get(k) for k in ("weeks", "years", "synthetic", "schema")}
    return hashlib.sha256(json.dumps(content, sort_keys=True, default=str).encode()).hexdigest()


class ScopedCache(scoped.ScopedCache):
    """An LRU of aggregates keyed by (scope, store fingerprint, minute or day, query, arguments)."""

    def get(self, store, actor: Actor, name: str, compute: Callable[[], pd.DataFrame], *, per: str = "minute",
            shared: bool = False, **arguments) -> pd.DataFrame:
        """``compute()`` (a query of ``actor``'s scope on ``store``), or its kept result of the
        same minute (``per="minute"``) or, for a query that depends on the date alone, the same
        day (``per="day"``: Vietnam's date); ``shared`` as in ``get_versioned``."""
        now = clock.now()
        at = now.date().isoformat() if per == "day" else now.replace(second=0, microsecond=0).isoformat()
        return self.get_versioned(actor, f"{store_fingerprint(store)} at {at}", name, compute, shared=shared,
                                  **arguments)
