import json
import uuid
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from presence.events import BadEvent, CheckIn, Credential, decode, encode, new_event_id
from presence.ids import parse_inss, parse_limosa_id, parse_workplace_id


def make_event(**changes: Any) -> CheckIn:
    values: dict[str, Any] = {
        "event_id": new_event_id(),
        "terminal_id": "gate-1",
        "workplace_id": parse_workplace_id("1Y102M7NZF7PZ"),
        "seq": 7,
        "scanned_at": datetime(2026, 3, 2, 7, 1, 2, 345000, tzinfo=timezone(timedelta(hours=1))),
        "clock_synced": True,
        "credential": Credential(
            "eid", parse_inss("85073003328"), "591234567890", date(2030, 1, 1)
        ),
        "direction": "in",
        "decision": "admitted",
        "reason": "ok",
    }
    values.update(changes)
    return CheckIn(**values)


def body(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(encode(make_event()))
    data.update(changes)
    return data


def assert_bad(data: Any, code: str) -> None:
    raw = data if isinstance(data, bytes) else json.dumps(data).encode()
    with pytest.raises(BadEvent) as caught:
        decode(raw)
    assert caught.value.code == code


@pytest.mark.parametrize(
    "credential",
    [
        Credential("eid", parse_inss("85073003328"), "591234567890", date(2030, 1, 1)),
        Credential("keypad_inss", parse_inss("85273000106")),
        Credential("l1_qr", parse_limosa_id("24912345678901234")),
        Credential("keypad_limosa", parse_limosa_id("24912345678901234")),
    ],
)
def test_round_trip_of_every_credential_kind(credential: Credential) -> None:
    event = make_event(credential=credential, decision="refused", reason="unknown_person")
    assert decode(encode(event)) == event


def test_event_id_is_a_uuid7() -> None:
    assert new_event_id().version == 7
    assert new_event_id() != new_event_id()


def test_naive_datetime_cannot_even_be_built() -> None:
    with pytest.raises(BadEvent) as caught:
        make_event(scanned_at=datetime(2026, 3, 2, 7, 0))
    assert caught.value.code == "naive_datetime"


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"\xff\xfe", "not_json"),
        (b"{not json", "not_json"),
        (b"[1,2]", "not_object"),
        (b"x" * 9000, "too_large"),
    ],
)
def test_undecodable_payloads(data: bytes, code: str) -> None:
    assert_bad(data, code)


def test_unknown_schema_version() -> None:
    assert_bad(body(v=2), "version")
    assert_bad(body(v="1"), "version")


def test_missing_field() -> None:
    data = body()
    del data["seq"]
    assert_bad(data, "missing_field")


def test_extra_field() -> None:
    assert_bad(body(colour="red"), "extra_field")


def test_extra_credential_field() -> None:
    data = body()
    data["credential"]["name"] = "Jan"
    assert_bad(data, "extra_field")


@pytest.mark.parametrize(
    ("field", "value"),
    [("seq", "7"), ("seq", True), ("seq", 1.5), ("clock_synced", 1), ("terminal_id", 5),
     ("credential", "eid")],
)  # fmt: skip
def test_wrong_types(field: str, value: Any) -> None:
    code = "not_object" if field == "credential" else "wrong_type"
    assert_bad(body(**{field: value}), code)


@pytest.mark.parametrize(
    ("field", "value"),
    [("direction", "sideways"), ("decision", "maybe"), ("seq", -1), ("event_id", "abc"),
     ("event_id", str(uuid.uuid4())), ("terminal_id", "Gate 1"), ("reason", "Not OK"),
     ("scanned_at", "yesterday"), ("scanned_at", "9999-12-31T23:00:00-12:00"),
     ("scanned_at", "0001-01-01T00:30:00+01:00")],
)  # fmt: skip
def test_bad_values(field: str, value: Any) -> None:
    assert_bad(body(**{field: value}), "bad_value")


def test_naive_scanned_at_is_refused() -> None:
    assert_bad(body(scanned_at="2026-03-02T07:00:00"), "naive_datetime")


def test_invalid_identifiers_are_refused() -> None:
    data = body()
    data["credential"]["inss"] = "85073003329"
    assert_bad(data, "bad_identifier")
    assert_bad(body(workplace_id="TOO-LONG-WORKPLACE"), "bad_identifier")


def test_utc_timestamp_round_trips() -> None:
    event = make_event(scanned_at=datetime(2026, 3, 2, 6, 0, tzinfo=UTC))
    assert decode(encode(event)).scanned_at == event.scanned_at


@settings(max_examples=400)
@given(st.binary(max_size=600))
def test_decode_raises_only_bad_event_on_any_bytes(data: bytes) -> None:
    try:
        decode(data)
    except BadEvent:
        pass


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=12,
)


@settings(max_examples=400)
@given(st.sampled_from([*sorted(body().keys()), "credential.kind", "credential.inss"]), json_values)
def test_decode_raises_only_bad_event_on_mutated_events(field: str, value: Any) -> None:
    data = body()
    if field.startswith("credential."):
        data["credential"][field.split(".")[1]] = value
    else:
        data[field] = value
    try:
        decode(json.dumps(data).encode())
    except BadEvent:
        pass


BOOT = "6f1c2b0e-3d4a-4b5c-8d9e-0a1b2c3d4e5f"


def test_the_scan_on_the_terminals_monotonic_clock_round_trips() -> None:
    event = make_event(clock_synced=False, boot_id=BOOT, mono_s=86_412.125)
    assert decode(encode(event)) == event
    assert json.loads(encode(event))["v"] == 1  # no new version: old controllers' events


def test_an_event_without_a_boot_still_decodes_as_before() -> None:
    event = make_event()
    assert "boot_id" not in json.loads(encode(event))
    assert decode(encode(event)).boot_id is None


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"boot_id": BOOT}, "missing_field"),
        ({"mono_s": 12.5}, "missing_field"),
        ({"boot_id": BOOT.upper(), "mono_s": 1.0}, "bad_value"),
        ({"boot_id": "not-a-boot", "mono_s": 1.0}, "bad_value"),
        ({"boot_id": 7, "mono_s": 1.0}, "wrong_type"),
        ({"boot_id": BOOT, "mono_s": "1.0"}, "wrong_type"),
        ({"boot_id": BOOT, "mono_s": True}, "wrong_type"),
        ({"boot_id": BOOT, "mono_s": -0.5}, "bad_value"),
        ({"boot_id": BOOT, "mono_s": 1e300}, "bad_value"),
    ],
)
def test_a_bad_boot_or_monotonic_reading_is_refused(changes: dict[str, Any], code: str) -> None:
    assert_bad(body(**changes), code)


def test_a_non_finite_monotonic_reading_is_refused() -> None:
    raw = json.dumps(body(boot_id=BOOT, mono_s=1.0)).replace('"mono_s": 1.0', '"mono_s": NaN')
    assert_bad(raw.encode(), "bad_value")


def test_boot_and_monotonic_reading_come_together_in_the_dataclass_too() -> None:
    with pytest.raises(BadEvent):
        make_event(boot_id=BOOT)
