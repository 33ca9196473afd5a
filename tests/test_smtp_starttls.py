"""E-mail over STARTTLS with a login, against a loopback SMTP server that refuses both without
TLS (the test certificate in tests/data is valid from 2000 to 2109, for any faked date)."""

from __future__ import annotations

import asyncio
import socket
import ssl
from datetime import datetime, timezone
from email import message_from_bytes
from email.header import decode_header, make_header
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from bot.adapters.smtp import SmtpChannel
from bot.ports import Alert, ChannelError
from bot.secrets import Secret

DATA = Path(__file__).parent / "data"


class Inbox:
    def __init__(self) -> None:
        self.messages: list = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's name)
        self.messages.append(message_from_bytes(envelope.content))
        return "250 OK"


def authenticator(server, session, envelope, mechanism, auth_data):
    ok = isinstance(auth_data, LoginPassword) and auth_data.login == b"bot" and auth_data.password == b"s3cret-pw"
    return AuthResult(success=ok)


def test_starttls_then_login_then_the_alert(tmp_path) -> None:
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(DATA / "smtp-test-cert.pem", DATA / "smtp-test-key.pem")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port, tls_context=server_tls,
                            require_starttls=True, auth_require_tls=True, authenticator=authenticator)
    controller.start()
    try:
        trusting = ssl.create_default_context(cafile=str(DATA / "smtp-test-cert.pem"))
        alert = Alert(title="INC-20261205-001 · Cloudinary\nupload failure (P0)", text="upload 401",
                      at=datetime(2026, 12, 5, tzinfo=timezone.utc), incident="INC-20261205-001")
        channel = SmtpChannel("127.0.0.1", port, sender="bot@sunflow.example",
                              recipients=("oncall@sunflow.example",), user="bot",
                              password=Secret("s3cret-pw"), tls=trusting)
        asyncio.run(channel.send(alert))
        [mail] = inbox.messages
        subject = str(make_header(decode_header(mail["Subject"])))
        assert subject == "INC-20261205-001 · Cloudinary upload failure (P0)"  # one line
        assert "upload 401" in mail.get_payload()

        wrong = SmtpChannel("127.0.0.1", port, sender="bot@sunflow.example",
                            recipients=("oncall@sunflow.example",), user="bot",
                            password=Secret("not-it"), tls=trusting, timeout_s=3)
        try:
            asyncio.run(wrong.send(alert))
            raise AssertionError("a wrong password must fail")
        except ChannelError as exc:
            assert "s3cret" not in str(exc) and "not-it" not in str(exc)
        untrusted = SmtpChannel("127.0.0.1", port, sender="bot@sunflow.example",
                                recipients=("oncall@sunflow.example",), user="bot",
                                password=Secret("s3cret-pw"), timeout_s=3)  # the system's CAs: refused
        try:
            asyncio.run(untrusted.send(alert))
            raise AssertionError("an unverifiable certificate must fail")
        except ChannelError:
            pass
        assert len(inbox.messages) == 1
    finally:
        controller.stop()
