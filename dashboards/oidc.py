"""Sign-in through the department's identity provider (OpenID Connect): the authorization-code
flow with PKCE (RFC 7636, S256), and the ID token checked before anything else — signature
against the provider's published keys, issuer, audience, expiry, issue time, nonce — with
maintained libraries (``authlib`` makes the PKCE challenge, ``joserfc`` checks the JWT; no
cryptography here). Who the person is then, and what they may do, is core's:
:func:`core.access.accounts.sign_in_with_identity` opens a console session for the account an
administrator linked to that identity (issuer + subject), or refuses. Local passwords stay.

Routes: ``/login/oidc`` (to the provider) and ``/login/oidc/callback`` (back from it). The
state, nonce and code verifier travel in a short-lived HttpOnly cookie of their own
(SameSite=Lax: it must come back with the provider's redirect), so any console process can
finish a sign-in another one started.
"""
from __future__ import annotations

import base64
import html
import json
import secrets
import time
from dataclasses import dataclass, field
from urllib.parse import urlencode

from authlib.oauth2.rfc7636 import create_s256_code_challenge
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from tornado import web
from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest

from core.access import accounts
from core.kernel.errors import SohoaError
from dashboards.security import COOKIE, CSRF_COOKIE, LOGIN_PAGE, cookie_options

FLOW_COOKIE = "sohoa_oidc"
FLOW_SECONDS = 600
ALGORITHMS = ["RS256", "ES256", "PS256"]
SIGNED_IN = ('<!doctype html><html lang="vi"><head><meta charset="utf-8"><meta http-equiv="refresh" '
             'content="0;url=/overview"><title>Đã đăng nhập</title></head><body><p><a href="/overview" id="next">'
             "Đã đăng nhập — tiếp tục (signed in — continue)</a></p></body></html>")


@dataclass
class OidcProvider:
    """The department's identity provider: its issuer URL (discovery at
    ``<issuer>/.well-known/openid-configuration``) and this console's client registration."""

    issuer: str
    client_id: str
    client_secret: str | None = None
    name: str = "tài khoản của Sở"
    scopes: str = "openid profile email"
    _metadata: dict | None = field(default=None, repr=False)
    _keys: tuple[float, KeySet] | None = field(default=None, repr=False)

    async def metadata(self) -> dict:
        if self._metadata is None:
            found = await _get_json(self.issuer.rstrip("/") + "/.well-known/openid-configuration")
            if found.get("issuer") != self.issuer:
                raise ValueError(f"the provider says its issuer is {found.get('issuer')!r}, not {self.issuer!r}")
            self._metadata = found
        return self._metadata

    async def keys(self, refresh: bool = False) -> KeySet:
        if refresh or self._keys is None or time.monotonic() - self._keys[0] > 3600:
            self._keys = (time.monotonic(), KeySet.import_key_set(await _get_json((await self.metadata())["jwks_uri"])))
        return self._keys[1]


async def _get_json(url: str, **kwargs) -> dict:
    answer = await AsyncHTTPClient().fetch(HTTPRequest(url, request_timeout=10, **kwargs))
    return json.loads(answer.body)


def _redirect_uri(handler: web.RequestHandler) -> str:
    return f"{handler.request.protocol}://{handler.request.host}/login/oidc/callback"


class OidcStartHandler(web.RequestHandler):
    """``/login/oidc``: to the provider's authorization endpoint with a fresh state, nonce and
    PKCE challenge."""

    def initialize(self, provider: OidcProvider, https: bool = False):
        self.provider, self.https = provider, https

    async def get(self):
        state, nonce, verifier = (secrets.token_urlsafe(24), secrets.token_urlsafe(24), secrets.token_urlsafe(48))
        self.set_cookie(FLOW_COOKIE, base64.urlsafe_b64encode(json.dumps(
            {"state": state, "nonce": nonce, "verifier": verifier}).encode()).decode(),
            httponly=True, samesite="Lax", secure=self.https, path="/login/oidc", expires_days=FLOW_SECONDS / 86400)
        endpoint = (await self.provider.metadata())["authorization_endpoint"]
        self.redirect(endpoint + "?" + urlencode({
            "response_type": "code", "client_id": self.provider.client_id, "redirect_uri": _redirect_uri(self),
            "scope": self.provider.scopes, "state": state, "nonce": nonce,
            "code_challenge": create_s256_code_challenge(verifier), "code_challenge_method": "S256"}))


