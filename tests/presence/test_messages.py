import hashlib
import json
import uuid
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from presence.ids import parse_inss, parse_limosa_id
from presence.messages import (
    LEGACY_SHA256,
    SCRYPT,
    Ack,
    BadMessage,
    ClockPin,
    HashScheme,
    RefusalCount,
    RefusalSummary,
    SiteConfig,
    SitePolicy,
    TerminalStatus,
    decode_ack,
    decode_acks,
    decode_refusal_summary,
    decode_site_config,
    decode_status,
    encode_ack,
    encode_acks,
    encode_refusal_summary,
    encode_site_config,
    encode_status,
    hash_digits,
    is_refusal_summary,
    person_hash,
)
from tests.presence.site_config_v1 import decode_site_config_v1

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
    for decode in (decode_ack, decode_acks, decode_site_config, decode_status,
                   decode_refusal_summary):  # fmt: skip
        with pytest.raises(BadMessage) as caught:
            decode(payload)
        assert caught.value.code == code


@given(st.binary(max_size=300))
def test_decoders_raise_only_bad_message(data: bytes) -> None:
    for decode in (decode_ack, decode_acks, decode_site_config, decode_status,
                   decode_refusal_summary):  # fmt: skip
        try:
            decode(data)
        except BadMessage:
            pass


BOOT = "6f1c2b0e-3d4a-4b5c-8d9e-0a1b2c3d4e5f"
AT = datetime(2026, 3, 2, 5, tzinfo=UTC)


def test_a_heartbeat_carries_its_monotonic_moment_and_expiry() -> None:
    status = TerminalStatus("online", AT, boot_id=BOOT, mono_s=3600.5, expiry_s=75)
    assert decode_status(encode_status(status)) == status


def test_a_status_of_an_older_terminal_still_decodes() -> None:
    old = {"v": 1, "state": "online", "at": AT.isoformat(), "outbox_depth": 0, "health": {}}
    status = decode_status(json.dumps(old).encode())
    assert status.boot_id is None and status.mono_s is None and status.expiry_s is None


@pytest.mark.parametrize(
    "extra",
    [
        {"boot_id": BOOT},
        {"mono_s": 1.0},
        {"boot_id": "x", "mono_s": 1.0},
        {"boot_id": BOOT, "mono_s": -1},
        {"boot_id": BOOT, "mono_s": True},
        {"expiry_s": 0},
        {"expiry_s": 7.5},
    ],
)
def test_bad_clock_fields_in_a_status_are_refused(extra: dict[str, object]) -> None:
    body = {"v": 1, "state": "online", "at": AT.isoformat(), **extra}
    with pytest.raises(BadMessage) as caught:
        decode_status(json.dumps(body).encode())
    assert caught.value.code == "shape"


def _count(**changes: object) -> RefusalCount:
    values: dict[str, object] = dict(
        boot_id=BOOT, minute=120, span=1, reason="unknown_person", at=AT, clock_synced=True,
        count=3,
    )  # fmt: skip
    values.update(changes)
    return RefusalCount(**values)  # type: ignore[arg-type]


def test_a_refusal_summary_round_trips_and_is_told_from_a_status() -> None:
    summary = RefusalSummary(uuid.uuid4(), (_count(), _count(minute=120, span=60, count=40)))
    payload = encode_refusal_summary(summary)
    assert decode_refusal_summary(payload) == summary
    assert is_refusal_summary(payload)
    assert not is_refusal_summary(encode_status(TerminalStatus("online", AT)))


@pytest.mark.parametrize(
    "changes",
    [
        {"span": 5},
        {"span": 60, "minute": 121},
        {"count": 0},
        {"minute": -1},
        {"reason": "Unknown Person"},
        {"boot_id": "nope"},
    ],
)
def test_a_bad_refusal_count_refuses_the_summary(changes: dict[str, object]) -> None:
    summary = RefusalSummary(uuid.uuid4(), (_count(**changes),))
    with pytest.raises(BadMessage) as caught:
        decode_refusal_summary(encode_refusal_summary(summary))
    assert caught.value.code == "shape"


def _config(scheme: HashScheme = SCRYPT) -> SiteConfig:
    inss = parse_inss("85073003328")
    return SiteConfig(
        version=4, issued_at=AT, salt=SALT, allowlist=frozenset({person_hash(SALT, inss, scheme)}),
        scheme=scheme,
    )  # fmt: skip


