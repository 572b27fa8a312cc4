"""The relay against the real NSSO stand-in over HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from controller import checkins, manage, schema
from controller import config as config_module
from controller.config import ControllerConfig
from controller.relay import Relay
from controller.roster import import_file
from controller.store import Store, open_store
from presence.clock import brussels_date
from presence.events import encode
from registry.wire import CancelResult, ErrorDetail, PresenceItem, RegistrationResult
from tests.controller.support import (
    COMPANY,
    OTHER_COMPANY,
    StandInAdmin,
    checkin,
    inss,
    limosa,
    wait_until,
    write_site,
    write_works,
)

pytestmark = pytest.mark.integration


@pytest.fixture
def relay(relay_config: ControllerConfig):
    store = open_store(relay_config.database.url)
    relay = Relay(relay_config, store)
    yield store, relay
    relay.close()
    store.close()


def _arrive(store: Store, *events) -> None:
    now = datetime.now(UTC)
    with store.transaction() as conn:
        for event in events:
            checkins.record(store, conn, event, encode(event), now, 300)


def _presences(store: Store):
    with store.transaction() as conn:
        return conn.execute(select(schema.presences).order_by(schema.presences.c.id)).all()


def _once_each(registrations) -> bool:
    refs = Counter(r["client_reference"] for r in registrations)
    return all(n == 1 for n in refs.values())


def test_presences_are_registered_with_receipts_then_validated(relay, admin: StandInAdmin):
    store, relay_ = relay
    _arrive(store, *(checkin(limosa(n)) for n in range(3)))
    report = relay_.run_once()
    assert (report.sent, report.registered) == (3, 3)
    rows = _presences(store)
    assert {r.state for r in rows} == {"registered"} and all(r.receipt_id for r in rows)
    registrations = admin.registrations()
    assert {r["client_reference"] for r in registrations} == {r.client_ref for r in rows}
    assert {r["registration_date"] for r in registrations} == {
        brussels_date(datetime.now(UTC)).isoformat()
    }
    relay_.config = _fast_poll(relay_.config)
    assert wait_until(lambda: relay_.run_once() and _states(store) == {"validated"}, 10)


def _fast_poll(config: ControllerConfig) -> ControllerConfig:
    from dataclasses import replace

    return replace(config, timing=replace(config.timing, poll_interval_s=0.1))


def _states(store: Store) -> set[str]:
    return {r.state for r in _presences(store)}


def test_an_employer_not_declared_on_the_site_is_registered_with_remarks(relay, tmp_path):
    store, relay_ = relay
    roster = tmp_path / "roster.csv"
    roster.write_text(f"person,employer\n{inss(1)},{OTHER_COMPANY}\n")
    import_file(store, roster)
    _arrive(store, checkin(inss(1)))
    assert relay_.run_once().registered == 1
    relay_.config = _fast_poll(relay_.config)
    assert wait_until(lambda: relay_.run_once() and _states(store) == {"failed_remarks"}, 10)
    remarks = json.loads(_presences(store)[0].remarks)
    assert any("COMPANY IS NOT KNOWN" in r for r in remarks)


def test_an_item_the_registry_refuses_is_rejected_with_its_codes(relay):
    store, relay_ = relay
    _arrive(store, checkin(limosa(9999)), checkin(limosa(1)))  # 9999: no Limosa declaration
    report = relay_.run_once()
    assert (report.registered, report.rejected) == (1, 1)
    rejected = [r for r in _presences(store) if r.state == "rejected"]
    assert len(rejected) == 1 and json.loads(rejected[0].remarks) == ["LIMOSA_ID_UNKNOWN"]
    assert "LimosaId is not known" in rejected[0].last_error


def test_nsso_down_for_a_while_then_back_registers_everyone_once(relay, admin):
    store, relay_ = relay
    _arrive(store, *(checkin(limosa(n)) for n in range(20)))
    admin.faults(http_503_share=1.0)
    assert relay_.run_once().unavailable
    assert _states(store) == {"pending"}
    admin.reset_faults()
    relay_._retry_at = 0.0  # the back-off has run out
    report = relay_.run_once()
    assert report.registered == 20 and _states(store) == {"registered"}
    registrations = admin.registrations()
    assert len(registrations) == 20 and _once_each(registrations)


def test_an_answer_lost_after_processing_is_resolved_by_search_not_resent(relay, admin):
    store, relay_ = relay
    _arrive(store, *(checkin(limosa(n)) for n in range(5)))
    admin.faults(drop_after_processing=1)
    assert relay_.run_once().unavailable
    with store.transaction() as conn:
        batch = conn.execute(select(schema.batches)).one()
    assert batch.state == "in_doubt" and _states(store) == {"sent"}
    relay_._retry_at = 0.0
    report = relay_.run_once()
    assert report.adopted == 5 and report.sent == 0
    # The search may already see the stand-in's validation (it runs on its own clock).
    assert _states(store) <= {"registered", "validated"}
    registrations = admin.registrations()
    assert len(registrations) == 5 and _once_each(registrations)
    receipts = {r.client_ref: r.receipt_id for r in _presences(store)}
    assert receipts == {r["client_reference"]: r["receipt_id"] for r in registrations}


def test_a_timeout_while_nsso_still_works_is_not_resent_before_the_grace(admin, stand_in, tmp_path):
    path = write_site(
        tmp_path / "site",
        db_url=f"sqlite:///{tmp_path / 'c.db'}",
        registry=stand_in.endpoint,
        timeouts=(1.0, 0.3),
        timing="relay_interval_s = 0.2\nretry_base_s = 0.05\nin_doubt_grace_s = 1.5\n",
    )
    store = open_store(config_module.load(path).database.url)
    relay_ = Relay(config_module.load(path), store)
    try:
        _arrive(store, *(checkin(limosa(n)) for n in range(3)))
        admin.faults(latency_s=0.8)  # NSSO answers after our read timeout: in doubt
        assert relay_.run_once().unavailable
        admin.reset_faults()
        relay_._retry_at = 0.0
        assert relay_.run_once().sent == 0  # within the grace: neither searched nor resent
        time.sleep(1.6)
        report = relay_.run_once()
        assert (report.adopted, report.sent) == (3, 0)
        assert _states(store) <= {"registered", "validated"}
        registrations = admin.registrations()
        assert len(registrations) == 3 and _once_each(registrations)
    finally:
        relay_.close()
        store.close()


def test_an_in_doubt_batch_that_never_reached_nsso_is_sent_again_once(relay, admin, stand_in):
    store, relay_ = relay
    _arrive(store, *(checkin(limosa(n)) for n in range(3)))
    admin.faults(malformed=1)  # an answer we cannot read: the batch is in doubt
    assert relay_.run_once().unavailable
    assert _states(store) == {"sent"}
    httpx.post(f"{stand_in.base_url}/admin/reset", timeout=5).raise_for_status()  # lost
    relay_._retry_at = 0.0
    report = relay_.run_once()
    assert (report.adopted, report.requeued, report.registered) == (0, 3, 3)
    assert _states(store) == {"registered"}
    registrations = admin.registrations()
    assert len(registrations) == 3 and _once_each(registrations)


def test_a_request_that_reaches_nsso_after_its_batch_was_sent_again_is_cancelled(
    relay, admin, stand_in
):
    """The in-doubt race (issue 13, seed 4 with --in-doubt-grace 2): the first request is
    held in the network, the batch goes in doubt, the search finds nothing, the presence is
    sent again, and then the first request reaches NSSO: two registrations, one client
    reference. The relay's next search sees it and cancels the one it does not hold."""
    store, relay_ = relay
    _arrive(store, checkin(limosa(1)))
    admin.faults(malformed=1)  # an answer we cannot read: the batch is in doubt
    assert relay_.run_once().unavailable
    [row] = _presences(store)
    late = PresenceItem(workplace_id=row.workplace_id, limosa_id=row.person_id,
                        registration_date=row.date, client_reference=row.client_ref)  # fmt: skip
    httpx.post(f"{stand_in.base_url}/admin/reset", timeout=5).raise_for_status()  # held back
    relay_._retry_at = 0.0
    report = relay_.run_once()
    assert (report.requeued, report.registered) == (1, 1)
    [first_late] = relay_.registry.register([late])  # the held request lands now
    assert isinstance(first_late, RegistrationResult)
    relay_.config = _fast_poll(relay_.config)
    time.sleep(0.2)
    assert relay_.run_once().duplicates_cancelled == 1
    [row] = _presences(store)
    live = [r for r in admin.registrations() if r["cancel_reason"] is None]
    assert [r["receipt_id"] for r in live] == [row.receipt_id] != [first_late.receipt_id]
    with store.transaction() as conn:
        entry = conn.execute(select(schema.audit)).one()
    assert entry.action == "duplicate_cancelled" and first_late.receipt_id in entry.detail
    time.sleep(0.2)
    assert relay_.run_once().duplicates_cancelled == 0  # cancelled once, not again


