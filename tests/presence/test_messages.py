import json
import uuid
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from presence.ids import parse_inss, parse_limosa_id
from presence.messages import (
    Ack,
    BadMessage,
    SiteConfig,
    SitePolicy,
    TerminalStatus,
    decode_ack,
    decode_acks,
    decode_site_config,
    decode_status,
    encode_ack,
    encode_acks,
    encode_site_config,
    encode_status,
    person_hash,
)

SALT = "00112233445566778899aabbccddeeff"


def test_ack_round_trip() -> None:
    ack = Ack(uuid.uuid4(), "stored", "pending", None)
    assert decode_ack(encode_ack(ack)) == ack


def test_ack_batch_round_trip_keeps_order() -> None:
    acks = [
        Ack(uuid.uuid4(), "stored", "pending", None),
        Ack(uuid.uuid4(), "duplicate", "registered", None),
        Ack(uuid.uuid4(), "refused", None, "unknown_terminal"),
    ]
    payload = encode_acks(acks)
    assert json.loads(payload)["v"] == 1
    assert decode_acks(payload) == acks


def test_decode_acks_accepts_the_single_form() -> None:
    ack = Ack(uuid.uuid4(), "stored", "needs_employer", None)
    assert decode_acks(encode_ack(ack)) == [ack]


def test_an_empty_batch_cannot_be_encoded() -> None:
    with pytest.raises(ValueError):
        encode_acks([])


_GOOD_ACK = {"event_id": str(uuid.uuid4()), "status": "stored"}


@pytest.mark.parametrize(
    "body",
    [
        {"v": 1, "acks": []},
        {"v": 1, "acks": {"event_id": _GOOD_ACK["event_id"]}},
        {"v": 1, "acks": "stored"},
        {"v": 1, "acks": [_GOOD_ACK, "not an ack"]},
        {"v": 1, "acks": [_GOOD_ACK, {"event_id": "nope", "status": "stored"}]},
        {"v": 1, "acks": [_GOOD_ACK, {"event_id": _GOOD_ACK["event_id"], "status": "lost"}]},
        {"v": 1, "acks": [{"status": "stored"}]},
        {"v": 1, "acks": [{**_GOOD_ACK, "reason": 7}]},
        {"v": 1, "acks": [[_GOOD_ACK]]},
    ],
)
def test_a_malformed_batch_is_refused_whole(body: dict[str, object]) -> None:
    with pytest.raises(BadMessage) as caught:
        decode_acks(json.dumps(body).encode())
    assert caught.value.code == "shape"


def test_site_config_round_trip_holds_hashes_not_numbers() -> None:
    inss = parse_inss("85073003328")
    config = SiteConfig(
        version=3,
        issued_at=datetime(2026, 3, 2, 5, 0, tzinfo=UTC),
        salt=SALT,
        policy=SitePolicy("admit_and_flag", 90),
        allowlist=frozenset({person_hash(SALT, inss)}),
        blocklist=frozenset({person_hash(SALT, parse_limosa_id("24912345678901234"))}),
    )
    payload = encode_site_config(config)
    assert b"85073003328" not in payload
    assert decode_site_config(payload) == config


def test_person_hash_depends_on_salt() -> None:
    inss = parse_inss("85073003328")
    assert person_hash(SALT, inss) != person_hash("ff" * 16, inss)
    assert len(person_hash(SALT, inss)) == 64


def test_status_round_trip() -> None:
    status = TerminalStatus(
        "online", datetime(2026, 3, 2, 5, tzinfo=UTC), "0.1.0", 4, False, 12.5, True,
        {"reader": "ok", "camera": "fault", "broker": "ok"},
    )  # fmt: skip
    assert decode_status(encode_status(status)) == status


@pytest.mark.parametrize(
    ("payload", "code"),
    [(b"nope", "not_json"), (b"[]", "shape"), (b'{"v": 9}', "version"), (b'{"v": 1}', "shape")],
)
def test_bad_messages_have_codes(payload: bytes, code: str) -> None:
    for decode in (decode_ack, decode_acks, decode_site_config, decode_status):
        with pytest.raises(BadMessage) as caught:
            decode(payload)
        assert caught.value.code == code


@given(st.binary(max_size=300))
def test_decoders_raise_only_bad_message(data: bytes) -> None:
    for decode in (decode_ack, decode_acks, decode_site_config, decode_status):
        try:
            decode(data)
        except BadMessage:
            pass
