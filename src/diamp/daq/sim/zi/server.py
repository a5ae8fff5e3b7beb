"""An in-process Zurich Instruments data server: the simulated backend of the ZI readout.

:class:`SimulatedDataServer` implements the part of the ``zhinst.core.ziDAQServer`` API that
``zhinst.toolkit.Session`` and :mod:`diamp.daq.instruments.zurich` use (``listNodesJSON``,
``listNodes``, ``get``/``getInt``/``getDouble``/``getString``/``getComplex``, ``set`` (single
and transactional lists), ``setVector``, ``syncSet*``, ``subscribe``/``poll``/``getAsEvent``,
``connectDevice``, ``sync``), so that::

    server = SimulatedDataServer()
    server.add_uhfqa("dev2345", SignalModel(outcomes))
    session = zhinst.toolkit.Session("localhost", connection=server)
    device = session.connect_device("dev2345")

runs zhinst-toolkit unmodified. The node tree of each simulated instrument
(:mod:`diamp.daq.sim.zi.models`) carries node documentation in LabOne's
``listNodesJSON`` format, and the server enforces it like a device: unknown nodes, writes to
read-only nodes, wrong types, out-of-range values and oversized vectors raise the
``zhinst.core.errors`` exception a real server raises (where a device would clamp or round
silently, the simulation raises, so that a driver relying on clamping fails its tests).
A transactional ``set`` of a list is validated whole before any node changes.

The result loggers turn outcome bits from a pluggable source (:class:`SignalModel`) into
integrated IQ values: Gaussian blobs around two complex centres. Faults can be injected:
:meth:`SimulatedDataServer.fail_node` (a node that errors), :meth:`SimulatedDevice.stall`
(a result logger that never completes) and :meth:`SimulatedDevice.short_read` (a logger that
reports completion but delivers fewer results). :attr:`SimulatedDataServer.set_log` records
every set request as it arrived, before validation.
"""

from __future__ import annotations

import fnmatch
import json
import time
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from diamp.daq.sim.zi.device import SignalModel, SimulatedDevice
from diamp.daq.sim.zi.models import SimulatedShfqa, SimulatedUhfqa
from diamp.daq.sim.zi.nodes import INT, READ, STRING, VECTOR, NodeSpec, core_error

__all__ = ["NodeSpec", "SignalModel", "SimulatedDataServer", "SimulatedDevice"]


