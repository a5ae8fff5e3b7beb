"""``qrngsim://`` — a simulated serial SV-source QRNG for pyserial's ``serial_for_url``.

URL parameters (all optional)::

    qrngsim://?seed=1&bias=0.004&model=iid&fault=none&fault_after=0

The device streams random bytes, bits MSB-first, each bit from a Santha–Vazirani source
(``model`` ``iid`` or ``markov``, |bias| <= 1/2). Like a real device it never repeats
itself: the k-th opening of the same URL in a process draws from the stream seeded by
(``seed``, k), so a reconnect yields fresh bytes and runs stay reproducible.

``fault`` injects a failure once the device has sent ``fault_after`` bytes (counted over all
openings of the URL: a hung device or a pulled cable stays that way): ``stuck`` (the output
freezes at 0x00), ``timeout`` (the device stops sending) or ``disconnect`` (reads fail). A
read returns the bytes sent before the fault; the fault shows from the next read on. Writes
are accepted and ignored.
"""

from __future__ import annotations

import time
import urllib.parse
from typing import Any

import numpy as np
from serial.serialutil import PortNotOpenError, SerialBase, SerialException

from diamp.daq.sim.sv_sources import IidSVSource, MarkovSVSource, SVSource

__all__ = ["Serial"]

_FAULTS = ("none", "stuck", "timeout", "disconnect")


class Serial(SerialBase):  # type: ignore[misc]
    """Serial port interface to a simulated QRNG (see the module docs)."""

    is_open: bool
    _openings: dict[str, int] = {}  # noqa: RUF012 - per-process registry of device streams
    _sent: dict[str, int] = {}  # noqa: RUF012 - bytes each simulated device has sent

    def open(self) -> None:
        """Open the simulated device (restarting its stream)."""
        if self._port is None:
            raise SerialException("port must be configured before it can be used")
        if self.is_open:
            raise SerialException("port is already open")
        count = Serial._openings.get(self.port, 0)
        Serial._openings[self.port] = count + 1
        self._configure(self.from_url(self.port), count)
        self.is_open = True

    def close(self) -> None:
        """Close the port."""
        self.is_open = False

    def _reconfigure_port(self) -> None:
        """Baud rate and framing do not matter to a simulated device."""

    def from_url(self, url: str) -> dict[str, Any]:
        """Parse ``qrngsim://?…`` into the device parameters."""
        parts = urllib.parse.urlsplit(url)
        if parts.scheme != "qrngsim":
            raise SerialException(f"expected a qrngsim:// URL, got {url!r}")
        params: dict[str, Any] = {
            "seed": 0,
            "bias": 0.0,
            "model": "iid",
            "fault": "none",
            "fault_after": 0,
        }
        try:
            for key, values in urllib.parse.parse_qs(
                parts.query, strict_parsing=bool(parts.query)
            ).items():
                if key not in params:
                    raise SerialException(f"qrngsim://: unknown parameter {key!r}")
                value = values[-1]
                params[key] = type(params[key])(value) if key not in ("model", "fault") else value
        except ValueError as err:
            raise SerialException(f"qrngsim://: invalid parameter in {url!r}: {err}") from err
        if params["model"] not in ("iid", "markov") or params["fault"] not in _FAULTS:
            raise SerialException(f"qrngsim://: unknown model or fault in {url!r}")
        if not -0.5 <= params["bias"] <= 0.5 or params["fault_after"] < 0:
            raise SerialException(f"qrngsim://: bias must lie in [-0.5, 0.5] in {url!r}")
        return params

    def _configure(self, params: dict[str, Any], opening: int) -> None:
        seq = np.random.SeedSequence(entropy=params["seed"], spawn_key=(opening,))
        rng = np.random.Generator(np.random.PCG64DXSM(seq))
        cls = MarkovSVSource if params["model"] == "markov" else IidSVSource
        self._source: SVSource = cls(params["bias"], rng)
        self._fault = params["fault"]
        self._fault_after = params["fault_after"]

    @property
    def _produced(self) -> int:
        return Serial._sent.get(self.port, 0)

    def _count(self, sent: int) -> None:
        Serial._sent[self.port] = self._produced + sent

    @property
    def in_waiting(self) -> int:
        """Bytes available without blocking (the device always has some, until a fault)."""
        if not self.is_open:
            raise PortNotOpenError()
        return 0 if self._faulted() and self._fault == "timeout" else 4096

    def _faulted(self) -> bool:
        return bool(self._fault != "none" and self._produced >= self._fault_after)

    def read(self, size: int = 1) -> bytes:
        """Read ``size`` random bytes (fewer, or an error, once the fault has struck)."""
        if not self.is_open:
            raise PortNotOpenError()
        if self._faulted() and self._fault == "disconnect":
            self.is_open = False
            raise SerialException("qrngsim: device disconnected")
        healthy = size
        if self._fault != "none":
            healthy = max(0, min(size, self._fault_after - self._produced))
        chunk = np.packbits(self._source.bits(8 * healthy)).tobytes() if healthy else b""
        self._count(healthy)
        rest = size - healthy
        if rest and self._fault == "stuck":
            chunk += bytes(rest)
            self._count(rest)
        elif rest and self._fault == "timeout" and not chunk:
            time.sleep(min(self._timeout or 0.0, 0.05))
        return chunk

    def write(self, data: bytes) -> int:
        """Accept and ignore commands."""
        if not self.is_open:
            raise PortNotOpenError()
        return len(data)

    def reset_input_buffer(self) -> None:
        """Nothing is buffered."""

    def reset_output_buffer(self) -> None:
        """Nothing is buffered."""
