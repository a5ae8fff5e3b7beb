"""A loopback SCPI instrument server for binary transfers (pyvisa-py ``@py`` SOCKET resources).

pyvisa-sim covers command, range and error behaviour, but not IEEE 488.2 binary blocks; this
threaded TCP server on 127.0.0.1 does, so waveform uploads and curve downloads run through
the same pyvisa calls as on the lab's instruments:

* AWG: ``WLIS:WAV:NEW "name",<points>,REAL``, ``WLIS:WAV:DATA "name",#<block>`` (float32
  samples, little-endian), ``WLIS:WAV:DATA? "name"``, ``WLIS:SIZE?``, ``WLIS:NAME? i``,
  ``AWGC:RUN``/``STOP``, ``AWGC:RMOD``, and the AWG5014 sequence (``SEQ:LENG``,
  ``SEQ:ELEM<i>:WAV<ch>`` (the waveform must exist, else ``-224``), ``TWA``, ``LOOP:INF``,
  ``LOOP:COUN``, ``GOTO:STAT``, ``GOTO:IND``, and their queries).
* Scope: ``DATA:SOU CH<n>``, ``ACQ:MOD ENVELOPE``, ``CURV?`` (int16 block of interleaved
  min/max pairs, as Tektronix envelope curves), ``WFMO:XIN?``/``XZE?``/``YMU?``/``YOFF?``/``YZE?``.
  Each channel shows a :class:`~diamp.timing.synthetic.SyntheticEdge` (jitter, offset, noise).
* Common: ``*IDN?``, ``*RST``, ``*CLS``, ``*OPC?``, ``SYST:ERR?`` (error queue), ``*ESR?``.

Unknown commands push ``-113,"Undefined header"``, malformed blocks ``-160,"Block data error"``.
``settings`` declares plain settings (``HEADER value`` stores, ``HEADER?`` reads back);
``disconnect_after`` drops the connection after that many commands (fault injection).
An ``emulation`` (e.g. :class:`diamp.daq.sim.scope.ScopeEmulation`) sees every command first
and answers those of its instrument model.

The server acknowledges every command at once (``TCP_QUICKACK``): otherwise a command without
reply followed by a query waits out the delayed ACK (~40 ms) under the client's Nagle
algorithm, which pyvisa-py cannot switch off for sockets.
"""

from __future__ import annotations

import re
import socket
import socketserver
import threading
from dataclasses import dataclass, field
from types import TracebackType
from typing import Protocol, Self

import numpy as np

from diamp.timing.synthetic import SyntheticEdge, synthetic_envelopes

__all__ = ["Emulation", "InstrumentState", "LoopbackScpiServer", "binary_block"]

_Y_MULT = 1e-4  # volts per count of the int16 curve
_POLL_S = 0.02  # how soon stop() is noticed (socketserver polls for shutdown)


class Emulation(Protocol):
    """An instrument model that answers some commands itself."""

    def dispatch(
        self, state: InstrumentState, command: str, argument: str
    ) -> tuple[bool, bytes | None]:
        """``(handled, reply)``; ``handled`` False passes the command on to the server."""
        ...


