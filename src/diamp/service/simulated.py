"""Simulated QRNG devices of the four families of seed 000 (Fig. 1), as raw-sample streams.

Each device emits raw samples with the bias and correlation of its physics, and knows the
conditional min-entropy per sample of its own model (``true_min_entropy``), so a declared
entropy can be checked against the truth in tests:

* **single-photon** (1 bit/sample): a photon behind a beam splitter of transmissivity
  1/2 + bias; detector afterpulsing repeats the previous outcome with probability c.
  P(x | past) ≤ c + (1 − c)(1/2 + |bias|).
* **phase-fluctuation** (8 bits): V = cos φ + e, φ uniform (phase diffusion between pulses),
  e electronic noise (AR(1), correlation ρ, known to the adversary), 8-bit ADC on
  [−1.1, 1.1]. Given e, a bin of width Δ holds at most the arcsine mass of the edge window:
  P ≤ arccos(1 − Δ)/π.
* **photon-counting** (8 bits): low byte of the photon arrival time in clock ticks,
  geometric with mean μ ticks after a dead time d: P(low = k) ≤ (1 − q)/(1 − q^256),
  q = exp(−1/μ).
* **vacuum-fluctuation** (b bits): x = q + c, q ~ N(0, σ_q) quantum, c classical AR(1)
  noise of stationary deviation σ_c, b-bit ADC on [v_min, v_max]; the entropy model is
  seed 000 eq. 6 (:func:`diamp.analysis.entropy_models.vacuum_min_entropy`). The sum is
  drawn as the one Gaussian process it is, ARMA(1, 1) (:func:`vacuum_arma`): the same joint
  law of the samples from one normal per sample instead of two, in one compiled pass.

Block b of a seeded device is drawn from Philox keyed by (seed, b), so a device resumes
its stream at any block after a restart and never replays it. The AR(1) state is
re-initialised from the stationary law at every block. ``fault`` switches the output to a
stuck value or a heavily biased stream after ``fault_after`` samples.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

import numpy as np

from diamp.analysis.entropy_models import vacuum_min_entropy, vacuum_min_entropy_worst_case
from diamp.service._device_kernels import arma_adc
from diamp.service.errors import SourceError
from diamp.service.settings import SimulatedSource, VacuumEntropyModel

__all__ = ["SimulatedDevice", "true_min_entropy", "vacuum_arma"]

BLOCK_SAMPLES = 1 << 16
_PHASE_RANGE = 1.1
_PHASE_NOISE = 0.02
_COUNT_MEAN = 1000.0
_COUNT_DEAD = 37
_SINGLE_BIAS = 0.01
_AFTERPULSE = 0.01
_AR = 0.3


def _bits_per_sample(cfg: SimulatedSource) -> int:
    if cfg.family == "single-photon":
        return 1
    if cfg.family == "vacuum-fluctuation" and isinstance(cfg.entropy, VacuumEntropyModel):
        return cfg.entropy.bits
    return 8


def true_min_entropy(cfg: SimulatedSource) -> float:
    """Conditional min-entropy per sample of the device's own model (see the module docs)."""
    if cfg.family == "single-photon":
        return -math.log2(_AFTERPULSE + (1 - _AFTERPULSE) * (0.5 + _SINGLE_BIAS))
    if cfg.family == "phase-fluctuation":
        delta = 2 * _PHASE_RANGE / 256
        return -math.log2(math.acos(1 - delta) / math.pi)
    if cfg.family == "photon-counting":
        q = math.exp(-1 / _COUNT_MEAN)
        return -math.log2((1 - q) / (1 - q**256))
    e = cfg.entropy
    if not isinstance(e, VacuumEntropyModel):
        raise SourceError(
            f"{cfg.name}: a vacuum-fluctuation device needs entropy model 'vacuum'",
            source=cfg.name,
        )
    k = e.offset_sigma_c
    if k is None:  # centred = true: the device's centre is known to the model
        return vacuum_min_entropy(
            e.bits, e.v_min, e.v_max, e.gamma, sigma_total=e.sigma_total, centre=e.centre
        ).min_entropy
    return vacuum_min_entropy_worst_case(
        e.bits, e.v_min, e.v_max, e.gamma, max_offset_sigma_c=k,
        sigma_total=e.sigma_total, centre=e.centre,
    ).min_entropy  # fmt: skip


def _ar1(rng: np.random.Generator, n: int, sigma: float, rho: float) -> np.ndarray:
    """Stationary AR(1) noise: c_t = ρ c_{t−1} + √(1 − ρ²) σ w_t."""
    w = rng.standard_normal(n) * sigma * math.sqrt(1 - rho * rho)
    w[0] = rng.standard_normal() * sigma
    return _ar1_filter(w, rho)


def _ar1_filter(w: np.ndarray, rho: float) -> np.ndarray:
    """c_t = Σ_{k ≤ t} ρ^k w_{t−k}, i.e. c_t = w_t + ρ c_{t−1} from c_0 = w_0, 0 ≤ ρ < 1.

    By recursive doubling: after the pass with shift s, c_t holds the lags k < 2s
    (c_t += ρ^s c_{t−s}); passes stop once ρ^s < 2⁻⁶⁰, where the lags left out weigh less
    than 2⁻⁶⁰/(1 − ρ) of the largest w (6 passes for ρ = 0.3), or when s reaches the
    length (then the sum is complete). Agrees with the sequential recursion to rounding
    (``tests/service/test_simulated_sources.py``) and is faster than a loop in numpy.
    """
    c = np.array(w, dtype=np.float64)
    shift, factor = 1, float(rho)
    while shift < c.size and factor >= 2.0**-60:
        c[shift:] += factor * c[:-shift]
        shift, factor = 2 * shift, factor * factor
    return c


