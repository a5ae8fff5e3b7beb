from __future__ import annotations

from pathlib import Path

import pytest

from diamp.service.beacon.crypto import generate_keypair


@pytest.fixture(scope="session")
def keypair(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A throw-away 2048-bit RSA key and self-signed certificate (fast to generate)."""
    return generate_keypair(tmp_path_factory.mktemp("beacon-keys"), bits=2048)


@pytest.fixture(scope="session")
def other_keypair(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return generate_keypair(tmp_path_factory.mktemp("beacon-keys-2"), bits=2048)
