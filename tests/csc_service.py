"""A small Cloud Signature Consortium (CSC API v1) service for the tests, on 127.0.0.1.

It holds demo credentials (PKCS#12 files), checks a bearer token, authorises with PIN and
OTP bound to the submitted hashes (SCAL 2), and signs hashes with ``signatures/signHash``.
"""
from __future__ import annotations

import asyncio
import base64
import secrets
import threading
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, utils
from cryptography.hazmat.primitives.serialization import pkcs12

ECDSA_SHA256 = "1.2.840.10045.4.3.2"
RSA_OIDS = ["1.2.840.113549.1.1.1", "1.2.840.113549.1.1.11"]


@dataclass
class Credential:
    key: object
    chain_der: list[bytes]
    pin: str
    otp: str


@dataclass
class CSCService:
    token: str = "test-oauth-token"
    credentials: dict[str, Credential] = field(default_factory=dict)
    sads: dict[str, tuple[str, set[str]]] = field(default_factory=dict)
    url: str = ""

    def add(self, credential_id: str, p12: Path, p12_pin: str, chain_der: list[bytes], pin: str, otp: str):
        key, cert, extra = pkcs12.load_key_and_certificates(Path(p12).read_bytes(), p12_pin.encode())
        der = [cert.public_bytes(serialization.Encoding.DER)] + chain_der
        self.credentials[credential_id] = Credential(key, der, pin, otp)

    def _check(self, request):
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            raise web.HTTPUnauthorized(text='{"error": "invalid_token"}', content_type="application/json")

    async def info(self, request):
        return web.json_response({"specs": "1.0.4.0", "name": "Sohoa test CSC", "lang": "vi-VN",
                                  "methods": ["credentials/list", "credentials/info", "credentials/authorize",
                                              "signatures/signHash"]})

    async def credentials_list(self, request):
        self._check(request)
        return web.json_response({"credentialIDs": sorted(self.credentials)})

    async def credentials_info(self, request):
        self._check(request)
        body = await request.json()
        cred = self.credentials.get(body.get("credentialID"))
        if cred is None:
            return web.json_response({"error": "invalid_request", "error_description": "unknown credential"},
                                     status=400)
        algos = [ECDSA_SHA256] if isinstance(cred.key, ec.EllipticCurvePrivateKey) else RSA_OIDS
        return web.json_response({
            "key": {"status": "enabled", "algo": algos, "len": cred.key.key_size},
            "cert": {"status": "valid", "certificates": [base64.b64encode(d).decode() for d in cred.chain_der]},
            "authMode": "explicit", "SCAL": "2", "PIN": {"presence": "true"}, "OTP": {"presence": "true"},
            "multisign": 10})

    async def authorize(self, request):
        self._check(request)
        body = await request.json()
        cred = self.credentials.get(body.get("credentialID"))
        if cred is None or body.get("PIN") != cred.pin or body.get("OTP") != cred.otp:
            return web.json_response({"error": "invalid_request", "error_description": "Invalid PIN or OTP"},
                                     status=400)
        sad = secrets.token_urlsafe(16)
        self.sads[sad] = (body["credentialID"], set(body.get("hash", [])))
        return web.json_response({"SAD": sad, "expiresIn": 300})

    async def sign_hash(self, request):
        self._check(request)
        body = await request.json()
        bound = self.sads.pop(body.get("SAD"), None)
        hashes_b64 = body.get("hash", [])
        if bound is None or bound[0] != body.get("credentialID") or not set(hashes_b64) <= bound[1]:
            return web.json_response({"error": "invalid_request", "error_description": "SAD not valid for these hashes"},
                                     status=400)
        cred = self.credentials[bound[0]]
        out = []
        for h in hashes_b64:
            digest = base64.b64decode(h)
            if isinstance(cred.key, ec.EllipticCurvePrivateKey):
                sig = cred.key.sign(digest, ec.ECDSA(utils.Prehashed(hashes.SHA256())))
            else:
                sig = cred.key.sign(digest, padding.PKCS1v15(), utils.Prehashed(hashes.SHA256()))
            out.append(base64.b64encode(sig).decode())
        return web.json_response({"signatures": out})

    def app(self) -> web.Application:
        app = web.Application()
        app.add_routes([web.post("/csc/v1/info", self.info), web.post("/csc/v1/credentials/list", self.credentials_list),
                        web.post("/csc/v1/credentials/info", self.credentials_info),
                        web.post("/csc/v1/credentials/authorize", self.authorize),
                        web.post("/csc/v1/signatures/signHash", self.sign_hash)])
        return app

    def start(self) -> "CSCService":
        """Serve on 127.0.0.1 (a free port) from a background thread."""
        ready = threading.Event()
        self._loop = asyncio.new_event_loop()

        async def boot():
            self._runner = web.AppRunner(self.app())
            await self._runner.setup()
            site = web.TCPSite(self._runner, "127.0.0.1", 0)
            await site.start()
            port = site._server.sockets[0].getsockname()[1]
            self.url = f"http://127.0.0.1:{port}"
            ready.set()

        def serve():
            asyncio.set_event_loop(self._loop)
            self._loop.run_until_complete(boot())
            self._loop.run_forever()

        self._thread = threading.Thread(target=serve, daemon=True)
        self._thread.start()
        ready.wait(10)
        return self

    def stop(self) -> None:
        async def shutdown():
            await self._runner.cleanup()
        asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
