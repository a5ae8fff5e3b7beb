"""Oscilloscope trace files (``diamp.traces`` v1): envelope traces of timing checks.

Layout::

    /                         attrs: schema = "diamp.traces", schema_version = 2 (1 is
                              still read), optional run_id (the run whose checks these are)
    /checks/000000            attrs: time_h (hours since synchronisation), label
    /checks/000000/NAME       attrs: device, node ("A" or "B"), role, t0_ns, dt_ns,
                              sha256 (v2: :func:`trace_sha256` of the trace, its attributes
                              and its source; a mismatch is refused naming the trace)
                              optional: instrument, channel, snapshot (JSON), when the trace
                              was acquired from a scope (:class:`TraceSource`)
    /checks/000000/NAME/low   float64 low envelope (V)
    /checks/000000/NAME/high  float64 high envelope (V)

``role`` is ``edge`` (a device pulse checked for jitter), ``reference`` (the local master
AWG's reference pulse) or ``remote`` (the pulse from the other node's master AWG). The
simulated scopes write the same format as the lab's. The provenance attributes are optional
(files without them, and readers that ignore them, stay valid v1).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from diamp.daq.atomic import write_h5_atomic
from diamp.errors import StorageError, TimingError
from diamp.timing.envelopes import EnvelopeTrace
from diamp.timing.records import TimingCheck, TraceRecord, TraceSource

if TYPE_CHECKING:
    import h5py

__all__ = [
    "SCHEMA",
    "TimingCheck",
    "TraceRecord",
    "TraceSource",
    "read_trace_file",
    "read_traces",
    "trace_sha256",
    "traces_digest",
    "write_traces",
]

_SOURCE_KEYS = ("instrument", "channel", "snapshot")

SCHEMA = "diamp.traces"


def trace_sha256(record: TraceRecord) -> str:
    """SHA-256 binding one trace: name, device, node, role, t0, dt, source, low, high."""
    import hashlib
    import json

    t = record.trace
    head = [record.name, t.device, record.node, record.role, repr(float(t.t0_ns)),
            repr(float(t.dt_ns))]  # fmt: skip
    if record.source is not None:
        src = record.source
        head += [src.instrument, str(src.channel), src.snapshot]
    digest = hashlib.sha256(json.dumps(head).encode())
    digest.update(np.ascontiguousarray(t.low, dtype="<f8").tobytes())
    digest.update(np.ascontiguousarray(t.high, dtype="<f8").tobytes())
    return digest.hexdigest()


def traces_digest(checks: Sequence[TimingCheck]) -> str:
    """One SHA-256 over every trace of every check, in order (bound by the certificate)."""
    import hashlib

    digest = hashlib.sha256()
    for i, check in enumerate(checks):
        digest.update(f"{i}:{check.label}:{check.time_h!r}".encode())
        for rec in check.records:
            digest.update(trace_sha256(rec).encode())
    return digest.hexdigest()


def write_traces(
    path: str | Path, checks: Sequence[TimingCheck], run_id: str | None = None
) -> None:
    """Write checks to a trace file atomically (temporary file, fsync, rename).

    ``run_id`` (optional attribute) ties the file to a run, so a resumed run never takes
    another run's checks for its own.
    """

    def build(f: h5py.File) -> None:
        f.attrs["schema"] = SCHEMA
        f.attrs["schema_version"] = 2
        if run_id is not None:
            f.attrs["run_id"] = run_id
        root = f.create_group("checks")
        for i, check in enumerate(checks):
            group = root.create_group(f"{i:06d}")
            group.attrs["time_h"] = check.time_h
            group.attrs["label"] = check.label
            for rec in check.records:
                g = group.create_group(rec.name)
                g.attrs.update(
                    device=rec.trace.device,
                    node=rec.node,
                    role=rec.role,
                    t0_ns=rec.trace.t0_ns,
                    dt_ns=rec.trace.dt_ns,
                )
                if rec.source is not None:
                    g.attrs.update(
                        instrument=rec.source.instrument,
                        channel=rec.source.channel,
                        snapshot=rec.source.snapshot,
                    )
                g.create_dataset("low", data=np.asarray(rec.trace.low, dtype=np.float64))
                g.create_dataset("high", data=np.asarray(rec.trace.high, dtype=np.float64))
                g.attrs["sha256"] = trace_sha256(rec)

    write_h5_atomic(Path(path), build, "trace file")


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _record(path: Path, where: str, name: str, g: object, version: int) -> TraceRecord:
    attrs = g.attrs  # type: ignore[attr-defined]
    missing = [k for k in ("device", "node", "role", "t0_ns", "dt_ns") if k not in attrs]
    if missing or "low" not in g or "high" not in g:  # type: ignore[operator]
        raise TimingError(f"{path}: {where}/{name}: missing {missing or ['low/high datasets']}")
    node, role = _text(attrs["node"]), _text(attrs["role"])
    if node not in ("A", "B") or role not in ("edge", "reference", "remote"):
        raise TimingError(f"{path}: {where}/{name}: node {node!r} / role {role!r} not recognised")
    try:
        trace = EnvelopeTrace(
            device=_text(attrs["device"]),
            t0_ns=float(attrs["t0_ns"]),
            dt_ns=float(attrs["dt_ns"]),
            low=np.asarray(g["low"][()], dtype=np.float64),  # type: ignore[index]
            high=np.asarray(g["high"][()], dtype=np.float64),  # type: ignore[index]
        )
    except (ValueError, TypeError) as err:
        raise TimingError(f"{path}: {where}/{name}: {err}") from err
    source = _source(path, f"{where}/{name}", attrs)
    record = TraceRecord(name, node, role, trace, source)  # type: ignore[arg-type]
    if version >= 2:
        stored, found = _text(attrs.get("sha256", "")), trace_sha256(record)
        if stored != found:
            raise TimingError(
                f"{path}: {where}/{name}: sha256 mismatch (expected {stored or 'a checksum'}, "
                f"found {found}): the trace or its attributes were changed"
            )
    return record


def _source(path: Path, where: str, attrs: Any) -> TraceSource | None:
    present = [k for k in _SOURCE_KEYS if k in attrs]
    if not present:
        return None
    if len(present) != len(_SOURCE_KEYS):
        missing = sorted(set(_SOURCE_KEYS) - set(present))
        raise TimingError(f"{path}: {where}: provenance incomplete, missing {missing}")
    try:
        return TraceSource(
            _text(attrs["instrument"]), int(attrs["channel"]), _text(attrs["snapshot"])
        )
    except (ValueError, TypeError) as err:
        raise TimingError(f"{path}: {where}: invalid provenance: {err}") from err


def read_traces(path: str | Path) -> list[TimingCheck]:
    """Read every check of a trace file, validating the layout (errors name the trace)."""
    return read_trace_file(path)[0]


def read_trace_file(path: str | Path) -> tuple[list[TimingCheck], str | None]:
    """Every check of a trace file and the run id it records (None if it has none)."""
    import h5py

    p = Path(path)
    try:
        f = h5py.File(p, "r")
    except FileNotFoundError as err:
        raise StorageError(f"{p}: trace file not found", path=str(p)) from err
    except OSError as err:
        raise TimingError(f"{p}: not a readable HDF5 trace file: {err}") from err
    with f:
        version = int(f.attrs.get("schema_version", 0))
        if _text(f.attrs.get("schema", "")) != SCHEMA or version not in (1, 2):
            raise TimingError(f"{p}: not a diamp.traces v1 or v2 file")
        if "checks" not in f:
            raise TimingError(f"{p}: missing group /checks")
        checks = []
        for key in sorted(f["checks"]):
            g = f["checks"][key]
            if "time_h" not in g.attrs:
                raise TimingError(f"{p}: /checks/{key}: missing attribute time_h")
            records = tuple(
                _record(p, f"/checks/{key}", name, g[name], version) for name in sorted(g)
            )
            checks.append(
                TimingCheck(float(g.attrs["time_h"]), _text(g.attrs.get("label", "")), records)
            )
        run_id = f.attrs.get("run_id")
        return checks, None if run_id is None else _text(run_id)
