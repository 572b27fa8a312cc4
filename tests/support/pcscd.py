"""Fixtures for a real PC/SC stack (pcscd + vpcd + the BELPIC emulator); see ``sim.pcscd``.

Import them in a ``conftest.py``::

    from tests.support.pcscd import pcscd_vpcd, vpcd_card  # noqa: F401

    def test_x(vpcd_card: CardSlot) -> None:
        vpcd_card.insert(BelpicCard.from_fields())
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sim.pcscd import CardSlot, Pcscd, card_present, machine_lock
from tests.support.ci import skip_or_fail


@pytest.fixture(scope="session")
def pcscd_vpcd() -> Iterator[Pcscd]:
    """pcscd serving vpcd's ``Virtual PCD 00 00`` for the whole session (see ``Pcscd``).

    Use ``vpcd_card`` in tests: it also holds ``machine_lock`` while the test runs.
    """
    service = Pcscd()
    try:
        with machine_lock():
            service.ensure()
    except (OSError, RuntimeError) as exc:
        service.close()
        skip_or_fail(f"no pcscd with the vpcd reader: {exc}")
    yield service
    with machine_lock():
        if not service.running:
            service.start()  # a test left it stopped: the machine keeps a pcscd
        service.close()


@pytest.fixture
def vpcd_card(pcscd_vpcd: Pcscd) -> Iterator[CardSlot]:
    """An empty virtual reader slot, for this test alone (``machine_lock`` held); any card
    still in it is removed after the test. pcscd is (re)started if it went away."""
    with machine_lock():
        if not pcscd_vpcd.running:
            pcscd_vpcd.start()
        pcscd_vpcd.ensure()
        slot = CardSlot()
        if card_present(slot.reader):
            raise RuntimeError(f"a card is already in {slot.reader!r}: another emulator runs")
        try:
            yield slot
        finally:
            slot.remove()
