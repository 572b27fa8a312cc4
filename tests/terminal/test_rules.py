"""The admission rules, one reason code at a time."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest

from presence.events import Credential
from presence.messages import SiteConfig, SitePolicy, person_hash
from terminal.drivers.events import CardError, CardInserted, CardRemoved, Entered, QrSeen
from terminal.flows import rules
from terminal.flows.rules import Context, Cooldown, Unreadable, Verdict
from tests.terminal.people import ALICE, BOB, POSTED, SALT, identity, l1_url

NOW = datetime(2026, 3, 2, 6, 30, tzinfo=UTC)


def site(allowed: tuple = (ALICE, POSTED), blocked: tuple = (), age_s: float = 60) -> SiteConfig:
    return SiteConfig(
        version=1,
        issued_at=NOW - timedelta(seconds=age_s),
        salt=SALT,
        policy=SitePolicy("refuse", 60),
        allowlist=frozenset(person_hash(SALT, p) for p in allowed),
        blocklist=frozenset(person_hash(SALT, p) for p in blocked),
    )


def context(**changes: object) -> Context:
    base = Context(
        today=date(2026, 3, 2),
        now=NOW,
        now_mono=1000.0,
        direction="in",
        site=site(),
        unknown_person="refuse",
        allowlist_max_age_s=3600,
        cooldown_s=60,
        cooldown=Cooldown(),
    )
    return replace(base, **changes)  # type: ignore[arg-type]


ALICE_CARD = Credential("eid", ALICE, "591234567890", date(2030, 1, 1))


# --- identification -----------------------------------------------------------------------


def test_an_eid_card_presents_its_national_number() -> None:
    found = rules.identify(CardInserted(identity()))
    assert found == ALICE_CARD


def test_a_card_with_an_unusable_card_number_is_unreadable() -> None:
    found = rules.identify(CardInserted(identity(card_number="12")))
    assert found == Unreadable("bad_card_data", "refused_read_error")


@pytest.mark.parametrize(
    ("code", "pattern"),
    [("card_expired", "refused_card_expired"), ("read_error", "refused_read_error"),
     ("not_an_eid", "refused"), ("invalid_national_number", "refused")],
)  # fmt: skip
def test_a_card_error_keeps_the_driver_code(code: str, pattern: str) -> None:
    assert rules.identify(CardError(code)) == Unreadable(code, pattern)


def test_an_l1_code_presents_its_limosa_id() -> None:
    assert rules.identify(QrSeen(l1_url())) == Credential("l1_qr", POSTED)


def test_another_qr_code_is_not_an_l1_code() -> None:
    found = rules.identify(QrSeen("WIFI:S:site;T:WPA;P:secret;;"))
    assert found == Unreadable("not_an_l1_code", "refused_not_an_l1_code")


def test_an_l1_url_without_an_id_is_a_bad_l1_code() -> None:
    found = rules.identify(QrSeen("https://www.limosa.be/q.html?3=Kowalski"))
    assert found == Unreadable("bad_l1_code", "refused_not_an_l1_code")


def test_eleven_digits_typed_are_a_national_number() -> None:
    assert rules.identify(Entered("85.07.30-033.28")) == Credential("keypad_inss", ALICE)


def test_eleven_digits_with_a_wrong_checksum_are_never_taken_for_a_limosa_id() -> None:
    assert rules.identify(Entered("85073003329")) == Unreadable("bad_keypad_entry", "refused")


def test_a_longer_number_typed_is_a_limosa_id() -> None:
    assert rules.identify(Entered(POSTED.digits)) == Credential("keypad_limosa", POSTED)


@pytest.mark.parametrize("text", ["", "123", "12AB5678", "1" * 25])
def test_anything_else_typed_is_a_bad_keypad_entry(text: str) -> None:
    assert rules.identify(Entered(text)) == Unreadable("bad_keypad_entry", "refused")


def test_events_that_are_not_credentials_identify_nothing() -> None:
    assert rules.identify(CardRemoved()) is None


# --- decisions ----------------------------------------------------------------------------


def test_a_listed_person_with_a_valid_card_is_admitted() -> None:
    assert rules.decide(ALICE_CARD, context()) == Verdict("admitted", "ok", "admitted")


def test_an_expired_card_is_refused() -> None:
    expired = replace(ALICE_CARD, card_valid_until=date(2026, 3, 1))
    assert rules.decide(expired, context()) == Verdict(
        "refused", "card_expired", "refused_card_expired"
    )


def test_a_card_valid_until_today_still_opens() -> None:
    last_day = replace(ALICE_CARD, card_valid_until=date(2026, 3, 2))
    assert rules.decide(last_day, context()).admitted


def test_a_blocked_person_is_refused_even_when_listed() -> None:
    ctx = context(site=site(blocked=(ALICE,)))
    assert rules.decide(ALICE_CARD, ctx) == Verdict("refused", "blocked", "refused")


def test_a_person_missing_from_a_fresh_allowlist_is_refused_whatever_the_policy() -> None:
    cred = Credential("keypad_inss", BOB)
    for policy in ("refuse", "admit_and_flag"):
        verdict = rules.decide(cred, context(unknown_person=policy))
        assert verdict == Verdict("refused", "unknown_person", "refused_unknown_person")


def test_a_stale_allowlist_refuses_unknown_people_under_the_refuse_policy() -> None:
    ctx = context(site=site(age_s=3601))
    verdict = rules.decide(Credential("keypad_inss", BOB), ctx)
    assert verdict == Verdict("refused", "allowlist_stale", "refused_unknown_person")


def test_a_stale_allowlist_admits_and_flags_under_the_admit_and_flag_policy() -> None:
    ctx = context(site=site(age_s=3601), unknown_person="admit_and_flag")
    verdict = rules.decide(Credential("keypad_inss", BOB), ctx)
    assert verdict == Verdict("admitted", "unknown_person_admitted", "admitted")


def test_people_on_a_stale_allowlist_are_still_admitted() -> None:
    assert rules.decide(ALICE_CARD, context(site=site(age_s=7200))).reason == "ok"


def test_no_allowlist_at_all_applies_the_policy() -> None:
    assert rules.decide(ALICE_CARD, context(site=None)).reason == "allowlist_stale"
    flagged = rules.decide(ALICE_CARD, context(site=None, unknown_person="admit_and_flag"))
    assert flagged.admitted and flagged.reason == "unknown_person_admitted"


def test_a_second_entry_within_the_cool_down_is_refused_without_an_event() -> None:
    ctx = context()
    ctx.cooldown.record(ALICE, "in", 1000.0 - 59)
    assert rules.decide(ALICE_CARD, ctx) == Verdict(
        "refused", "already_inside", "refused_already_inside", publish=False
    )


def test_after_the_cool_down_the_same_person_makes_a_new_event() -> None:
    ctx = context()
    ctx.cooldown.record(ALICE, "in", 1000.0 - 60)
    assert rules.decide(ALICE_CARD, ctx) == Verdict("admitted", "ok", "admitted")


def test_a_second_exit_within_the_cool_down_opens_without_an_event() -> None:
    ctx = context(direction="out")
    ctx.cooldown.record(ALICE, "out", 990.0)
    assert rules.decide(ALICE_CARD, ctx) == Verdict(
        "admitted", "cooldown_exit", "admitted", publish=False
    )


def test_an_entry_after_an_exit_opens_within_the_cool_down() -> None:
    cooldown = Cooldown()
    cooldown.record(ALICE, "in", 990.0)
    cooldown.record(ALICE, "out", 995.0)
    assert rules.decide(ALICE_CARD, context(cooldown=cooldown)).reason == "ok"


def test_the_cool_down_is_per_person() -> None:
    ctx = context()
    ctx.cooldown.record(BOB, "in", 999.0)
    assert rules.decide(ALICE_CARD, ctx).reason == "ok"


def test_the_cool_down_table_stays_bounded() -> None:
    cooldown = Cooldown()
    cooldown.MAX_ENTRIES = 2
    cooldown.record(ALICE, "in", 1.0)
    cooldown.record(BOB, "in", 2.0)
    cooldown.record(POSTED, "in", 3.0)
    assert not cooldown.within(ALICE, "in", 4.0, 60)
    assert cooldown.within(POSTED, "in", 4.0, 60)
