"""The simulated scope behind ``backend = "loopback"``: a SCPI scope showing the timing scene.

:func:`loopback_scope` starts a :class:`~diamp.daq.sim.scpi_server.LoopbackScpiServer` on
127.0.0.1 whose :class:`ScopeEmulation` answers like the lab's Tektronix scope; the station
reaches it through pyvisa-py (``@py``, ``TCPIP::127.0.0.1::<port>::SOCKET``) with the same
driver, so the controller cannot tell it from hardware. The emulation:

* ``ACQ:STATE RUN`` takes acquisition ``k = 0, 1, …`` (the controller takes one per timing
  check, so ``k`` is the check index; a resumed run restores its stored checks and moves the
  simulation on to acquisition ``n`` with
  :meth:`diamp.daq.station.Station.continue_simulation`). Each channel's record is a
  deterministic function of the run seed, the scope's name, ``k`` and the channel; ``*OPC?``
  answers ``1`` (the acquisition is done).
* Channel ``chN`` mapped to a trace in the config shows that trace's edge from
  :func:`diamp.timing.simulate.node_edges` at ``k × hours_per_block`` hours (drift, inter-node
  offset, jitter injected on ``[timing.simulate].jitter_device`` from ``jitter_from_check``);
  other channels show noise only.
* The record follows the settings: ``HOR:SCA`` (s/div, 10 divisions), ``HOR:SAMPLER``,
  ``HOR:POS`` (trigger position, % of the record), ``ACQ:NUMENV`` triggers; ``ACQ:MOD
  ENVELOPE`` gives interleaved (min, max) int16 pairs, other modes one single-trigger value per
  sample. ``CURV?`` needs ``DATA:ENC SRI`` and ``DATA:WID 2``, else ``-221,"Settings
  conflict"``; before the first acquisition it is ``-230,"Data corrupt or stale"``.
* ``DATE?``/``TIME?`` read a simulated clock: 2024-12-23 00:00:00 plus ``k × hours_per_block``.
* Fault injection for tests: ``fail_from`` (every curve transfer from acquisition ``k`` on
  reports ``-230``), ``disconnect_at`` (the link drops when acquisition ``k`` starts).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

import numpy as np

from diamp.config import InstrumentConfig
from diamp.daq.instruments.tektronix import TekScope
from diamp.daq.scopes import TimingContext
from diamp.daq.sim.scpi_server import InstrumentState, LoopbackScpiServer, binary_block
from diamp.errors import ConfigError
from diamp.timing.simulate import node_edges, timing_traces
from diamp.timing.synthetic import SyntheticEdge, banded_envelopes, synthetic_envelopes

__all__ = ["ScopeEmulation", "loopback_scope", "scope_state"]

EPOCH = datetime(2024, 12, 23)
_Y_MULT = 1e-4  # volts per count
_MAX_RECORD = 1_000_000
_NO_SIGNAL = SyntheticEdge("none", arrival_ns=1e12)  # an edge that never reaches the screen
_DEFAULTS = {  # power-on values of the declared settings (as configs/instruments/scope.yaml)
    "acquire_mode": "SAMPLE",
    "envelope_count": "1000",
    "horizontal_scale": "2.0000E-08",
    "sample_rate": "2.5000E+09",
    "horizontal_position": "50.00",
    "trigger_level": "0.2500",
    "scale": "1.0000E-01",
    "offset": "0.0000",
}
_TRANSFER = {"DATA:ENC": "RIB", "DATA:WID": "1", "ACQ:STOPA": "RUNSTOP"}

Scene = Callable[[int], Mapping[int, SyntheticEdge]]


@dataclass
class ScopeEmulation:
    """The scope model of a loopback server (see the module docs)."""

    scene: Scene
    hours_per_acquisition: float
    seed: int
    noise_v: float = 0.002
    acquisitions: int = 0
    fail_from: int | None = None
    disconnect_at: int | None = None
    _queries: dict[str, Callable[[InstrumentState], bytes | None]] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._queries = {
            "CURV?": self._curve,
            "WFMO:XIN?": lambda s: _number(self._grid(s)[1] * 1e-9),
            "WFMO:XZE?": lambda s: _number(self._grid(s)[0] * 1e-9),
            "WFMO:YMU?": lambda s: _number(_Y_MULT),
            "WFMO:YOFF?": lambda s: _number(0.0),
            "WFMO:YZE?": lambda s: _number(0.0),
            "DATE?": lambda s: f'"{self._now():%Y-%m-%d}"\n'.encode(),
            "TIME?": lambda s: f'"{self._now():%H:%M:%S}"\n'.encode(),
            "ACQ:STATE?": lambda s: b"0\n",
        }

    def dispatch(
        self, state: InstrumentState, command: str, argument: str
    ) -> tuple[bool, bytes | None]:
        """Answer the scope's own commands; pass the rest on."""
        if command in self._queries:
            return True, self._queries[command](state)
        if command == "ACQ:STATE":
            if argument.strip().upper() in ("RUN", "ON", "1"):
                self._start(state)
            return True, None
        return False, None

    def _start(self, state: InstrumentState) -> None:
        if self.disconnect_at is not None and self.acquisitions >= self.disconnect_at:
            state.disconnect_after = state.commands  # the cable is pulled now
        self.acquisitions += 1

    def _now(self) -> datetime:
        hours = max(self.acquisitions - 1, 0) * self.hours_per_acquisition
        return EPOCH + timedelta(seconds=math.floor(hours * 3600))

    def _grid(self, state: InstrumentState) -> tuple[float, float, int]:
        """``(t0_ns, dt_ns, samples)`` of the record the settings describe."""
        rate = float(state.settings["HOR:SAMPLER"])
        width_s = 10 * float(state.settings["HOR:SCA"])
        position = float(state.settings["HOR:POS"]) / 100
        return -position * width_s * 1e9, 1e9 / rate, round(width_s * rate)

    def _curve(self, state: InstrumentState) -> bytes:
        k = self.acquisitions - 1
        if k < 0 or (self.fail_from is not None and k >= self.fail_from):
            state.error('-230,"Data corrupt or stale"', 4)
            return b"#10\n"
        encoding = (state.settings["DATA:ENC"], state.settings["DATA:WID"])
        t0, dt, samples = self._grid(state)
        if encoding != ("SRI", "2") or not 2 <= samples <= _MAX_RECORD:
            state.error('-221,"Settings conflict"', 4)
            return b"#10\n"
        edge = self.scene(k).get(state.source, _NO_SIGNAL)
        rng = np.random.default_rng([self.seed, k, state.source])
        window = (t0, t0 + (samples - 1) * dt)
        if state.settings["ACQ:MOD"].upper().startswith("ENV"):
            triggers = int(state.settings["ACQ:NUMENV"])
            trace = banded_envelopes(
                edge, triggers=triggers, dt_ns=dt, window_ns=window, noise_v=self.noise_v, rng=rng
            )
            counts = np.empty(2 * trace.low.size)
            counts[0::2], counts[1::2] = trace.low, trace.high
        else:
            one = synthetic_envelopes(
                edge, triggers=1, dt_ns=dt, window_ns=window, noise_v=self.noise_v, rng=rng
            )
            counts = one.low
        data = np.clip(np.round(counts / _Y_MULT), -32768, 32767).astype("<i2")
        return binary_block(data.tobytes())


