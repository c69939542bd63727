"""Account emails over SMTP (aiosmtplib), with text and HTML bodies from templates."""

from __future__ import annotations

import html
import logging
from email.message import EmailMessage
from pathlib import Path
from string import Template

import aiosmtplib

from whowhywhen.config import Settings

log = logging.getLogger(__name__)
TEMPLATES = Path(__file__).parent / "templates"
SUBJECTS = {
    "welcome": "Welcome to WhoWhyWhen",
    "password_reset": "Reset your WhoWhyWhen password",
    "password_changed": "Your WhoWhyWhen password was changed",
    "two_factor_changed": "Two-factor authentication changed on your WhoWhyWhen account",
    "recovery_code_used": "A WhoWhyWhen recovery code was used",
    "invitation": "You are invited to a WhoWhyWhen project",
    "register_existing": "Someone tried to sign up with your WhoWhyWhen email address",
    "sign_in_linked": "A new sign-in method was added to your WhoWhyWhen account",
}


def render(template: str, values: dict[str, str]) -> tuple[str, str]:
    """The text and HTML bodies of a template; values are HTML-escaped in the HTML body."""
    text = Template((TEMPLATES / f"{template}.txt").read_text()).substitute(values)
    escaped = {key: html.escape(value) for key, value in values.items()}
    body = Template((TEMPLATES / f"{template}.html").read_text()).substitute(escaped)
    return text, body


class Mailer:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @property
    def configured(self) -> bool:
        return bool(self.settings.email_host)

    def message(self, to: str, template: str, values: dict[str, str]) -> EmailMessage:
        text, body = render(template, values)
        message = EmailMessage()
        message["From"] = self.settings.email_from or f"WhoWhyWhen <no-reply@{_host(self)}>"
        message["To"] = to
        message["Subject"] = SUBJECTS[template]
        message.set_content(text)
        message.add_alternative(body, subtype="html")
        return message

    async def send(self, to: str, template: str, values: dict[str, str]) -> bool:
        """Send one email; failures are logged, never raised into a request."""
        if not self.configured:
            log.warning("email not configured (EMAIL_HOST); not sending %r", template)
            return False
        settings = self.settings
        try:
            await aiosmtplib.send(
                self.message(to, template, values),
                hostname=settings.email_host,
                port=settings.email_port,
                username=settings.email_username or None,
                password=settings.email_password or None,
                use_tls=settings.email_use_tls,
                start_tls=None if settings.email_starttls else False,
                timeout=settings.email_timeout,
            )
        except (aiosmtplib.SMTPException, OSError) as exc:
            log.error("sending %r email failed: %s", template, exc)
            return False
        return True


def _host(mailer: Mailer) -> str:
    return mailer.settings.public_url.split("://")[-1].split("/")[0].split(":")[0] or "localhost"
