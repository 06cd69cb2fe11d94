"""Provinces federate: three provinces, three PostgreSQL record stores; each exports its
analytics store, the national refresh gathers them, and the national figures are the sum of
the provinces' (per province they are the province's own), on DuckDB and on Spark. The public
check routes a code by its province prefix to that province's record store; a province whose
database does not answer makes only its own codes unavailable, with a message in Vietnamese
and English."""
import datetime as dt
import json
import socket
import urllib.error
import urllib.parse
import urllib.request
from types import SimpleNamespace

import pytest
from tornado import web

from core.access.authz import SYSTEM
from core.analytics.federation import (
    PROVINCE_SPAN,
    FederatedVerifier,
    Province,
    ProvinceDirectory,
    ProvinceUnavailable,
    UnknownProvince,
    export_province,
    national_refresh,
)
from core.analytics.queries import compliance_figures, late_signing_distribution, signing_heatmap
from core.analytics.store import AnalyticsStore
from core.demo.synthetic import Scale, generate
from core.kernel.errors import BadRequest
from core.signatures import DemoPKI, KeyStore
from core.storage.models import Transcript
from dashboards.public import national_handlers
from tests.conftest import committed_database
from tests.evidence._trust import ServedApp
from tests.services.test_transcripts import issue_all, with_seal
from tests.world import build_world

AS_OF = dt.date(2026, 1, 1)
NAMES = {"01": "Thành phố Hà Nội", "48": "Thành phố Đà Nẵng", "79": "Thành phố Hồ Chí Minh"}
FIGURES = ["scheduled", "on_time", "late", "missed", "pending", "weeks_total", "weeks_closed_on_time",
           "weeks_closed_late", "weeks_open", "weeks_reopened"]


@pytest.fixture(scope="module")
def nation(request, tmp_path_factory):
    """Three provinces, each a PostgreSQL record store with its own generated world (another
    size and seed each), exported; and the national store gathered from them."""
    root = tmp_path_factory.mktemp("nation")
    pg = SimpleNamespace(param="postgresql", getfixturevalue=request.getfixturevalue)
    with committed_database(pg, root / "01", "sohoa_p01") as db1, \
            committed_database(pg, root / "48", "sohoa_p48") as db48, \
            committed_database(pg, root / "79", "sohoa_p79") as db79:
        dbs = {"01": db1, "48": db48, "79": db79}
        provinces = []
        for n, (code, db) in enumerate(sorted(dbs.items())):
            generate(db, Scale(districts=1 + n % 2, schools_per_district=2, classes_per_school=1, weeks=2,
                               students_per_class=2, seed=20 + n), pki_dir=root / code / "pki", progress=False)
            province = Province(code, NAMES[code], db.engine.url.render_as_string(hide_password=False),
                                root / code / "analytics")
            assert export_province(db, province).weeks_written == [1, 2]
            provinces.append(province)
        directory = ProvinceDirectory(provinces)
        national = AnalyticsStore(root / "national")
        copied = national_refresh(national, directory)
        assert all(n > 0 for n in copied.values())
        yield SimpleNamespace(dbs=dbs, directory=directory, national=national)


def test_national_figures_are_the_sum_of_the_provinces(nation):
    national = compliance_figures(nation.national, SYSTEM, "department", as_of=AS_OF)
    # nationally the "department" is the province (its Sở GD&ĐT)
    assert sorted(national["department_id"]) == [1, 48, 79]
    total = 0
    for province in nation.directory:
        own = compliance_figures(AnalyticsStore(province.export), SYSTEM, "department", as_of=AS_OF)
        mine = national[national["department_id"] == province.number]
        assert mine["department_name"].iloc[0] == province.name
        assert mine[FIGURES].to_dict("records") == own[FIGURES].to_dict("records")
        total += own["scheduled"].iloc[0]
    assert national["scheduled"].sum() == total > 0
    # the provinces' ids do not collide: every school of every province is its own row
    schools = compliance_figures(nation.national, SYSTEM, "school", as_of=AS_OF)
    per_province = [len(compliance_figures(AnalyticsStore(p.export), SYSTEM, "school", as_of=AS_OF))
                    for p in nation.directory]
    assert len(schools) == sum(per_province) and (schools["school_id"] > PROVINCE_SPAN).all()
    # the late-signing distribution and the heatmap add up the same way
    assert late_signing_distribution(nation.national, SYSTEM)["entries"].sum() == sum(
        late_signing_distribution(AnalyticsStore(p.export), SYSTEM)["entries"].sum() for p in nation.directory)
    assert signing_heatmap(nation.national, SYSTEM, as_of=AS_OF)["periods"].sum() == sum(
        signing_heatmap(AnalyticsStore(p.export), SYSTEM, as_of=AS_OF)["periods"].sum() for p in nation.directory)


