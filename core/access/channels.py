"""Where messages to people go (kênh gửi tin): one interface, :class:`Channel`, with e-mail over
SMTP (:class:`EmailChannel`) as the channel built in. Another channel — a Zalo Official Account
(Zalo OA "tin nhắn giao dịch" through its HTTP API), an SMS gateway — is a class with a ``name``
and a ``send(message) -> Delivery`` that addresses ``message.to`` in its own way (a Zalo user id,
a phone number); the digests and alerts (:mod:`core.logbook.digest`) take any channel.

A channel never raises for one recipient's failure: it answers a :class:`Delivery` saying what
happened, so that a job sending fifty digests records the one that failed and goes on."""
from __future__ import annotations

import smtplib
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Protocol


@dataclass(frozen=True)
class Attachment:
    filename: str
    content: bytes
    mime: str  # "image/png", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@dataclass(frozen=True)
class Message:
    """One message to one recipient (an address of the channel's kind)."""

    to: str
    subject: str
    body: str
    attachments: tuple[Attachment, ...] = field(default=())


@dataclass(frozen=True)
class Delivery:
    """What became of one message: ``ok``, and in words why not (``detail``)."""

    to: str
    ok: bool
    detail: str = ""


class Channel(Protocol):
    name: str

    def send(self, message: Message) -> Delivery: ...


class EmailChannel:
    """E-mail by SMTP (the settings ``smtp_host``, ``smtp_port``, ``mail_from`` unless given)."""

    name = "email"

    def __init__(self, host: str | None = None, port: int | None = None, sender: str | None = None):
        from core.kernel import settings

        configured = settings.current()
        self.host = host or configured.smtp_host
        self.port = port or configured.smtp_port
        self.sender = sender or configured.mail_from

    def email(self, message: Message) -> EmailMessage:
        mail = EmailMessage()
        mail["From"], mail["To"], mail["Subject"] = self.sender, message.to, message.subject
        mail.set_content(message.body)
        for part in message.attachments:
            main, sub = part.mime.split("/", 1)
            mail.add_attachment(part.content, maintype=main, subtype=sub, filename=part.filename)
        return mail

    def send(self, message: Message) -> Delivery:
        if not self.host:
            return Delivery(message.to, False, "chưa cấu hình máy chủ thư (SOHOA_SMTP_HOST)")
        if not message.to or "@" not in message.to:
            return Delivery(message.to, False, "không có địa chỉ email")
        try:
            with smtplib.SMTP(self.host, self.port, timeout=10) as smtp:
                smtp.send_message(self.email(message))
        except (OSError, smtplib.SMTPException) as err:
            return Delivery(message.to, False, f"máy chủ thư không nhận: {err}")
        return Delivery(message.to, True, "đã gửi")
