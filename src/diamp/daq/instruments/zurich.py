"""Zurich Instruments qubit readout through zhinst-toolkit: UHFQA and SHFQA backends.

Both implement :class:`~diamp.daq.readout.QubitReadout`. A backend opens a
``zhinst.toolkit.Session`` (to a LabOne data server at ``host:port``, or to any object given
as ``connection``, such as :class:`~diamp.daq.sim.zi.server.SimulatedDataServer`),
connects the device, and then:

* :meth:`configure` validates the declared settings (unit, range, step) and writes the
  whole configuration in one ``device.set_transaction()``: one ``set`` to the data server;
* :meth:`arm` resets the result logger and enables it for ``n`` results;
* :meth:`read_values` waits (up to a timeout) for the logger and returns exactly ``n``
  complex values; :meth:`read_outcomes` returns ``n`` bits, decided by the device's
  threshold unit (``result_source = 'discrimination'``) or here from the values;
* :meth:`recalibrate` computes a new rotation and threshold from reference shots
  (:func:`~diamp.daq.readout.calibrate`) and writes them in one transaction.

How the calibration reaches the hardware: the UHFQA integrates on two units, ``channel``
and ``channel + 1``, with boxcar weights; their rotation units hold ``exp(-i·angle)`` and
``-i·exp(-i·angle)``, so they deliver the real and imaginary part of the rotated value, and
the threshold unit of ``channel`` compares the first with ``threshold``. The SHFQA has no
rotation unit: the integrator's complex boxcar weights are ``exp(-i·angle)`` and its
discriminator threshold is ``threshold``. Averaging is fixed at 1 (single shots).

Backends are chosen by type name through :data:`diamp.daq.registry.INSTRUMENTS` (``"uhfqa"``,
``"shfqa"``), each entry a factory ``(name, address, *, connection=None, **options)`` with
``address = "dev2345"`` or ``"dev2345@host:port"``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from diamp.daq.instruments._zi_base import RESULT_SOURCES, ZiReadoutBase, ZiSetting
from diamp.errors import ConfigError

__all__ = ["ShfqaReadout", "UhfqaReadout", "parse_address"]

_ANGLE = ZiSetting("rad", -math.pi, math.pi)
_THRESHOLD = ZiSetting("a.u.")
_SOURCE = ZiSetting("", choices=RESULT_SOURCES)
_AVERAGES = ZiSetting("", 1, 1, integer=True)  # single shots only
_COMMON_DEFAULTS = {
    "result_source": "integration",
    "averages": 1,
    "rotation_angle": 0.0,
    "threshold": 0.0,
}


def parse_address(address: str) -> tuple[str, str, int]:
    """``"dev2345"`` or ``"dev2345@host:port"`` → (serial, host, port); port 8004 by default."""
    serial, _, server = address.partition("@")
    host, _, port = server.partition(":")
    if not serial.lower().startswith("dev") or not serial[3:].isdigit():
        raise ConfigError(f"ZI address {address!r}: the serial must look like 'dev2345'")
    if port and not port.isdigit():
        raise ConfigError(f"ZI address {address!r}: the port must be a number")
    return serial.lower(), host or "localhost", int(port or 8004)


class UhfqaReadout(ZiReadoutBase):
    """UHFQA readout on integration units ``channel`` (I) and ``channel + 1`` (Q)."""

    DEVICE_PREFIX = "UHFQA"
    MAX_RESULTS = 1 << 20
    SETTINGS: ClassVar[Mapping[str, ZiSetting]] = {
        "channel": ZiSetting("", 0, 8, integer=True),
        "integration_length": ZiSetting("samples", 1, 4096, integer=True),
        "delay": ZiSetting("samples", 0, 1020, integer=True, step=4),
        "result_source": _SOURCE,
        "averages": _AVERAGES,
        "rotation_angle": _ANGLE,
        "threshold": _THRESHOLD,
    }
    DEFAULTS: ClassVar[Mapping[str, Any]] = {
        "channel": 0,
        "integration_length": 128,
        "delay": 0,
        **_COMMON_DEFAULTS,
    }
    _SOURCE_KEYWORDS: ClassVar[Mapping[str, str]] = {
        "integration": "result_after_rotation_unit",
        "discrimination": "result_after_threshold_unit",
    }
    _SOURCE_CODES: ClassVar[Mapping[int, str]] = {2: "integration", 1: "discrimination"}

    @classmethod
    def from_address(cls, name: str, address: str, **options: Any) -> UhfqaReadout:
        """Open ``address`` (``dev2345[@host:port]``); options go to the constructor."""
        serial, host, port = parse_address(address)
        return cls(name, serial, host=host, port=port, **options)

    @property
    def _qa(self) -> Any:
        return self._device.qas[0]

    def _write(self, merged: Mapping[str, Any]) -> None:
        qa, ch, length = self._qa, merged["channel"], merged["integration_length"]
        rotation = complex(math.cos(merged["rotation_angle"]), -math.sin(merged["rotation_angle"]))
        qa.integration.mode("normal")
        qa.integration.length(length)
        qa.delay(merged["delay"])
        qa.bypass.crosstalk(1)
        qa.bypass.rotation(0)
        qa.result.source(self._SOURCE_KEYWORDS[merged["result_source"]])
        qa.result.averages(0)  # log2 of the number of averages
        qa.result.mode("experiment_first")
        boxcar = np.ones(length) * (1 + 1j)  # real and imaginary weights both 1
        qa.integration.write_integration_weights({ch: boxcar, ch + 1: boxcar})
        qa.rotations[ch](rotation)
        qa.rotations[ch + 1](-1j * rotation)
        qa.thresholds[ch].level(float(merged["threshold"]))

    def _readback(self) -> dict[str, Any]:
        qa, ch = self._qa, self._state["channel"]
        out: dict[str, Any] = {"channel": ch}
        with self._io(self._node("qas/0"), "reading the settings back"):
            out["integration_length"] = int(qa.integration.length())
            out["delay"] = int(qa.delay())
            source = int(qa.result.source())
            out["result_source"] = self._SOURCE_CODES.get(source, f"unsupported ({source})")
            out["averages"] = 2 ** int(qa.result.averages())
            out["rotation_angle"] = -float(np.angle(complex(qa.rotations[ch]())))
            out["threshold"] = float(qa.thresholds[ch].level())
        return out

    def _arm(self, n_results: int) -> None:
        with self._io(self._node("qas/0/result"), "arming the result logger"):
            with self._device.set_transaction():
                self._qa.result.length(n_results)
                self._qa.result.reset(1)
                self._qa.result.enable(1)

    def _wait(self, n_results: int, timeout_s: float) -> None:
        node = self._node("qas/0/result/acquired")
        deadline = time.monotonic() + timeout_s
        acquired = 0
        while True:
            with self._io(node, "polling the result logger"):
                acquired = int(self._qa.result.acquired())
            if acquired >= n_results:
                return
            if time.monotonic() > deadline:
                raise self._fail(
                    f"timeout: the result logger acquired {acquired} of {n_results} results "
                    f"within {timeout_s} s (are the readout triggers arriving?)",
                    node,
                    expected=n_results,
                    received=acquired,
                )
            time.sleep(self.POLL_S)

    def _wave(self, unit: int, n_results: int) -> np.ndarray:
        node = self._node(f"qas/0/result/data/{unit}/wave")
        with self._io(node, "reading the results"):
            data = self._qa.result.data[unit].wave()
        return self._exactly(data, n_results, node)

    def _read_rotated(self, n_results: int, timeout_s: float) -> np.ndarray:
        ch = self._state["channel"]
        self._wait(n_results, timeout_s)
        real, imag = self._wave(ch, n_results), self._wave(ch + 1, n_results)
        return np.asarray(real.real + 1j * imag.real, dtype=np.complex128)

    def _read_bits(self, n_results: int, timeout_s: float) -> np.ndarray:
        ch = self._state["channel"]
        self._wait(n_results, timeout_s)
        return self._bits(
            self._wave(ch, n_results), n_results, self._node(f"qas/0/result/data/{ch}/wave")
        )


class ShfqaReadout(ZiReadoutBase):
    """SHFQA readout on integrator ``integrator`` of QA channel ``qachannel``.

    The RF settings (centre frequency, input and output range) have no defaults: the first
    :meth:`configure` must name them.
    """

    DEVICE_PREFIX = "SHFQA"
    MAX_RESULTS = 1 << 19
    SETTINGS: ClassVar[Mapping[str, ZiSetting]] = {
        "qachannel": ZiSetting("", 0, 3, integer=True),
        "integrator": ZiSetting("", 0, 15, integer=True),
        "integration_length": ZiSetting("samples", 4, 4096, integer=True, step=4),
        "integration_delay": ZiSetting("s", 0.0, 131.072e-6, step=2e-9),
        "center_frequency": ZiSetting("Hz", 1e9, 8e9, step=100e6),
        "input_range": ZiSetting("dBm", -50, 10, integer=True, step=5),
        "output_range": ZiSetting("dBm", -30, 10, integer=True, step=5),
        "result_source": _SOURCE,
        "averages": _AVERAGES,
        "rotation_angle": _ANGLE,
        "threshold": _THRESHOLD,
    }
    DEFAULTS: ClassVar[Mapping[str, Any]] = {
        "qachannel": 0,
        "integrator": 0,
        "integration_length": 128,
        "integration_delay": 0.0,
        **_COMMON_DEFAULTS,
    }
    _SOURCE_CODES: ClassVar[Mapping[int, str]] = {1: "integration", 3: "discrimination"}

    @classmethod
    def from_address(cls, name: str, address: str, **options: Any) -> ShfqaReadout:
        """Open ``address`` (``dev12000[@host:port]``); options go to the constructor."""
        serial, host, port = parse_address(address)
        return cls(name, serial, host=host, port=port, **options)

    def _check_combination(self, merged: Mapping[str, Any]) -> None:
        channels = len(self._device.qachannels)
        if merged["qachannel"] >= channels:
            raise self._fail(f"qachannel = {merged['qachannel']}: the device has {channels}")
        with self._io(
            self._node("qachannels/0/readout/integration/weights"), "listing integrators"
        ):
            integrators = int(self._device.max_qubits_per_channel)
        if merged["integrator"] >= integrators:
            raise self._fail(f"integrator = {merged['integrator']}: the device has {integrators}")

    @property
    def _channel(self) -> Any:
        return self._device.qachannels[self._state["qachannel"]]

    def _write(self, merged: Mapping[str, Any]) -> None:
        from zhinst.toolkit.interface import SHFQAChannelMode

        channel = self._device.qachannels[merged["qachannel"]]
        readout, j = channel.readout, merged["integrator"]
        angle, length = merged["rotation_angle"], merged["integration_length"]
        channel.configure_channel(
            input_range=merged["input_range"],
            output_range=merged["output_range"],
            center_frequency=float(merged["center_frequency"]),
            mode=SHFQAChannelMode.READOUT,
        )
        channel.input.on(1)
        channel.output.on(1)
        readout.result.source(f"result_of_{merged['result_source']}")
        readout.result.averages(1)
        readout.result.mode("cyclic")
        weights = np.full(length, complex(math.cos(angle), -math.sin(angle)))
        readout.write_integration_weights(
            {j: weights},
            integration_delay=float(merged["integration_delay"]),
            integration_length=length,
            clear_existing=False,
        )
        readout.discriminators[j].threshold(float(merged["threshold"]))

    def _readback(self) -> dict[str, Any]:
        channel, j = self._channel, self._state["integrator"]
        out: dict[str, Any] = {key: self._state[key] for key in ("qachannel", "integrator")}
        with self._io(self._node(f"qachannels/{self._state['qachannel']}"), "reading back"):
            integration = channel.readout.integration
            out["integration_length"] = int(integration.length())
            out["integration_delay"] = float(integration.delay())
            out["center_frequency"] = float(channel.centerfreq())
            out["input_range"] = int(channel.input.range())
            out["output_range"] = int(channel.output.range())
            source = int(channel.readout.result.source())
            out["result_source"] = self._SOURCE_CODES.get(source, f"unsupported ({source})")
            out["averages"] = int(channel.readout.result.averages())
            weights = np.asarray(integration.weights[j].wave())
            out["rotation_angle"] = -float(np.angle(weights[0])) if weights.size else math.nan
            out["threshold"] = float(channel.readout.discriminators[j].threshold())
        return out

    def _arm(self, n_results: int) -> None:
        node = self._node(f"qachannels/{self._state['qachannel']}/readout/result")
        with self._io(node, "arming the result logger"):
            self._channel.readout.result.length(n_results)
            self._channel.readout.run()

    def _wait(self, n_results: int, timeout_s: float) -> None:
        node = self._node(f"qachannels/{self._state['qachannel']}/readout/result/enable")
        try:
            self._channel.readout.wait_done(timeout=timeout_s, sleep_time=self.POLL_S)
        except TimeoutError as err:
            raise self._fail(
                f"timeout: the result logger did not complete {n_results} results within "
                f"{timeout_s} s (are the readout triggers arriving?)",
                node,
                expected=n_results,
            ) from err
        except Exception as err:
            raise self._fail(f"waiting for the result logger failed: {err}", node) from err

    def _wave(self, n_results: int) -> tuple[np.ndarray, str]:
        j = self._state["integrator"]
        node = self._node(f"qachannels/{self._state['qachannel']}/readout/result/data/{j}/wave")
        with self._io(node, "reading the results"):
            data = self._channel.readout.result.data[j].wave()
        return self._exactly(data, n_results, node), node

    def _read_rotated(self, n_results: int, timeout_s: float) -> np.ndarray:
        self._wait(n_results, timeout_s)
        return np.asarray(self._wave(n_results)[0], dtype=np.complex128)

    def _read_bits(self, n_results: int, timeout_s: float) -> np.ndarray:
        self._wait(n_results, timeout_s)
        data, node = self._wave(n_results)
        return self._bits(data, n_results, node)