def test_a_registration_made_twice_that_nsso_will_not_cancel_is_an_anomaly(
    relay, admin, stand_in, logged_errors
):
    store, relay_ = relay
    _arrive(store, checkin(limosa(2)))
    assert relay_.run_once().registered == 1
    [row] = _presences(store)
    with store.transaction() as conn:  # it was sent twice: watched for a late request
        conn.execute(schema.presences.update().values(attempts=2))
    late = PresenceItem(workplace_id=row.workplace_id, limosa_id=row.person_id,
                        registration_date=row.date, client_reference=row.client_ref)  # fmt: skip
    [extra] = relay_.registry.register([late])
    assert isinstance(extra, RegistrationResult)
    relay_._registry = _RefusingCancel(relay_.registry)
    logged_errors.expect("refused to cancel it")
    relay_.config = _fast_poll(relay_.config)
    time.sleep(0.2)
    assert relay_.run_once().duplicates_cancelled == 0
    [row] = _presences(store)
    assert extra.receipt_id in row.last_error and "cancel it by hand" in row.last_error
    with store.transaction() as conn:
        entry = conn.execute(select(schema.audit)).one()
    assert entry.action == "duplicate_not_cancelled"


class _RefusingCancel:
    """The real client, except that NSSO refuses every cancellation."""

    def __init__(self, inner) -> None:
        self.inner = inner

    def register(self, items):
        return self.inner.register(items)

    def get(self, receipt_id):
        return self.inner.get(receipt_id)

    def search(self, criteria):
        return self.inner.search(criteria)

    def cancel(self, items):
        detail = ErrorDetail("CANCEL_NOT_ALLOWED", "the registration cannot be cancelled")
        return [CancelResult(receipt, None, (detail,)) for receipt, _reason in items]

    def close(self) -> None:
        self.inner.close()


