"""E-mail through SMTP_HOST (STARTTLS login when SMTP_USER is set), one plain-text message.

The Message-ID is derived from the message's key and the sender's domain, so a message sent
again after a lost answer is the same e-mail to the receiving side (mail systems drop a second
copy with a Message-ID they have seen). A refusal naming the recipient (5xx) is not transient;
a lost connection after the data went is `uncertain`.
"""

from __future__ import annotations

import smtplib
from email.message import EmailMessage

from common.config import Settings
from common.notify import Message, NotifyError, attempt

TIMEOUT_S = 20.0


def message_id(key: str, sender: str) -> str:
    """`<key@domain-of-sender>`: the same key always gives the same Message-ID."""
    domain = sender.rpartition("@")[2] or "localhost"
    return f"<{key}@{domain}>"


def build(s: Settings, to: str, message: Message) -> EmailMessage:
    msg = EmailMessage()
    msg["Subject"], msg["From"], msg["To"] = message.subject, s.smtp_from, to
    msg["Message-ID"] = message_id(message.key, s.smtp_from)
    msg.set_content(message.text)
    return msg


def _connect(s: Settings) -> smtplib.SMTP:
    if not s.smtp_host:
        raise NotifyError("SMTP_HOST is not set: e-mail cannot be used", transient=True)
    try:
        smtp = smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=TIMEOUT_S)
    except (OSError, smtplib.SMTPException) as exc:  # nothing was sent
        raise NotifyError(f"SMTP connect: {type(exc).__name__}", transient=True) from None
    try:
        if s.smtp_user and s.smtp_password:
            smtp.starttls()
            smtp.login(s.smtp_user, s.smtp_password.get_secret_value())
    except (OSError, smtplib.SMTPException) as exc:
        smtp.close()
        raise NotifyError(f"SMTP login: {type(exc).__name__}", transient=True) from None
    return smtp


def _deliver(s: Settings, msg: EmailMessage) -> None:
    smtp = _connect(s)
    try:
        smtp.send_message(msg)
    except smtplib.SMTPRecipientsRefused as exc:
        codes = [code for code, _ in exc.recipients.values()]
        raise NotifyError(
            f"SMTP refused the recipient ({codes})", transient=any(c < 500 for c in codes)
        ) from None
    except smtplib.SMTPDataError as exc:  # the server answered: it did not take the message
        raise NotifyError(
            f"SMTP refused the message ({exc.smtp_code})", transient=exc.smtp_code < 500
        ) from None
    except smtplib.SMTPSenderRefused as exc:  # SMTP_FROM: a setting to fix
        raise NotifyError(f"SMTP refused the sender ({exc.smtp_code})", transient=True) from None
    except (OSError, smtplib.SMTPException) as exc:  # the answer to DATA may be lost
        raise NotifyError(
            f"SMTP send: {type(exc).__name__}", transient=True, uncertain=True
        ) from None
    finally:
        try:
            smtp.quit()
        except (OSError, smtplib.SMTPException):
            smtp.close()


def send(s: Settings, to: str, message: Message) -> str:
    """Send `message` to `to`; returns its Message-ID."""
    msg = build(s, to, message)
    attempt(lambda: _deliver(s, msg), idempotent=False)
    return str(msg["Message-ID"])
