"""The loopback scope: the timing scene through pyvisa-py, acquisition by acquisition."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from _runconfig import CONFIGS, run_config, write_config
from diamp.config import LoadedConfig, load_config
from diamp.daq.instruments.tektronix import TekScope
from diamp.daq.sim.scope import scope_state
from diamp.daq.sim.scpi_server import LoopbackScpiServer
from diamp.errors import ConfigError, InstrumentError
from diamp.protocol.assemble import timing_context
from diamp.timing.envelopes import EnvelopeTrace, edge_timing, inter_node_offset
from diamp.timing.section import TimingSection, load_timing
from diamp.timing.simulate import CABLE_DELAY_NS

SETTINGS = {
    "acquire_mode": "ENVELOPE",
    "envelope_count": 800,
    "horizontal_scale": 1.6e-8,
    "horizontal_position": 12.5,
}


def scope(name: str, channels: dict[str, str]) -> dict[str, Any]:
    return {
        "type": "scope",
        "backend": "loopback",
        "address": f"loopback:{name}",
        "node": "A",
        "settings": SETTINGS,
        "channels": channels,
    }


def loaded(tmp_path: Path, **simulate: Any) -> LoadedConfig:
    """Node A's two scopes; ``simulate`` adds to [timing.simulate]."""
    text = run_config(
        run={"seed": 17, "blocks": 6, "trials_per_block": 1000},
        device={"visibility": 1.0},
        protocol={"s_mu_threshold": "0.008"},
        timing={
            "section": "timing/eth-2024.toml",
            "simulate": {"hours_per_block": 0.45, "offset_ns": 0.8, **simulate},
        },
        instruments={
            "scope-a": scope(
                "scope-a", {"ch1": "reference", "ch2": "remote", "ch3": "awg5014", "ch4": "awg70k"}
            ),
            "scope-a2": scope("scope-a2", {"ch2": "qrng"}),
        },
    )
    return load_config(write_config(tmp_path, text))


def section() -> TimingSection:
    return load_timing(CONFIGS / "timing" / "eth-2024.toml")


def open_scope(cfg: LoadedConfig, name: str, **faults: int) -> tuple[LoopbackScpiServer, TekScope]:
    state = scope_state(
        name, cfg.config.instruments[name], timing_context(cfg), cfg.config.run.seed
    )
    for key, value in faults.items():
        setattr(state.emulation, key, value)
    server = LoopbackScpiServer(state).start()
    scope = TekScope(name, server.resource, "@py")
    scope.configure(cfg.config.instruments[name].settings)
    return server, scope


def take(scope: TekScope) -> None:
    scope.arm()
    scope.wait_acquired()


def test_channels_show_the_scene_on_the_configured_screen(tmp_path: Path) -> None:
    cfg = loaded(tmp_path)
    server, scope = open_scope(cfg, "scope-a")
    try:
        take(scope)
        traces = {ch: scope.read_envelope(ch, f"ch{ch}") for ch in (1, 2, 3, 4)}
        assert scope.clock() == datetime(2024, 12, 23)
        take(scope)
        assert scope.clock() == datetime(2024, 12, 23, 0, 27)  # 0.45 h per acquisition
    finally:
        scope.close()
        server.stop()
    for trace in traces.values():  # 10 divisions of 16 ns at 2.5 GS/s, trigger at 12.5 %
        assert (trace.t0_ns, trace.dt_ns, trace.low.size) == pytest.approx((-20.0, 0.4, 400))
    offset = inter_node_offset(traces[1], traces[2], 0.25, CABLE_DELAY_NS)
    assert offset == pytest.approx(0.8, abs=0.1)  # node A sees the remote pulse +offset late
    awg = edge_timing(traces[3], 0.25, 1.66)
    assert not awg.jitter and awg.mid_ns == pytest.approx(10.0, abs=0.1)
    assert edge_timing(traces[4], 0.25, 6.4).mid_ns == pytest.approx(22.0, abs=0.1)