class SimulatedDataServer:
    """The ``ziDAQServer`` subset that zhinst-toolkit and the diamp ZI drivers use."""

    def __init__(self, host: str = "localhost", port: int = 8004) -> None:
        self.host, self.port = host, port
        self.specs: dict[str, NodeSpec] = {}
        self.values: dict[str, Any] = {}
        self.timestamps: dict[str, int] = {}
        self.devices: dict[str, SimulatedDevice] = {}
        self.set_log: list[list[tuple[str, Any]]] = []
        self._failing: dict[str, str] = {}
        self._subscribed: set[str] = set()
        self._events: dict[str, list[tuple[int, Any]]] = {}
        self._clock = 0
        self._declare_server_nodes()

    # -- the node store ------------------------------------------------------------------

    def _declare_server_nodes(self) -> None:
        from zhinst.core import __version__ as core_version

        major_minor = ".".join(core_version.split(".")[:2])
        for name, spec in {
            "about/version": NodeSpec(STRING, READ, "LabOne version.", default=major_minor),
            "about/fullversion": NodeSpec(STRING, READ, "Full version.", default=core_version),
            "about/revision": NodeSpec(INT, READ, "Revision.", default=0),
            "about/dataserver": NodeSpec(
                STRING, READ, "Data server.", default="diamp simulated data server"
            ),
            "devices/connected": NodeSpec(STRING, READ, "Connected devices.", default=""),
            "devices/visible": NodeSpec(STRING, READ, "Visible devices.", default=""),
            "devices": NodeSpec(STRING, READ, "Discovery information (JSON).", default="{}"),
            "config/port": NodeSpec(INT, READ, "Data server port.", default=self.port),
        }.items():
            self.declare(f"/zi/{name}", spec)

    def declare(self, path: str, spec: NodeSpec) -> None:
        """Add a leaf node with its default value."""
        self.specs[path] = spec
        self.values[path] = (
            np.zeros(0, dtype=np.complex128 if spec.complex_vector else np.float64)
            if spec.type == VECTOR
            else spec.default
        )
        self.timestamps[path] = 0

    def store(self, path: str, value: Any, *, event: bool = True) -> None:
        """Write a node as the device itself does (no validation), queueing a poll event."""
        self._clock += 1
        self.values[path], self.timestamps[path] = value, self._clock
        if event and path in self._subscribed:
            self._events.setdefault(path, []).append((self._clock, value))

    def _leaf(self, path: str, *, write: bool = False) -> tuple[str, NodeSpec]:
        key = path.lower().rstrip("/")
        spec = self.specs.get(key)
        if spec is None:
            raise core_error("NotFoundError", f"node {key} does not exist")
        if key in self._failing:
            raise core_error("CoreError", f"{key}: {self._failing[key]}")
        if write and "Write" not in spec.properties:
            raise core_error("ReadOnlyError", f"{key} is read-only")
        if not write and "Read" not in spec.properties:
            raise core_error("WriteOnlyError", f"{key} is write-only")
        return key, spec

    def _device_of(self, path: str) -> SimulatedDevice | None:
        return self.devices.get(path.split("/")[1])

    def _service(self, paths: Iterable[str]) -> None:
        for serial in {p.split("/")[1] for p in paths}:
            if serial in self.devices:
                self.devices[serial].service()

    def _matching(self, pattern: str) -> list[str]:
        key = pattern.lower().rstrip("/")
        if key in self.specs:
            return [key]
        return [p for p in self.specs if fnmatch.fnmatchcase(p, key) or p.startswith(key + "/")]

    # -- fault injection and devices -----------------------------------------------------

    def fail_node(self, path: str, message: str = "device reported an error") -> None:
        """Fault: every access to ``path`` raises ``zhinst.core.errors.CoreError``."""
        self._failing[path.lower()] = message

    def clear_faults(self) -> None:
        """Remove every injected fault."""
        self._failing.clear()
        for device in self.devices.values():
            device.stall(False)
            device.short_read(None)

    def add_device(self, device: SimulatedDevice) -> SimulatedDevice:
        """Make a simulated device visible to the server."""
        self.devices[device.serial] = device
        self._refresh_device_list()
        return device

    def add_uhfqa(self, serial: str, signal: SignalModel) -> SimulatedDevice:
        """A visible simulated UHFQA."""
        return self.add_device(SimulatedUhfqa(self, serial, signal))

    def add_shfqa(self, serial: str, signal: SignalModel) -> SimulatedDevice:
        """A visible simulated SHFQA (2 QA channels, 8 integrators each)."""
        return self.add_device(SimulatedShfqa(self, serial, signal))

    def _refresh_device_list(self) -> None:
        info = {
            serial.upper(): {
                "DEVICETYPE": device.DEVTYPE,
                "INTERFACE": "1GbE" if device.connected else "none",
                "INTERFACES": "1GbE",
                "CONNECTED": "1" if device.connected else "",
                "STATUSFLAGS": 0,
            }
            for serial, device in self.devices.items()
        }
        self.values["/zi/devices"] = json.dumps(info)
        self.values["/zi/devices/visible"] = ",".join(self.devices)
        connected = (s for s, d in self.devices.items() if d.connected)
        self.values["/zi/devices/connected"] = ",".join(connected)

    def connectDevice(self, dev: str, interface: str, params: str | None = None) -> None:
        """Connect a visible device (``interface`` must be 1GbE)."""
        device = self.devices.get(dev.lower())
        if device is None:
            raise core_error("DeviceNotFoundError", f"device {dev} is not visible to the server")
        if interface.lower() != "1gbe":
            raise core_error("DeviceInterfaceError", f"device {dev} has no interface {interface}")
        device.connected = True
        self._refresh_device_list()

    def disconnectDevice(self, dev: str) -> None:
        """Disconnect a device."""
        device = self.devices.get(dev.lower())
        if device is not None:
            device.connected = False
            self._refresh_device_list()

    # -- node documentation -------------------------------------------------------------

    def listNodesJSON(self, path: str, *args: Any, **kwargs: Any) -> str:
        """Node documentation of every leaf matching ``path`` (LabOne JSON format)."""
        return json.dumps({p: self.specs[p].doc(p) for p in self._matching(path)})

    def listNodes(self, path: str, *args: Any, **kwargs: Any) -> list[str]:
        """Children of ``path`` (all leaves below it with ``recursive=True``)."""
        leaves = self._matching(path)
        if kwargs.get("recursive"):
            return leaves
        base = path.lower().rstrip("/").rstrip("*").rstrip("/")
        depth = base.count("/") + 1
        return sorted({"/".join(p.split("/")[: depth + 1]) for p in leaves}, key=_natural)

    # -- get -------------------------------------------------------------------------------

    def _entry(self, path: str) -> Any:
        value, stamp = self.values[path], self.timestamps[path]
        if self.specs[path].type == VECTOR:
            return [{"timestamp": stamp, "flags": 0, "vector": np.array(value)}]
        return {"timestamp": np.array([stamp], dtype=np.uint64), "value": np.array([value])}

    def get(self, paths: str, *args: Any, flat: bool = False, **kwargs: Any) -> dict[str, Any]:
        """Values of every readable leaf matching the comma-separated ``paths``."""
        settings_only = kwargs.get("settingsonly", True)
        found: list[str] = []
        for pattern in paths.split(","):
            matches = self._matching(pattern)
            if not matches:
                raise core_error("NotFoundError", f"no node matches {pattern}")
            single = len(matches) == 1 and matches[0] == pattern.lower().rstrip("/")
            for path in matches:
                spec = self.specs[path]
                if "Read" not in spec.properties or path in found:
                    continue
                if single or not settings_only or "Setting" in spec.properties:
                    found.append(self._leaf(path)[0])
        self._service(found)
        result = {path: self._entry(path) for path in found}
        return result if flat else _nest(result)

    def _scalar(self, path: str) -> Any:
        key, spec = self._leaf(path)
        if spec.type == VECTOR:
            raise core_error("InvalidArgumentError", f"{key} is a vector node")
        self._service([key])
        return self.values[key]

    def getInt(self, path: str) -> int:
        """Integer value of a leaf."""
        return int(self._scalar(path))

    def getDouble(self, path: str) -> float:
        """Double value of a leaf."""
        return float(self._scalar(path))

    def getComplex(self, path: str) -> complex:
        """Complex value of a leaf."""
        return complex(self._scalar(path))

    def getString(self, path: str) -> str:
        """String value of a leaf."""
        return str(self._scalar(path))

    # -- set -------------------------------------------------------------------------------

    def set(self, path: Any, value: Any = None, *args: Any, **kwargs: Any) -> None:
        """Set one node, or a list of ``(path, value)`` pairs as one transaction."""
        items = [(path, value)] if isinstance(path, str) else [tuple(item) for item in path]
        self.set_log.append([(str(p), v) for p, v in items])
        checked: list[tuple[str, Any]] = []
        for node, raw in items:
            key, spec = self._leaf(node, write=True)
            checked.append((key, spec.coerce(key, raw)))
        for key, coerced in checked:
            self.store(key, coerced)
            device = self._device_of(key)
            if device is not None:
                device.after_set(key.split("/", 2)[2], coerced)

    def setVector(self, path: str, value: Any) -> None:
        """Set a vector node."""
        self.set(path, value)

    def setInt(self, path: str, value: int) -> None:
        """Set an integer node."""
        self.set(path, value)

    def setDouble(self, path: str, value: float) -> None:
        """Set a double node."""
        self.set(path, value)

    def setComplex(self, path: str, value: complex) -> None:
        """Set a complex node."""
        self.set(path, value)

    def setString(self, path: str, value: str) -> None:
        """Set a string node."""
        self.set(path, value)

    def syncSetInt(self, path: str, value: int) -> int:
        """Set an integer node and return the value the device acknowledged."""
        self.set(path, value)
        return int(self.values[path.lower()])

    def syncSetDouble(self, path: str, value: float) -> float:
        """Set a double node and return the value the device acknowledged."""
        self.set(path, value)
        return float(self.values[path.lower()])

    def syncSetString(self, path: str, value: str) -> str:
        """Set a string node and return the value the device acknowledged."""
        self.set(path, value)
        return str(self.values[path.lower()])

    def sync(self) -> None:
        """Flush: every set is applied at once here, so only pending acquisitions progress."""
        self._service(list(self.devices))

    # -- subscriptions ------------------------------------------------------------------

    def subscribe(self, path: str | list[str]) -> None:
        """Queue value changes of the matching leaves for :meth:`poll`."""
        for pattern in [path] if isinstance(path, str) else path:
            matches = self._matching(pattern)
            if not matches:
                raise core_error("NotFoundError", f"no node matches {pattern}")
            self._subscribed.update(self._leaf(m)[0] for m in matches)

    def unsubscribe(self, path: str | list[str]) -> None:
        """Stop queueing value changes of the matching leaves."""
        for pattern in [path] if isinstance(path, str) else path:
            for match in self._matching(pattern):
                self._subscribed.discard(match)
                self._events.pop(match, None)

    def getAsEvent(self, path: str) -> None:
        """Queue the current value of a subscribed leaf as an event."""
        key, _ = self._leaf(path)
        self._service([key])
        self._events.setdefault(key, []).append((self.timestamps[key], self.values[key]))

    def poll(
        self, recording_time_s: float, timeout_ms: int, *args: Any, flat: bool = False, **_: Any
    ) -> dict[str, Any]:
        """Events of subscribed leaves since the last poll (waits if there are none)."""
        self._service(self._subscribed)
        if not any(self._events.values()):
            time.sleep(min(max(recording_time_s, 0.0), 0.05))
            self._service(self._subscribed)
        result: dict[str, Any] = {}
        for path, events in self._events.items():
            if not events:
                continue
            if self.specs[path].type == VECTOR:
                result[path] = [
                    {"timestamp": t, "flags": 0, "vector": np.array(v)} for t, v in events
                ]
            else:
                result[path] = {
                    "timestamp": np.array([t for t, _ in events], dtype=np.uint64),
                    "value": np.array([v for _, v in events]),
                }
        self._events = {}
        return result if flat else _nest(result)


def _natural(path: str) -> list[Any]:
    return [int(part) if part.isdigit() else part for part in path.split("/")]


def _nest(flat: Mapping[str, Any]) -> dict[str, Any]:
    nested: dict[str, Any] = {}
    for path, entry in flat.items():
        node = nested
        parts = path.strip("/").split("/")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = entry
    return nested
