"""The fixtures themselves, against the real services."""

import threading

import paho.mqtt.client as mqtt
import psycopg
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from sim.mosquitto import MosquittoBroker


def test_mosquitto_fixture_delivers_at_qos1(mosquitto: MosquittoBroker) -> None:
    received: list[bytes] = []
    got = threading.Event()

    def on_message(client: mqtt.Client, userdata: object, message: mqtt.MQTTMessage) -> None:
        received.append(message.payload)
        got.set()

    sub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="sub", protocol=mqtt.MQTTv5)
    sub.on_message = on_message
    sub.connect(mosquitto.host, mosquitto.port)
    sub.subscribe("sitegate/v1/W1/+/checkin", qos=1)
    sub.loop_start()
    pub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="pub", protocol=mqtt.MQTTv5)
    pub.connect(mosquitto.host, mosquitto.port)
    pub.loop_start()
    try:
        sub_ready = threading.Event()
        sub.on_subscribe = lambda *args: sub_ready.set()
        sub.subscribe("sitegate/v1/W1/+/checkin", qos=1)
        assert sub_ready.wait(5)
        info = pub.publish("sitegate/v1/W1/gate-1/checkin", b"hello", qos=1)
        info.wait_for_publish(5)
        assert info.is_published()
        assert got.wait(5)
        assert received == [b"hello"]
    finally:
        for client in (pub, sub):
            client.loop_stop()
            client.disconnect()


def test_mosquitto_can_be_stopped_and_started_again(mosquitto: MosquittoBroker) -> None:
    mosquitto.stop()
    assert not mosquitto.running
    mosquitto.start()
    assert mosquitto.running


def test_pg_url_is_a_fresh_database_on_a_real_server(pg_url: str) -> None:
    with psycopg.connect(pg_url.replace("+psycopg", "")) as conn:
        version = conn.execute("show server_version").fetchone()
        tables = conn.execute(
            "select count(*) from information_schema.tables where table_schema = 'public'"
        ).fetchone()
    assert version is not None and int(version[0].split(".")[0]) >= 12
    assert tables == (0,)


def test_db_url_runs_on_both_backends(db_url: str) -> None:
    assert db_url.split(":")[0] in ("sqlite", "postgresql+psycopg")


def test_logged_error_guard_accepts_an_expected_error(logged_errors: object) -> None:
    import logging

    logged_errors.expect("boom")  # type: ignore[attr-defined]
    logging.getLogger("controller.test").error("boom happened")


@pytest.mark.parametrize("level", ["warning", "info"])
def test_logged_error_guard_ignores_lower_levels(level: str) -> None:
    import logging

    getattr(logging.getLogger("controller.test"), level)("not an error")
