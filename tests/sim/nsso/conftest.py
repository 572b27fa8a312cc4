"""The registry tests' fixtures (works file, clock, stand-in, client, PKI), shared here."""

from tests.registry.conftest import client, clock, pki, stand_in, works_file

__all__ = ["client", "clock", "pki", "stand_in", "works_file"]