@dataclass
class InstrumentState:
    """What the simulated instrument remembers."""

    idn: str = "TEKTRONIX,AWG5014C,LOOP0001,SCPI:99.0 FW:4.6.0.7"
    waveforms: dict[str, np.ndarray] = field(default_factory=dict)
    declared: dict[str, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    esr: int = 0
    running: bool = False
    source: int = 1
    edges: dict[int, SyntheticEdge] = field(default_factory=dict)
    dt_ns: float = 0.4
    window_ns: tuple[float, float] = (-20.0, 20.0)
    triggers: int = 500
    seed: int = 0
    disconnect_after: int | None = None  # fault injection: drop the link after N commands
    commands: int = 0
    settings: dict[str, str] = field(default_factory=dict)  # plain "HEADER value" / "HEADER?"
    sequence: list[dict[str, str]] = field(default_factory=list)  # AWG5014 sequence elements
    emulation: Emulation | None = None

    def error(self, text: str, bit: int = 32) -> None:
        """Queue a SCPI error and set its bit in the event status register."""
        self.errors.append(text)
        self.esr |= bit


def binary_block(payload: bytes) -> bytes:
    """An IEEE 488.2 definite-length block ``#<n><length><payload>`` and a newline."""
    digits = str(len(payload))
    return b"#" + str(len(digits)).encode() + digits.encode() + payload + b"\n"


class _Handler(socketserver.StreamRequestHandler):
    server: _Server

    def handle(self) -> None:
        state = self.server.state
        while True:
            if state.disconnect_after is not None and state.commands >= state.disconnect_after:
                return  # the cable is pulled: close the connection, answer nothing
            line = self._read_command()
            if line is None:
                return
            self._ack_now()
            state.commands += 1
            with self.server.lock:
                reply = self._dispatch(state, line)
            if reply is not None:
                self.wfile.write(reply)
                self.wfile.flush()

    def _ack_now(self) -> None:
        try:
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)
        except (AttributeError, OSError):  # pragma: no cover - not Linux: only slower
            pass

    def _read_command(self) -> bytes | None:
        """One command; a definite-length block (#<n><len><data>) may contain newlines."""
        data = bytearray()
        while True:
            ch = self.rfile.read(1)
            if not ch:
                return None
            if ch == b"#" and data.rstrip().endswith(b","):
                ndigits = self.rfile.read(1)
                if not ndigits.isdigit() or ndigits == b"0":
                    return bytes(data) + b"#" + ndigits  # indefinite or malformed
                length = int(self.rfile.read(int(ndigits)))
                payload = self.rfile.read(length)
                data += b"#" + ndigits + str(length).encode().rjust(int(ndigits), b"0") + payload
                continue
            if ch == b"\n":
                return bytes(data)
            data += ch

    def _dispatch(self, state: InstrumentState, raw: bytes) -> bytes | None:
        head, _, rest = raw.partition(b" ")
        cmd = head.decode(errors="replace").upper()
        arg = rest.decode(errors="replace") if not rest.startswith(b'"') or b"#" not in rest else ""
        if state.emulation is not None:
            handled, reply = state.emulation.dispatch(state, cmd, arg)
            if handled:
                return reply
        if cmd == "*IDN?":
            return state.idn.encode() + b"\n"
        if cmd in ("*RST", "*CLS"):
            state.errors.clear()
            state.esr = 0
            if cmd == "*RST":
                state.waveforms.clear()
                state.declared.clear()
                state.sequence.clear()
                state.running = False
            return None
        if cmd == "*OPC?":
            return b"1\n"
        if cmd == "SYST:ERR?":
            return (state.errors.pop(0) if state.errors else '0,"No error"').encode() + b"\n"
        if cmd == "*ESR?":
            value, state.esr = state.esr, 0
            return f"{value}\n".encode()
        if cmd.endswith("?") and cmd[:-1] in state.settings:
            return state.settings[cmd[:-1]].encode() + b"\n"
        if cmd in state.settings and arg.strip():
            state.settings[cmd] = arg.strip()
            return None
        if cmd == "AWGC:RMOD":
            state.settings[cmd] = arg.strip()
            return None
        if cmd in ("AWGC:RUN", "AWGC:STOP"):
            state.running = cmd == "AWGC:RUN"
            return None
        if cmd == "AWGC:RST?":
            return b"2\n" if state.running else b"0\n"
        if cmd == "WLIS:WAV:NEW":
            m = re.fullmatch(r'"([^"]+)",(\d+),REAL', arg.strip())
            if not m:
                state.error('-109,"Missing parameter"')
                return None
            state.declared[m.group(1)] = int(m.group(2))
            return None
        if cmd == "WLIS:WAV:DATA":
            self._upload(state, rest)
            return None
        if cmd == "WLIS:WAV:DATA?":
            name = arg.strip().strip('"')
            if name not in state.waveforms:
                state.error('-224,"Illegal parameter value"', 4)
                return b"#10\n"
            return binary_block(state.waveforms[name].astype("<f4").tobytes())
        if cmd == "WLIS:SIZE?":
            return f"{len(state.waveforms)}\n".encode()
        if cmd == "WLIS:NAME?":
            names = list(state.waveforms)
            index = int(arg) if arg.strip().isdigit() else -1
            if not 0 <= index < len(names):
                state.error('-222,"Data out of range"', 16)
                return b'""\n'
            return f'"{names[index]}"\n'.encode()
        if cmd.startswith("SEQ:"):
            return _sequence(state, cmd, arg.strip())
        if cmd == "DATA:SOU":
            m = re.fullmatch(r"CH([1-4])", arg.strip().upper())
            if not m:
                state.error('-224,"Illegal parameter value"')
                return None
            state.source = int(m.group(1))
            return None
        if cmd in ("ACQ:MOD", "ACQ:STATE"):
            return None
        if cmd == "CURV?":
            return self._curve(state)
        scale = {
            "WFMO:XIN?": state.dt_ns * 1e-9,
            "WFMO:XZE?": state.window_ns[0] * 1e-9,
            "WFMO:YMU?": _Y_MULT,
            "WFMO:YOFF?": 0.0,
            "WFMO:YZE?": 0.0,
        }
        if cmd in scale:
            return f"{scale[cmd]:.9E}\n".encode()
        state.error('-113,"Undefined header"')
        return None

    def _upload(self, state: InstrumentState, rest: bytes) -> None:
        m = re.fullmatch(rb'"([^"]+)",#(\d)(\d+)(.*)', rest, flags=re.S)
        if not m:
            state.error('-160,"Block data error"')
            return
        name, payload = m.group(1).decode(), m.group(4)
        if len(payload) != int(m.group(3)) or len(payload) % 4:
            state.error('-160,"Block data error"')
            return
        samples = np.frombuffer(payload, dtype="<f4").copy()
        if state.declared.get(name) != samples.size:
            state.error('-224,"Illegal parameter value"')
            return
        state.waveforms[name] = samples

    def _curve(self, state: InstrumentState) -> bytes:
        edge = state.edges.get(state.source)
        if edge is None:
            state.error('-230,"Data corrupt or stale"', 4)
            return b"#10\n"
        rng = np.random.default_rng([state.seed, state.source, len(state.errors)])
        trace = synthetic_envelopes(
            edge, triggers=state.triggers, dt_ns=state.dt_ns, window_ns=state.window_ns, rng=rng
        )
        pairs = np.empty(2 * trace.low.size, dtype="<i2")
        pairs[0::2] = np.clip(np.round(trace.low / _Y_MULT), -32768, 32767)
        pairs[1::2] = np.clip(np.round(trace.high / _Y_MULT), -32768, 32767)
        return binary_block(pairs.tobytes())


