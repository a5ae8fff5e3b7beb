"""Fixtures shared across the test packages."""

from __future__ import annotations

import os
import shutil

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


@pytest.fixture
def chromium() -> str:
    """The browser, or a skip, or a failure when DIAMP_REQUIRE_BROWSER=1 (as in CI)."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is not None:
        return found
    if os.environ.get("DIAMP_REQUIRE_BROWSER") == "1":
        pytest.fail(
            "DIAMP_REQUIRE_BROWSER=1 but chromium is not installed (apt-get install chromium)"
        )
    pytest.skip(
        "chromium not installed (apt-get install chromium); DIAMP_REQUIRE_BROWSER=1 makes this fail"
    )
