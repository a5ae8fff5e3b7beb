"""Simulated two-node Bell device λ (the readout backend of the simulated lab).

The quantum model is a Werner state ρ = V|Ψ+⟩⟨Ψ+| + (1 − V)·I/4 measured at node A in
the x–z plane at angles ``ALICE_ANGLES[x]`` and at node B at ``BOB_ANGLES[y]``, followed by
a noisy readout (confusion matrix with P(read 0 | 0) = f0, P(read 1 | 1) = f1 at each node).

Outcome bit a = 0 is the +1 eigenvalue of σ(θ) = cos θ·Z + sin θ·X. For |Ψ+⟩ the correlator is
E(θ, φ) = −cos(θ + φ), so the settings below give E00 = E01 = E10 = −E11 = V/√2 and
CHSH S = E00 + E01 + E10 − E11 = 2√2·V before readout errors: x = y = 1 is the
anti-correlated setting, as the DESIGN orientation of the MDL inequality requires.

Trials are encoded v = 8x + 4y + 2a + b, one ``uint8`` per trial.
"""

from __future__ import annotations

import math

import numpy as np

from diamp.daq.sim._kernels import bell_trials

__all__ = [
    "ALICE_ANGLES",
    "BOB_ANGLES",
    "SimulatedBellDevice",
    "lhv_table",
    "outcome_thresholds",
    "quantum_table",
]

ALICE_ANGLES = (0.0, math.pi / 2)
BOB_ANGLES = (3 * math.pi / 4, -3 * math.pi / 4)

_Z = np.array([[1.0, 0.0], [0.0, -1.0]])
_X = np.array([[0.0, 1.0], [1.0, 0.0]])


def _projector(angle: float, outcome: int) -> np.ndarray:
    sigma = math.cos(angle) * _Z + math.sin(angle) * _X
    return (np.eye(2) + (1 - 2 * outcome) * sigma) / 2


def _confusion(f0: float, f1: float) -> np.ndarray:
    """R[read, true] for one qubit readout."""
    return np.array([[f0, 1 - f1], [1 - f0, f1]])


def quantum_table(
    visibility: float,
    fidelity: tuple[float, float] = (1.0, 1.0),
    alice_angles: tuple[float, float] = ALICE_ANGLES,
    bob_angles: tuple[float, float] = BOB_ANGLES,
) -> np.ndarray:
    """P(a, b | x, y) of the noisy |Ψ+⟩ model as an array ``P[2x + y, 2a + b]``.

    Notes
    -----
    Computed from the density matrix (Born rule), then passed through the readout
    confusion matrices of both nodes; rows sum to 1.
    """
    psi = np.array([0.0, 1.0, 1.0, 0.0]) / math.sqrt(2)  # (|01⟩ + |10⟩)/√2
    rho = visibility * np.outer(psi, psi) + (1 - visibility) * np.eye(4) / 4
    conf = _confusion(*fidelity)
    table = np.empty((4, 4))
    for x in (0, 1):
        for y in (0, 1):
            ideal = np.array(
                [
                    [
                        np.trace(
                            rho
                            @ np.kron(_projector(alice_angles[x], a), _projector(bob_angles[y], b))
                        )
                        for b in (0, 1)
                    ]
                    for a in (0, 1)
                ]
            )
            table[2 * x + y] = (conf @ ideal @ conf.T).reshape(4)
    return np.clip(table, 0.0, 1.0)


def lhv_table(noise: float = 0.0) -> np.ndarray:
    """P(a, b | x, y) of a local-hidden-variable device, ``P[2x + y, 2a + b]``.

    With probability 1 − noise both nodes output a shared uniform bit λ (a = b = λ, which
    saturates CHSH = 2); otherwise each outputs an independent uniform bit. Every entry is a
    mixture of local deterministic strategies, so CHSH = 2·(1 − noise) ≤ 2.
    """
    same = (1 - noise) / 2 + noise / 4
    diff = noise / 4
    return np.tile(np.array([same, diff, diff, same]), (4, 1))


def outcome_thresholds(table: np.ndarray) -> np.ndarray:
    """Cumulative outcome probabilities scaled to 32-bit thresholds, ``uint64[4, 3]``."""
    cumulative = np.cumsum(table, axis=1)[:, :3]
    return np.ascontiguousarray(np.round(np.clip(cumulative, 0.0, 1.0) * 2.0**32).astype(np.uint64))


class SimulatedBellDevice:
    """Produces outputs (a, b) for inputs (x, y) from a probability table.

    Parameters
    ----------
    table
        ``P[2x + y, 2a + b]``, e.g. from :func:`quantum_table` or :func:`lhv_table`.
    """

    def __init__(self, table: np.ndarray) -> None:
        table = np.asarray(table, dtype=np.float64)
        if table.shape != (4, 4) or not np.allclose(table.sum(axis=1), 1.0, atol=1e-12):
            raise ValueError("table must be 4x4 with rows summing to 1")
        self.table = table
        self._thresholds = outcome_thresholds(table)

    def measure(self, x: np.ndarray, y: np.ndarray, u: np.ndarray) -> np.ndarray:
        """Encoded trials for inputs ``x``, ``y`` (uint8 0/1) and uniform words ``u`` (uint32)."""
        out = np.empty(x.shape[0], dtype=np.uint8)
        bell_trials(x, y, u, self._thresholds, out)
        return out
