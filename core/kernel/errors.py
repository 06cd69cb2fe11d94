"""Errors core raises — the one module of them. Each carries a message a person can act on, in
English and in Vietnamese (``message_vi``), and its status: the same condition has the same
status wherever it surfaces. Each entry point maps them in one place: the API
(:mod:`api.errors`), the console (:func:`dashboards.common.refusal`), the CLI (:func:`core.cli.main`)."""
from __future__ import annotations


class SohoaError(Exception):
    """Base of every error core raises on purpose."""

    status = 400

    def __init__(self, message: str, *, message_vi: str | None = None):
        super().__init__(message)
        self.message = message
        self.message_vi = message_vi or message


class NotFound(SohoaError):
    status = 404


class Unauthorized(SohoaError):
    """No valid session: no token, or an unknown, ended or expired one (sign in again)."""

    status = 401


class PermissionDenied(SohoaError):
    """The acting user may not do this, or may not see this school's data."""

    status = 403


class MalformedInput(SohoaError):
    """A request whose shape is wrong (a missing field, text where a number belongs); the
    message names the part."""

    status = 422


class RuleViolation(SohoaError):
    """A regulation's rule refuses the request (signing window, weekend rule, close order, …)."""

    status = 409


class KeyNotOpened(PermissionDenied):
    """A server-held signing key could not be opened: wrong PIN, or no key is held for the user."""


class TooManyAttempts(SohoaError):
    """Too many wrong passwords or PINs in a row (nhập sai quá số lần): the credential is locked
    for a while; ``retry_after`` says how many seconds."""

    status = 429

    def __init__(self, message: str, *, message_vi: str | None = None, retry_after: int):
        super().__init__(message, message_vi=message_vi)
        self.retry_after = retry_after


class BadRequest(SohoaError):
    """A request that makes no sense as asked (a week that does not start on a Monday, …)."""

    status = 400


class Unavailable(SohoaError):
    """A part the request needs is not there (the database away, remote signing not set up): try
    again later."""

    status = 503


class SigningUnavailable(Unavailable):
    """Signing with a key the server holds is not set up on this server."""


class Conflict(RuleViolation):
    """The request cannot be applied to the record's current state (already signed, …)."""

    status = 409


class BadSignature(RuleViolation):
    """The submitted bytes are not a valid signature over the record by the signer (HTTP 422)."""

    status = 422


class CertificateNotRegistered(BadSignature):
    """A signature made with a certificate that is not registered to the person (or the school's
    seal) it stands for: it proves nothing for them, whichever door it came through."""


class KeyAccessError(SohoaError):
    """A signing key could not be opened (wrong PIN, missing or damaged key file or token)."""

    status = 403

    def __init__(self, message: str, *, message_vi: str | None = None):
        super().__init__(message, message_vi=message_vi or
                         "Không mở được khóa ký số (sai mã PIN, thiếu hoặc hỏng tệp khóa, hoặc thiết bị ký)")


class SigningNotOffered(SohoaError):
    """This server does not offer that way of signing (it keeps no personal keys, or has no
    remote signing service): sign on your own device (prepare, then complete)."""

    status = 400


class WeakPin(SohoaError):
    """A PIN for a server-held key that offline guessing would find (too short, a run, a
    repeat, a common PIN): choose another (core.signatures.held_keys.check_pin)."""

    status = 422


class SignatureRejected(BadSignature):
    """What the signer's device (or remote signing service) returned cannot be embedded in the
    prepared document; ``reason`` says why in the ETSI EN 319 102-1 vocabulary where one fits
    (``SIG_CRYPTO_FAILURE``, ``HASH_FAILURE``, ``WRONG_SIGNER``, ``FORMAT_FAILURE``, …).
    Nothing was changed: sign again, or prepare again."""

    def __init__(self, reason: str, message: str, *, message_vi: str | None = None):
        super().__init__(f"{reason}: {message}",
                         message_vi=message_vi or "Chữ ký số không hợp lệ cho văn bản đã chuẩn bị; hãy ký lại")
        self.reason = reason


class SigningExpired(SohoaError):
    """A prepared signing (ký số hai bước) that was not completed in time: prepare it again."""

    status = 410


class SigningSuperseded(Conflict):
    """A prepared signing replaced by a newer one for the same document, or whose document
    changed meanwhile (reopened, signed elsewhere): prepare again."""


class AlreadyCompleted(Conflict):
    """A prepared signing already completed with another answer: nothing more to do."""


class PackageRejected(RuleViolation):
    """A transcript package that fails verification: nothing from it is imported."""


class TimetableConflict(RuleViolation):
    """Two lessons claim the same teacher or the same class in one slot."""


class InvalidPersonalId(SohoaError):
    """A 12-digit personal identification number fails validation."""


class ImportRejected(SohoaError):
    """An import file has bad rows; nothing was imported. ``problems`` lists them all."""

    def __init__(self, problems: list["ImportProblem"]):  # noqa: F821 - defined in core.school.importer
        self.problems = problems
        first = problems[0]
        more = f" (and {len(problems) - 1} more problems)" if len(problems) > 1 else ""
        super().__init__(f"{first}{more}; nothing was imported")


class TimetableError(RuntimeError):
    """The demo's greedy timetabler could not place every lesson (never expected at generated loads)."""