def test_the_national_overview_by_province_and_week_on_spark(nation, spark_engine):
    duck = compliance_figures(nation.national, SYSTEM, "department", by_week=True, as_of=AS_OF)
    spark = compliance_figures(nation.national, SYSTEM, "department", by_week=True, as_of=AS_OF, engine=spark_engine)
    assert len(duck) == 3 * 2
    key = ["department_id", "week"]
    assert duck.sort_values(key).reset_index(drop=True).to_dict("records") == \
        spark.sort_values(key).reset_index(drop=True).to_dict("records")


def test_a_national_refresh_copies_only_what_a_province_changed(nation):
    assert national_refresh(nation.national, nation.directory) == {"01": 0, "48": 0, "79": 0}
    province = nation.directory.provinces["48"]
    export = AnalyticsStore(province.export)
    part = next(export.facts.glob("school_year=*/week=2/*.parquet"))
    part.touch()  # the province rewrote its week 2
    assert national_refresh(nation.national, nation.directory) == {"01": 0, "48": 1, "79": 0}


# ---------------------------------------------------------------- the public check, routed
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def verifier(request, tmp_path_factory):
    """Province 79 with two issued transcripts, province 01 with an empty record store, and
    province 48 whose database does not answer (nothing listens on its port)."""
    root = tmp_path_factory.mktemp("verify")
    pki = DemoPKI.create(root / "pki")
    pg = SimpleNamespace(param="postgresql", getfixturevalue=request.getfixturevalue)
    with committed_database(pg, root / "79", "sohoa_v79") as db79, \
            committed_database(pg, root / "01", "sohoa_v01") as db01:
        w = with_seal(build_world(db79, pki, KeyStore(pki.directory)))
        drafts, _ = issue_all(w)
        with db79.reading() as s:
            codes = [s.get(Transcript, t).verification_code for t in drafts]
        url = lambda db: db.engine.url.render_as_string(hide_password=False)  # noqa: E731
        directory = ProvinceDirectory([
            Province("79", NAMES["79"], url(db79), root / "a79"),
            Province("01", NAMES["01"], url(db01), root / "a01"),
            Province("48", NAMES["48"], f"postgresql://nobody@127.0.0.1:{free_port()}/down", root / "a48"),
        ])
        federated = FederatedVerifier(directory, pki.trust_store())
        served = ServedApp(web.Application(national_handlers(federated)))
        try:
            yield SimpleNamespace(verifier=federated, codes=codes, url=served.url)
        finally:
            served.stop()
            federated.close()


def test_a_code_is_checked_in_its_province(verifier):
    code = verifier.codes[0]
    found = verifier.verifier.check(f"79-{code}")
    assert found.verdict == "valid" and found.facts.code == code
    assert verifier.verifier.check(f" 79 {code.lower()} ").verdict == "valid"  # spaces, case
    # the same characters under another province's prefix: that province has no such transcript
    assert verifier.verifier.check(f"01-{code}").verdict == "unknown"


def test_a_province_down_makes_only_its_own_codes_unavailable(verifier):
    with pytest.raises(ProvinceUnavailable) as down:
        verifier.verifier.check("48-ABCDEFGHJK")
    assert down.value.status == 503
    assert "Thành phố Đà Nẵng" in down.value.message_vi and "không phản hồi" in down.value.message_vi
    assert "Thành phố Đà Nẵng" in down.value.message and "other provinces" in down.value.message
    # the other provinces answer as before
    assert verifier.verifier.check(f"79-{verifier.codes[1]}").verdict == "valid"
    assert verifier.verifier.check("01-ABCDEFGHJK").verdict == "unknown"


