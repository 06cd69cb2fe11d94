"""Errors core raises. Each carries a message a person can act on (English, with the
Vietnamese phrase where users read it) and, for the HTTP edge, a status code."""
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
