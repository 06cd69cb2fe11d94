"""The scope-keyed cache of the analytics store's aggregates (core.analytics.cache): found again
only by the same scope on the same store content, never across scopes."""
import pandas as pd
import pytest

from core.access.authz import Actor
from core.analytics.cache import ScopedCache, scope_key, store_fingerprint
from core.analytics.store import AnalyticsStore
from core.kernel.errors import PermissionDenied
from core.kernel.vocabulary import Role


def _actor(name: str, schools, role=Role.SCHOOL_MONITOR) -> Actor:
    return Actor(user_id=1, username=name, role=role, school_ids=None if schools is None else frozenset(schools))


@pytest.fixture
def store(tmp_path):
    store = AnalyticsStore(tmp_path / "analytics")
    store.save_state({"weeks": {"1": {"digest": "a"}}, "years": {}})
    return store


def test_the_same_scope_is_served_from_the_cache_and_another_scope_never(store):
    cache, calls = ScopedCache(), []

    def query(actor):
        def run():
            calls.append(actor.username)
            return pd.DataFrame({"school_id": sorted(actor.school_ids or [0])})
        return run

    one, same, other = _actor("gs1", {1}), _actor("gs1-bis", {1}), _actor("gs2", {2})
    assert cache.get(store, one, "q", query(one))["school_id"].tolist() == [1]
    assert cache.get(store, same, "q", query(same))["school_id"].tolist() == [1]  # same schools: kept
    assert cache.get(store, other, "q", query(other))["school_id"].tolist() == [2]  # never gs1's frame
    district = _actor("phong", {1, 2}, Role.DISTRICT_SUPERVISOR)
    assert cache.get(store, district, "q", query(district))["school_id"].tolist() == [1, 2]
    assert calls == ["gs1", "gs2", "phong"] and (cache.hits, cache.misses) == (1, 3)
    assert scope_key(_actor("so", None, Role.DEPARTMENT_SUPERVISOR)) == ("every school",)


def test_new_content_or_other_arguments_are_computed_again(store):
    cache, calls = ScopedCache(), []
    who = _actor("gs1", {1})

    def run():
        calls.append(1)
        return pd.DataFrame({"n": [len(calls)]})
    before = store_fingerprint(store)
    cache.get(store, who, "q", run, level="school")
    cache.get(store, who, "q", run, level="class")
    store.save_state({"weeks": {"1": {"digest": "a"}}, "years": {}, "refreshed_at": 5})
    assert store_fingerprint(store) == before  # a refresh that found nothing new
    cache.get(store, who, "q", run, level="school")
    store.save_state({"weeks": {"1": {"digest": "b"}}, "years": {}})
    assert store_fingerprint(store) != before
    assert cache.get(store, who, "q", run, level="school")["n"].tolist() == [3]
    assert len(calls) == 3


def test_a_hit_is_a_copy_and_the_permission_is_checked_every_time(store):
    cache = ScopedCache()
    who = _actor("gs1", {1})
    first = cache.get(store, who, "q", lambda: pd.DataFrame({"n": [1]}))
    first.loc[0, "n"] = 99
    assert cache.get(store, who, "q", lambda: pd.DataFrame({"n": [2]}))["n"].tolist() == [1]
    with pytest.raises(PermissionDenied):
        cache.get(store, _actor("gv", {1}, Role.TEACHER), "q", lambda: pd.DataFrame())
