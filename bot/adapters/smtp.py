"""E-mail as an alert channel: the standard library's smtplib, STARTTLS when asked (and when
a password is sent: never in the clear), in a thread with a timeout."""

from __future__ import annotations

import asyncio
import smtplib
import ssl
from email.message import EmailMessage

from bot.ports import Alert, ChannelError
from bot.secrets import Secret


class SmtpChannel:
    name = "email"

    def __init__(self, host: str, port: int, *, sender: str, recipients: tuple[str, ...],
                 user: str | None = None, password: Secret | None = None, starttls: bool = True,
                 timeout_s: float = 15.0, tls: ssl.SSLContext | None = None) -> None:
        self.host, self.port, self.sender, self.recipients = host, port, sender, recipients
        self.user, self.password, self.starttls, self.timeout_s = user, password, starttls, timeout_s
        self._tls = tls  # None: the system's trusted authorities (a test passes its own)

    async def send(self, alert: Alert) -> None:
        await asyncio.to_thread(self._send, alert)

    def _send(self, alert: Alert) -> None:
        message = EmailMessage()
        message["Subject"] = " ".join(alert.title.split())  # one line: a header cannot break
        message["From"] = self.sender
        message["To"] = ", ".join(self.recipients)
        message.set_content(f"{alert.text}\n\n{alert.at.isoformat()}"
                            + (f" · {alert.incident}" if alert.incident else ""))
        try:
            with smtplib.SMTP(self.host, self.port, timeout=self.timeout_s) as smtp:
                if self.starttls:
                    smtp.starttls(context=self._tls or ssl.create_default_context())
                if self.user and self.password:
                    smtp.login(self.user, self.password.reveal())
                smtp.send_message(message)
        except (OSError, ValueError, smtplib.SMTPException) as exc:
            raise ChannelError(f"email: {type(exc).__name__}") from None
