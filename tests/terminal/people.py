"""People and credentials the terminal tests present at the gate (valid checksums)."""

from __future__ import annotations

from datetime import UTC, date, datetime

from presence.events import CheckIn, Credential, Decision, new_event_id
from presence.ids import parse_inss, parse_limosa_id, parse_workplace_id
from terminal.drivers.eid.identity import BirthDate, Identity

ALICE = parse_inss("85073003328")
BOB = parse_inss("90010112395")
CAROL = parse_inss("75122424614")
POSTED = parse_limosa_id("24901234567890123")
WORKPLACE = parse_workplace_id("1Y102M7NZF7PZ")
SALT = "00112233445566778899aabbccddeeff"


def l1_url(limosa_id: str = POSTED.digits) -> str:
    return (
        f"https://www.limosa.be/q.html?id={limosa_id}&2=85073003328&3=Kowalski&4=Jan"
        "&7=Budowa%20Sp.%20z%20o.o."
    )


def identity(
    inss: str = ALICE.digits,
    valid_until: date = date(2030, 1, 1),
    card_number: str = "591234567890",
) -> Identity:
    return Identity(
        card_number=card_number,
        chip_number="00" * 16,
        valid_from=date(2020, 1, 1),
        valid_until=valid_until,
        national_number=parse_inss(inss),
        surname="Peeters",
        given_names="An",
        third_initial="",
        nationality="Belg",
        birth_place="Gent",
        birth_date=BirthDate("30 JUL 1985", date(1985, 7, 30), "day"),
        sex="F",
        document_type=1,
    )


def checkin(seq: int, decision: Decision = "admitted", reason: str = "ok") -> CheckIn:
    return CheckIn(
        event_id=new_event_id(),
        terminal_id="gate-1",
        workplace_id=WORKPLACE,
        seq=seq,
        scanned_at=datetime(2026, 3, 2, 6, 30, tzinfo=UTC),
        clock_synced=True,
        credential=Credential("keypad_inss", ALICE),
        direction="in",
        decision=decision,
        reason=reason,
    )