def vacuum_arma(sigma_q: float, sigma_c: float, rho: float) -> tuple[float, float, float]:
    """(θ, σ_e, σ_rest) of y = q + c as ARMA(1, 1): y_t = ρ y_{t−1} + e_t + θ e_{t−1}.

    Notes
    -----
    With q white of variance σ_q² and c AR(1) of stationary variance σ_c², u_t = y_t − ρ y_{t−1}
    = q_t − ρ q_{t−1} + √(1 − ρ²) σ_c w_t is MA(1) with γ_u(0) = A = σ_q²(1 + ρ²) + (1 − ρ²)σ_c²
    and γ_u(1) = B = −ρ σ_q², so e_t + θ e_{t−1} with θ/(1 + θ²) = B/A (the invertible root,
    |θ| < 1) and σ_e² = A/(1 + θ²) has the same autocovariance (Brockwell & Davis, *Time
    Series: Theory and Methods*, §3.3). A zero-mean Gaussian process is fixed by its
    autocovariance, so y has the same law. The stationary (y_0, e_0) have Cov = σ_e² and
    Var y_0 = σ_q² + σ_c², hence y_0 = e_0 + σ_rest z with σ_rest² = σ_q² + σ_c² − σ_e².
    """
    a = sigma_q**2 * (1 + rho**2) + (1 - rho**2) * sigma_c**2
    b = -rho * sigma_q**2
    r = b / a if a > 0 else 0.0
    theta = 0.0 if r == 0 else (1 - math.sqrt(max(1 - 4 * r * r, 0.0))) / (2 * r)
    var_e = a / (1 + theta * theta)
    rest = max(sigma_q**2 + sigma_c**2 - var_e, 0.0)
    return theta, math.sqrt(var_e), math.sqrt(rest)


def _adc(x: np.ndarray, lo: float, hi: float, bits: int) -> np.ndarray:
    levels = 1 << bits
    j = np.floor((x - lo) / ((hi - lo) / levels))
    return np.clip(j, 0, levels - 1).astype(np.uint8)


@dataclass
class SimulatedDevice:
    """A simulated device streaming raw samples block by block (see the module docs)."""

    cfg: SimulatedSource
    block: int = 0

    def __post_init__(self) -> None:
        self.bits_per_sample = _bits_per_sample(self.cfg)
        self._key = self.cfg.seed if self.cfg.seed is not None else int.from_bytes(os.urandom(8))

    def samples_before(self, block: int) -> int:
        """Samples emitted before ``block``."""
        return block * BLOCK_SAMPLES

    def next_block(self) -> np.ndarray:
        """The next :data:`BLOCK_SAMPLES` samples (``uint8``, each < 2^bits_per_sample)."""
        self.block += 1
        return self.block_at(self.block - 1)

    def block_at(self, block: int) -> np.ndarray:
        """Block ``block`` of the stream: a pure function of the key and the index.

        Thread-safe (a generator of its own per call; numpy and the kernel release the GIL),
        so several blocks can be drawn at once.
        """
        rng = np.random.Generator(np.random.Philox(key=self._key, counter=[0, 0, 0, block]))
        return self._faulted(self._draw(rng), self.samples_before(block), rng)

    def _draw(self, rng: np.random.Generator) -> np.ndarray:
        n = BLOCK_SAMPLES
        family = self.cfg.family
        if family == "single-photon":
            fresh = (rng.random(n) < 0.5 + _SINGLE_BIAS).astype(np.uint8)
            repeat = rng.random(n) < _AFTERPULSE
            out = fresh.copy()
            for i in np.flatnonzero(repeat[1:]) + 1:  # afterpulse copies the previous bit
                out[i] = out[i - 1]
            return out
        if family == "phase-fluctuation":
            v = np.cos(rng.uniform(0, 2 * math.pi, n)) + _ar1(rng, n, _PHASE_NOISE, _AR)
            return _adc(v, -_PHASE_RANGE, _PHASE_RANGE, 8)
        if family == "photon-counting":
            q = math.exp(-1 / _COUNT_MEAN)
            ticks = rng.geometric(1 - q, n) - 1 + _COUNT_DEAD
            return (ticks & 0xFF).astype(np.uint8)
        e = self.cfg.entropy
        if not isinstance(e, VacuumEntropyModel):
            raise SourceError(f"{self.cfg.name}: a vacuum device needs the vacuum entropy model")
        sigma_q = e.sigma_total * math.sqrt(e.gamma / (e.gamma + 1))
        sigma_c = e.sigma_total / math.sqrt(e.gamma + 1)
        theta, sigma_e, rest = vacuum_arma(sigma_q, sigma_c, _AR)
        out = np.empty(n, dtype=np.uint8)
        levels = 1 << e.bits
        arma_adc(rng.standard_normal(n + 1), e.centre, _AR, theta, sigma_e, rest, e.v_min,
                 (e.v_max - e.v_min) / levels, levels, out)  # fmt: skip
        return out

    def _faulted(self, x: np.ndarray, start: int, rng: np.random.Generator) -> np.ndarray:
        if self.cfg.fault == "none":
            return x
        cut = self.cfg.fault_after - start
        if cut >= x.size:
            return x
        cut = max(cut, 0)
        if self.cfg.fault == "stuck":
            x[cut:] = x[cut - 1] if cut > 0 else 0
        else:  # biased: the most likely value 90 % of the time
            hot = rng.random(x.size - cut) < 0.9
            x[cut:][hot] = 0
        return x
