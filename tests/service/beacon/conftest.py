from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from diamp.service.beacon.crypto import generate_keypair


@pytest.fixture(scope="session")
def _session_keypair(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A throw-away 2048-bit RSA key and self-signed certificate, generated once."""
    return generate_keypair(tmp_path_factory.mktemp("beacon-keys"), bits=2048)


@pytest.fixture
def keypair(_session_keypair: tuple[Path, Path], tmp_path: Path) -> tuple[Path, Path]:
    """This test's copy of the session key pair.

    A copy per test: the beacon's anchor lives beside the key file, and one key used by two
    tests' fresh pulse stores is exactly the re-issue the anchor refuses.
    """
    folder = tmp_path / "beacon-keys"
    folder.mkdir()
    key, cert = (shutil.copy2(p, folder / p.name) for p in _session_keypair)
    return Path(key), Path(cert)


@pytest.fixture(scope="session")
def other_keypair(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return generate_keypair(tmp_path_factory.mktemp("beacon-keys-2"), bits=2048)