def test_an_acquisition_is_a_function_of_its_index_only(tmp_path: Path) -> None:
    """Two servers from one config give the same records; re-reading changes nothing."""
    cfg = loaded(tmp_path)

    def series(count: int) -> list[EnvelopeTrace]:
        server, scope = open_scope(cfg, "scope-a2")
        try:
            out = []
            for _ in range(count):
                take(scope)
                out.append(scope.read_envelope(2, "qrng"))
                again = scope.read_envelope(2, "qrng")
                assert np.array_equal(again.low, out[-1].low)
            return out
        finally:
            scope.close()
            server.stop()

    first, second = series(3), series(2)
    for a, b in zip(first, second, strict=False):
        assert np.array_equal(a.low, b.low) and np.array_equal(a.high, b.high)
    assert not np.array_equal(first[0].low, first[1].low)  # fresh noise per acquisition
    # the QRNG drifts 16.9 ps/h: 0.9 h later its edge is ~15 ps later
    mids = [edge_timing(t, 0.25, 2.0).mid_ns for t in first]
    assert mids[0] == pytest.approx(34.0, abs=0.05)


def test_jitter_appears_from_the_configured_acquisition(tmp_path: Path) -> None:
    cfg = loaded(tmp_path, jitter_device="qrng", jitter_from_check=2)
    server, scope = open_scope(cfg, "scope-a2")
    try:
        jitter = []
        for _ in range(4):
            take(scope)
            jitter.append(edge_timing(scope.read_envelope(2, "qrng"), 0.25, 2.0).jitter)
    finally:
        scope.close()
        server.stop()
    assert jitter == [False, False, True, True]


def test_unmapped_channel_shows_noise_and_nothing_before_the_first_acquisition(
    tmp_path: Path,
) -> None:
    cfg = loaded(tmp_path)
    server, scope = open_scope(cfg, "scope-a2")
    try:
        with pytest.raises(InstrumentError, match=r"scope-a2 .*Data corrupt or stale"):
            scope.read_envelope(2, "qrng")
        take(scope)
        quiet = scope.read_envelope(1, "nothing")
        assert abs(quiet.low).max() < 0.02 and abs(quiet.high).max() < 0.02
    finally:
        scope.close()
        server.stop()


def test_the_scope_refuses_what_a_lab_scope_would(tmp_path: Path) -> None:
    cfg = loaded(tmp_path)
    server, scope = open_scope(cfg, "scope-a")
    try:
        take(scope)
        scope.write("DATA:ENC RIB")  # big-endian bytes: not the format the driver parses
        with pytest.raises(InstrumentError, match=r"scope-a .*Settings conflict"):
            scope.read_envelope(1, "reference")
        scope.configure({"acquire_mode": "SAMPLE"})
        with pytest.raises(InstrumentError, match=r"acquisition mode is 'SAMPLE'.*ENVELOPE"):
            scope.arm()
        scope.write("DATA:ENC SRI")
        sample = scope._res.query_binary_values("CURV?", datatype="h", container=np.array)
        assert sample.size == 400  # a sample-mode curve: one value per sample, not pairs
        scope.check_errors("CURV?")
    finally:
        scope.close()
        server.stop()


def test_fault_injection_error_and_disconnect(tmp_path: Path) -> None:
    cfg = loaded(tmp_path)
    server, scope = open_scope(cfg, "scope-a2", fail_from=1)
    try:
        take(scope)
        scope.read_envelope(2, "qrng")
        take(scope)
        with pytest.raises(InstrumentError, match=r"scope-a2 \(DATA:SOU CH2; CURV\?\).*-230"):
            scope.read_envelope(2, "qrng")
    finally:
        scope.close()
        server.stop()
    server, scope = open_scope(cfg, "scope-a2", disconnect_at=1)
    try:
        take(scope)
        scope._res.timeout = 300  # ms: a dropped link is noticed when a reply times out
        with pytest.raises(InstrumentError, match=r"scope-a2 \(SYST:ERR\?\): no valid reply"):
            scope.arm()  # the link drops as the second acquisition starts
    finally:
        scope.close()
        server.stop()


def test_unknown_jitter_device_is_a_config_error(tmp_path: Path) -> None:
    cfg = loaded(tmp_path, jitter_device="fpga")  # declared, but without a threshold
    with pytest.raises(ConfigError, match=r"timing\.simulate\.jitter_device: 'fpga'"):
        scope_state("scope-a", cfg.config.instruments["scope-a"], timing_context(cfg), 0)
