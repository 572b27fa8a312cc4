"""The real PC/SC stack (pcscd + vpcd) for the eID integration tests."""

from tests.support.pcscd import pcscd_vpcd, vpcd_card

__all__ = ["pcscd_vpcd", "vpcd_card"]
