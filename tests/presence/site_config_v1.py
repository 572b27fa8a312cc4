"""The site config decoder of the release before site config v2, verbatim (presence/messages.py
at the commit before scrypt hashes): what a terminal not yet upgraded runs. Kept here to test
that such a terminal refuses a v2 config cleanly instead of misreading its hashes."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from presence.messages import BadMessage

MESSAGE_VERSION = 1
MAX_MESSAGE_BYTES = 4 * 1024 * 1024


def _load(payload: bytes, what: str) -> dict[str, Any]:
    if len(payload) > MAX_MESSAGE_BYTES:
        raise BadMessage("too_large", f"{what} over {MAX_MESSAGE_BYTES} bytes")
    try:
        body = json.loads(payload)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        raise BadMessage("not_json", f"{what} is not UTF-8 JSON") from None
    if not isinstance(body, dict):
        raise BadMessage("shape", f"{what} must be a JSON object")
    if body.get("v") != MESSAGE_VERSION:
        raise BadMessage("version", f"{what} has an unsupported version")
    return body


def decode_site_config_v1(payload: bytes) -> dict[str, Any]:
    body = _load(payload, "site config")
    try:
        policy = body["policy"]
        if policy["unknown_person"] not in ("refuse", "admit_and_flag"):
            raise ValueError("unknown_person")
        issued_at = datetime.fromisoformat(body["issued_at"])
        if issued_at.tzinfo is None:
            raise ValueError("naive issued_at")
        bytes.fromhex(body["salt"])
        lists = [body["allowlist"], body["blocklist"]]
        if not all(isinstance(h, str) and len(h) == 64 for hashes in lists for h in hashes):
            raise ValueError("hash list")
        return body
    except (KeyError, ValueError, TypeError, AttributeError) as exc:
        raise BadMessage("shape", f"site config is malformed ({type(exc).__name__})") from None