@pytest.mark.parametrize("typed,error", [("ABCDEFGHJK", BadRequest), ("79-ABC", BadRequest),
                                         ("79-ABCDEFGHJ0", BadRequest), ("22-ABCDEFGHJK", UnknownProvince)])
def test_a_code_without_a_known_province_is_refused(verifier, typed, error):
    with pytest.raises(error) as refused:
        verifier.verifier.check(typed)
    assert refused.value.message_vi != refused.value.message


def ask(verifier, typed: str) -> tuple[int, dict]:
    url = f"{verifier.url}/national/verify.json?code={urllib.parse.quote(typed)}"
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def test_the_national_public_check_over_http(verifier):
    """The same routing through the national route of the public check, on loopback."""
    status, body = ask(verifier, f"79-{verifier.codes[0]}")
    assert status == 200 and body["verdict"] == "valid"
    status, body = ask(verifier, "48-ABCDEFGHJK")
    assert status == 503 and "Thành phố Đà Nẵng" in body["error"] and "does not answer" in body["error_en"]
    status, body = ask(verifier, f"79-{verifier.codes[1]}")  # the province down changed nothing here
    assert status == 200 and body["verdict"] == "valid"
    status, body = ask(verifier, "22-ABCDEFGHJK")
    assert status == 404 and "22" in body["error"]


def page(verifier, typed: str | None) -> tuple[int, str]:
    url = f"{verifier.url}/national/verify" + ("" if typed is None else f"?code={urllib.parse.quote(typed)}")
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


def test_the_national_check_page_for_people(verifier):
    """The page (Vietnamese, a phone's viewport): the answer from the code's province, named;
    a province down says so for its codes only; a malformed or unknown prefix is refused."""
    status, html = page(verifier, None)
    assert status == 200 and '<meta name="viewport" content="width=device-width' in html
    assert 'action="/national/verify"' in html and "data-verdict" not in html
    status, html = page(verifier, f"79-{verifier.codes[0]}")
    assert status == 200 and 'data-verdict="valid"' in html and "HỢP LỆ" in html
    assert "Trả lời từ hệ thống học bạ của <strong>Thành phố Hồ Chí Minh</strong>" in html
    assert verifier.codes[0] in html
    status, html = page(verifier, "01-ABCDEFGHJK")
    assert status == 200 and 'data-verdict="unknown"' in html and "Thành phố Hà Nội" in html
    status, html = page(verifier, "48-ABCDEFGHJK")
    assert status == 503 and 'id="error"' in html and "data-verdict" not in html
    assert "Hệ thống học bạ của Thành phố Đà Nẵng hiện không phản hồi" in html and "thử lại sau" in html
    assert "does not answer" in html  # and in English
    status, html = page(verifier, f"79-{verifier.codes[1]}")  # the province down changed nothing here
    assert status == 200 and 'data-verdict="valid"' in html
    status, html = page(verifier, "22-ABCDEFGHJK")
    assert status == 404 and "Không có tỉnh, thành phố nào mang mã 22" in html
    status, html = page(verifier, "79-<script>")
    assert status == 400 and "<script>" not in html and "&lt;script&gt;" in html


def test_the_national_check_page_on_a_phone_in_chromium(verifier):
    """Typed on a phone-sized Chromium: the form answers from the province; a province down
    shows its message."""
    from playwright.sync_api import sync_playwright

    from tests.browser.conftest import ARGS, CHROMIUM

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            phone = browser.new_context(viewport={"width": 375, "height": 740}, is_mobile=True)
            tab = phone.new_page()
            tab.goto(f"{verifier.url}/national/verify")
            tab.fill("#code", f"79-{verifier.codes[0]}")
            tab.click("#by-code button")
            tab.wait_for_selector('#verdict[data-verdict="valid"]', timeout=30000)
            assert "Thành phố Hồ Chí Minh" in tab.inner_text("#province")
            assert tab.evaluate("document.documentElement.scrollWidth") <= 375  # no sideways scrolling
            tab.fill("#code", "48-ABCDEFGHJK")
            tab.click("#by-code button")
            tab.wait_for_selector("#error", timeout=30000)
            assert "Thành phố Đà Nẵng hiện không phản hồi" in tab.inner_text("#error")
        finally:
            browser.close()
