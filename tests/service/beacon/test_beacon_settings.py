from __future__ import annotations

from pathlib import Path

import pytest

from diamp.errors import ConfigError
from diamp.service.beacon.provenance import urandom_source
from diamp.service.beacon.settings import (
    BeaconSettings,
    build_engine,
    load_beacon_settings,
    served_uri,
)

SERVED = "http://127.0.0.1:8000"


def test_throwaway_key_generated_on_first_start_then_reused(tmp_path: Path) -> None:
    config = tmp_path / "b.toml"
    config.write_text(
        "schema_version = 1\n[beacon]\nperiod_s = 0.5\ngenerate_key = true\nkey_bits = 2048\n"
        "key_file = 'keys/k.pem'\ncertificate_file = 'keys/c.pem'\nstate_db = 'state/p.sqlite'\n"
    )
    settings = load_beacon_settings(config)
    assert settings.period_ms == 500 and settings.key_file == tmp_path / "keys/k.pem"
    first = build_engine(settings, urandom_source, served_at=SERVED)
    assert (tmp_path / "keys/k.pem").stat().st_mode & 0o077 == 0
    first.store.close()
    second = build_engine(settings, urandom_source, served_at=SERVED)
    assert second.chain.chain_index == 1  # same key, same chain


@pytest.mark.parametrize("text", ["period_s = 0.0005", "period_s = 0.0105", "bogus = 1"])
def test_bad_settings_name_the_key(tmp_path: Path, text: str) -> None:
    config = tmp_path / "b.toml"
    config.write_text(f"schema_version = 1\n[beacon]\n{text}\n")
    with pytest.raises(ConfigError, match=text.split(" ")[0]):
        load_beacon_settings(config)


def test_default_period_is_a_minute() -> None:
    assert BeaconSettings().period_ms == 60_000


@pytest.mark.parametrize(
    ("host", "port", "tls", "uri"),
    [
        ("127.0.0.1", 8443, False, "http://127.0.0.1:8443"),
        ("localhost", 1, True, "https://localhost:1"),
        ("::1", 65535, False, "http://[::1]:65535"),
        ("fe80::1%eth0", 9000, False, "http://[fe80::1%25eth0]:9000"),
    ],
)
def test_served_uri_names_the_bound_address(host: str, port: int, tls: bool, uri: str) -> None:
    assert served_uri(host, port, tls=tls) == uri


@pytest.mark.parametrize(("host", "port"), [("0.0.0.0", 8443), ("::", 8443), ("127.0.0.1", 0)])
def test_served_uri_refuses_what_is_no_address(host: str, port: int) -> None:
    with pytest.raises(ConfigError, match="public_base_uri" if port else "not a bound port"):
        served_uri(host, port)


@pytest.mark.parametrize(
    "value",
    ["https://b.example/x?q=1", "https://b.example/#f", "ftp://b.example", "b.example", ""],
)
def test_public_base_uri_is_an_absolute_http_url_without_query(tmp_path: Path, value: str) -> None:
    config = tmp_path / "b.toml"
    config.write_text(f"schema_version = 1\n[beacon]\npublic_base_uri = {value!r}\n")
    with pytest.raises(ConfigError, match=r"beacon\.public_base_uri"):
        load_beacon_settings(config)


def test_the_old_base_uri_key_says_what_it_became(tmp_path: Path) -> None:
    config = tmp_path / "b.toml"
    config.write_text("schema_version = 1\n[beacon]\nbase_uri = 'http://127.0.0.1:8000'\n")
    with pytest.raises(ConfigError, match="base_uri is now public_base_uri"):
        load_beacon_settings(config)


def _settings(tmp_path: Path, public: str | None = None) -> BeaconSettings:
    return BeaconSettings(
        period_s=0.5, generate_key=True, key_bits=2048, key_file=tmp_path / "k.pem",
        certificate_file=tmp_path / "c.pem", state_db=tmp_path / "p.sqlite",
        public_base_uri=public,
    )  # fmt: skip


def test_public_base_uri_wins_and_one_of_them_is_needed(tmp_path: Path) -> None:
    settings = _settings(tmp_path, "https://beacon.example/diamp")
    engine = build_engine(settings, urandom_source, served_at=SERVED)
    pulse = engine.emit(engine.next_slot())
    assert pulse.uri == "https://beacon.example/diamp/beacon/2.0/chain/1/pulse/1"
    engine.store.close()
    with pytest.raises(ConfigError, match="public_base_uri: not set"):
        build_engine(_settings(tmp_path), urandom_source, served_at=None)


def test_a_new_address_starts_a_new_chain_and_old_pulses_keep_theirs(tmp_path: Path) -> None:
    """The uri is signed: a pulse is never rewritten; served elsewhere, a new chain begins."""
    first = build_engine(_settings(tmp_path), urandom_source, served_at="http://127.0.0.1:1111")
    old = first.emit(first.next_slot())
    first.store.close()
    second = build_engine(_settings(tmp_path), urandom_source, served_at="http://127.0.0.1:2222")
    new = second.emit(second.next_slot())
    assert (old.chain_index, new.chain_index) == (1, 2)
    assert old.uri == "http://127.0.0.1:1111/beacon/2.0/chain/1/pulse/1"
    assert new.uri == "http://127.0.0.1:2222/beacon/2.0/chain/2/pulse/1"
    stored = second.store.pulse(1, 1)
    assert stored is not None and stored.uri == old.uri and stored == old
    second.store.close()
