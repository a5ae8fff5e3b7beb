"""Scope wiring (config against timing section) and timing checks acquired from scopes."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from _runconfig import CONFIGS, run_config, write_config
from diamp.config import LoadedConfig, load_config, parse_config
from diamp.errors import ConfigError, InstrumentError
from diamp.protocol.assemble import monitor_for, open_station, timing_context

MAIN = {"ch1": "reference", "ch2": "remote", "ch3": "awg5014", "ch4": "awg70k"}
QRNG = {"ch1": "qrng"}

HEAD: dict[str, dict[str, Any]] = {
    "run": {"seed": 23, "blocks": 3, "trials_per_block": 1000},
    "device": {"visibility": 1.0},
    "protocol": {"s_mu_threshold": "0.008"},
    "timing": {"section": "timing/eth-2024.toml", "simulate": {"hours_per_block": 0.45}},
}


def scope(name: str, node: str, channels: dict[str, str] | None, **extra: Any) -> dict[str, Any]:
    """One [instruments.NAME] table; ``extra`` replaces fields (None leaves one out)."""
    fields = {
        "type": "scope",
        "backend": "loopback",
        "address": f"loopback:{name}",
        "node": node,
        "settings": {
            "acquire_mode": "ENVELOPE",
            "envelope_count": 300,
            "horizontal_scale": 1.6e-8,
            "horizontal_position": 12.5,
        },
        "channels": channels,
        **extra,
    }
    return {k: v for k, v in fields.items() if v is not None}


def four_scopes(**replace: dict[str, Any] | None) -> dict[str, dict[str, Any] | None]:
    """The four scopes of a whole wiring; ``replace`` swaps (None: removes) some of them."""
    scopes: dict[str, dict[str, Any] | None] = {
        "scope-a": scope("scope-a", "A", MAIN),
        "scope-a2": scope("scope-a2", "A", QRNG),
        "scope-b": scope("scope-b", "B", MAIN),
        "scope-b2": scope("scope-b2", "B", QRNG),
    }
    scopes.update(replace)
    return scopes


def config(instruments: Mapping[str, dict[str, Any] | None], **sections: Any) -> str:
    return run_config(HEAD, sections, instruments=instruments)


def write(tmp_path: Path, instruments: Mapping[str, dict[str, Any] | None]) -> Path:
    return write_config(tmp_path, config(instruments))


def station_error(tmp_path: Path, text: Mapping[str, dict[str, Any] | None]) -> str:
    with pytest.raises(ConfigError) as info:
        open_station(load_config(write(tmp_path, text)))
    return str(info.value)


# ------------------------------------------------------------------ wiring vs timing section


def test_wiring_in_check_order(tmp_path: Path) -> None:
    station = open_station(load_config(write(tmp_path, four_scopes())))
    try:
        names = [(w.name, w.instrument, w.channel, w.role) for w in station.wiring]
    finally:
        station.close()
    assert names[:5] == [
        ("A-reference", "scope-a", 1, "reference"),
        ("A-remote", "scope-a", 2, "remote"),
        ("A-awg5014", "scope-a", 3, "edge"),
        ("A-awg70k", "scope-a", 4, "edge"),
        ("A-qrng", "scope-a2", 1, "edge"),
    ]
    assert [n[0] for n in names[5:]] == [
        "B-reference",
        "B-remote",
        "B-awg5014",
        "B-awg70k",
        "B-qrng",
    ]


@pytest.mark.parametrize(
    ("replace", "needle"),
    [
        (
            {"scope-a2": scope("scope-a2", "A", {"ch1": "qrgn"})},
            r"run\.toml: instruments\.scope-a2\.channels\.ch1: 'qrgn' is not a trace of a "
            r"timing check; known: \['reference', 'remote', 'awg5014', 'awg70k', 'qrng'\]",
        ),
        (
            {"scope-a2": scope("scope-a2", "A", {"ch1": "qrng", "ch2": "fpga"})},
            r"instruments\.scope-a2\.channels\.ch2: device 'fpga' has no threshold_v in "
            r"timing/eth-2024\.toml",
        ),
        (
            {"scope-a2": scope("scope-a2", "A", {"ch5": "qrng"})},
            r"instruments\.scope-a2\.channels\.ch5: a scope has inputs ch1\.\.ch4",
        ),
        (
            {"scope-b2": None},
            r"not shown by any scope: B: 'qrng'",
        ),
        (
            {"scope-b": scope("scope-b", "B", {"ch1": "reference"}), "scope-b2": None},
            r"not shown by any scope: B: 'remote', B: 'awg5014', B: 'awg70k', B: 'qrng'",
        ),
        (
            {"scope-b2": scope("scope-b2", "B", None)},  # a node-B scope without channels
            r"B: 'qrng'",
        ),
    ],
)
def test_wiring_errors_name_file_and_key(
    tmp_path: Path, replace: dict[str, dict[str, Any] | None], needle: str
) -> None:
    message = station_error(tmp_path, four_scopes(**replace))
    assert re.search(needle, message), message


def test_a_stray_scope_without_timing_wiring_is_refused(tmp_path: Path) -> None:
    """With [timing], any scope means the checks come from scopes: the wiring must be whole."""
    text = {"scope-a": scope("scope-a", "A", None)}
    assert "not shown by any scope: A: 'reference'" in station_error(tmp_path, text)


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        (
            {"scope-a": scope("scope-a", "A", MAIN, type="awg5014", backend="sim")},
            "instruments.scope-a: Value error, channels: only a scope shows timing traces",
        ),
        (
            {"scope-a": scope("scope-a", "C", MAIN)},
            "channels: a scope showing timing traces belongs to node 'A' or 'B', found node = 'C'",
        ),
        (
            {"scope-a": scope("scope-a", "A", {"input1": "reference"})},
            "channels: keys are input channels 'ch1', 'ch2', …, found ['input1']",
        ),
        (
            {"scope-a": scope("scope-a", "A", {"ch1": "reference", "ch3": "reference"})},
            "channels: 'reference' is on both ch1 and ch3; map each trace once",
        ),
        (
            {
                "scope-a": scope("scope-a", "A", MAIN),
                "scope-a2": scope("scope-a2", "A", {"ch1": "awg70k"}),
            },
            "instruments.scope-a2.channels.ch1: node A already shows 'awg70k' on "
            "instruments.scope-a.channels.ch4",
        ),
        (
            {"scope-a": scope("scope-a", "A", MAIN, settings={"acquire_mode": "SAMPLE"})},
            "channels: timing checks read envelope curves; set settings.acquire_mode = "
            "\"ENVELOPE\" (found 'SAMPLE')",
        ),
        (
            {"scope-a": scope("scope-a", "A", None, type="awg5014")},
            "backend 'loopback' is the in-process simulated oscilloscope (type 'scope')",
        ),
        (
            {"scope-a": scope("scope-a", "A", {"ch1": ""})},
            "instruments.scope-a.channels.ch1: String should have at least 1 character",
        ),
    ],
)
def test_config_schema_errors(text: dict[str, dict[str, Any]], needle: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(config(text), "lab/run.toml")
    assert str(info.value).startswith("lab/run.toml: ")
    assert needle.replace("Value error, ", "") in str(info.value), str(info.value)


def test_channels_need_a_timing_section() -> None:
    text = config({"scope-a": scope("scope-a", "A", MAIN)}, timing=None)
    with pytest.raises(ConfigError, match=r"instruments\.scope-a\.channels: maps timing traces, "):
        parse_config(text, "run.toml")


def test_station_config_errors_come_before_any_instrument_opens(tmp_path: Path) -> None:
    """The wiring is checked first: nothing is started for a config that cannot run."""
    import threading

    before = threading.active_count()
    station_error(tmp_path, four_scopes(**{"scope-b2": None}))
    assert threading.active_count() == before  # no loopback server thread was started


def test_monitor_refuses_to_fall_back_to_synthetic_traces(tmp_path: Path) -> None:
    loaded = load_config(write(tmp_path, four_scopes()))
    with pytest.raises(ConfigError, match="come from the configured scopes, but no station"):
        monitor_for(loaded)


# ------------------------------------------------------------------ checks from scopes


def monitor_series(loaded: LoadedConfig, count: int) -> list:  # type: ignore[type-arg]
    station = open_station(loaded)
    try:
        monitor = monitor_for(loaded, station)
        for index in range(count):
            assert monitor.check(index), monitor.failure
        return monitor.done
    finally:
        station.close()


def test_checks_come_from_the_scopes_with_provenance(tmp_path: Path) -> None:
    loaded = load_config(write(tmp_path, four_scopes()))
    checks = monitor_series(loaded, 3)
    assert [c.label for c in checks] == ["before block 0", "after block 0", "after block 1"]
    assert [c.time_h for c in checks] == pytest.approx([0.0, 0.45, 0.9])  # the scopes' clocks
    rec = {r.name: r for r in checks[1].records}["B-qrng"]
    assert rec.source is not None and (rec.source.instrument, rec.source.channel) == ("scope-b2", 1)
    snap = json.loads(rec.source.snapshot)
    assert snap["idn"].startswith("TEKTRONIX,MSO64") and snap["clock"] == "2024-12-23T00:27:00"
    assert snap["settings"]["envelope_count"]["value"] == 300
    assert snap["address"].startswith("TCPIP::127.0.0.1::")
    assert rec.trace.low.size == 400 and rec.trace.device == "qrng"


def test_replayed_checks_are_the_same_traces(tmp_path: Path) -> None:
    """A resumed run replays checks 0..n on fresh scopes: it must see the same traces."""
    loaded = load_config(write(tmp_path, four_scopes()))
    first, second = monitor_series(loaded, 2), monitor_series(loaded, 4)
    for a, b in zip(first, second[:2], strict=True):
        assert a.time_h == b.time_h
        for ra, rb in zip(a.records, b.records, strict=True):
            assert ra.name == rb.name
            assert np.array_equal(ra.trace.low, rb.trace.low)
            assert np.array_equal(ra.trace.high, rb.trace.high)


def test_checks_out_of_order_are_refused(tmp_path: Path) -> None:
    loaded = load_config(write(tmp_path, four_scopes()))
    station = open_station(loaded)
    try:
        monitor = monitor_for(loaded, station)
        monitor.check(0)
        with pytest.raises(Exception, match="timing check 2 requested after 1 checks"):
            monitor.check(2)
    finally:
        station.close()


def test_scope_failure_names_scope_and_check(tmp_path: Path) -> None:
    loaded = load_config(write(tmp_path, four_scopes()))
    station = open_station(loaded)
    try:
        monitor = monitor_for(loaded, station)
        monitor.check(0)
        station.servers[1].state.emulation.fail_from = 1  # scope-a2 (servers in config order)
        with pytest.raises(InstrumentError) as info:
            monitor.check(1)
    finally:
        station.close()
    message = str(info.value)
    assert message.startswith("timing check 'after block 0': scope-a2 (DATA:SOU CH1; CURV?)")
    assert info.value.fields["instrument"] == "scope-a2"
    assert info.value.fields["check"] == "after block 0"
    assert len(monitor.done) == 1


def test_a_scope_clock_going_back_is_an_instrument_error(tmp_path: Path) -> None:
    loaded = load_config(write(tmp_path, four_scopes()))
    station = open_station(loaded)
    try:
        monitor = monitor_for(loaded, station)
        monitor.check(0)
        monitor.check(1)
        station.servers[2].state.emulation.hours_per_acquisition = -0.45  # scope-b's clock set back
        with pytest.raises(InstrumentError, match=r"scope-b: clock went back 3240 s"):
            monitor.check(2)
    finally:
        station.close()


@pytest.mark.parametrize("name", ["simulated", "eth-2024-sim", "eth-2024"])
def test_shipped_configs_wire_every_trace_at_both_nodes(name: str) -> None:
    from diamp.daq.scopes import scope_wiring, uses_scopes

    loaded = load_config(CONFIGS / f"{name}.toml")
    assert uses_scopes(loaded.config.instruments, loaded.config.timing is not None)
    context = timing_context(loaded)
    assert context is not None
    wiring = scope_wiring(loaded.config.instruments, context)
    assert len(wiring) == 10 and {w.node for w in wiring} == {"A", "B"}
    backends = {loaded.config.instruments[w.instrument].backend for w in wiring}
    assert backends == ({"py"} if name == "eth-2024" else {"loopback"})
