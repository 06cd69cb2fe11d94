"""Provinces federate (liên thông các tỉnh): each province (tỉnh, thành phố — 34 after the 2025
merger) runs its own record store and exports its own analytics store; the nation gathers
those exports into one national store; the public check of a transcript is routed to the
province that issued it.

- :class:`Province`, :class:`ProvinceDirectory` — the directory of provinces: a two-digit
  province code (the prefix printed before a transcript's verification code, ``79-XXXXXXXXXX``),
  its name, its record store's URL and where its analytics export is.
- :func:`export_province` — a province's weekly export: :func:`core.analytics.store.refresh` of
  its record store into its own analytics store (incremental, per week).
- :func:`national_refresh` — the nation gathers every province's export into the national
  store. Ids are per record store, so two provinces both have a school 1: each id is moved into
  its province's block (``province number × PROVINCE_SPAN + id``), and each province's
  districts belong to a "department" that is the province (its Sở GD&ĐT), so the console's
  ``department`` level is the per-province level nationally. A file is copied again only when
  the province's export of it changed.
- :class:`FederatedVerifier` — the public check routed by prefix to the province's record
  store; a province that does not answer makes only its own codes unavailable, with a clear
  message in both languages (:class:`ProvinceUnavailable`).
"""
from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from pathlib import Path

from core.analytics.store import AnalyticsStore
from core.kernel.errors import BadRequest, NotFound, Unavailable

#: National ids: a province's id n becomes province number × PROVINCE_SPAN + n (record-store ids
#: stay far below 10¹², synthetic ones start at 10⁹)
PROVINCE_SPAN = 10 ** 12
#: The id columns of each kind of fact and dimension, moved into the province's block
_IDS = {
    "facts": ("district_id", "school_id", "class_id", "teacher_id", "week_id"),
    "closes": ("class_id", "school_id", "district_id", "week_id"),
    "issuance": ("student_id", "class_id", "school_id", "district_id", "school_year_id"),
    "district": ("district_id",),
    "school": ("school_id", "district_id"),
    "class": ("class_id", "school_id"),
    "teacher": ("teacher_id", "school_id"),
}
_PREFIXED = re.compile(r"^\s*(\d{2})\s*[-\s]\s*(.+)$")


class ProvinceUnavailable(Unavailable):
    """The province's record store does not answer: only its own codes are unavailable."""


class UnknownProvince(NotFound):
    """A code whose prefix names no province in the directory."""


@dataclass(frozen=True)
class Province:
    """One province of the directory (danh bạ các tỉnh)."""

    code: str            #: two digits, the prefix of its transcripts' codes ("01" Hà Nội, "79" TP. Hồ Chí Minh)
    name: str
    database_url: str    #: its record store
    export: Path         #: its analytics store (what the nation gathers)

    @property
    def number(self) -> int:
        return int(self.code)


class ProvinceDirectory:
    """The provinces, by code."""

    def __init__(self, provinces):
        self.provinces = {p.code: p for p in provinces}
        if any(not re.fullmatch(r"\d{2}", c) for c in self.provinces):
            raise BadRequest("a province code is two digits", message_vi="Mã tỉnh gồm hai chữ số")

    def __iter__(self):
        return iter(sorted(self.provinces.values(), key=lambda p: p.code))

    def route(self, typed: str) -> tuple[Province, str]:
        """The province and the local verification code of a code typed with its province
        prefix (``79-ABCDEFGHJK``, spaces and case ignored)."""
        from core.transcripts.rules.public_view import CODE_INPUT_MAX, normal_code

        found = _PREFIXED.match(typed or "") if typed and len(typed) <= CODE_INPUT_MAX + 3 else None
        local = normal_code(found.group(2)) if found else None
        if local is None:
            raise BadRequest("a transcript code is the province's two digits, a dash and ten characters",
                             message_vi="Mã học bạ gồm hai chữ số mã tỉnh, dấu gạch và mười ký tự")
        province = self.provinces.get(found.group(1))
        if province is None:
            raise UnknownProvince(f"no province has the code {found.group(1)}",
                                  message_vi=f"Không có tỉnh, thành phố nào mang mã {found.group(1)}")
        return province, local


# ---------------------------------------------------------------- analytics
def export_province(db, province: Province):
    """The province's weekly export: its analytics store brought up to date from its record store."""
    from core.analytics.store import refresh

    return refresh(db, AnalyticsStore(province.export))