def _number(value: float) -> bytes:
    return f"{value:.9E}\n".encode()


def _settings() -> dict[str, str]:
    out = dict(_TRANSFER)
    for name, setting in TekScope.SETTINGS.items():
        for ch in setting.channels or (None,):
            out[setting.get_cmd.format(ch=ch).removesuffix("?")] = _DEFAULTS[name]
    return out


def _scene(cfg: InstrumentConfig, context: TimingContext | None) -> tuple[Scene, float]:
    """What the scope's channels show at acquisition ``k``, and the hours per acquisition."""
    if context is None or cfg.node not in ("A", "B"):
        return (lambda k: {}), 0.0  # nothing to show without a timing section
    section, sim = context.section, context.simulate
    if sim.jitter_device is not None and (sim.jitter_device, "edge") not in timing_traces(section):
        raise ConfigError(
            f"{context.origin}: timing.simulate.jitter_device: {sim.jitter_device!r} is not a "
            f"device with a threshold in {context.section_file}",
            path=context.origin,
            key="timing.simulate.jitter_device",
        )
    node: Literal["A", "B"] = "A" if cfg.node == "A" else "B"
    channels = {int(key[2:]): trace for key, trace in cfg.channels.items()}

    def scene(k: int) -> dict[int, SyntheticEdge]:
        edges = node_edges(
            section,
            node,
            time_h=k * sim.hours_per_block,
            offset_ns=sim.offset_ns,
            jitter_device=sim.jitter_device if k >= sim.jitter_from_check else None,
        )
        return {ch: edges[trace] for ch, trace in channels.items() if trace in edges}

    return scene, sim.hours_per_block


def scope_state(
    name: str, cfg: InstrumentConfig, context: TimingContext | None, seed: int
) -> InstrumentState:
    """The state of scope ``name``'s simulation: its settings, identity and timing scene.

    ``seed`` (the run seed) and the name fix the scope's noise. Raises :class:`ConfigError`
    if ``[timing.simulate].jitter_device`` is not a device with a threshold in the section.
    """
    scene, hours = _scene(cfg, context)
    digest = hashlib.sha256(f"{seed}/{name}".encode()).digest()
    return InstrumentState(
        idn=f"TEKTRONIX,MSO64,LOOP-{name},CF:91.1CT FV:1.44.3",
        settings=_settings(),
        emulation=ScopeEmulation(scene, hours, int.from_bytes(digest[:8], "big")),
    )


def loopback_scope(
    name: str, cfg: InstrumentConfig, context: TimingContext | None, seed: int
) -> LoopbackScpiServer:
    """Start the simulated scope ``name`` (its VISA address is the server's ``resource``)."""
    return LoopbackScpiServer(scope_state(name, cfg, context, seed)).start()
