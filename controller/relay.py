"""The relay: pending presences to NSSO, receipts back, nobody registered twice.

A batch is claimed (presences ``pending`` -> ``sent``, a ``registry_batches`` row with a
lease) and committed **before** it is sent. When its answer is stored the batch is ``done``.
A batch whose answer never arrived (error after sending, or its controller died: the lease
ran out) is *in doubt*: before anything in it is sent again, ``searchPresences`` is asked for
that site and those days and the receipts found are adopted, matched by our client
reference (DOMAIN.md section 4: NSSO has no idempotency key).

A request given up on may still be on its way (held in the network, retransmitted by TCP)
and reach NSSO *after* its batch was looked up, found nothing and was sent again: NSSO then
holds two registrations with one client reference (the second flagged SAME DECLARATION).
So every search also looks for our client references held twice, and the presences of a
batch sent more than once stay watched for ``DOUBT_WATCH_S`` after their registration. The
registration the presence does not hold is cancelled (``DUPLICATE_CANCEL_REASON``) and the
cancellation audited; one NSSO will not cancel is an anomaly: logged as an error, audited,
and kept in the presence's ``last_error`` with both receipts.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any, Protocol

from sqlalchemy import Connection, and_, func, or_, select

from controller import audit, sameperson, schema
from controller.config import ControllerConfig, resolve
from controller.errors import ConfigError, ControllerError
from controller.health import HealthRecorder
from controller.store import Store
from presence.clock import Clock, SystemClock, brussels_date
from registry.errors import (
    InvalidRequest,
    RegistryError,
    RegistryRejected,
    RegistryUnavailable,
)
from registry.wire import (
    CancelResult,
    ItemError,
    PresenceItem,
    RegistrationResult,
    SearchCriteria,
)

log = logging.getLogger(__name__)

BATCH_MAX = 200  # registerPresences takes 1..200 items
POLL_MAX = 2000  # registrations checked per pass
LEASE_MARGIN_S = 1.0
SEARCH_PERIODS_MAX = 31
# How long a request we gave up on may still reach NSSO: Linux retransmits a TCP segment
# for about 15.4 minutes (tcp_retries2 = 15) before it gives the connection up.
DOUBT_WATCH_S = 930.0
DUPLICATE_CANCEL_REASON = "PLANNING"  # our own planning error, as for a correction
RELAY_ACTOR = "relay"

STATUS_REGISTERED = "SUCCESSFULLY REGISTERED"
STATUS_VALIDATED = "VALIDATED"
STATUS_FAILED = "FAILED"
STATUS_CANCELLED = "SUCCESSFULLY CANCELLED"


class RegistryDown(ControllerError):
    """The registry's answer was lost or unusable: back off, and check before resending."""


class Registry(Protocol):
    """What the relay needs of ``registry.client.RegistryClient``."""

    def register(self, items: Sequence[PresenceItem]) -> list[RegistrationResult | ItemError]: ...
    def search(self, criteria: SearchCriteria) -> list[RegistrationResult]: ...
    def get(self, receipt_id: str) -> RegistrationResult: ...
    def cancel(self, items: Sequence[tuple[str, str]]) -> list[CancelResult]: ...
    def close(self) -> None: ...


def make_registry(config: ControllerConfig) -> Registry:
    """The real client, configured from ``[registry]``."""
    from registry.client import RegistryClient

    section = config.registry
    cert = resolve(config, section.cert_file)
    key = resolve(config, section.key_file)
    kwargs: dict[str, Any] = {}
    if section.sign:
        kwargs["signer"] = _pem_signer(config, cert, key)
    return RegistryClient(  # type: ignore[no-any-return,unused-ignore]
        section.endpoint,
        client_cert=(cert, key) if cert else None,
        ca_file=resolve(config, section.ca_file) or None,
        connect_timeout=section.connect_timeout_s,
        read_timeout=section.read_timeout_s,
        **kwargs,
    )


def _pem_signer(config: ControllerConfig, cert: str, key: str) -> Any:
    """The WS-Security X.509 signer over the company certificate and key."""
    from registry.signing import X509Signer

    try:
        return X509Signer(cert, key)
    except InvalidRequest as exc:
        raise ConfigError("sign", f"{config.path}: [registry] sign: {exc}") from None


