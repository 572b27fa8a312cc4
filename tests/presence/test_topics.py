import pytest

from presence.topics import (
    BadTopic,
    Topic,
    ack_topic,
    checkin_topic,
    config_topic,
    parse_topic,
    status_topic,
    subscription,
)


def test_build_each_topic() -> None:
    assert checkin_topic("1Y102M7NZF7PZ", "gate-1") == "sitegate/v1/1Y102M7NZF7PZ/gate-1/checkin"
    assert ack_topic("W1", "gate-1") == "sitegate/v1/W1/gate-1/ack"
    assert status_topic("W1", "gate-1") == "sitegate/v1/W1/gate-1/status"
    assert config_topic("W1") == "sitegate/v1/W1/config"
    assert subscription("W1", "checkin") == "sitegate/v1/W1/+/checkin"


@pytest.mark.parametrize(
    ("topic", "parsed"),
    [
        ("sitegate/v1/W1/gate-1/checkin", Topic("W1", "checkin", "gate-1")),
        ("sitegate/v1/W1/gate-1/ack", Topic("W1", "ack", "gate-1")),
        ("sitegate/v1/W1/gate-1/status", Topic("W1", "status", "gate-1")),
        ("sitegate/v1/W1/config", Topic("W1", "config")),
    ],
)
def test_parse_round_trips(topic: str, parsed: Topic) -> None:
    assert parse_topic(topic) == parsed


@pytest.mark.parametrize(
    ("topic", "code"),
    [
        ("sitegate/v1/W1/+/checkin", "wildcard"),
        ("sitegate/v1/W1/#", "wildcard"),
        ("sitegate/v1/W1//checkin", "empty_level"),
        ("sitegate/v1/W1/" + "t" * 65 + "/checkin", "too_long"),
        ("other/v1/W1/gate-1/checkin", "not_ours"),
        ("sitegate/v1/W1/gate-1/photo", "shape"),
        ("sitegate/v1/W1/gate-1/checkin/extra", "shape"),
    ],
)
def test_parse_rejects(topic: str, code: str) -> None:
    with pytest.raises(BadTopic) as caught:
        parse_topic(topic)
    assert caught.value.code == code


@pytest.mark.parametrize("terminal", ["+", "#", "", "a/b"])
def test_build_rejects_bad_levels(terminal: str) -> None:
    with pytest.raises(BadTopic):
        checkin_topic("W1", terminal)