def test_preregister_tomorrow_registers_the_crew_for_that_date(relay, admin, tmp_path):
    store, relay_ = relay
    roster = tmp_path / "roster.csv"
    roster.write_text(f"person,employer\n{inss(1)},{COMPANY}\n{limosa(1)},\n")
    import_file(store, roster)
    today = brussels_date(datetime.now(UTC))
    tomorrow = manage.parse_day("tomorrow", today)
    done = manage.preregister(
        store, "1Y102M7NZF7PZ", tomorrow, manage.crew_from_roster(store, tomorrow)
    )
    assert (done.created, done.existing) == (2, 0)
    assert relay_.run_once().registered == 2
    assert {r["registration_date"] for r in admin.registrations()} == {tomorrow.isoformat()}
    again = manage.preregister(
        store, "1Y102M7NZF7PZ", tomorrow, manage.crew_from_roster(store, tomorrow)
    )
    assert (again.created, again.existing) == (0, 2)


def test_cancel_a_registration_through_the_command(relay, admin, relay_config, capsys):
    from controller.cli import main

    store, relay_ = relay
    _arrive(store, checkin(limosa(1)))
    relay_.run_once()
    receipt = _presences(store)[0].receipt_id
    args = ["--config", str(relay_config.path), "cancel", receipt, "--reason", "PLANNING"]
    assert main(args) == 0
    assert "SUCCESSFULLY CANCELLED" in capsys.readouterr().out
    assert _states(store) == {"cancelled"}
    assert admin.registrations()[0]["status"] == "SUCCESSFULLY CANCELLED"
    assert main(args) == 1  # a second time: already cancelled, said clearly
    assert "already cancelled" in capsys.readouterr().err