def test_the_allowlist_hash_is_scrypt_with_the_site_salt() -> None:
    inss = parse_inss("85073003328")
    expected = hashlib.scrypt(b"85073003328", salt=bytes.fromhex(SALT), n=1024, r=8, p=1,
                              dklen=32).hex()  # fmt: skip
    assert person_hash(SALT, inss) == expected == hash_digits(SALT, "85073003328")


def test_a_site_config_is_version_2_and_names_its_hash_scheme() -> None:
    body = json.loads(encode_site_config(_config()))
    assert body["v"] == 2
    assert body["hash"] == {"kdf": "scrypt", "n": 1024, "r": 8, "p": 1}
    assert decode_site_config(encode_site_config(_config())) == _config()


def test_a_terminal_of_the_previous_release_refuses_a_version_2_config() -> None:
    with pytest.raises(BadMessage) as caught:
        decode_site_config_v1(encode_site_config(_config()))
    assert caught.value.code == "version"


def test_a_version_1_config_is_still_read_with_its_sha256_hashes() -> None:
    legacy = _config(LEGACY_SHA256)
    payload = encode_site_config(legacy)
    assert json.loads(payload)["v"] == 1 and "hash" not in json.loads(payload)
    assert decode_site_config_v1(payload)  # what it was before
    decoded = decode_site_config(payload)
    assert decoded == legacy
    inss = parse_inss("85073003328")
    assert decoded.hash_of(inss) == hashlib.sha256(bytes.fromhex(SALT) + b"85073003328").hexdigest()


@pytest.mark.parametrize(
    ("hash_spec", "code"),
    [
        ({"kdf": "argon2id", "n": 2048, "r": 8, "p": 1}, "hash_scheme"),
        ({"kdf": "sha256", "n": 0, "r": 0, "p": 0}, "hash_scheme"),
        ({"kdf": "scrypt", "n": 2**20, "r": 8, "p": 1}, "hash_scheme"),  # seconds per check-in
        ({"kdf": "scrypt", "n": 512, "r": 8, "p": 1}, "hash_scheme"),  # too cheap
        ({"kdf": "scrypt", "n": 3000, "r": 8, "p": 1}, "hash_scheme"),
        ({"kdf": "scrypt", "n": 2048, "r": 8, "p": 4}, "hash_scheme"),
        ({"kdf": "scrypt", "n": "2048", "r": 8, "p": 1}, "hash_scheme"),
        ({"kdf": "scrypt", "n": 2048, "r": 8}, "shape"),
        (None, "shape"),
    ],
)
def test_a_config_whose_hash_scheme_the_terminal_will_not_run_is_refused(
    hash_spec: object, code: str
) -> None:
    body = json.loads(encode_site_config(_config()))
    body["hash"] = hash_spec
    with pytest.raises(BadMessage) as caught:
        decode_site_config(json.dumps(body).encode())
    assert caught.value.code == code


def test_a_config_of_a_version_not_yet_known_is_refused() -> None:
    body = json.loads(encode_site_config(_config()))
    body["v"] = 3
    with pytest.raises(BadMessage) as caught:
        decode_site_config(json.dumps(body).encode())
    assert caught.value.code == "version"


def test_a_status_carries_clock_pins() -> None:
    pin = ClockPin(BOOT, 42.5, AT)
    status = TerminalStatus("online", AT, boot_id=BOOT, mono_s=50.0, expiry_s=75,
                            clock_pins=(pin,))  # fmt: skip
    assert decode_status(encode_status(status)).clock_pins == (pin,)


@pytest.mark.parametrize(
    "pins",
    [
        {"boot_id": BOOT, "mono_s": 1.0, "at": "2026-03-02T05:00:00+00:00"},
        [{"boot_id": "x", "mono_s": 1.0, "at": "2026-03-02T05:00:00+00:00"}],
        [{"boot_id": BOOT, "mono_s": -1.0, "at": "2026-03-02T05:00:00+00:00"}],
        [{"boot_id": BOOT, "mono_s": 1.0, "at": "2026-03-02T05:00:00"}],
        [{"boot_id": BOOT, "mono_s": 1.0}],
        [{"boot_id": BOOT, "mono_s": 1.0, "at": "2026-03-02T05:00:00+00:00"}] * 9,
    ],
)
def test_bad_clock_pins_in_a_status_are_refused(pins: object) -> None:
    body = {"v": 1, "state": "online", "at": AT.isoformat(), "clock_pins": pins}
    with pytest.raises(BadMessage) as caught:
        decode_status(json.dumps(body).encode())
    assert caught.value.code == "shape"
