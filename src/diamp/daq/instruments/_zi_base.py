"""Common machinery of the Zurich Instruments readout drivers (declared settings, errors).

Every setting a driver accepts is declared with its unit and range (:class:`ZiSetting`);
:meth:`ZiReadoutBase.configure` validates the merged batch first, so a bad value never
reaches the device, and then writes it in a single ``set_transaction`` of zhinst-toolkit
(one ``set`` call to the data server). Every exception zhinst raises becomes an
:class:`~diamp.errors.InstrumentError` naming the instrument and the node.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from diamp.daq.readout import Calibration, calibrate, discriminate
from diamp.errors import InstrumentError, InstrumentSettingError

__all__ = ["ZiReadoutBase", "ZiSetting", "open_device"]

RESULT_SOURCES = ("integration", "discrimination")
_NODE_PATH = re.compile(r"/dev\d+(?:/[a-z0-9_.]+)+", re.IGNORECASE)


@dataclass(frozen=True)
class ZiSetting:
    """One declared setting: unit, inclusive range or choices, integer-ness and step."""

    unit: str
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] = ()
    integer: bool = False
    step: float | None = None

    def check(self, key: str, value: Any) -> str | None:
        """Why ``value`` is not acceptable for ``key``, or None."""
        if self.choices:
            return (
                None if value in self.choices else f"{key} = {value!r} is not one of {self.choices}"
            )
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
        ):
            return f"{key} = {value!r} is not a finite number ({self.unit})"
        if self.integer and value != int(value):
            return f"{key} = {value} must be an integer ({self.unit})"
        low, high = self.minimum, self.maximum
        if (low is not None and value < low) or (high is not None and value > high):
            return f"{key} = {value} {self.unit} is outside [{low}, {high}] {self.unit}"
        if self.step is not None and abs(value / self.step - round(value / self.step)) > 1e-9:
            return f"{key} = {value} {self.unit} is not a multiple of {self.step} {self.unit}"
        return None


def open_device(name: str, serial: str, host: str, port: int, connection: Any) -> tuple[Any, Any]:
    """A zhinst-toolkit session and the connected device ``serial``."""
    from zhinst.toolkit import Session

    where = "the given connection" if connection is not None else f"{host}:{port}"
    try:
        session = Session(host, port, connection=connection)
    except Exception as err:
        raise InstrumentError(
            f"{name}: cannot open a LabOne session to {where} ({err}); is the data server running?",
            instrument=name,
            address=where,
        ) from err
    try:
        device = session.connect_device(serial)
    except Exception as err:
        raise InstrumentError(
            f"{name}: cannot connect device {serial} through {where} ({err!r}); is it visible "
            "to the data server?",
            instrument=name,
            address=serial,
        ) from err
    return session, device


class ZiReadoutBase:
    """Shared part of the UHFQA and SHFQA readouts (subclasses map settings to nodes)."""

    SETTINGS: ClassVar[Mapping[str, ZiSetting]] = {}
    DEFAULTS: ClassVar[Mapping[str, Any]] = {}
    DEVICE_PREFIX: ClassVar[str] = ""
    MAX_RESULTS: ClassVar[int] = 1
    POLL_S: ClassVar[float] = 0.002

    def __init__(
        self,
        name: str,
        serial: str,
        *,
        host: str = "localhost",
        port: int = 8004,
        connection: Any = None,
        min_fidelity: float = 0.9,
    ) -> None:
        self.name, self.serial, self.min_fidelity = name, serial.lower(), min_fidelity
        self._session, self._device = open_device(name, serial, host, port, connection)
        if not str(self._device.device_type).upper().startswith(self.DEVICE_PREFIX):
            raise InstrumentError(
                f"{name}: {serial} is a {self._device.device_type}, not a {self.DEVICE_PREFIX}",
                instrument=name,
                address=serial,
            )
        self._state: dict[str, Any] = dict(self.DEFAULTS)
        self.calibration = Calibration(0.0, 0.0)
        self._configured, self._closed = False, False
        self._armed: int | None = None

    # -- errors ---------------------------------------------------------------------------

    def _fail(self, what: str, node: str | None = None, **fields: Any) -> InstrumentError:
        where = f" ({node})" if node else ""
        return InstrumentError(
            f"{self.name}{where}: {what}", instrument=self.name, node=node, **fields
        )

    @contextmanager
    def _io(self, node: str, doing: str, *, name_node_from_error: bool = False) -> Iterator[None]:
        """Turn any zhinst exception raised while ``doing`` into an InstrumentError.

        For a transaction (many nodes) the node named is the first device path found in the
        server's message, when it names one.
        """
        try:
            yield
        except InstrumentError:
            raise
        except Exception as err:  # zhinst.core errors, ToolkitError, KeyError, TimeoutError …
            found = _NODE_PATH.search(str(err)) if name_node_from_error else None
            where = found.group(0).lower() if found else node
            raise self._fail(f"{doing} failed: {type(err).__name__}: {err}", where) from err

    def _node(self, relative: str) -> str:
        return f"/{self.serial}/{relative}"

    def _usable(self) -> None:
        if self._closed:
            raise self._fail("the readout is closed")
        if not self._configured:
            raise self._fail("configure() the readout before arming or reading it")

    # -- settings -------------------------------------------------------------------------

    def validate(self, settings: Mapping[str, Any]) -> dict[str, Any]:
        """The merged settings after checking every value; nothing is sent."""
        try:
            return self._validate(settings)
        except InstrumentError as err:
            raise InstrumentSettingError(err.message, **err.fields) from None

    def _validate(self, settings: Mapping[str, Any]) -> dict[str, Any]:
        merged = dict(self._state)
        for key, value in settings.items():
            spec = self.SETTINGS.get(key)
            if spec is None:
                raise self._fail(f"unknown setting {key!r}; known: {sorted(self.SETTINGS)}")
            problem = spec.check(key, value)
            if problem:
                raise self._fail(problem, setting=key)
            merged[key] = int(value) if spec.integer else value
        missing = sorted(set(self.SETTINGS) - set(merged))
        if missing:
            raise self._fail(f"settings {missing} have no default and must be given")
        self._check_combination(merged)
        return merged

    def _check_combination(self, merged: Mapping[str, Any]) -> None:
        """Cross-setting checks (no device writes); subclasses extend."""

    def configure(self, settings: Mapping[str, Any]) -> None:
        """Validate every setting, then write the whole configuration in one transaction."""
        if self._closed:
            raise self._fail("the readout is closed")
        merged = self.validate(settings)
        with self._io(self._node(""), "configuration transaction", name_node_from_error=True):
            with self._device.set_transaction():
                self._write(merged)
        self._state, self._configured = merged, True
        current = (self.calibration.angle, self.calibration.threshold)
        if current != (merged["rotation_angle"], merged["threshold"]):
            self.calibration = Calibration(
                float(merged["rotation_angle"]), float(merged["threshold"])
            )

    def _write(self, merged: Mapping[str, Any]) -> None:
        raise NotImplementedError

    def snapshot(self) -> dict[str, dict[str, Any]]:
        """Every declared setting read back from the device: ``{key: {value, unit, timestamp}}``."""
        self._usable()
        values = self._readback()
        return {
            key: {"value": values[key], "unit": spec.unit, "timestamp": time.time()}
            for key, spec in self.SETTINGS.items()
        }

    def _readback(self) -> dict[str, Any]:
        raise NotImplementedError

    # -- acquisition ----------------------------------------------------------------------

    def arm(self, n_results: int) -> None:
        """Reset the result logger and enable it for ``n_results`` results."""
        self._usable()
        if isinstance(n_results, bool) or not isinstance(n_results, int | np.integer):
            raise self._fail(f"n_results must be an integer, got {n_results!r}")
        if not 1 <= n_results <= self.MAX_RESULTS:
            raise self._fail(f"n_results = {n_results} is outside [1, {self.MAX_RESULTS}]")
        self._armed = None
        self._arm(int(n_results))
        self._armed = int(n_results)

    def _arm(self, n_results: int) -> None:
        raise NotImplementedError

    def _check_read(self, n_results: int, timeout_s: float) -> None:
        self._usable()
        if self._armed is None:
            raise self._fail("the result logger is not armed; call arm(n) first")
        if n_results != self._armed:
            raise self._fail(
                f"asked for {n_results} results, but the logger is armed for {self._armed}"
            )
        if (
            isinstance(timeout_s, bool)
            or not isinstance(timeout_s, int | float)
            or not timeout_s > 0
        ):
            raise self._fail(f"timeout_s must be a positive number of seconds, got {timeout_s!r}")

    def read_values(self, n_results: int, timeout_s: float) -> np.ndarray:
        """Exactly ``n_results`` integrated values (complex128, shot order).

        Values are in the frame of the unrotated integration weights: the rotation of the
        current calibration, applied on the device, is undone.
        """
        self._check_read(n_results, timeout_s)
        if self._state["result_source"] != "integration":
            raise self._fail(
                "integrated values are not recorded with result_source = 'discrimination'; "
                "configure result_source = 'integration'"
            )
        rotated = self._read_rotated(n_results, timeout_s)
        return np.asarray(rotated / self.calibration.rotation, dtype=np.complex128)

    def read_outcomes(self, n_results: int, timeout_s: float) -> np.ndarray:
        """Exactly ``n_results`` outcome bits (uint8 0/1, 1 = excited, shot order).

        With ``result_source = 'discrimination'`` the device's threshold unit decides; with
        ``'integration'`` the values are discriminated here with the current calibration
        (the same rotation and threshold the device holds).
        """
        if self._state.get("result_source") == "discrimination":
            self._check_read(n_results, timeout_s)
            return self._read_bits(n_results, timeout_s)
        return discriminate(self.read_values(n_results, timeout_s), self.calibration)

    def _read_rotated(self, n_results: int, timeout_s: float) -> np.ndarray:
        raise NotImplementedError

    def _read_bits(self, n_results: int, timeout_s: float) -> np.ndarray:
        raise NotImplementedError

    def _exactly(self, data: Any, n_results: int, node: str) -> np.ndarray:
        array = np.asarray(data)
        if array.ndim != 1 or array.size != n_results:
            raise self._fail(
                f"count mismatch: expected {n_results} results, received {array.size}",
                node,
                expected=n_results,
                received=int(array.size),
            )
        return array

    def _bits(self, data: Any, n_results: int, node: str) -> np.ndarray:
        array = self._exactly(data, n_results, node)
        if not np.isin(array, (0, 1)).all():
            raise self._fail("discrimination results are not all 0 or 1", node)
        return array.real.astype(np.uint8)

    # -- calibration ----------------------------------------------------------------------

    def recalibrate(self, ground: np.ndarray, excited: np.ndarray) -> Calibration:
        """New rotation and threshold from reference shots, written in one transaction.

        ``ground`` and ``excited`` are integrated values as :meth:`read_values` returns
        them. A calibration whose assignment fidelity is below ``min_fidelity`` is refused
        (the previous one stays on the device).
        """
        try:
            new = calibrate(ground, excited)
        except ValueError as err:
            raise self._fail(f"recalibration refused: {err}") from err
        if not new.fidelity >= self.min_fidelity:
            raise self._fail(
                f"recalibration refused: assignment fidelity {new.fidelity:.4f} is below "
                f"min_fidelity = {self.min_fidelity}",
                fidelity=new.fidelity,
            )
        self.configure({"rotation_angle": new.angle, "threshold": new.threshold})
        self.calibration = new
        return new

    def close(self) -> None:
        """Forget the session (the device stays connected to its data server)."""
        self._closed = True
        self._armed = None
        self._device = self._session = None
