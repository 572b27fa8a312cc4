"""The check-in flow: every transition, every reason, the gate moved only after the commit."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from presence.events import encode
from presence.messages import LEGACY_SHA256
from terminal.drivers.events import (
    CameraFault,
    CardError,
    CardInserted,
    CardRemoved,
    Entered,
    ExitRequested,
    Forced,
    NotPassed,
    Passed,
    QrSeen,
    ReaderFault,
    Tampered,
)
from terminal.flows import checkin
from terminal.flows.checkin import SiteConfigReceived
from tests.conftest import ErrorLogGuard
from tests.terminal.people import ALICE, BOB, POSTED, identity, l1_url
from tests.terminal.rig import Rig, make_rig, site_config


@pytest.fixture
def rig(tmp_path: Path) -> Any:
    with make_rig(tmp_path) as rig:
        yield rig


ALICE_CARD = CardInserted(identity())


# --- start and provisioning ---------------------------------------------------------------


def test_with_a_site_config_the_terminal_starts_idle_and_locked(rig: Rig) -> None:
    assert rig.flow.state == "idle"
    assert rig.gate.pattern == "idle" and not rig.gate.relay_released


def test_without_a_site_config_it_waits_in_provisioning_until_one_arrives(tmp_path: Path) -> None:
    with make_rig(tmp_path, site=False) as rig:
        assert rig.flow.state == "provisioning" and rig.gate.pattern == "provisioning"
        rig.run(SiteConfigReceived(site_config(rig.clock)))
        assert rig.flow.state == "idle" and rig.gate.pattern == "idle"


def test_in_provisioning_a_credential_is_decided_by_the_unknown_person_policy(
    tmp_path: Path,
) -> None:
    with make_rig(tmp_path, site=False, unknown_person="admit_and_flag") as rig:
        decided = rig.run(ALICE_CARD)
        assert decided is not None and decided.verdict.reason == "unknown_person_admitted"
        assert rig.gate.relay_released
        rig.pass_through()
        assert rig.flow.state == "provisioning"


def test_without_a_site_config_the_refuse_policy_refuses(tmp_path: Path) -> None:
    with make_rig(tmp_path, site=False) as rig:
        rig.run(ALICE_CARD)
        assert [e.reason for e in rig.stored()] == ["allowlist_stale"]
        rig.advance(checkin.REFUSED_HOLD_S)
        assert rig.flow.state == "provisioning"


def test_a_config_from_a_controller_clock_ahead_does_not_freeze_the_allowlist(rig: Rig) -> None:
    rig.run(SiteConfigReceived(site_config(rig.clock, version=2, age_s=-3600)))
    current = site_config(rig.clock, allowed=(BOB,), version=3)
    rig.run(SiteConfigReceived(current))
    assert rig.flow.site is current


# --- admission ----------------------------------------------------------------------------


def test_a_listed_card_holder_is_admitted_and_the_event_is_stored(rig: Rig) -> None:
    decided = rig.run(ALICE_CARD)
    assert decided is not None and decided.verdict.reason == "ok"
    assert rig.flow.state == "waiting_passage"
    assert rig.gate.relay_released and rig.gate.pattern == "admitted"
    [event] = rig.stored()
    assert event == decided.event
    assert (event.decision, event.reason, event.direction, event.seq) == ("admitted", "ok", "in", 1)
    assert event.credential.kind == "eid" and event.credential.person == ALICE
    assert event.credential.card_valid_until == date(2030, 1, 1)
    assert event.terminal_id == "gate-1" and event.clock_synced is True


def test_the_event_is_committed_before_the_relay_moves(rig: Rig) -> None:
    seen: list[int] = []

    class Spy:
        def on_enter_admitted(self) -> None:
            seen.append(len(rig.outbox.pending()))

    rig.flow.machine.add_listener(Spy())
    rig.run(ALICE_CARD)
    assert seen == [1]


def test_an_l1_code_admits_a_posted_worker(rig: Rig) -> None:
    rig.run(QrSeen(l1_url()))
    [event] = rig.stored()
    assert event.credential.kind == "l1_qr" and event.credential.person == POSTED


@pytest.mark.parametrize(
    ("typed", "kind"), [("85073003328", "keypad_inss"), (POSTED.digits, "keypad_limosa")]
)
def test_a_typed_number_admits(rig: Rig, typed: str, kind: str) -> None:
    rig.run(Entered(typed))
    assert [e.credential.kind for e in rig.stored()] == [kind]
    assert rig.gate.relay_released


def test_an_admission_while_offline_says_so_at_the_gate(rig: Rig) -> None:
    rig.online = False
    rig.run(ALICE_CARD)
    assert rig.gate.pattern == "admitted_offline" and rig.gate.relay_released


def test_an_unsynchronised_clock_is_recorded_in_the_event(rig: Rig) -> None:
    rig.synced = False
    rig.run(ALICE_CARD)
    assert [e.clock_synced for e in rig.stored()] == [False]


# --- passage ------------------------------------------------------------------------------


def test_a_passage_ends_the_admission(rig: Rig) -> None:
    rig.run(ALICE_CARD)
    rig.pass_through()
    assert rig.flow.state == "idle"


def test_no_passage_in_the_window_ends_it_and_the_person_may_try_again(rig: Rig) -> None:
    rig.run(ALICE_CARD)
    rig.advance(rig.gate.config.passage_window_s)  # the gate reports NotPassed
    assert rig.flow.state == "idle"
    decided = rig.run(ALICE_CARD)
    assert decided is not None and decided.verdict.reason == "ok"
    assert len(rig.stored()) == 2


def test_without_any_passage_report_the_flow_times_out(tmp_path: Path) -> None:
    with make_rig(tmp_path, gate="tamper_pin = 0\npassage_pin = 0") as rig:
        rig.run(ALICE_CARD)
        rig.advance(rig.gate.config.passage_window_s + checkin.PASSAGE_GRACE_S - 0.1)
        assert rig.flow.state == "waiting_passage"
        rig.advance(0.2)
        assert rig.flow.state == "idle"


def test_passage_reports_outside_a_window_change_nothing(rig: Rig) -> None:
    rig.run(Passed(), NotPassed(), CardRemoved(), ExitRequested())
    assert rig.flow.state == "idle"


def test_a_forced_passage_is_counted(rig: Rig) -> None:
    rig.pass_through()
    assert rig.flow.counters.get("forced") == 1 and rig.flow.state == "idle"


def test_a_credential_while_someone_passes_is_told_to_wait_and_not_decided(rig: Rig) -> None:
    rig.run(ALICE_CARD)
    assert rig.run(Entered("90010112395")) is None
    assert len(rig.stored()) == 1 and rig.flow.state == "waiting_passage"
    assert rig.gate.pattern == "wait" and rig.gate.relay_released
    assert rig.flow.counters.get("wait") == 1


def test_after_the_wait_the_passage_ends_as_usual_and_the_next_person_is_decided(
    rig: Rig,
) -> None:
    rig.run(ALICE_CARD)
    rig.run(Entered("90010112395"))
    rig.pass_through()
    assert rig.flow.state == "idle"
    decided = rig.run(CardInserted(identity(inss=BOB.digits)))
    assert decided is not None and decided.verdict.reason == "unknown_person"


# --- refusals -----------------------------------------------------------------------------


def test_an_unknown_person_is_refused_and_the_refusal_is_stored(rig: Rig) -> None:
    rig.run(CardInserted(identity(inss=BOB.digits)))
    assert rig.flow.state == "refused" and rig.gate.pattern == "refused_unknown_person"
    assert not rig.gate.relay_released
    assert [(e.decision, e.reason) for e in rig.stored()] == [("refused", "unknown_person")]
    rig.advance(checkin.REFUSED_HOLD_S)
    assert rig.flow.state == "idle"


def test_an_expired_card_is_refused_with_its_reason(rig: Rig) -> None:
    rig.run(CardInserted(identity(valid_until=date(2026, 1, 31))))
    assert rig.gate.pattern == "refused_card_expired"
    assert [e.reason for e in rig.stored()] == ["card_expired"]


def test_a_blocked_person_is_refused(rig: Rig) -> None:
    rig.run(SiteConfigReceived(site_config(rig.clock, blocked=(ALICE,), version=2)))
    rig.run(ALICE_CARD)
    assert [e.reason for e in rig.stored()] == ["blocked"] and rig.gate.pattern == "refused"


@pytest.mark.parametrize(
    ("event", "reason", "pattern"),
    [
        (CardError("card_expired"), "card_expired", "refused_card_expired"),
        (CardError("read_error"), "read_error", "refused_read_error"),
        (CardError("not_an_eid"), "not_an_eid", "refused"),
        (QrSeen("https://example.com/menu"), "not_an_l1_code", "refused_not_an_l1_code"),
        (Entered("12"), "bad_keypad_entry", "refused"),
    ],
)
def test_a_credential_naming_nobody_is_refused_without_an_event(
    rig: Rig, event: Any, reason: str, pattern: str
) -> None:
    decided = rig.run(event)
    assert decided is not None and decided.verdict.reason == reason
    assert decided.event is None and rig.stored() == []
    assert rig.flow.state == "refused" and rig.gate.pattern == pattern


def test_after_a_refusal_a_new_credential_is_decided_at_once(rig: Rig) -> None:
    rig.run(CardError("read_error"))
    rig.run(ALICE_CARD)
    assert rig.flow.state == "waiting_passage"


def test_a_stale_allowlist_applies_the_site_policy(rig: Rig) -> None:
    rig.advance(3601)
    stale = site_config(rig.clock, allowed=(), age_s=3601, version=2, policy="admit_and_flag")
    rig.run(SiteConfigReceived(stale))
    rig.run(ALICE_CARD)
    assert [(e.decision, e.reason) for e in rig.stored()] == [
        ("admitted", "unknown_person_admitted")
    ]


def test_an_allowlist_ages_into_the_policy(rig: Rig) -> None:
    rig.run(SiteConfigReceived(site_config(rig.clock, allowed=(ALICE,), version=2)))
    rig.advance(3600)  # allowlist_max_age_s of the test config, 1 h: still fresh
    rig.run(Entered("90010112395"))
    rig.advance(1)
    rig.run(Entered("90010112395"))
    assert [e.reason for e in rig.stored()] == ["unknown_person", "allowlist_stale"]


# --- cool-down ----------------------------------------------------------------------------


def test_a_second_entry_within_the_cool_down_is_refused_without_a_second_event(rig: Rig) -> None:
    rig.run(ALICE_CARD)
    rig.pass_through()
    rig.advance(30)
    decided = rig.run(ALICE_CARD)
    assert decided is not None and decided.verdict.reason == "already_inside"
    assert rig.gate.pattern == "refused_already_inside" and not rig.gate.relay_released
    assert len(rig.stored()) == 1
    rig.advance(31)
    rig.run(ALICE_CARD)
    assert len(rig.stored()) == 2


def test_a_second_exit_within_the_cool_down_opens_without_a_second_event(tmp_path: Path) -> None:
    with make_rig(tmp_path, direction="out") as rig:
        rig.run(ALICE_CARD)
        rig.pass_through()
        rig.advance(10)
        decided = rig.run(ALICE_CARD)
        assert decided is not None and decided.verdict.reason == "cooldown_exit"
        assert rig.gate.relay_released and len(rig.stored()) == 1


# --- faults -------------------------------------------------------------------------------


def test_tampering_locks_the_gate_until_the_enclosure_is_shut(tmp_path: Path) -> None:
    with make_rig(tmp_path, gate="") as rig:  # tamper switch on GPIO6, open at start
        rig.run()
        assert rig.flow.state == "fault" and rig.gate.pattern == "tampered"
        assert rig.run(ALICE_CARD) is None and not rig.gate.relay_released
        rig.factory.pin(6).drive_low()  # the contact closes
        rig.run()
        assert rig.flow.state == "idle"


def test_tampering_during_a_passage_locks_at_once(rig: Rig) -> None:
    rig.run(ALICE_CARD)
    rig.run(Tampered(active=True))
    assert rig.flow.state == "fault" and not rig.gate.relay_released
    rig.run(Tampered(active=False))
    assert rig.flow.state == "idle"


def test_the_terminal_faults_only_when_every_credential_input_is_down(rig: Rig) -> None:
    rig.run(ReaderFault("reader_gone"))
    assert rig.flow.state == "idle" and rig.flow.health["reader"] == "reader_gone"
    rig.run(CameraFault("no_frames"))
    assert rig.flow.state == "fault" and rig.gate.pattern == "fault"
    rig.run(CameraFault("ok"))
    assert rig.flow.state == "idle"


def test_a_full_outbox_refuses_instead_of_admitting_until_there_is_room(
    tmp_path: Path, logged_errors: ErrorLogGuard
) -> None:
    logged_errors.expect("admission refused, event cannot be stored")
    with make_rig(tmp_path, capacity=1) as rig:
        rig.run(ALICE_CARD)
        rig.pass_through()
        decided = rig.run(Entered(POSTED.digits))
        assert decided is not None and decided.verdict.reason == "outbox_full"
        assert rig.flow.state == "fault" and not rig.gate.relay_released
        [stored] = rig.stored()
        rig.outbox.ack(stored.event_id)
        rig.run()
        assert rig.flow.state == "idle"
        rig.run(Entered(POSTED.digits))
        assert rig.gate.relay_released


def test_every_decision_reaches_the_observers(rig: Rig) -> None:
    rig.run(ALICE_CARD)
    rig.pass_through()
    rig.run(Forced())
    rig.run(QrSeen("hello"))
    assert [d.verdict.reason for d in rig.decisions] == ["ok", "not_an_l1_code"]


# --- what is written ----------------------------------------------------------------------


def _logged_reasons(rig: Rig) -> list[str]:
    assert rig.outbox._db is not None
    rows = rig.outbox._db.execute("SELECT reason, person FROM refusals ORDER BY id").fetchall()
    assert all(person is None or "***" in person for _r, person in rows)  # masked only
    return [reason for reason, _person in rows]


def test_refusals_the_outbox_does_not_carry_go_to_the_refusal_log(rig: Rig) -> None:
    rig.run(CardError("read_error"))
    rig.advance(3)
    rig.run(QrSeen("hello"))
    rig.advance(3)
    rig.run(ALICE_CARD)
    rig.pass_through()
    rig.advance(5)
    rig.run(ALICE_CARD)  # within the cool-down: refused, no event
    assert _logged_reasons(rig) == ["read_error", "not_an_l1_code", "already_inside"]
    assert [e.reason for e in rig.stored()] == ["ok"]


def test_a_refused_check_in_naming_someone_goes_to_the_outbox_not_the_log(rig: Rig) -> None:
    rig.run(CardInserted(identity(BOB.digits)))
    assert [e.reason for e in rig.stored()] == ["unknown_person"]
    assert _logged_reasons(rig) == []


def test_an_admission_refused_for_a_full_outbox_is_logged(
    tmp_path: Path, logged_errors: ErrorLogGuard
) -> None:
    logged_errors.expect("admission refused, event cannot be stored")
    with make_rig(tmp_path, capacity=1) as rig:
        rig.run(ALICE_CARD)
        rig.pass_through()
        rig.run(Entered(POSTED.digits))
        assert _logged_reasons(rig) == ["outbox_full"]


def test_an_event_says_when_it_happened_on_the_terminals_monotonic_clock(rig: Rig) -> None:
    rig.advance(42)
    rig.run(ALICE_CARD)
    [event] = rig.stored()
    assert (event.boot_id, event.mono_s) == (rig.clock.boot_id(), rig.clock.monotonic())


def test_an_older_controller_gets_events_without_the_monotonic_moment(rig: Rig) -> None:
    """Its site config is version 1: it would refuse an event with fields it does not know."""
    rig.run(SiteConfigReceived(replace(site_config(rig.clock), scheme=LEGACY_SHA256)))
    rig.run(CardInserted(identity(ALICE.digits)))
    [event] = rig.stored()
    assert event.boot_id is None and event.mono_s is None
    assert "boot_id" not in json.loads(encode(event))