class OidcCallbackHandler(web.RequestHandler):
    """``/login/oidc/callback``: the state matched against the flow's cookie, the code exchanged
    with the verifier, the ID token checked, then core decides (a console session or a refusal
    in both languages on the login page)."""

    def initialize(self, db, provider: OidcProvider, https: bool = False, providers: str = ""):
        self.db, self.provider, self.https, self.providers = db, provider, https, providers

    def _refuse(self, status: int, message_vi: str, message: str) -> None:
        self.clear_cookie(FLOW_COOKIE, path="/login/oidc")
        self.set_status(status)
        self.set_header("Cache-Control", "no-store")
        csrf = secrets.token_urlsafe(32)
        self.set_cookie(CSRF_COOKIE, csrf, **cookie_options(self.https))
        self.write(LOGIN_PAGE.format(error=html.escape(f"{message_vi} ({message})"), csrf=csrf,
                                     providers=self.providers))

    async def get(self):
        try:
            flow = json.loads(base64.urlsafe_b64decode(self.get_cookie(FLOW_COOKIE) or ""))
            state, nonce, verifier = flow["state"], flow["nonce"], flow["verifier"]
        except (ValueError, KeyError, TypeError):
            return self._refuse(400, "Phiên đăng nhập qua nhà cung cấp định danh đã hết hạn; hãy thử lại",
                                "the sign-in through the identity provider has expired; try again")
        if not secrets.compare_digest(self.get_query_argument("state", ""), state):
            return self._refuse(400, "Yêu cầu đăng nhập không khớp (state); hãy thử lại",
                                "the sign-in answer does not match the request (state); try again")
        if self.get_query_argument("error", None) or not self.get_query_argument("code", ""):
            return self._refuse(401, "Nhà cung cấp định danh không xác thực bạn",
                                "the identity provider did not sign you in")
        try:
            claims = await self._exchange(self.get_query_argument("code"), verifier, nonce)
        except (HTTPClientError, OSError, ValueError, KeyError, JoseError) as err:
            return self._refuse(401, "Không xác minh được thông tin đăng nhập từ nhà cung cấp định danh",
                                f"the identity provider's answer could not be verified ({type(err).__name__})")
        try:
            token = accounts.sign_in_with_identity(self.db, self.provider.issuer, claims["sub"])
        except SohoaError as err:
            return self._refuse(403, err.message_vi, err.message)
        self.clear_cookie(FLOW_COOKIE, path="/login/oidc")
        self.set_cookie(COOKIE, token, **cookie_options(self.https))
        # a page of ours moves on: a redirect would keep the provider's site as the navigation's
        # origin, and the browser would not send the SameSite=Strict session cookie with it
        self.set_header("Cache-Control", "no-store")
        self.write(SIGNED_IN)

    async def _exchange(self, code: str, verifier: str, nonce: str) -> dict:
        meta = await self.provider.metadata()
        form = {"grant_type": "authorization_code", "code": code, "redirect_uri": _redirect_uri(self),
                "client_id": self.provider.client_id, "code_verifier": verifier}
        headers = {"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"}
        if self.provider.client_secret:  # client_secret_basic (RFC 6749 §2.3.1)
            pair = f"{self.provider.client_id}:{self.provider.client_secret}".encode()
            headers["Authorization"] = "Basic " + base64.b64encode(pair).decode()
        answer = await _get_json(meta["token_endpoint"], method="POST", body=urlencode(form), headers=headers)
        id_token = answer["id_token"]
        try:
            decoded = jwt.decode(id_token, await self.provider.keys(), algorithms=ALGORITHMS)
        except JoseError:  # the provider may have rotated its keys
            decoded = jwt.decode(id_token, await self.provider.keys(refresh=True), algorithms=ALGORITHMS)
        jwt.JWTClaimsRegistry(
            leeway=60, iss={"essential": True, "value": self.provider.issuer},
            aud={"essential": True, "value": self.provider.client_id}, sub={"essential": True},
            exp={"essential": True}, iat={"essential": True}, nonce={"essential": True, "value": nonce},
        ).validate(decoded.claims)
        return decoded.claims


def oidc_handlers(db, provider: OidcProvider | None, *, https: bool = False) -> tuple[list[tuple], str]:
    """The routes for ``serve(oidc=…)`` and the link the login page shows (none without a provider)."""
    if provider is None:
        return [], ""
    link = (f'<p><a href="/login/oidc" id="oidc">Đăng nhập bằng {html.escape(provider.name)} '
            "(nhà cung cấp định danh)</a></p>")
    return [(r"/login/oidc", OidcStartHandler, {"provider": provider, "https": https}),
            (r"/login/oidc/callback", OidcCallbackHandler,
             {"db": db, "provider": provider, "https": https, "providers": link})], link