def _moved(con, source: Path, target: Path, kind: str, province: Province) -> None:
    """``source`` rewritten to ``target`` with its ids in the province's block."""
    offset = province.number * PROVINCE_SPAN
    names = [d[0] for d in con.execute(f"DESCRIBE SELECT * FROM read_parquet('{source.as_posix()}', "
                                               "hive_partitioning = false)").fetchall()]
    columns = []
    for name in names:
        if name in _IDS[kind]:
            columns.append(f"CAST({name} + {offset} AS BIGINT) AS {name}")
        elif kind == "district" and name == "department_id":
            columns.append(f"CAST({province.number} AS BIGINT) AS department_id")
        elif kind == "district" and name == "department_name":
            columns.append(f"{_quote(province.name)} AS department_name")
        else:
            columns.append(name)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".tmp")
    con.execute(f"COPY (SELECT {', '.join(columns)} FROM read_parquet('{source.as_posix()}', hive_partitioning = false)) "
                f"TO '{tmp.as_posix()}' (FORMAT parquet, COMPRESSION zstd)")
    tmp.replace(target)  # readers see the old file or the new, never half


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def national_refresh(national: AnalyticsStore, directory: ProvinceDirectory) -> dict[str, int]:
    """Gather every province's export into the national store; returns the files copied per
    province. Each province's files go under the same partitions with the province in the
    name (``facts/school_year=2025/week=7/p79-part-12.parquet``); a file whose export did not
    change since the last gathering is not copied again, and one the province no longer has
    is removed."""
    state = national.state()
    gathered = state.setdefault("provinces", {})
    copied = {}
    con = national.open()
    try:
        for province in directory:
            source = AnalyticsStore(province.export)
            seen, n = {}, 0
            pairs = []
            for kind, folder, pattern in (("facts", source.facts, "school_year=*/week=*/*.parquet"),
                                          ("closes", source.closes, "school_year=*/week=*/*.parquet"),
                                          ("issuance", source.issuance, "school_year=*/*.parquet")):
                target_root = {"facts": national.facts, "closes": national.closes,
                               "issuance": national.issuance}[kind]
                for f in sorted(folder.glob(pattern)):
                    rel = f.relative_to(folder)
                    pairs.append((kind, f, target_root / rel.parent / f"p{province.code}-{rel.name}"))
            for name in ("district", "school", "class", "teacher"):
                for f in source._dim_files(name):
                    f = Path(f)
                    pairs.append((name, f, national.dims / f"{f.stem}_p{province.code}.parquet"))
            for kind, f, target in pairs:
                stamp = f"{f.stat().st_mtime_ns}:{f.stat().st_size}"
                seen[target.as_posix()] = stamp
                if gathered.get(province.code, {}).get(target.as_posix()) != stamp or not target.exists():
                    _moved(con, f, target, kind, province)
                    n += 1
            for old in set(gathered.get(province.code, {})) - set(seen):
                Path(old).unlink(missing_ok=True)
            gathered[province.code] = seen
            copied[province.code] = n
    finally:
        con.close()
    national.save_state(state)
    return copied


# ---------------------------------------------------------------- the public check
class FederatedVerifier:
    """The public check of a transcript for the whole country: a code with its province's
    prefix is checked in that province's record store (one verification cache per province,
    opened on first use). A province whose database does not answer raises
    :class:`ProvinceUnavailable` for its own codes; the others answer as usual."""

    def __init__(self, directory: ProvinceDirectory, trust):
        self.directory, self.trust = directory, trust
        self._caches: dict[str, object] = {}
        self._lock = threading.Lock()

    def _cache(self, province: Province):
        from core.storage.db import Database, make_engine
        from core.transcripts.verification import VerificationCache

        with self._lock:
            cache = self._caches.get(province.code)
            if cache is None:
                db = Database(make_engine(province.database_url, connect_args=_quick_connect(province.database_url)))
                cache = self._caches[province.code] = VerificationCache(db, self.trust)
            return cache

    def check(self, typed: str):
        """The :class:`~core.transcripts.verification.TranscriptCheck` of a prefixed code, from its
        province's record store."""
        from sqlalchemy.exc import InterfaceError, OperationalError

        province, code = self.directory.route(typed)
        try:
            return self._cache(province).check(code)
        except (OperationalError, InterfaceError) as err:  # its database away: no connection, no answer
            raise ProvinceUnavailable(
                f"the record store of {province.name} does not answer; its transcripts cannot be checked "
                "now (those of other provinces can): try again later",
                message_vi=f"Hệ thống học bạ của {province.name} hiện không phản hồi, chưa thể xác thực học bạ "
                           "do tỉnh, thành phố này cấp (học bạ của các tỉnh, thành phố khác vẫn tra cứu được). "
                           "Vui lòng thử lại sau.") from err

    def close(self) -> None:
        for cache in self._caches.values():
            cache.db.engine.dispose()


def _quick_connect(url: str) -> dict:
    """A province that does not answer is reported within seconds, not after the OS's timeout."""
    return {"connect_timeout": 3} if url.startswith("postgresql") else {}


__all__ = ["Province", "ProvinceDirectory", "ProvinceUnavailable", "UnknownProvince", "PROVINCE_SPAN",
           "export_province", "national_refresh", "FederatedVerifier"]