@dataclass(slots=True)
class PassReport:
    missed: int = 0
    sent: int = 0
    registered: int = 0
    rejected: int = 0
    adopted: int = 0
    requeued: int = 0
    polled: int = 0
    duplicates_cancelled: int = 0
    unavailable: bool = False
    errors: list[str] = field(default_factory=list)


class Backoff:
    """Exponential back-off with jitter, reset after a success."""

    def __init__(self, base_s: float, max_s: float, rng: random.Random | None = None) -> None:
        self.base_s, self.max_s = base_s, max_s
        self.failures = 0
        self.rng = rng or random.Random()

    def failed(self) -> float:
        self.failures += 1
        delay = min(self.max_s, self.base_s * 2 ** (self.failures - 1))
        return delay / 2 + self.rng.uniform(0, delay / 2)

    def succeeded(self) -> None:
        self.failures = 0


class Relay:
    def __init__(
        self,
        config: ControllerConfig,
        store: Store,
        registry_factory: Callable[[], Registry] | None = None,
        clock: Clock | None = None,
        owner: str | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.config = config
        self.store = store
        self.clock = clock or SystemClock()
        self.owner = owner or f"{config.broker.client_id}-{uuid.uuid4().hex[:8]}"
        self.workplace = config.site.workplace_id
        timing = config.timing
        self.backoff = Backoff(timing.retry_base_s, timing.retry_max_s, rng)
        self._factory = registry_factory or (lambda: make_registry(config))
        self.health = HealthRecorder(store, self.clock)
        self._registry: Registry | None = None
        self._retry_at = 0.0
        reg = config.registry
        self.lease = timedelta(
            seconds=2 * (reg.connect_timeout_s + reg.read_timeout_s) + LEASE_MARGIN_S
        )

    # --- the loop ---------------------------------------------------------------------------

    def run(self, stop: threading.Event, wake: threading.Event) -> None:
        while not stop.is_set():
            try:
                self.run_once()
            except Exception:
                log.exception("relay pass failed")
            wait = max(
                self.config.timing.relay_interval_s if not self.backoff.failures else 0,
                self._retry_at - self.clock.monotonic(),
            )
            wake.wait(timeout=max(wait, 0.01))
            wake.clear()

    def close(self) -> None:
        if self._registry is not None:
            self._registry.close()
            self._registry = None

    @property
    def registry(self) -> Registry:
        if self._registry is None:
            self._registry = self._factory()
        return self._registry

    def run_once(self) -> PassReport:
        """One pass: settle in-doubt batches, send what is pending, poll validations.

        "Today" is read again before every batch, and the presences of a day that has just
        ended are marked ``missed`` before the claim: a long pass that crosses midnight must
        not send yesterday's presences (NSSO takes today or tomorrow only, and would reject
        them instead of leaving them to be registered by hand)."""
        report = PassReport()
        if self.clock.monotonic() >= self._retry_at:
            try:
                self._resolve_in_doubt(report)
                while True:
                    today = brussels_date(self.clock.now())
                    report.missed += self._mark_missed(today)
                    if not self._send_one_batch(today, report):
                        break
                self._poll(report)
                self.backoff.succeeded()
                answered = report.sent + report.polled + report.adopted + report.requeued
                self.health.nsso(True, answered=answered > 0)
            except (RegistryError, RegistryDown) as exc:
                self.health.nsso(False, error=f"{exc.code}: {exc}")
                report.unavailable = True
                delay = self.backoff.failed()
                self._retry_at = self.clock.monotonic() + delay
                log.warning(
                    "registry unavailable (%s: %s); retrying in %.1f s", exc.code, exc, delay
                )
        report.missed += self._mark_missed(brussels_date(self.clock.now()))
        return report

    # --- missed -------------------------------------------------------------------------------

    def _mark_missed(self, today: date) -> int:
        """A presence of a past day can no longer be sent (DOMAIN.md section 4)."""
        p = schema.presences.c
        with self.store.transaction() as conn:
            rows = conn.execute(
                select(p.id, p.first_event_id, p.date).where(
                    p.state.in_((schema.PENDING, schema.NEEDS_EMPLOYER)), p.date < today
                )
            ).all()
            if not rows:
                return 0
            conn.execute(
                schema.presences.update()
                .where(p.id.in_([r.id for r in rows]))
                .where(p.state.in_((schema.PENDING, schema.NEEDS_EMPLOYER)))
                .values(
                    state=schema.MISSED,
                    updated_at=self.clock.now(),
                    last_error="day passed before it could be registered",
                )
            )
        for row in rows:
            log.warning(
                "presence %s of %s missed: not registered before the day ended "
                "(evidence: event %s)",
                row.id,
                row.date,
                row.first_event_id,
            )
        return len(rows)

    # --- sending --------------------------------------------------------------------------------

    def _claim(self, today: date) -> tuple[int, list[Any]] | None:
        p = schema.presences.c
        now = self.clock.now()
        with self.store.transaction() as conn:
            ids = list(
                conn.execute(
                    select(p.id)
                    .where(p.state == schema.PENDING, p.workplace_id == self.workplace)
                    .where(p.date.in_((today, today + timedelta(days=1))))
                    .order_by(p.date, p.id)
                    .limit(BATCH_MAX)
                    .with_for_update(skip_locked=True)
                ).scalars()
            )
            if not ids:
                return None
            batch_id = conn.execute(
                schema.batches.insert()
                .values(
                    owner=self.owner,
                    state="sending",
                    item_count=len(ids),
                    created_at=now,
                    lease_until=now + self.lease,
                )
                .returning(schema.batches.c.id)
            ).scalar_one()
            conn.execute(
                schema.presences.update()
                .where(p.id.in_(ids))
                .values(
                    state=schema.SENT, batch_id=batch_id, attempts=p.attempts + 1, updated_at=now
                )
            )
            rows = conn.execute(select(schema.presences).where(p.id.in_(ids)).order_by(p.id)).all()
        return batch_id, list(rows)

    def _send_one_batch(self, today: date, report: PassReport) -> bool:
        registry = self.registry
        claimed = self._claim(today)
        if claimed is None:
            return False
        batch_id, claimed_rows = claimed
        rows, items = [], []
        for row in claimed_rows:
            try:
                items.append(_item(row))
                rows.append(row)
            except InvalidRequest as exc:
                self._reject_rows(batch_id, [row], exc.code, str(exc), report)
        if not rows:
            self._finish(batch_id, "done", None)
            return True
        report.sent += len(items)
        log.info("batch %s: sending %d presences", batch_id, len(items))
        try:
            answers = registry.register(items)
        except RegistryRejected as exc:
            # The whole call was refused (certificate, signature, endpoint, authorisation):
            # a fault of ours, not of these people. Rejecting the batch would reject every
            # pending presence, batch after batch; keep them pending and back off instead.
            code = exc.fault.code if exc.fault is not None else exc.code  # NSSO's own code
            self._requeue(batch_id, code, str(exc))
            log.error("the registry refused the whole call (%s): %s; presences stay pending",
                      code, exc)  # fmt: skip
            raise RegistryDown(code, str(exc)) from exc
        except RegistryUnavailable as exc:
            if exc.in_doubt:
                self._mark_in_doubt(batch_id, exc.code, str(exc))
            else:
                self._requeue(batch_id, exc.code, str(exc))
            raise RegistryDown(exc.code, str(exc)) from exc
        except RegistryError as exc:  # malformed or unknown: the answer is lost
            self._mark_in_doubt(batch_id, exc.code, str(exc))
            raise RegistryDown(exc.code, str(exc)) from exc
        if len(answers) != len(rows):
            self._mark_in_doubt(batch_id, "count", "answer count differs from item count")
            raise RegistryDown("count", f"{len(answers)} answers for {len(rows)} items")
        with self.store.transaction() as conn:
            for row, answer in zip(rows, answers, strict=True):
                if isinstance(answer, ItemError):
                    report.rejected += 1
                    self._apply_error(conn, batch_id, row.id, answer)
                else:
                    report.registered += 1
                    self._apply_result(conn, row.id, answer, batch_id=batch_id)
            self._finish_batch(conn, batch_id, "done", None)
        return True

    def _reject_rows(
        self, batch_id: int, rows: list[Any], code: str, message: str, report: PassReport
    ) -> None:
        p = schema.presences.c
        with self.store.transaction() as conn:
            conn.execute(
                schema.presences.update()
                .where(
                    p.id.in_([r.id for r in rows]), p.batch_id == batch_id, p.state == schema.SENT
                )
                .values(
                    state=schema.REJECTED,
                    last_error=f"{code}: {message}"[:2000],
                    remarks=json.dumps([code]),
                    updated_at=self.clock.now(),
                )
            )
        report.rejected += len(rows)
        report.errors.append(code)
        log.error("batch %s: %d presences rejected by the registry: %s", batch_id, len(rows), code)

    def _requeue(self, batch_id: int, code: str, message: str) -> None:
        """Nothing reached the registry: the batch's presences simply wait for the next try."""
        p = schema.presences.c
        with self.store.transaction() as conn:
            conn.execute(
                schema.presences.update()
                .where(p.batch_id == batch_id, p.state == schema.SENT)
                .values(
                    state=schema.PENDING,
                    last_error=f"{code}: {message}"[:2000],
                    updated_at=self.clock.now(),
                )
            )
            self._finish_batch(conn, batch_id, "failed", code)

    def _finish(self, batch_id: int, state: str, error: str | None) -> None:
        with self.store.transaction() as conn:
            self._finish_batch(conn, batch_id, state, error)

    def _apply_error(
        self, conn: Connection, batch_id: int, presence_id: int, answer: ItemError
    ) -> None:
        p = schema.presences.c
        codes = [e.code for e in answer.errors]
        conn.execute(
            schema.presences.update()
            .where(p.id == presence_id, p.batch_id == batch_id, p.state == schema.SENT)
            .values(
                state=schema.REJECTED,
                last_error="; ".join(f"{e.code}: {e.description}" for e in answer.errors)[:2000],
                remarks=json.dumps(codes),
                updated_at=self.clock.now(),
            )
        )
        log.warning("presence %s rejected by the registry: %s", presence_id, ", ".join(codes))

    def _apply_result(
        self,
        conn: Connection,
        presence_id: int,
        result: RegistrationResult,
        batch_id: int | None = None,
    ) -> None:
        p = schema.presences.c
        now = self.clock.now()
        query = schema.presences.update().where(p.id == presence_id)
        if batch_id is not None:
            query = query.where(p.batch_id == batch_id, p.state == schema.SENT)
        conn.execute(
            query.values(
                state=_state_for(result.status, schema.REGISTERED),
                receipt_id=result.receipt_id,
                registry_status=result.status,
                remarks=json.dumps(list(result.remarks)),
                registered_at=now,
                updated_at=now,
                last_error=None,
            )
        )
        sameperson.learn_from_registry(conn, presence_id, result.inss, result.limosa_id, now)

    def _finish_batch(self, conn: Connection, batch_id: int, state: str, error: str | None) -> None:
        conn.execute(
            schema.batches.update()
            .where(schema.batches.c.id == batch_id)
            .values(state=state, finished_at=self.clock.now(), error=error)
        )

    def _mark_in_doubt(self, batch_id: int, code: str, message: str) -> None:
        grace = timedelta(seconds=self.config.timing.in_doubt_grace_s)
        with self.store.transaction() as conn:
            conn.execute(
                schema.batches.update()
                .where(schema.batches.c.id == batch_id)
                .values(
                    state="in_doubt",
                    lease_until=self.clock.now() + grace,
                    error=f"{code}: {message}"[:2000],
                )
            )
        log.warning(
            "batch %s is in doubt (%s): it will be checked before any resend", batch_id, code
        )

    # --- in-doubt batches ----------------------------------------------------------------

    def _resolve_in_doubt(self, report: PassReport) -> None:
        b = schema.batches.c
        now = self.clock.now()
        with self.store.transaction() as conn:
            candidates = list(
                conn.execute(
                    select(b.id)
                    .where(b.state.in_(("sending", "in_doubt")), b.lease_until < now)
                    .order_by(b.id)
                ).scalars()
            )
        for batch_id in candidates:
            if self._take_batch(batch_id):
                self._resolve(batch_id, report)

    def _take_batch(self, batch_id: int) -> bool:
        """Atomically make this relay the batch's resolver (another controller may try too)."""
        b = schema.batches.c
        now = self.clock.now()
        with self.store.transaction() as conn:
            taken = conn.execute(
                schema.batches.update()
                .where(b.id == batch_id, b.state.in_(("sending", "in_doubt")), b.lease_until < now)
                .values(state="in_doubt", owner=self.owner, lease_until=now + self.lease)
            ).rowcount
        return bool(taken)

    def _resolve(self, batch_id: int, report: PassReport) -> None:
        p = schema.presences.c
        with self.store.transaction() as conn:
            rows = conn.execute(
                select(p.id, p.client_ref, p.date).where(
                    p.batch_id == batch_id, p.state == schema.SENT
                )
            ).all()
        if rows:
            days = sorted({r.date for r in rows})
            try:
                found = self._search(days)
            except RegistryError:
                self._release(batch_id)
                raise
            kept: dict[int, str] = {}
            with self.store.transaction() as conn:
                for row in rows:
                    held = found.get(row.client_ref)
                    result = held[0] if held else None
                    if result is not None:
                        kept[row.id] = result.receipt_id
                        report.adopted += 1
                        self._apply_result(conn, row.id, result, batch_id=batch_id)
                    else:
                        report.requeued += 1
                        conn.execute(
                            schema.presences.update()
                            .where(p.id == row.id, p.batch_id == batch_id, p.state == schema.SENT)
                            .values(state=schema.PENDING, updated_at=self.clock.now())
                        )
                self._finish_batch(conn, batch_id, "resolved", None)
        else:
            with self.store.transaction() as conn:
                self._finish_batch(conn, batch_id, "resolved", None)
            for row in rows:
                if row.id in kept:
                    self._cancel_extras(row.id, kept[row.id], found[row.client_ref], report)
        log.info(
            "in-doubt batch %s resolved: %d adopted, %d to send again",
            batch_id,
            report.adopted,
            report.requeued,
        )

    def _search(self, days: list[date]) -> dict[str, list[RegistrationResult]]:
        """The registrations NSSO holds for this site on ``days`` that are not cancelled,
        per client reference (more than one: a request that arrived late, see above)."""
        found: dict[str, list[RegistrationResult]] = {}
        for start in range(0, len(days), SEARCH_PERIODS_MAX):
            chunk = days[start : start + SEARCH_PERIODS_MAX]
            criteria = SearchCriteria(
                periods=tuple((d, d) for d in chunk), workplace_ids=(self.workplace,)
            )
            for result in self.registry.search(criteria):
                if result.client_reference and result.status != STATUS_CANCELLED:
                    held = found.setdefault(result.client_reference, [])
                    if all(r.receipt_id != result.receipt_id for r in held):
                        held.append(result)
        return found

    # --- a registration made twice -------------------------------------------------------

    def _cancel_extras(
        self,
        presence_id: int,
        receipt_id: str,
        held: list[RegistrationResult],
        report: PassReport,
    ) -> None:
        """NSSO holds ``held`` for the presence's client reference and the presence holds
        ``receipt_id``: cancel the others. A registry that cannot be reached raises (the
        next search finds them again); one that refuses makes an anomaly."""
        extras = [r.receipt_id for r in held if r.receipt_id != receipt_id]
        if not extras:
            return
        answers = self.registry.cancel([(extra, DUPLICATE_CANCEL_REASON) for extra in extras])
        now = self.clock.now()
        target = f"presence {presence_id}"
        with self.store.transaction() as conn:
            for answer in answers:
                if not answer.errors:
                    report.duplicates_cancelled += 1
                    detail = (
                        f"NSSO held registration {answer.receipt_id} beside {receipt_id} for "
                        "the same client reference (a request that reached it late): cancelled"
                    )
                    audit.record(conn, at=now, who=RELAY_ACTOR, action="duplicate_cancelled",
                                 target=target, detail=detail)  # fmt: skip
                    log.warning("%s: %s", target, detail)
                    continue
                codes = ", ".join(f"{e.code} ({e.description})" for e in answer.errors)
                detail = (
                    f"NSSO holds registration {answer.receipt_id} beside {receipt_id} for the "
                    f"same client reference and refused to cancel it: {codes}; cancel it by hand"
                )
                audit.record(conn, at=now, who=RELAY_ACTOR, action="duplicate_not_cancelled",
                             target=target, detail=detail)  # fmt: skip
                conn.execute(
                    schema.presences.update()
                    .where(schema.presences.c.id == presence_id)
                    .values(last_error=detail[:2000], updated_at=now)
                )
                log.error("%s: %s", target, detail)

    def _release(self, batch_id: int) -> None:
        with self.store.transaction() as conn:
            conn.execute(
                schema.batches.update()
                .where(schema.batches.c.id == batch_id, schema.batches.c.owner == self.owner)
                .values(lease_until=self.clock.now())
            )

    # --- validation polling -----------------------------------------------------------------

    def _poll(self, report: PassReport) -> None:
        """Registrations waiting for NSSO's validation: one ``searchPresences`` per group of
        days (paged by the client) instead of one ``getPresenceRegistration`` per receipt."""
        p = schema.presences.c
        now = self.clock.now()
        due = now - timedelta(seconds=self.config.timing.poll_interval_s)
        watched = and_(  # sent more than once: a late request may still land (see above)
            p.state.in_((schema.VALIDATED, schema.FAILED_REMARKS)),
            p.attempts > 1,
            p.registered_at > now - timedelta(seconds=DOUBT_WATCH_S),
        )
        with self.store.transaction() as conn:
            rows = conn.execute(
                select(p.id, p.client_ref, p.receipt_id, p.date, p.state)
                .where(or_(p.state == schema.REGISTERED, watched), p.receipt_id.is_not(None))
                .where(p.workplace_id == self.workplace)
                .where(or_(p.polled_at.is_(None), p.polled_at < due))
                .where(and_(p.registered_at.is_not(None), p.registered_at < due))
                .order_by(func.coalesce(p.polled_at, p.registered_at))
                .limit(POLL_MAX)
            ).all()
        if not rows:
            return
        found = self._search(sorted({r.date for r in rows}))
        for row in rows:
            held = found.get(row.client_ref, [])
            if len(held) > 1:
                self._cancel_extras(row.id, row.receipt_id, held, report)
        by_receipt = {r.receipt_id: r for results in found.values() for r in results}
        for row in rows:
            if row.state != schema.REGISTERED:
                self._watched(row.id)
                continue
            result = by_receipt.get(row.receipt_id)
            if result is None:
                try:
                    result = self.registry.get(row.receipt_id)
                except RegistryRejected as exc:
                    self._polled(row.id, None, f"{exc.code}: {exc}")
                    continue
            report.polled += 1
            self._polled(row.id, result, None)

    def _watched(self, presence_id: int) -> None:
        p = schema.presences.c
        with self.store.transaction() as conn:
            conn.execute(
                schema.presences.update()
                .where(p.id == presence_id)
                .values(polled_at=self.clock.now())
            )

    def _polled(
        self, presence_id: int, result: RegistrationResult | None, error: str | None
    ) -> None:
        p = schema.presences.c
        values: dict[str, Any] = {"polled_at": self.clock.now()}
        if error is not None:
            values["last_error"] = error[:2000]
        if result is not None:
            values.update(
                state=_state_for(result.status, schema.REGISTERED),
                registry_status=result.status,
                remarks=json.dumps(list(result.remarks)),
            )
            if result.status == STATUS_FAILED:
                log.warning(
                    "presence %s registered with remarks: %s",
                    presence_id,
                    ", ".join(result.remarks),
                )
        with self.store.transaction() as conn:
            conn.execute(
                schema.presences.update()
                .where(p.id == presence_id, p.state == schema.REGISTERED)
                .values(**values)
            )
            if result is not None:
                sameperson.learn_from_registry(
                    conn, presence_id, result.inss, result.limosa_id, self.clock.now()
                )


def _state_for(status: str, default: str) -> str:
    return {
        STATUS_VALIDATED: schema.VALIDATED,
        STATUS_FAILED: schema.FAILED_REMARKS,
        STATUS_CANCELLED: schema.CANCELLED,
    }.get(status, default)


def _item(row: Any) -> PresenceItem:
    if row.person_kind == "inss":
        return PresenceItem(
            workplace_id=row.workplace_id,
            inss=row.person_id,
            company_id=int(row.company_id),
            registration_date=row.date,
            client_reference=row.client_ref,
        )
    return PresenceItem(
        workplace_id=row.workplace_id,
        limosa_id=row.person_id,
        registration_date=row.date,
        client_reference=row.client_ref,
    )
