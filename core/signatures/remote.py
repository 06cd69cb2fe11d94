"""Remote signing (ký số từ xa, e.g. VNPT SmartCA, Viettel MySign) through the Cloud
Signature Consortium API v1 with pyHanko's ``CSCSigner``.

pyHanko calls ``signatures/signHash``; obtaining the Signature Activation Data (SAD) is the
caller's part: :class:`PinAuthorization` calls ``credentials/authorize`` with the user's PIN
and one-time password for exactly the hashes being signed (SCAL 2). A wrong PIN or OTP is a
clear :class:`~core.signatures.signer.KeyAccessError`.
"""
from __future__ import annotations

import asyncio

from core.signatures.signer import KeyAccessError, PyHankoKeySigner


def _csc():
    from pyhanko.sign.signers import csc_signer

    return csc_signer


class PinAuthorization(_csc().CSCAuthorizationManager):
    """SAD from ``credentials/authorize`` with PIN and OTP, bound to the hashes to sign."""

    def __init__(self, session_info, credential_info, http, pin: str, otp: str | None):
        super().__init__(session_info, credential_info)
        self._http, self._pin, self._otp = http, pin, otp

    async def authorize_signature(self, hash_b64s: list[str]):
        request = self.format_csc_auth_request(pin=self._pin, otp=self._otp, hash_b64s=hash_b64s)
        url = self.csc_session_info.endpoint_url("credentials/authorize")
        async with self._http.post(url, json=request, headers=self.auth_headers) as response:
            data = await response.json(content_type=None)
            if response.status != 200:
                reason = data.get("error_description") or data.get("error") or response.reason
                raise KeyAccessError(f"remote signing refused the authorisation: {reason}")
        return self.parse_csc_auth_response(data)


class RemoteSigner(PyHankoKeySigner):
    """A credential on a CSC service; the private key stays with the service."""

    def __init__(self, service_url: str, credential_id: str, *, oauth_token: str, pin: str, otp: str | None = None):
        import aiohttp

        csc = _csc()
        self._loop = asyncio.new_event_loop()

        async def make_session():
            return aiohttp.ClientSession()

        self._http = self._loop.run_until_complete(make_session())
        info = csc.CSCServiceSessionInfo(service_url, credential_id, oauth_token=oauth_token)
        try:
            credential = self._loop.run_until_complete(csc.fetch_certs_in_csc_credential(self._http, info))
        except Exception as err:  # noqa: BLE001 - pyHanko wraps HTTP failures in SigningError
            self.close()
            raise KeyAccessError(f"remote credential {credential_id} is not available: {err}") from err
        auth = PinAuthorization(info, credential, self._http, pin, otp)
        signer = csc.CSCSigner(self._http, auth)
        cert = credential.signing_cert
        super().__init__(signer, cert.dump(), [c.dump() for c in credential.chain],
                         "ec" if cert.public_key.algorithm == "ec" else "rsa")

    def run(self, coroutine):
        return self._loop.run_until_complete(coroutine)

    def close(self) -> None:
        if not self._loop.is_closed():
            self._loop.run_until_complete(self._http.close())
            self._loop.close()


class RemoteSigning:
    """The department's remote signing service (CSC) for the prepare/complete flow: at complete
    the server sends the hash of the prepared signed attributes with the signer's PIN and OTP
    (``credentials/authorize`` binds the SAD to exactly that hash) and embeds what comes back,
    as for a phone's signature. The key stays with the service.

    Settings: ``SOHOA_CSC_URL``, ``SOHOA_CSC_TOKEN`` (the OAuth token the product holds for the
    service) and ``SOHOA_CSC_CREDENTIAL`` (the credential id of a staff member, ``{staff_id}``
    filled in; default ``staff-{staff_id}``). Per-user OAuth is the service's to add."""

    def __init__(self, service_url: str, oauth_token: str, credential: str = "staff-{staff_id}"):
        self.service_url, self.oauth_token, self.credential = service_url, oauth_token, credential

    @classmethod
    def from_environment(cls, environ=None) -> "RemoteSigning | None":
        from core.kernel import settings

        configured = settings.current() if environ is None else settings.load(environ=environ)
        if not configured.csc_url:
            return None
        return cls(configured.csc_url, configured.csc_token, configured.csc_credential)

    def signer_for(self, staff_id: int, pin: str, otp: str | None) -> RemoteSigner:
        """The staff member's credential, opened for the signatures of one completion (close it)."""
        return RemoteSigner(self.service_url, self.credential.format(staff_id=staff_id),
                            oauth_token=self.oauth_token, pin=pin, otp=otp)
