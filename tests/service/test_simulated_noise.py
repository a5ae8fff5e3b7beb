"""The simulated devices' AR(1) noise filter against the sequential recursion and SciPy."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.signal import lfilter

from diamp.service.simulated import BLOCK_SAMPLES, _ar1_filter


def sequential(w: np.ndarray, rho: float) -> np.ndarray:
    """c_0 = w_0, c_t = w_t + ρ c_{t−1}: the definition, one sample at a time."""
    out = []
    c = 0.0
    for v in w.tolist():
        c = v + rho * c
        out.append(c)
    return np.array(out)


@pytest.mark.parametrize("rho", [0.0, 0.3, 0.5, 0.9, 0.999])
@pytest.mark.parametrize("n", [1, 2, 7, 1000, BLOCK_SAMPLES])
def test_ar1_filter_is_the_recursion(rho: float, n: int) -> None:
    w = np.random.default_rng(21).standard_normal(n)
    got = _ar1_filter(w, rho)
    scale = float(np.max(np.abs(w))) / (1.0 - rho)
    np.testing.assert_allclose(got, sequential(w, rho), rtol=0, atol=1e-14 * scale)
    np.testing.assert_allclose(got, lfilter([1.0], [1.0, -rho], w), rtol=0, atol=1e-14 * scale)
    assert got is not w and w.tolist() == np.random.default_rng(21).standard_normal(n).tolist()
