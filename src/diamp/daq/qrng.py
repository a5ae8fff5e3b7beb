"""SV-source QRNG over a serial line (pyserial ``serial_for_url``), with health checks.

The QRNG streams bytes whose bits (MSB-first) are the input bits of the Bell test. The
backend reads them on demand; a read that fails or comes back short is retried after
reopening the port (``reconnects`` times), and every chunk is health-checked before it is
used:

* **stuck output** — a run of identical bytes at least ``1 + ⌈20 / H⌉`` long, H the claimed
  min-entropy per byte (SP 800-90B repetition count test at α = 2^-20);
* **bias** — in every 4096-bit window the fraction of ones must lie within
  1/2 ± (mu + 6σ), σ = 1/(2√4096): an SV source cannot leave that band except with
  probability below 1e-8 per window.

A failed check or an exhausted retry raises :class:`~diamp.errors.InstrumentError` naming the
device and URL; no unchecked bit is returned. ``qrngsim://`` URLs (the simulated device in
:mod:`diamp.daq.sim.serial_handlers.protocol_qrngsim`) and real ports (``/dev/ttyUSB0``,
``socket://host:port``) go through the same code.
"""

from __future__ import annotations

import logging
import math
from types import TracebackType
from typing import Any, Self

import numpy as np
import serial

from diamp.errors import InstrumentError

__all__ = ["SerialQrng", "register_url_handlers"]

log = logging.getLogger(__name__)

_HANDLERS = "diamp.daq.sim.serial_handlers"
_WINDOW_BITS = 4096


def register_url_handlers() -> None:
    """Make ``qrngsim://`` known to ``serial.serial_for_url`` (idempotent)."""
    if _HANDLERS not in serial.protocol_handler_packages:
        serial.protocol_handler_packages.append(_HANDLERS)


class SerialQrng:
    """A serial SV-source QRNG: ``bits(count)`` returns checked input bits.

    Parameters
    ----------
    url
        Anything ``serial.serial_for_url`` opens.
    mu
        Declared SV bias bound of the source (sets the health-check thresholds).
    name
        Instrument name used in errors.
    timeout
        Seconds a read may take.
    reconnects
        How often a failed or short read is retried after reopening the port.
    """

    def __init__(
        self,
        url: str,
        *,
        mu: float = 0.0075,
        name: str = "qrng",
        timeout: float = 1.0,
        baudrate: int = 115200,
        reconnects: int = 2,
    ) -> None:
        if not 0 <= mu < 0.5:
            raise InstrumentError(f"{name}: mu must lie in [0, 1/2), found {mu}", instrument=name)
        register_url_handlers()
        self.url, self.name, self.mu = url, name, mu
        self.timeout, self.baudrate, self.reconnects = timeout, baudrate, reconnects
        bits_entropy = -math.log2(0.5 + mu)
        self.repetition_cutoff = 1 + math.ceil(20 / (8 * bits_entropy))
        self._band = mu + 6 / (2 * math.sqrt(_WINDOW_BITS))
        self._port: Any = None
        self._last_byte = -1
        self._run = 0

    def _fail(self, what: str) -> InstrumentError:
        return InstrumentError(
            f"{self.name} at {self.url}: {what}", instrument=self.name, url=self.url
        )

    def open(self) -> None:
        """Open (or reopen) the serial port."""
        self.close()
        try:
            self._port = serial.serial_for_url(
                self.url, baudrate=self.baudrate, timeout=self.timeout
            )
        except (serial.SerialException, ValueError, OSError) as err:
            raise self._fail(f"cannot open: {err}") from err

    def close(self) -> None:
        """Close the port if it is open."""
        if self._port is not None:
            try:
                self._port.close()
            finally:
                self._port = None

    def __enter__(self) -> Self:
        self.open()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def read_bytes(self, count: int) -> bytes:
        """Exactly ``count`` health-checked bytes, reconnecting on failures."""
        data = bytearray()
        attempts = 0
        while len(data) < count:
            if self._port is None:
                self.open()
            try:
                chunk = self._port.read(count - len(data))
            except (serial.SerialException, OSError) as err:
                chunk, problem = b"", f"read failed ({err})"
            else:
                problem = "" if chunk else f"timed out after {self.timeout} s"
            if chunk:
                self._check(chunk)
                data += chunk
                attempts = 0
                continue
            attempts += 1
            if attempts > self.reconnects:
                raise self._fail(f"{problem}; gave up after {self.reconnects} reconnects")
            log.warning(
                "%s: %s; reconnecting (%d/%d)", self.name, problem, attempts, self.reconnects
            )
            self.close()
        return bytes(data)

    def bits(self, count: int) -> np.ndarray:
        """The next ``count`` input bits (``uint8`` 0/1, MSB-first within each byte)."""
        raw = np.frombuffer(self.read_bytes((count + 7) // 8), dtype=np.uint8)
        return np.unpackbits(raw)[:count]

    def _check(self, chunk: bytes) -> None:
        """Repetition count over the byte stream and the bias band per full window."""
        data = np.frombuffer(chunk, dtype=np.uint8)
        starts = np.concatenate(([0], np.flatnonzero(np.diff(data)) + 1))
        runs = np.diff(np.concatenate((starts, [data.size])))
        if int(data[0]) == self._last_byte:
            runs[0] += self._run  # the run carried over from the previous chunk
        longest = int(np.argmax(runs))
        if runs[longest] >= self.repetition_cutoff:
            value = int(data[starts[longest]])
            raise self._fail(
                f"health check failed: byte 0x{value:02x} repeated {int(runs[longest])} times "
                f"(repetition cutoff {self.repetition_cutoff}); output looks stuck"
            )
        self._last_byte, self._run = int(data[-1]), int(runs[-1])
        bits = np.unpackbits(np.frombuffer(chunk, dtype=np.uint8))
        for start in range(0, bits.size - _WINDOW_BITS + 1, _WINDOW_BITS):
            ones = float(bits[start : start + _WINDOW_BITS].mean())
            if abs(ones - 0.5) > self._band:
                raise self._fail(
                    f"health check failed: {ones:.4f} ones in a {_WINDOW_BITS}-bit window, "
                    f"outside 1/2 ± {self._band:.4f} for mu = {self.mu}"
                )
