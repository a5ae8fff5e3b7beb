from __future__ import annotations

from pathlib import Path

import pytest

from diamp.errors import ConfigError
from diamp.service.beacon.provenance import urandom_source
from diamp.service.beacon.settings import BeaconSettings, build_engine, load_beacon_settings


def test_throwaway_key_generated_on_first_start_then_reused(tmp_path: Path) -> None:
    config = tmp_path / "b.toml"
    config.write_text(
        "schema_version = 1\n[beacon]\nperiod_s = 0.5\ngenerate_key = true\nkey_bits = 2048\n"
        "key_file = 'keys/k.pem'\ncertificate_file = 'keys/c.pem'\nstate_db = 'state/p.sqlite'\n"
    )
    settings = load_beacon_settings(config)
    assert settings.period_ms == 500 and settings.key_file == tmp_path / "keys/k.pem"
    first = build_engine(settings, urandom_source)
    assert (tmp_path / "keys/k.pem").stat().st_mode & 0o077 == 0
    first.store.close()
    second = build_engine(settings, urandom_source)
    assert second.chain.chain_index == 1  # same key, same chain


@pytest.mark.parametrize("text", ["period_s = 0.0005", "period_s = 0.0105", "bogus = 1"])
def test_bad_settings_name_the_key(tmp_path: Path, text: str) -> None:
    config = tmp_path / "b.toml"
    config.write_text(f"schema_version = 1\n[beacon]\n{text}\n")
    with pytest.raises(ConfigError, match=text.split(" ")[0]):
        load_beacon_settings(config)


def test_default_period_is_a_minute() -> None:
    assert BeaconSettings().period_ms == 60_000
