"""Sign-in through the department's identity provider, in Chromium, against a real OpenID
provider started here (``oidc-provider-mock``: authlib's authorization server, RS256 ID tokens,
a registered confidential client): the authorization-code flow with PKCE from the login page to
the overview, the identity linked to an account by core; an identity linked to no account, a
forged state and a forged code are refused in both languages, and no session is opened."""
import socket
import time
import urllib.parse

import httpx
import pytest
from oidc_provider_mock import run_server_in_thread
from sqlalchemy import select

from core.access import accounts
from core.access.authz import SYSTEM
from core.storage.models import AuditEvent
from dashboards.oidc import OidcProvider
from dashboards.security import COOKIE


@pytest.fixture(scope="module")
def sso(demo):
    """The provider on localhost (another site than the console's 127.0.0.1), this console
    registered with it as a confidential client, and a console that offers it."""
    from dashboards.app import serve

    with run_server_in_thread(port=0, require_client_registration=True, require_nonce=True) as provider:
        issuer = f"http://localhost:{provider.server_port}"
        # the console's address must be known to register its redirect URI: chosen first
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        client = httpx.post(f"{issuer}/oauth2/clients",
                            json={"redirect_uris": [f"http://127.0.0.1:{port}/login/oidc/callback"]}).json()
        oidc = OidcProvider(issuer=issuer, client_id=client["client_id"], client_secret=client["client_secret"],
                            name="tài khoản Sở GD&ĐT")
        server = serve(demo.db, demo.trust, port=port, threaded=True, oidc=oidc)
        url = f"http://127.0.0.1:{port}"
        for _ in range(150):
            try:
                httpx.get(f"{url}/login", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.2)
        yield type("SSO", (), {"issuer": issuer, "url": url, "provider": provider})
        server.stop()


def _through_provider(page, sso, subject: str) -> list[str]:
    asked = []
    page.on("request", lambda r: asked.append(r.url) if "/oauth2/authorize" in r.url else None)
    page.goto(f"{sso.url}/login")
    page.click("#oidc")
    page.wait_for_selector("input[name=sub]", timeout=30000)
    page.fill("input[name=sub]", subject)
    page.click("button:has-text('Authorize')")
    return asked


def test_the_whole_flow_signs_a_linked_identity_in(page, demo, sso):
    accounts.link_identity(demo.db, SYSTEM, "so.giamsat", sso.issuer, "giamsat@sgd.example.vn")
    asked = _through_provider(page, sso, "giamsat@sgd.example.vn")
    page.wait_for_url("**/overview", timeout=30000)
    page.wait_for_selector("text=so.giamsat", timeout=30000)
    page.wait_for_selector("text=Tỉ lệ ký đúng hạn", timeout=30000)
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(asked[0]).query)
    assert query["code_challenge_method"] == ["S256"] and len(query["code_challenge"][0]) == 43  # PKCE
    assert query["nonce"][0] and query["state"][0] and query["response_type"] == ["code"]
    assert any(c["name"] == COOKIE for c in page.context.cookies())
    with demo.db.reading() as s:
        event = s.scalars(select(AuditEvent).where(AuditEvent.action == "account.sign_in")
                          .order_by(AuditEvent.id.desc())).first()
    assert event.after == {"username": "so.giamsat", "by": f"oidc:{sso.issuer}"}
    page.errors.clear()  # the provider's own page wants resources from the internet
    page.goto(f"{sso.url}/compliance")
    page.wait_for_selector(".tabulator-row", timeout=30000)
    assert page.errors == []


def test_an_identity_linked_to_no_account_is_refused(page, sso):
    _through_provider(page, sso, "nguoi-la@example.vn")
    page.wait_for_selector("text=chưa có tài khoản đang hoạt động nào", timeout=30000)
    page.wait_for_selector("text=no active account here is linked", timeout=30000)
    assert not any(c["name"] == COOKIE for c in page.context.cookies())
    page.goto(f"{sso.url}/overview")
    page.wait_for_selector("#signed-out", timeout=30000)


def test_a_forged_state_or_code_is_refused(page, sso):
    page.goto(f"{sso.url}/login/oidc/callback?state=abc&code=def")  # no flow started
    page.wait_for_selector("text=đã hết hạn", timeout=30000)
    page.goto(f"{sso.url}/login")
    with page.expect_response(lambda r: "/oauth2/authorize" in r.url):
        page.click("#oidc")  # a flow started: its cookie is set
    answer = page.goto(f"{sso.url}/login/oidc/callback?state=forged&code=def")
    assert answer.status == 400
    page.wait_for_selector("text=state", timeout=30000)
    assert not any(c["name"] == COOKIE for c in page.context.cookies())


def test_core_links_one_identity_to_one_account_by_an_administrator(demo, sso):
    from core.kernel.errors import PermissionDenied, RuleViolation
    from tests.browser.conftest import actor

    with pytest.raises(PermissionDenied):
        accounts.link_identity(demo.db, actor(demo.db, "so.giamsat"), "phantich", sso.issuer, "x@example.vn")
    accounts.link_identity(demo.db, actor(demo.db, "admin"), "phantich", sso.issuer, "phan-tich@example.vn")
    with pytest.raises(RuleViolation, match="another account"):
        accounts.link_identity(demo.db, SYSTEM, "admin", sso.issuer, "phan-tich@example.vn")
    token = accounts.sign_in_with_identity(demo.db, sso.issuer, "phan-tich@example.vn")
    assert accounts.actor_for_token(demo.db, token).username == "phantich"
    with pytest.raises(PermissionDenied):  # the same subject at another provider is another identity
        accounts.sign_in_with_identity(demo.db, "https://idp.other.example", "phan-tich@example.vn")
