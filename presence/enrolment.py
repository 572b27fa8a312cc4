"""A terminal's enrolment: the code in the enrolment QR and the request and answer on the
wire, shared by the terminal (which reads the code and asks), the controller (which makes
tokens) and provisioning (which serves the enrolment and signs the certificate).

The QR code holds ``sitegate-enrol:1?url=<https URL>&terminal=<id>&token=<token>&ca=<hex>``:
the controller's enrolment URL, the terminal id the token enrols (the common name the CSR
must carry), a single-use token and the fingerprint of the site CA (SHA-256 of its DER),
which the terminal pins before it sends anything. ``parse_code`` is the trust
boundary for whatever a camera decoded: a text that is not an enrolment code at all raises
``NotAnEnrolmentCode`` (the terminal ignores it, as it may be an L1 code held up by
mistake); one that is but is unusable raises ``BadEnrolment("malformed_code")``.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit

from presence.errors import PresenceError
from presence.events import is_valid_terminal_id

SCHEME = "sitegate-enrol:1?"
TOKEN_BYTES = 32
TOKEN_PATTERN = re.compile(r"[A-Za-z0-9_-]{43}")  # 32 random bytes, URL-safe base64
FINGERPRINT_PATTERN = re.compile(r"[0-9a-f]{64}")
MAX_CODE_LENGTH = 512
MAX_BODY_BYTES = 64 * 1024  # a CSR is under 1 KB; anything larger is refused unread
ENROL_PATH = "/v1/enrol"
CA_PATH = "/v1/ca"

# The reasons an enrolment is refused: stable codes the terminal shows and the audit keeps.
REFUSALS = (
    "malformed_token",
    "unknown_token",
    "used_token",
    "expired_token",
    "bad_request",
    "weak_key",
    "wrong_subject",
    "too_large",
    "rate_limited",
    "revoked_terminal",
    "bad_setting",
    "unavailable",
)


class NotAnEnrolmentCode(PresenceError):
    """The text is not an enrolment code (another QR code)."""


class BadEnrolment(PresenceError):
    """An enrolment code, request or answer that cannot be used; ``code`` says why."""


@dataclass(frozen=True, slots=True)
class EnrolmentCode:
    url: str
    terminal_id: str
    token: str
    ca_fingerprint: str

    def text(self) -> str:
        """What the QR code holds."""
        check_url(self.url)
        _check_terminal(self.terminal_id)
        check_token(self.token)
        if not FINGERPRINT_PATTERN.fullmatch(self.ca_fingerprint):
            raise BadEnrolment("malformed_code", "the CA fingerprint is not 64 hex digits")
        return (
            f"{SCHEME}url={quote(self.url, safe='')}&terminal={self.terminal_id}"
            f"&token={self.token}&ca={self.ca_fingerprint}"
        )


def fingerprint(der: bytes) -> str:
    """The SHA-256 fingerprint of a certificate's DER bytes, as the QR code carries it."""
    return hashlib.sha256(der).hexdigest()


def token_hash(token: str) -> str:
    """What the controller stores of a token (a token has 256 random bits: a plain hash)."""
    return hashlib.sha256(token.encode("ascii")).hexdigest()


def check_token(token: object) -> str:
    if not isinstance(token, str) or not TOKEN_PATTERN.fullmatch(token):
        raise BadEnrolment("malformed_token", "the token is not 43 URL-safe base64 characters")
    return token


def _check_terminal(terminal_id: str) -> str:
    if not is_valid_terminal_id(terminal_id):
        raise BadEnrolment("malformed_code", "the terminal id is not valid")
    return terminal_id


def check_url(url: str) -> str:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise BadEnrolment("malformed_code", "the enrolment URL is not a URL") from None
    if parts.scheme != "https" or not parts.hostname or parts.query or parts.fragment:
        raise BadEnrolment("malformed_code", "the enrolment URL must be https://host[:port]/...")
    if port == 0:
        raise BadEnrolment("malformed_code", "the enrolment URL has port 0")
    return url


def parse_code(text: str) -> EnrolmentCode:
    if not text.startswith(SCHEME):
        raise NotAnEnrolmentCode("not_enrolment", "not an enrolment code")
    if len(text) > MAX_CODE_LENGTH:
        raise BadEnrolment("malformed_code", f"longer than {MAX_CODE_LENGTH} characters")
    try:
        pairs = parse_qsl(text[len(SCHEME) :], keep_blank_values=True, strict_parsing=True)
    except ValueError:
        raise BadEnrolment("malformed_code", "not key=value pairs") from None
    fields = dict(pairs)
    if len(pairs) != 4 or set(fields) != {"url", "terminal", "token", "ca"}:
        raise BadEnrolment("malformed_code", "expected exactly url, terminal, token and ca")
    url = check_url(fields["url"])
    code = EnrolmentCode(url, _check_terminal(fields["terminal"]), fields["token"], fields["ca"])
    try:
        check_token(code.token)
    except BadEnrolment:
        raise BadEnrolment("malformed_code", "the token is malformed") from None
    if not FINGERPRINT_PATTERN.fullmatch(code.ca_fingerprint):
        raise BadEnrolment("malformed_code", "the CA fingerprint is not 64 hex digits")
    return code


# --- the wire: POST ENROL_PATH --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Enrolled:
    """The controller's answer: the terminal's certificate, its config and the CA."""

    terminal_id: str
    certificate_pem: str
    ca_pem: str
    config_toml: str


def encode_request(token: str, csr_pem: str) -> bytes:
    return json.dumps({"token": token, "csr": csr_pem}).encode("utf-8")


def decode_request(body: bytes) -> tuple[str, str]:
    """(token, csr PEM); ``BadEnrolment`` with ``malformed_token`` or ``bad_request``."""
    document = _json_object(body, "bad_request")
    if set(document) != {"token", "csr"} or not isinstance(document["csr"], str):
        raise BadEnrolment("bad_request", "expected a JSON object with token and csr")
    return check_token(document["token"]), document["csr"]


def encode_answer(answer: Enrolled) -> bytes:
    return json.dumps(
        {
            "terminal_id": answer.terminal_id,
            "certificate": answer.certificate_pem,
            "ca": answer.ca_pem,
            "config": answer.config_toml,
        }
    ).encode("utf-8")


def decode_answer(body: bytes) -> Enrolled:
    document = _json_object(body, "bad_answer")
    keys = ("terminal_id", "certificate", "ca", "config")
    if set(document) != set(keys) or not all(isinstance(document[k], str) for k in keys):
        raise BadEnrolment("bad_answer", "the controller's answer lacks a field")
    return Enrolled(*(document[k] for k in keys))


def encode_refusal(code: str, message: str) -> bytes:
    return json.dumps({"error": code, "message": message}).encode("utf-8")


def decode_refusal(body: bytes) -> tuple[str, str]:
    """(code, message) of a refusal; an answer that is not one gives ``bad_answer``."""
    try:
        document = _json_object(body, "bad_answer")
    except BadEnrolment:
        return "bad_answer", "the controller's refusal is unreadable"
    code, message = document.get("error"), document.get("message", "")
    if code not in REFUSALS or not isinstance(message, str):
        return "bad_answer", "the controller's refusal is unreadable"
    return code, message


def _json_object(body: bytes, code: str) -> dict[str, Any]:
    if len(body) > MAX_BODY_BYTES:
        raise BadEnrolment("too_large", f"over {MAX_BODY_BYTES} bytes")
    try:
        document = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise BadEnrolment(code, "not JSON") from None
    if not isinstance(document, dict):
        raise BadEnrolment(code, "not a JSON object")
    return document
