"""The broker's access control as provisioning writes it: the dynamic security plugin's
config follows the site's active terminals, and the plugin's answers are read strictly."""

from __future__ import annotations

import json
import os

import pytest

from presence import topics
from presence.events import MAX_EVENT_BYTES
from presence.messages import MAX_MESSAGE_BYTES
from provisioning import broker, dynsec, terminal_admin
from provisioning.errors import ProvisioningError
from provisioning.layout import SiteLayout
from tests.provisioning.conftest import WORKPLACE
from tests.support.ci import skip_or_fail


def written(site: SiteLayout) -> dict[str, object]:
    return dict(json.loads(site.dynsec_file.read_text()))


def clients(site: SiteLayout) -> dict[str, list[str]]:
    config = written(site)
    return {
        c["username"]: [r["rolename"] for r in c["roles"]]
        for c in config["clients"]  # type: ignore[attr-defined]
    }


def test_a_new_site_lets_in_only_the_admin_and_the_controller(site: SiteLayout) -> None:
    assert clients(site) == {
        "sitegate-admin": ["sitegate-admin"],
        "sitegate-controller": ["sitegate-controller"],
    }
    assert written(site)["defaultACLAccess"] == {
        "publishClientSend": False,
        "publishClientReceive": False,
        "subscribe": False,
        "unsubscribe": True,
    }


def test_added_terminals_are_listed_and_a_revoked_one_is_gone(site: SiteLayout, clock) -> None:
    terminal_admin.add_terminal(site.root, "gate-1", "in", clock=clock)
    terminal_admin.add_terminal(site.root, "gate-2", "out", clock=clock)
    terminal_admin.revoke_terminal(site.root, "gate-2", clock)
    before_rotation = site.dynsec_file.read_text()
    terminal_admin.rotate_terminal(site.root, "gate-1", clock)

    assert sorted(clients(site)) == ["gate-1", "sitegate-admin", "sitegate-controller"]
    assert clients(site)["gate-1"] == ["sitegate-terminal-gate-1"]
    assert "gate-2" not in site.dynsec_file.read_text()
    assert site.dynsec_file.read_text() == before_rotation  # same name, same rights


def test_a_terminal_role_names_only_its_own_topics() -> None:
    role = dynsec.terminal_role(WORKPLACE, "gate-1")

    assert sorted((a["acltype"], a["topic"]) for a in role["acls"]) == sorted(
        [
            ("publishClientSend", topics.checkin_topic(WORKPLACE, "gate-1")),
            ("publishClientSend", topics.status_topic(WORKPLACE, "gate-1")),
            ("subscribePattern", topics.ack_topic(WORKPLACE, "gate-1")),
            ("publishClientReceive", topics.ack_topic(WORKPLACE, "gate-1")),
            ("subscribePattern", topics.config_topic(WORKPLACE)),
            ("publishClientReceive", topics.config_topic(WORKPLACE)),
        ]
    )
    assert all(a["allow"] is True for a in role["acls"])


@pytest.mark.parametrize("name", ["sitegate-admin", "sitegate-controller"])
def test_a_terminal_cannot_take_a_service_name(site: SiteLayout, clock, name: str) -> None:
    with pytest.raises(ProvisioningError) as caught:
        terminal_admin.add_terminal(site.root, name, "in", clock=clock)

    assert caught.value.code == "bad_name"


def test_the_plugins_refusals_are_reported_and_tolerated_ones_are_not() -> None:
    commands = [*dynsec.remove_terminal("gate-1"), *dynsec.disconnect_terminal("gate-2")]
    answer = {
        "responses": [
            {"command": "deleteClient", "error": "Client not found"},
            {"command": "deleteRole"},
            {"command": "disableClient", "error": "Client not found"},
            {"command": "enableClient"},
        ]
    }

    assert dynsec.failures(commands, json.dumps(answer).encode()) == [
        "disableClient: Client not found"
    ]


@pytest.mark.parametrize("payload", [b"not json", b'{"responses": []}', b'{"responses": [1]}'])
def test_an_unreadable_answer_is_a_failure(payload: bytes) -> None:
    failures = dynsec.failures(dynsec.remove_terminal("gate-1"), payload)

    assert len(failures) == 1 and "unreadable response" in failures[0]


def test_the_packet_limit_passes_every_message_our_readers_accept() -> None:
    assert broker.MAX_PACKET_BYTES > MAX_MESSAGE_BYTES > MAX_EVENT_BYTES
    assert broker.MAX_PACKET_BYTES < 20 * 1024 * 1024


def test_the_access_control_file_keeps_the_owner_mosquitto_was_given(
    site: SiteLayout, clock
) -> None:
    """mosquitto saves the file in place: a rewrite by root must leave it mosquitto's."""
    if os.geteuid() != 0:
        skip_or_fail("only root can give a file to another user; others own what they write")
    os.chown(site.dynsec_file, 4321, 4322)

    terminal_admin.add_terminal(site.root, "gate-1", "in", clock=clock)

    assert (site.dynsec_file.stat().st_uid, site.dynsec_file.stat().st_gid) == (4321, 4322)
    assert "gate-1" in site.dynsec_file.read_text()
