"""The console's pages, one module per page (each a thin door onto the controller)."""

from controller.web.pages import (
    anomalies,
    audit,
    onsite,
    presences,
    proof,
    quarantine,
    refused,
    register,
    reveal,
    roster,
    scan,
    terminals,
    today,
)

__all__ = [
    "anomalies",
    "audit",
    "onsite",
    "presences",
    "proof",
    "quarantine",
    "refused",
    "register",
    "reveal",
    "roster",
    "scan",
    "terminals",
    "today",
]
