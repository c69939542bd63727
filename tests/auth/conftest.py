from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Iterator
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser

import httpx2
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import Envelope
from fastapi import FastAPI

from whowhywhen.config import Settings


@pytest.fixture
async def web(app: FastAPI) -> AsyncIterator[httpx2.AsyncClient]:
    """A browser-like client over HTTPS, so `Secure` cookies come back like in production."""
    transport = httpx2.ASGITransport(app=app)
    async with httpx2.AsyncClient(transport=transport, base_url="https://dash.test") as http:
        yield http


class Outbox:
    """What a real SMTP server (aiosmtpd) on 127.0.0.1 received."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []

    async def handle_DATA(self, server: object, session: object, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        self.messages.append(BytesParser(policy=policy.default).parsebytes(raw))
        return "250 Message accepted for delivery"

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m in self.messages if m["To"] == address]

    async def wait_for(self, address: str, count: int = 1) -> list[EmailMessage]:
        try:
            async with asyncio.timeout(5):
                # the SMTP server runs its own loop in a thread: poll rather than share an Event
                while len(self.to(address)) < count:  # noqa: ASYNC110
                    await asyncio.sleep(0.02)
        except TimeoutError:
            raise AssertionError(f"{count} email(s) to {address} did not arrive") from None
        return self.to(address)


@pytest.fixture(scope="session")
def smtp() -> Iterator[tuple[Outbox, int]]:
    outbox = Outbox()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(outbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield outbox, port
    controller.stop()


@pytest.fixture
def outbox(smtp: tuple[Outbox, int]) -> Outbox:
    return smtp[0]


@pytest.fixture
def settings(backend: Settings, smtp: tuple[Outbox, int]) -> Settings:
    """The backend's settings, sending email to the test SMTP server."""
    return backend.model_copy(
        update={
            "email_host": "127.0.0.1",
            "email_port": smtp[1],
            "email_starttls": False,
            "email_from": "WhoWhyWhen <no-reply@whowhywhen.test>",
            "public_url": "https://dash.test",
        }
    )
