"""Fixtures shared across the test packages."""

from __future__ import annotations

import pytest

from diamp.daq.instruments.scpi import ScpiInstrument


@pytest.fixture
def scpi_commands(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """Every checked SCPI command (``execute``) the drivers send, with the instrument's name."""
    sent: list[tuple[str, str]] = []
    original = ScpiInstrument.execute

    def spy(self: ScpiInstrument, command: str) -> None:
        sent.append((self.name, command))
        original(self, command)

    monkeypatch.setattr(ScpiInstrument, "execute", spy)
    return sent
