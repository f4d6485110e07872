"""E-mail over SMTP, as a dependency.

The server comes from the container config or the environment: ``SMTP_HOST``,
``SMTP_PORT`` (25), ``SMTP_FROM``, and optionally ``SMTP_USERNAME`` /
``SMTP_PASSWORD`` and ``SMTP_STARTTLS``. Without a host mail is switched off:
``send`` says so and counts it, so ``make run`` needs no mail server.

Send from an event handler of the service's own event, never from the worker
that writes the state: a failing server then means a retry with back-off and
finally a dead letter, not a lost or rolled-back decision. A redelivery after a
send that was not yet acked sends again: mail is at least once.
"""

from __future__ import annotations

import logging
import os
import smtplib
from dataclasses import dataclass
from email.message import EmailMessage

from nameko.extensions import DependencyProvider
from prometheus_client import Counter

log = logging.getLogger(__name__)

MAILS = Counter(
    "werkbrug_mails_total", "E-mails by kind and outcome (sent, failed, not_configured).",
    ["service", "kind", "outcome"],
)


@dataclass(frozen=True)
class SmtpSettings:
    host: str | None
    port: int = 25
    sender: str = "werkbrug@localhost"
    username: str | None = None
    password: str | None = None
    starttls: bool = False

    @classmethod
    def from_config(cls, config: dict) -> SmtpSettings:
        def get(key, default=None):
            value = config.get(key)
            if value in (None, ""):
                value = os.environ.get(f"WERKBRUG_{key}", default)
            return default if value in (None, "") else value

        return cls(host=get("SMTP_HOST"), port=int(get("SMTP_PORT", 25)),
                   sender=get("SMTP_FROM", "werkbrug@localhost"), username=get("SMTP_USERNAME"),
                   password=get("SMTP_PASSWORD"), starttls=str(get("SMTP_STARTTLS", "")).lower() in ("1", "true"))


class Mail:
    """What a worker gets: ``send(to, subject, body, kind)``. The mails of one worker
    (a batch of events) share one SMTP session: a session per mail cost a connection,
    a greeting and a goodbye each, most of a plan's notification time."""

    def __init__(self, settings: SmtpSettings, service: str):
        self.settings, self.service = settings, service
        self._smtp: smtplib.SMTP | None = None

    def send(self, to: str, subject: str, body: str, kind: str) -> bool:
        """True when the server accepted it; False when mail is off. Raises when the
        server fails, so the handler retries. ``kind`` labels the metric (never the address)."""
        s = self.settings
        if not s.host:
            MAILS.labels(self.service, kind, "not_configured").inc()
            log.info("mail %s not sent: no SMTP server configured (SMTP_HOST)", kind)
            return False
        message = EmailMessage()
        message["From"], message["To"], message["Subject"] = s.sender, to, subject
        message.set_content(body)
        try:
            self._session().send_message(message)
        except (OSError, smtplib.SMTPException):
            MAILS.labels(self.service, kind, "failed").inc()
            self.close()
            raise
        MAILS.labels(self.service, kind, "sent").inc()
        return True

    def _session(self) -> smtplib.SMTP:
        if self._smtp is None:
            s = self.settings
            smtp = smtplib.SMTP(s.host, s.port, timeout=15)
            try:
                if s.starttls:
                    smtp.starttls()
                if s.username:
                    smtp.login(s.username, s.password or "")
            except BaseException:
                smtp.close()
                raise
            self._smtp = smtp
        return self._smtp

    def close(self) -> None:
        smtp, self._smtp = self._smtp, None
        if smtp is not None:
            try:
                smtp.quit()
            except (OSError, smtplib.SMTPException):
                smtp.close()


class Mailer(DependencyProvider):
    """A :class:`Mail` per worker, its SMTP session closed when the worker ends."""

    def setup(self):
        self.settings = SmtpSettings.from_config(self.container.config)

    def get_dependency(self, worker_ctx):
        return Mail(self.settings, self.container.service_name)

    def worker_teardown(self, worker_ctx):
        mail = worker_ctx.service.__dict__.get(self.attr_name)
        if isinstance(mail, Mail):
            mail.close()