def test_signed_requests_are_accepted_by_a_stand_in_that_verifies_them(tmp_path, logged_errors):
    from controller import config as config_module
    from sim.nsso.server import serve

    cert, key = _self_signed(tmp_path)
    works = write_works(tmp_path / "works.toml", (limosa(1).digits,))
    with serve(tmp_path / "nsso.db", works, verify_signature=str(cert)) as server:
        path = write_site(
            tmp_path / "site", db_url=f"sqlite:///{tmp_path / 'c.db'}", registry=server.endpoint
        )
        path.write_text(
            path.read_text().replace(
                "read_timeout_s",
                f'cert_file = "{cert}"\nkey_file = "{key}"\nsign = true\nread_timeout_s',
            )
        )
        cfg = config_module.load(path)
        store = open_store(cfg.database.url)
        relay = Relay(cfg, store)
        unsigned = Relay(
            config_module.load(
                write_site(
                    tmp_path / "unsigned",
                    db_url=f"sqlite:///{tmp_path / 'c.db'}",
                    registry=server.endpoint,
                )
            ),
            store,
        )
        try:
            _arrive(store, checkin(limosa(1)))
            assert relay.run_once().registered == 1
            _arrive(store, checkin(limosa(1), at=datetime.now(UTC)))  # same day: nothing new
            assert relay.run_once().sent == 0
            with store.transaction() as conn:
                conn.execute(schema.presences.update().values(state="pending"))
            logged_errors.expect("refused the whole call (SECURITY_ERROR)")
            report = unsigned.run_once()  # the stand-in insists on a signature
            # A fault of the caller rejects nobody: the presence waits, and the relay backs off.
            assert report.unavailable and report.rejected == 0
            with store.transaction() as conn:
                row = conn.execute(select(schema.presences)).one()
            assert row.state == "pending" and "SECURITY_ERROR" in row.last_error
        finally:
            unsigned.close()
            relay.close()
            store.close()


def _self_signed(directory: Path) -> tuple[Path, Path]:
    from datetime import timedelta

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Test contractor")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "company.pem", directory / "company.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def test_a_cancelled_registration_is_corrected_by_requeue_and_registered_anew(
    relay, admin, relay_config, capsys
):
    from controller.cli import main

    store, relay_ = relay
    _arrive(store, checkin(limosa(1)))
    relay_.run_once()
    first = _presences(store)[0]
    config = ["--config", str(relay_config.path)]
    assert main([*config, "cancel", first.receipt_id, "--reason", "PLANNING"]) == 0
    assert main([*config, "requeue", "--state", "cancelled"]) == 0
    assert "1 cancelled presences will be sent again" in capsys.readouterr().out
    assert relay_.run_once().registered == 1
    second = _presences(store)[0]
    assert second.receipt_id != first.receipt_id and second.client_ref != first.client_ref
    assert json.loads(second.previous_receipts) == [first.receipt_id]  # kept as evidence
    statuses = sorted(r["status"] for r in admin.registrations())
    assert statuses == ["SUCCESSFULLY CANCELLED", "SUCCESSFULLY REGISTERED"]


def test_requeue_refuses_a_past_day(relay, relay_config, capsys):
    from controller.cli import main

    args = ["--config", str(relay_config.path), "requeue", "--state", "rejected"]
    assert main([*args, "--date", "2020-01-01"]) == 1
    assert "today or tomorrow only" in capsys.readouterr().err
