"""Alerts by e-mail: what needs the site manager, sent once, with a link to the console.

``Alerter.run_once`` looks at the same views the console shows and mails what is new:
an anomaly appeared (a presence needs an employer, was rejected, has remarks, was missed or
is stuck in ``sent``), a terminal was tampered with, went silent (no heartbeat for three
intervals) or its outbox is filling, or NSSO has been unreachable for ``NSSO_AFTER``. Each
condition is sent once (``alerts_sent``, keyed by kind and subject); when it clears, its
key is dropped, so a later recurrence is sent again. New alerts of one pass go in one mail.
A mail that cannot be sent is retried at the next pass. Mails carry masked numbers only,
never a name.

The running controller calls it every ``[smtp] interval_s`` from its own thread
(``start_thread``), apart from ingest and relay.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from email.message import EmailMessage

from sqlalchemy import delete, select

from controller import health, schema, views
from controller.config import ControllerConfig, SmtpSection
from controller.errors import ControllerError, StoreError
from controller.store import Store
from presence.clock import Clock, SystemClock

log = logging.getLogger(__name__)

NSSO_AFTER = timedelta(minutes=15)
MAIL_LINES_MAX = 50  # alerts listed in one mail; the rest are counted
# Console pages the links point at (controller/web routes).
PAGES = {"anomaly": "/anomalies", "terminal": "/terminals", "nsso": "/"}

ANOMALY_WORDS = {
    schema.NEEDS_EMPLOYER: "needs an employer (not on the roster)",
    schema.REJECTED: "rejected by NSSO",
    schema.FAILED_REMARKS: "registered with remarks",
    schema.MISSED: "missed: the day ended before it was registered",
    schema.SENT: "stuck in sent (NSSO's answer is unsettled)",
}


@dataclass(frozen=True, slots=True)
class Alert:
    kind: str  # anomaly | tampered | silent | outbox | nsso
    subject: str  # what it is about: presence:<id>:<state>, a terminal id, registry
    text: str  # one line, masked
    page: str  # console path


class Mailer:
    """Sends one message through the configured SMTP server (smtplib)."""

    def __init__(self, config: ControllerConfig) -> None:
        if config.smtp is None:
            raise ControllerError("no_smtp", f"{config.path}: no [smtp] section")
        self.smtp: SmtpSection = config.smtp
        self.password_path = config.site_path(self.smtp.password_file)
        self.ca_file = config.site_path(self.smtp.ca_file) if self.smtp.ca_file else None

    def send(self, message: EmailMessage) -> None:
        """Raises ``ControllerError('smtp')`` when the server cannot take it."""
        smtp = self.smtp
        context = ssl.create_default_context(cafile=str(self.ca_file) if self.ca_file else None)
        try:
            client: smtplib.SMTP
            if smtp.security == "ssl":
                client = smtplib.SMTP_SSL(
                    smtp.host, smtp.port, timeout=smtp.timeout_s, context=context
                )
            else:
                client = smtplib.SMTP(smtp.host, smtp.port, timeout=smtp.timeout_s)
            with client:
                if smtp.security == "starttls":
                    client.starttls(context=context)
                if smtp.user:
                    client.login(smtp.user, self._password())
                client.send_message(message)
        except (smtplib.SMTPException, OSError) as exc:
            raise ControllerError("smtp", f"mail not sent: {type(exc).__name__}: {exc}") from exc

    def _password(self) -> str:
        try:
            return self.password_path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ControllerError("smtp", f"{self.password_path}: {exc.strerror}") from None


class Alerter:
    def __init__(
        self,
        config: ControllerConfig,
        store: Store,
        send: Callable[[EmailMessage], None] | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.config = config
        self.store = store
        self.clock = clock or store.clock or SystemClock()
        self._send = send or Mailer(config).send

    def conditions(self) -> list[Alert]:
        """Everything that deserves an alert now."""
        found = [
            Alert(
                "anomaly",
                f"presence:{row['id']}:{row['state']}",
                f"presence {row['id']} of {row['date']} ({row['person']}): "
                + ANOMALY_WORDS.get(row["state"], str(row["state"])),
                PAGES["anomaly"],
            )
            for row in views.anomalies(self.store)
        ]
        for terminal in views.terminal_health(self.store):
            name = terminal["terminal"]
            if terminal["tampered"]:
                found.append(
                    Alert(
                        "tampered",
                        name,
                        f"terminal {name}: enclosure opened (tamper switch)",
                        PAGES["terminal"],
                    )
                )
            if terminal["silent"]:
                found.append(
                    Alert(
                        "silent",
                        name,
                        f"terminal {name}: silent, last heartbeat "
                        f"{terminal['heartbeat_age_s']} s ago",
                        PAGES["terminal"],
                    )
                )
            if terminal["outbox_alarm"] and not terminal["revoked"]:
                found.append(
                    Alert(
                        "outbox",
                        name,
                        f"terminal {name}: outbox filling "
                        f"({terminal['outbox_depth']} events unacknowledged)",
                        PAGES["terminal"],
                    )
                )
        state = health.read(self.store)
        down = state.nsso_down_for()
        if down is not None and down >= NSSO_AFTER:
            minutes = int(down.total_seconds() // 60)
            found.append(
                Alert(
                    "nsso",
                    "registry",
                    f"NSSO unreachable for {minutes} minutes ({state.nsso_error or 'no answer'})",
                    PAGES["nsso"],
                )
            )
        return found

    def run_once(self) -> list[Alert]:
        """Mail the alerts not sent yet; forget the ones whose condition cleared. Returns
        what was sent (nothing when the mail could not go: it is tried again next time)."""
        current = self.conditions()
        keys = {(a.kind, a.subject) for a in current}
        s = schema.alerts_sent.c
        with self.store.transaction() as conn:
            sent = {(row.kind, row.subject) for row in conn.execute(select(s.kind, s.subject))}
        cleared = sent - keys
        new = [a for a in current if (a.kind, a.subject) not in sent]
        if new:
            try:
                self._send(self.message(new))
            except ControllerError as exc:
                log.warning("%d alerts not mailed, trying again later: %s", len(new), exc)
                new = []
        now = self.clock.now()
        if new or cleared:
            with self.store.transaction() as conn:
                for kind, subject in cleared:
                    conn.execute(
                        delete(schema.alerts_sent).where(s.kind == kind, s.subject == subject)
                    )
                for alert in new:
                    conn.execute(
                        self.store.insert_ignore(schema.alerts_sent).values(
                            kind=alert.kind, subject=alert.subject, sent_at=now
                        )
                    )
        if new:
            log.info("mailed %d alerts", len(new))
        return new

    def message(self, alerts: list[Alert]) -> EmailMessage:
        smtp = self.config.smtp
        assert smtp is not None
        site = self.config.site
        where = f"{site.name or site.workplace_id} ({site.workplace_id})"
        message = EmailMessage()
        first = alerts[0].text.split(":", 1)[0] if len(alerts) > 1 else alerts[0].text
        message["Subject"] = f"[sitegate {site.name or site.workplace_id}] " + (
            f"{len(alerts)} alerts: {first}..." if len(alerts) > 1 else first
        )
        message["From"] = smtp.sender
        message["To"] = ", ".join(smtp.to)
        lines = [f"sitegate at {where} needs you:", ""]
        for alert in alerts[:MAIL_LINES_MAX]:
            lines.append(f"- {alert.text}")
            if smtp.console_url:
                lines.append(f"  {smtp.console_url.rstrip('/')}{alert.page}")
        if len(alerts) > MAIL_LINES_MAX:
            lines.append(f"- and {len(alerts) - MAIL_LINES_MAX} more: see the console")
        lines += ["", "Each alert is mailed once; the console shows the current state."]
        message.set_content("\n".join(lines))
        return message


def run(alerter: Alerter, stop: threading.Event, interval_s: float) -> None:
    """Call ``run_once`` every ``interval_s`` until ``stop``; a failed pass is logged."""
    while not stop.is_set():
        try:
            alerter.run_once()
        except (StoreError, ControllerError) as exc:
            log.warning("alert pass failed: %s", exc)
        except Exception:
            log.exception("alert pass failed")
        stop.wait(interval_s)


def start_thread(
    config: ControllerConfig, store: Store, stop: threading.Event, clock: Clock | None = None
) -> threading.Thread | None:
    """The alerts thread of a running controller, started; None without ``[smtp]``."""
    if config.smtp is None:
        return None
    alerter = Alerter(config, store, clock=clock)
    thread = threading.Thread(
        target=run, args=(alerter, stop, config.smtp.interval_s), name="alerts", daemon=True
    )
    thread.start()
    return thread
