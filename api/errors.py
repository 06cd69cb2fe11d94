"""The API's one error mapper: every refusal — a core error, an invalid request, the database
away, a body too large — becomes the same JSON problem ``{"error": {"code", "message",
"message_vi"}}`` with the status the error carries (:mod:`core.kernel.errors`), whichever path
answered (the framework's routes, the signature hot path, the guard)."""
from __future__ import annotations

import json

from core.kernel.errors import SohoaError
from core.storage.db import is_unavailable

UNAVAILABLE = ("Unavailable", "the database is unavailable; retry with the same Idempotency-Key",
               "Cơ sở dữ liệu tạm thời không sẵn sàng; hãy gửi lại với cùng Idempotency-Key")


def problem(code: str, message: str, message_vi: str) -> dict:
    """The body of every refusal."""
    return {"error": {"code": code, "message": message, "message_vi": message_vi}}


def refusal(err: BaseException) -> tuple[int, dict, dict[str, str]] | None:
    """(status, body, headers) for an error the API answers, or None for a bug (a 500)."""
    if isinstance(err, SohoaError):
        retry = getattr(err, "retry_after", None)
        body = problem(type(err).__name__, err.message, err.message_vi)
        if getattr(err, "reason", None):  # a refused device signature says why (core.kernel.errors)
            body["error"]["reason"] = err.reason
        return err.status, body, {} if retry is None else {"Retry-After": str(retry)}
    if is_unavailable(err):  # a retryable 503, never a 500
        return 503, problem(*UNAVAILABLE), {"Retry-After": "1"}
    return None


def invalid_request(errors: list[dict]) -> tuple[int, dict, dict[str, str]]:
    """A request the framework's validation refused (a missing field, text for a number)."""
    first = errors[0] if errors else {}
    where = ".".join(str(p) for p in first.get("loc", ()))
    return 422, problem("InvalidRequest", f"invalid request: {where}: {first.get('msg', '')}",
                        f"Yêu cầu không hợp lệ: {where}"), {}


async def send_json(send, status: int, content: dict, headers: dict[str, str] | None = None) -> None:
    """What Starlette's JSONResponse sends, for the pure ASGI paths."""
    body = json.dumps(content, ensure_ascii=False, allow_nan=False, indent=None, separators=(",", ":")).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-length", str(len(body)).encode()), (b"content-type", b"application/json"),
                            *((k.lower().encode(), v.encode()) for k, v in (headers or {}).items())]})
    await send({"type": "http.response.body", "body": body})
