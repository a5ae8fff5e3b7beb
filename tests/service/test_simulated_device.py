"""The simulated vacuum device's one-pass ARMA(1, 1) draw against the two-process model."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.signal import lfilter
from scipy.stats import chi2_contingency

from diamp.service.settings import SimulatedSource
from diamp.service.simulated import BLOCK_SAMPLES, SimulatedDevice, vacuum_arma


def _arma_autocovariance(rho: float, theta: float, sigma_e: float, lags: int) -> np.ndarray:
    """γ(0), γ(1), …: ARMA(1, 1) closed forms (Brockwell & Davis, example 3.3.5)."""
    g0 = sigma_e**2 * (1 + 2 * rho * theta + theta**2) / (1 - rho**2)
    g1 = sigma_e**2 * (1 + rho * theta) * (rho + theta) / (1 - rho**2)
    return np.array([g0] + [g1 * rho**k for k in range(lags - 1)])


@pytest.mark.parametrize(
    ("sigma_q", "sigma_c", "rho"),
    [(1.0, 0.3, 0.3), (0.95, 0.3015, 0.3), (1.0, 1.0, 0.9), (0.2, 2.0, 0.5), (1.0, 0.0, 0.3),
     (0.0, 1.0, 0.3), (1.0, 0.5, 0.0)],
)  # fmt: skip
def test_arma_parameters_give_the_model_autocovariance(
    sigma_q: float, sigma_c: float, rho: float
) -> None:
    theta, sigma_e, rest = vacuum_arma(sigma_q, sigma_c, rho)
    assert abs(theta) < 1  # invertible
    want = [sigma_q**2 + sigma_c**2] + [sigma_c**2 * rho**k for k in range(1, 6)]
    np.testing.assert_allclose(
        _arma_autocovariance(rho, theta, sigma_e, 6), want, rtol=1e-12, atol=1e-15
    )
    assert rest**2 == pytest.approx(sigma_q**2 + sigma_c**2 - sigma_e**2, abs=1e-12)


def _two_process(rng: np.random.Generator, n: int) -> np.ndarray:
    """The device as it was drawn before: q white plus c AR(1), each from its own normals."""
    sigma_t, gamma = 1.0, 10.0
    sigma_q = sigma_t * math.sqrt(gamma / (gamma + 1))
    sigma_c = sigma_t / math.sqrt(gamma + 1)
    w = rng.standard_normal(n) * sigma_c * math.sqrt(1 - 0.3**2)
    w[0] = rng.standard_normal() * sigma_c
    x = rng.standard_normal(n) * sigma_q + lfilter([1.0], [1.0, -0.3], w)
    return np.clip(np.floor((x + 4.0) / (8.0 / 256)), 0, 255).astype(np.uint8)


def _lagged(x: np.ndarray, k: int) -> tuple[float, float]:
    """Mean of (x_t − x̄)(x_{t+k} − x̄) within blocks, and its standard error."""
    blocks = x.reshape(-1, BLOCK_SAMPLES).astype(np.float64)
    c = blocks - x.mean()
    prod = (c[:, :-k] * c[:, k:]).ravel()
    return float(prod.mean()), float(prod.std() / math.sqrt(prod.size / (1 + 2 * 0.3**k)))


def test_samples_have_the_two_process_law() -> None:
    cfg = SimulatedSource.model_validate_json(
        '{"kind": "simulated", "name": "v", "family": "vacuum-fluctuation", "seed": 5, '
        '"entropy": {"model": "vacuum", "bits": 8, "v_min": -4.0, "v_max": 4.0, "gamma": 10.0}}'
    )
    device = SimulatedDevice(cfg)
    blocks = 48
    new = np.concatenate([device.next_block() for _ in range(blocks)])
    rng = np.random.default_rng(6)
    old = np.concatenate([_two_process(rng, BLOCK_SAMPLES) for _ in range(blocks)])
    counts = np.stack([np.bincount(new, minlength=256), np.bincount(old, minlength=256)])
    counts = counts[:, counts.sum(axis=0) > 0]
    assert chi2_contingency(counts).pvalue > 1e-4  # same marginal law
    for k in (1, 2, 3):  # same correlation within a block: 0.3^k σ_c² in ADC units
        (a, se_a), (b, se_b) = _lagged(new, k), _lagged(old, k)
        assert abs(a - b) < 5 * math.hypot(se_a, se_b), (k, a, b)
    assert abs(_lagged(new, 1)[0] / _lagged(new, 2)[0] - 1 / 0.3) < 0.5  # AR(1) decay ρ


def test_a_seeded_device_repeats_its_blocks_and_resumes() -> None:
    cfg = SimulatedSource.model_validate_json(
        '{"kind": "simulated", "name": "v", "family": "vacuum-fluctuation", "seed": 9, '
        '"entropy": {"model": "vacuum", "bits": 6, "v_min": -3.0, "v_max": 3.0, "gamma": 4.0}}'
    )
    a, b = SimulatedDevice(cfg), SimulatedDevice(cfg, block=2)
    first = [a.next_block() for _ in range(3)]
    assert np.array_equal(first[2], b.next_block())
    assert not np.array_equal(first[0], first[1])
    assert max(int(x.max()) for x in first) < 64  # 6-bit samples


def test_a_stream_reads_the_due_blocks_at_most_max_read_blocks() -> None:
    from diamp.service.sources import SimulatedStream

    text = (
        '{"kind": "simulated", "name": "v", "family": "photon-counting", "seed": 3, '
        '"samples_per_second": %s, "entropy": {"model": "declared", "min_entropy": 7.0}}'
    )
    now = [0.0]
    paced = SimulatedStream(SimulatedSource.model_validate_json(text % "65536.0"), lambda: now[0])
    assert paced.read().size == BLOCK_SAMPLES  # type: ignore[union-attr]  # block 0 is due
    assert paced.read() is None  # block 1 is not, yet
    now[0] = 3.5  # blocks 1-3 are due
    got = paced.read()
    assert got is not None and got.size == 3 * BLOCK_SAMPLES and paced.position == 4
    now[0] = 100.0
    assert paced.read().size == 16 * BLOCK_SAMPLES  # type: ignore[union-attr]  # the cap
    paced.close()
    fast = SimulatedStream(SimulatedSource.model_validate_json(text % "1e12"), lambda: now[0])
    now[0] = 101.0
    fast.max_read_blocks = 5
    whole = fast.read()  # five blocks drawn on the stream's threads
    fast.close()
    one = SimulatedStream(SimulatedSource.model_validate_json(text % "null"))
    singles = np.concatenate([one.read() for _ in range(5)])  # type: ignore[misc]
    assert one.position == 5  # unpaced: one block a read
    assert whole is not None and np.array_equal(whole, singles)  # the same stream
