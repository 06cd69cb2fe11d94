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


class SessionEnded(Unauthorized):
    """A page or app acts on a session that is no longer what it was (phiên đăng nhập đã kết
    thúc): signed out, expired, the account deactivated, or its rights changed since the page
    opened (a monitor unassigned). Sign in again."""


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
    """An import file has bad rows; nothing was imported. ``problems`` lists them all, each
    with its row, column and reason in English and Vietnamese (``reason_vi``)."""

    def __init__(self, problems: list["ImportProblem"]):  # noqa: F821 - defined in core.school.importer
        self.problems = problems
        first = problems[0]
        more = f" (and {len(problems) - 1} more problems)" if len(problems) > 1 else ""
        more_vi = f" (và {len(problems) - 1} lỗi khác)" if len(problems) > 1 else ""
        super().__init__(f"{first}{more}; nothing was imported",
                         message_vi=f"Tệp có lỗi, chưa nhập gì: {first.vi()}{more_vi}")


class TimetableError(RuntimeError):
    """The demo's greedy timetabler could not place every lesson (never expected at generated loads)."""


def _shown(value, vi: bool = False) -> str:
    """A submitted value as a person reads it back in a message (bounded: the value may be anything)."""
    if value is None:
        return "không có giá trị" if vi else "no value"
    plain = isinstance(value, str) and value and value.strip() == value and value.isprintable()
    text = value if plain else repr(value) if isinstance(value, str | bytes) else str(value)
    return text if len(text) <= 40 else text[:37] + "…"


class InvalidAssessment(MalformedInput):
    """An assessment value a regulation does not allow: a score off the 10-point scale or with
    two decimals, a level or rating no article defines, a negative number of absences, a missing
    result (Thông tư 22/2021/TT-BGDĐT Art. 5–12; Thông tư 27/2020/TT-BGDĐT Art. 7, 9).

    Carries what a person needs to find and fix it: the ``article``, the ``value`` as submitted,
    the ``field`` (which assessment, as ``(English, Vietnamese)`` parts), the ``subject`` and
    the ``student``. The rule fills what it knows; the service that knows who and what adds
    the rest with :meth:`located`. A request with any such value stores nothing."""

    def __init__(self, rule: str, rule_vi: str, *, article: str, value=None,
                 field: tuple[tuple[str, str], ...] = (), subject: str | None = None, student: int | str | None = None):
        self.rule, self.rule_vi, self.article, self.value = rule, rule_vi, article, value
        self.field_parts, self.subject, self.student = tuple(field), subject, student
        where = [p for p in (subject, *(en for en, _ in self.field_parts)) if p]
        where_vi = [p for p in ((f"môn {subject}" if subject else None), *(vi for _, vi in self.field_parts)) if p]
        if student is not None:
            where.append(f"student {student}")
            where_vi.append(f"học sinh {student}")
        at = f" for {', '.join(where)}" if where else ""
        at_vi = f" ở {', '.join(where_vi)}" if where_vi else ""
        super().__init__(
            f"{article}: {rule}; got {_shown(value)}{at}. Correct it and send the results again "
            f"(nothing was saved)",
            message_vi=f"{article.replace('Art.', 'Điều')}: {rule_vi}; nhận được {_shown(value, True)}{at_vi}. "
                       f"Hãy sửa lại rồi gửi lại (chưa có gì được lưu)")

    @property
    def field(self) -> str:
        """Which assessment, in English (``term 1, regular 3``)."""
        return ", ".join(en for en, _ in self.field_parts)

    def located(self, *, student: int | str | None = None, subject: str | None = None,
                field: tuple[tuple[str, str], ...] = ()) -> "InvalidAssessment":
        """The same refusal with who and what filled in by the caller that knows them; ``field``
        parts go before the rule's own (``term 1`` + ``regular 3``)."""
        return InvalidAssessment(self.rule, self.rule_vi, article=self.article, value=self.value,
                                 field=(*field, *self.field_parts), subject=self.subject or subject,
                                 student=self.student if self.student is not None else student)
