"""The site's access control in mosquitto's dynamic security plugin: its config file, and the
commands that make the same changes on the running broker (``$CONTROL/dynamic-security/v1``).

Every client is known by its certificate's common name (``use_identity_as_username``) and
has one role of its own. mosquitto 2.0's plugin does not expand ``%u`` in a role's topics,
so each terminal's role names its own topics: it publishes only its check-ins and status,
reads only its acks and the site config. The controller reads every check-in and status and
writes the acks and the retained config; the admin (sitegate-provision) may only send
commands to the plugin. A client that is not listed may do nothing: removing a terminal
takes its rights away at once, and the plugin closes its connection.

Without a password a client cannot log in by user name: only a certificate lets it in.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from presence import topics
from provisioning.broker import ADMIN_USER, CONTROLLER_USER

CONTROL_TOPIC = "$CONTROL/dynamic-security/v1"
RESPONSE_TOPIC = f"{CONTROL_TOPIC}/response"
TERMINAL_ROLE_PREFIX = "sitegate-terminal-"
# Nothing is allowed unless a role says so (unsubscribing harms nobody).
DEFAULT_ACCESS = {
    "publishClientSend": False,
    "publishClientReceive": False,
    "subscribe": False,
    "unsubscribe": True,
}

Json = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Command:
    """One plugin command; ``tolerated`` is an error answer that still means "done" (removing
    a client the broker never had, e.g. one added while it was unreachable)."""

    body: Json
    tolerated: str | None = None


def _allow(acltype: str, topic: str) -> Json:
    return {"acltype": acltype, "topic": topic, "allow": True}


def _reads(topic: str) -> list[Json]:
    """Subscribing to ``topic`` and being sent what is published on it."""
    return [_allow("subscribePattern", topic), _allow("publishClientReceive", topic)]


def _writes(topic: str) -> list[Json]:
    return [_allow("publishClientSend", topic)]


def role_of(terminal_id: str) -> str:
    return TERMINAL_ROLE_PREFIX + terminal_id


def terminal_role(workplace_id: str, terminal_id: str) -> Json:
    return {
        "rolename": role_of(terminal_id),
        "acls": [
            *_writes(topics.checkin_topic(workplace_id, terminal_id)),
            *_writes(topics.status_topic(workplace_id, terminal_id)),
            *_reads(topics.ack_topic(workplace_id, terminal_id)),
            *_reads(topics.config_topic(workplace_id)),
        ],
    }


def controller_role(workplace_id: str) -> Json:
    return {
        "rolename": CONTROLLER_USER,
        "acls": [
            *_reads(topics.subscription(workplace_id, "checkin")),
            *_reads(topics.subscription(workplace_id, "status")),
            *_writes(topics.subscription(workplace_id, "ack")),
            *_writes(topics.config_topic(workplace_id)),
            *_reads(topics.config_topic(workplace_id)),
        ],
    }


def admin_role() -> Json:
    return {
        "rolename": ADMIN_USER,
        "acls": [*_writes(CONTROL_TOPIC), *_reads(RESPONSE_TOPIC)],
    }


def _client(username: str, rolename: str) -> Json:
    return {"username": username, "roles": [{"rolename": rolename}]}


def config(workplace_id: str, terminal_ids: Iterable[str]) -> Json:
    """The whole plugin config for the site's active (not revoked) terminals."""
    ids = list(terminal_ids)
    return {
        "defaultACLAccess": DEFAULT_ACCESS,
        "clients": [
            _client(ADMIN_USER, ADMIN_USER),
            _client(CONTROLLER_USER, CONTROLLER_USER),
            *(_client(t, role_of(t)) for t in ids),
        ],
        "groups": [],
        "roles": [
            admin_role(),
            controller_role(workplace_id),
            *(terminal_role(workplace_id, t) for t in ids),
        ],
    }


def render(workplace_id: str, terminal_ids: Iterable[str]) -> str:
    return json.dumps(config(workplace_id, terminal_ids), indent=1) + "\n"


# --- commands to the running broker ------------------------------------------------------


def add_terminal(workplace_id: str, terminal_id: str) -> list[Command]:
    role = terminal_role(workplace_id, terminal_id)
    return [
        Command({"command": "createRole", **role}, tolerated="Role already exists"),
        Command(
            {"command": "createClient", **_client(terminal_id, role["rolename"])},
            tolerated="Client already exists",
        ),
    ]


def remove_terminal(terminal_id: str) -> list[Command]:
    """The broker closes the terminal's connection and forgets its rights."""
    return [
        Command({"command": "deleteClient", "username": terminal_id}, "Client not found"),
        Command({"command": "deleteRole", "rolename": role_of(terminal_id)}, "Role not found"),
    ]


def disconnect_terminal(terminal_id: str) -> list[Command]:
    """Closes the terminal's connections and lets it in again (with a valid certificate)."""
    return [
        Command({"command": "disableClient", "username": terminal_id}),
        Command({"command": "enableClient", "username": terminal_id}),
    ]


def request(commands: list[Command]) -> bytes:
    return json.dumps({"commands": [c.body for c in commands]}).encode()


def failures(commands: list[Command], payload: bytes) -> list[str]:
    """The commands the plugin refused, as ``command: error``, from its response."""
    try:
        responses = json.loads(payload)["responses"]
        if not isinstance(responses, list) or len(responses) != len(commands):
            raise ValueError("one response per command")
        answers = [(r["command"], r.get("error")) for r in responses]
    except (ValueError, KeyError, TypeError) as exc:
        return [f"unreadable response from the plugin ({exc})"]
    return [
        f"{name}: {error}"
        for (name, error), command in zip(answers, commands, strict=True)
        if error is not None and error != command.tolerated
    ]