class _Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True

    def __init__(self, state: InstrumentState) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.state = state
        self.lock = threading.Lock()


class LoopbackScpiServer:
    """Run an emulated instrument on 127.0.0.1; ``resource`` is its VISA address for ``@py``."""

    def __init__(self, state: InstrumentState | None = None) -> None:
        self.state = state or InstrumentState()
        self._server = _Server(self.state)
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(_POLL_S,), daemon=True
        )

    @property
    def port(self) -> int:
        """The TCP port the server listens on."""
        return int(self._server.server_address[1])

    @property
    def resource(self) -> str:
        """VISA resource name, e.g. ``TCPIP::127.0.0.1::53211::SOCKET``."""
        return f"TCPIP::127.0.0.1::{self.port}::SOCKET"

    def start(self) -> Self:
        """Start serving in a background thread."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


_ELEMENT = re.compile(r"SEQ:ELEM(\d+):(WAV[1-4]|TWA|LOOP:INF|LOOP:COUN|GOTO:STAT|GOTO:IND)(\??)")


def _sequence(state: InstrumentState, cmd: str, arg: str) -> bytes | None:
    """AWG5014 sequence commands: ``SEQ:LENG`` and the element fields."""
    if cmd == "SEQ:LENG?":
        return f"{len(state.sequence)}\n".encode()
    if cmd == "SEQ:LENG":
        if not arg.isdigit() or int(arg) > 8000:
            state.error('-222,"Data out of range"', 16)
            return None
        state.sequence = [{} for _ in range(int(arg))]
        return None
    m = _ELEMENT.fullmatch(cmd)
    if m is None:
        state.error('-113,"Undefined header"')
        return None
    index, key, query = int(m.group(1)), m.group(2), m.group(3) == "?"
    if not 1 <= index <= len(state.sequence):
        state.error('-222,"Data out of range"', 16)
        return b'""\n' if query else None
    element = state.sequence[index - 1]
    if query:
        value = element.get(key, '""' if key.startswith("WAV") else "0")
        return f"{value}\n".encode()
    if key.startswith("WAV") and arg.strip('"') not in state.waveforms:
        state.error('-224,"Illegal parameter value"', 16)
        return None
    element[key] = arg
    return None
