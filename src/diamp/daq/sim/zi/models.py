"""Node trees and result loggers of the simulated UHFQA and SHFQA.

Only the nodes the diamp readout touches exist, documented in LabOne's node-doc format with
the types, units and option keywords of the real instruments (UHFQA node documentation as
shipped in zhinst-toolkit's test data; SHFQA keywords as used by zhinst-utils). Limits the
real devices enforce by clamping are enforced here by raising.

Signal model (what the simulation computes, per shot s = the complex value of
:class:`~diamp.daq.sim.zi.server.SignalModel`, weights averaged over the integration
length, missing weight samples counting as zero):

* UHFQA, integration unit n: z = mean(w_real)·Re s + i·mean(w_imag)·Im s; the rotation unit
  keeps r = Re(rotation_n · z) (rotation 1 when bypassed); the crosstalk unit is the
  identity; the threshold unit gives r > level_n. Result source 2 (after rotation) delivers
  r, source 0 (after crosstalk) too, source 1 (after threshold) delivers 0.0/1.0.
* SHFQA, integrator j of a QA channel: z = mean(w_j)·s (complex weights); result source
  ``result_of_integration`` delivers z, ``result_of_discrimination`` delivers Re z > threshold_j
  as 0.0/1.0. The logger clears ``result/enable`` when it has recorded ``result/length``
  results (as zhinst-utils expects).

Unmodelled configurations (averaging, spectroscopy mode, correlation sources) make the
enable set raise instead of producing plausible-looking data.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from diamp.daq.sim.zi.device import SignalModel, SimulatedDevice
from diamp.daq.sim.zi.nodes import (
    COMPLEX,
    DOUBLE,
    ENUM,
    INT,
    READ,
    SETTING,
    VECTOR,
    NodeSpec,
    core_error,
)

if TYPE_CHECKING:
    from diamp.daq.sim.zi.server import SimulatedDataServer

__all__ = ["SimulatedShfqa", "SimulatedUhfqa"]

UHFQA_UNITS = 10
SHFQA_CHANNELS = 2
SHFQA_INTEGRATORS = 8


def _flag(description: str) -> NodeSpec:
    return NodeSpec(INT, SETTING, description, minimum=0, maximum=1)


def _mean_weight(weights: np.ndarray, length: int) -> Any:
    """Mean of the first ``length`` weight samples (absent samples are zero)."""
    return weights[:length].sum() / length if length > 0 else 0.0


class SimulatedUhfqa(SimulatedDevice):
    """A UHFQA (1.8 GS/s, 10 weighted-integration units, one result logger ``qas/0``)."""

    DEVTYPE = "UHFQA"

    def __init__(self, server: SimulatedDataServer, serial: str, signal: SignalModel) -> None:
        super().__init__(server, serial, signal)
        self._armed = False
        qa = "qas/0/"
        self.add(
            "clockbase", NodeSpec(DOUBLE, READ, "Internal clock frequency.", "Hz", default=1.8e9)
        )
        self.add(
            qa + "integration/length",
            NodeSpec(
                INT,
                SETTING,
                "Integration time of all units in samples (at most 4096).",
                minimum=1,
                maximum=4096,
                default=4096,
            ),
        )
        self.add(
            qa + "integration/mode",
            NodeSpec(
                ENUM,
                SETTING,
                "Operation mode of the weighted integration units.",
                options={
                    0: '"normal": weights from the user-programmed memory',
                    1: '"spectroscopy": weights from a digital oscillator',
                },
            ),
        )
        self.add(
            qa + "delay",
            NodeSpec(
                INT,
                SETTING,
                "Integration start delay after the trigger, in samples.",
                minimum=0,
                maximum=1020,
                step=4,
            ),
        )
        for unit in ("crosstalk", "rotation", "deskew"):
            self.add(qa + f"bypass/{unit}", _flag(f"Bypass the {unit} unit (lower latency)."))
        self.add(
            qa + "result/length",
            NodeSpec(
                INT,
                SETTING,
                "Number of results to record.",
                minimum=1,
                maximum=1 << 20,
                default=1024,
            ),
        )
        self.add(
            qa + "result/averages",
            NodeSpec(
                INT,
                SETTING,
                "log2 of the number of averages (0: no averaging).",
                minimum=0,
                maximum=15,
            ),
        )
        self.add(
            qa + "result/mode",
            NodeSpec(
                ENUM,
                SETTING,
                "Order of the result logger.",
                options={
                    0: '"experiment_first": Experiment first.',
                    1: '"average_first": Average first.',
                },
            ),
        )
        self.add(
            qa + "result/source",
            NodeSpec(
                ENUM,
                SETTING,
                "Signal source of the result logger.",
                options={
                    0: '"result_after_crosstalk_unit": Result after crosstalk unit.',
                    1: '"result_after_threshold_unit": Result after threshold unit.',
                    2: '"result_after_rotation_unit": Result after rotation unit.',
                    4: '"correlation_after_crosstalk_unit": Correlation after crosstalk unit.',
                    5: '"correlation_after_threshold_unit": Correlation after threshold unit.',
                },
                default=2,
            ),
        )
        self.add(qa + "result/enable", _flag("Enable the result logger."))
        self.add(qa + "result/reset", _flag("Reset the result logger for a new measurement."))
        self.add(qa + "result/acquired", NodeSpec(INT, READ, "Results acquired so far."))
        for n in range(UHFQA_UNITS):
            for part in ("real", "imag"):
                self.add(
                    qa + f"integration/weights/{n}/{part}",
                    NodeSpec(
                        VECTOR,
                        SETTING,
                        f"Weights applied to the {part} part of the input (17-bit in hardware).",
                        max_length=4096,
                        max_abs=1.0,
                    ),
                )
            self.add(
                qa + f"rotations/{n}",
                NodeSpec(
                    COMPLEX,
                    SETTING,
                    "Complex rotation applied after integration.",
                    default=complex(1.0, 0.0),
                ),
            )
            self.add(
                qa + f"thresholds/{n}/level",
                NodeSpec(
                    DOUBLE, SETTING, "Discrimination level of the threshold unit.", default=0.0
                ),
            )
            self.add(
                qa + f"result/data/{n}/wave",
                NodeSpec(VECTOR, READ, "Recorded results of this unit.", max_length=1 << 20),
            )

    def after_set(self, relative: str, value: Any) -> None:
        """Reset clears the logger; enable arms it (unmodelled configurations raise)."""
        qa = "qas/0/"
        if relative == qa + "result/reset" and value == 1:
            for n in range(UHFQA_UNITS):
                self.server.store(self.path(qa + f"result/data/{n}/wave"), np.zeros(0), event=False)
            self.server.store(self.path(qa + "result/acquired"), 0)
            self.server.store(self.path(qa + "result/reset"), 0)
        elif relative == qa + "result/enable":
            if value == 1:
                self._check_modelled()
            self._armed = value == 1

    def _check_modelled(self) -> None:
        qa = "qas/0/"
        problems = []
        if self.value(qa + "result/averages") != 0:
            problems.append("averaging (result/averages != 0)")
        if self.value(qa + "integration/mode") != 0:
            problems.append("spectroscopy integration mode")
        if self.value(qa + "result/source") not in (0, 1, 2):
            problems.append("correlation result sources")
        if problems:
            raise core_error(
                "CoreError", f"{self.serial}: the simulation does not model {', '.join(problems)}"
            )

    def service(self) -> None:
        """Record ``result/length`` results when armed (unless stalled)."""
        if not self._armed or self._stalled:
            return
        qa = "qas/0/"
        n, length = (
            int(self.value(qa + "result/length")),
            int(self.value(qa + "integration/length")),
        )
        shots = self.signal.shots(n)
        source = self.value(qa + "result/source")
        for unit in range(UHFQA_UNITS):
            g_re = _mean_weight(self.value(qa + f"integration/weights/{unit}/real"), length)
            g_im = _mean_weight(self.value(qa + f"integration/weights/{unit}/imag"), length)
            z = g_re * shots.real + 1j * g_im * shots.imag
            bypass = self.value(qa + "bypass/rotation") == 1
            rotated = (z if bypass else self.value(qa + f"rotations/{unit}") * z).real
            level = self.value(qa + f"thresholds/{unit}/level")
            data = (rotated > level).astype(np.float64) if source == 1 else rotated
            self.server.store(self.path(qa + f"result/data/{unit}/wave"), data[: self._short])
        self.server.store(self.path(qa + "result/acquired"), n)
        self._armed = False


class SimulatedShfqa(SimulatedDevice):
    """An SHFQA2 (2 QA channels, 8 integrators each, complex weights)."""

    DEVTYPE = "SHFQA2"

    def __init__(self, server: SimulatedDataServer, serial: str, signal: SignalModel) -> None:
        super().__init__(server, serial, signal)
        self._armed: set[int] = set()
        for ch in range(SHFQA_CHANNELS):
            self._add_channel(f"qachannels/{ch}/")

    def _add_channel(self, qc: str) -> None:
        self.add(
            qc + "centerfreq",
            NodeSpec(
                DOUBLE,
                SETTING,
                "Centre frequency of the analysis band.",
                "Hz",
                minimum=1e9,
                maximum=8e9,
                step=100e6,
                default=5e9,
            ),
        )
        self.add(
            qc + "input/range",
            NodeSpec(
                INT,
                SETTING,
                "Maximal input power range.",
                "dBm",
                minimum=-50,
                maximum=10,
                step=5,
                default=-10,
            ),
        )
        self.add(
            qc + "output/range",
            NodeSpec(
                INT,
                SETTING,
                "Maximal output power range.",
                "dBm",
                minimum=-30,
                maximum=10,
                step=5,
                default=-10,
            ),
        )
        self.add(qc + "input/on", _flag("Enable the signal input."))
        self.add(qc + "output/on", _flag("Enable the signal output."))
        self.add(
            qc + "mode",
            NodeSpec(
                ENUM,
                SETTING,
                "Operating mode of the QA channel.",
                options={
                    0: '"spectroscopy": Spectroscopy mode.',
                    1: '"readout": Qubit readout mode.',
                },
            ),
        )
        ro = qc + "readout/"
        self.add(
            ro + "integration/length",
            NodeSpec(
                INT,
                SETTING,
                "Integration length in samples.",
                "Samples",
                minimum=4,
                maximum=4096,
                step=4,
                default=128,
            ),
        )
        self.add(
            ro + "integration/delay",
            NodeSpec(
                DOUBLE,
                SETTING,
                "Delay of the integration after the trigger.",
                "s",
                minimum=0.0,
                maximum=131.072e-6,
                step=2e-9,
                default=0.0,
            ),
        )
        self.add(
            ro + "integration/clearweight",
            NodeSpec(INT, "Write", "Set all integration weights to zero.", minimum=0, maximum=1),
        )
        for j in range(SHFQA_INTEGRATORS):
            self.add(
                ro + f"integration/weights/{j}/wave",
                NodeSpec(
                    VECTOR,
                    SETTING,
                    "Complex integration weights.",
                    max_length=4096,
                    max_abs=1.0,
                    complex_vector=True,
                ),
            )
            self.add(
                ro + f"discriminators/{j}/threshold",
                NodeSpec(DOUBLE, SETTING, "Threshold on the real part of the result.", default=0.0),
            )
            self.add(
                ro + f"result/data/{j}/wave",
                NodeSpec(
                    VECTOR,
                    READ,
                    "Recorded results of this integrator.",
                    max_length=1 << 19,
                    complex_vector=True,
                ),
            )
        self.add(
            ro + "result/length",
            NodeSpec(
                INT, SETTING, "Number of results to record.", minimum=1, maximum=1 << 19, default=1
            ),
        )
        self.add(
            ro + "result/averages",
            NodeSpec(INT, SETTING, "Number of averages.", minimum=1, maximum=1 << 17, default=1),
        )
        self.add(
            ro + "result/source",
            NodeSpec(
                ENUM,
                SETTING,
                "Signal source of the result logger.",
                options={
                    1: '"result_of_integration", "integration": Complex integration results.',
                    3: '"result_of_discrimination", "discrimination":'
                    " Results after state discrimination.",
                },
                default=1,
            ),
        )
        self.add(
            ro + "result/mode",
            NodeSpec(
                ENUM,
                SETTING,
                "Averaging order.",
                options={
                    0: '"cyclic": Cyclic averaging.',
                    1: '"sequential": Sequential averaging.',
                },
            ),
        )
        self.add(ro + "result/enable", _flag("Enable the result logger (cleared when done)."))
        self.add(ro + "result/acquired", NodeSpec(INT, READ, "Results acquired so far."))

    def after_set(self, relative: str, value: Any) -> None:
        """``clearweight`` zeroes weights; ``result/enable`` arms or disarms the logger."""
        parts = relative.split("/")
        if parts[0] != "qachannels":
            return
        ch, rest = int(parts[1]), "/".join(parts[2:])
        ro = f"qachannels/{ch}/readout/"
        if rest == "readout/integration/clearweight" and value == 1:
            for j in range(SHFQA_INTEGRATORS):
                self.server.store(
                    self.path(ro + f"integration/weights/{j}/wave"),
                    np.zeros(0, dtype=np.complex128),
                )
        elif rest == "readout/result/enable":
            if value == 1:
                self._check_modelled(ch)
                self.server.store(self.path(ro + "result/acquired"), 0)
                self._armed.add(ch)
            else:
                self._armed.discard(ch)

    def _check_modelled(self, ch: int) -> None:
        problems = []
        if self.value(f"qachannels/{ch}/mode") != 1:
            problems.append("spectroscopy mode")
        if self.value(f"qachannels/{ch}/readout/result/averages") != 1:
            problems.append("averaging (result/averages != 1)")
        if problems:
            raise core_error(
                "CoreError", f"{self.serial}: the simulation does not model {', '.join(problems)}"
            )

    def service(self) -> None:
        """Record ``result/length`` results on every armed channel (unless stalled)."""
        if self._stalled:
            return
        for ch in sorted(self._armed):
            ro = f"qachannels/{ch}/readout/"
            n, length = (
                int(self.value(ro + "result/length")),
                int(self.value(ro + "integration/length")),
            )
            shots = self.signal.shots(n)
            discriminate = self.value(ro + "result/source") == 3
            for j in range(SHFQA_INTEGRATORS):
                z = _mean_weight(self.value(ro + f"integration/weights/{j}/wave"), length) * shots
                threshold = self.value(ro + f"discriminators/{j}/threshold")
                data = (z.real > threshold).astype(np.complex128) if discriminate else z
                self.server.store(self.path(ro + f"result/data/{j}/wave"), data[: self._short])
            self.server.store(self.path(ro + "result/acquired"), n)
            self.server.store(self.path(ro + "result/enable"), 0)
        self._armed.clear()
