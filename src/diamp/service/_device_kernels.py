"""numba kernel of the simulated vacuum-fluctuation device (private): one pass per block."""

from __future__ import annotations

import numpy as np
from numba import njit, types

from diamp.extractors._jit import start_numba

start_numba()

_f64_1d_ro = types.Array(types.float64, 1, "C", readonly=True)
_u8_1d = types.Array(types.uint8, 1, "C")
_f64 = types.float64


@njit(
    types.void(_f64_1d_ro, _f64, _f64, _f64, _f64, _f64, _f64, _f64, types.int64, _u8_1d),
    cache=True,
    nogil=True,
)
def arma_adc(z, centre, rho, theta, sigma_e, sigma_rest, lo, width, levels, out):  # type: ignore[no-untyped-def]  # pragma: no cover
    """out[t] = ADC(centre + y_t), y_t = ρ y_{t−1} + e_t + θ e_{t−1} with e_t = σ_e z_{t+1}.

    y_0 = e_0 + σ_rest z_0: the stationary joint law of (y_0, e_0). ``z`` holds n + 1
    standard normals for n = ``out.size``. The ADC maps x to ⌊(x − lo)/width⌋ clipped to
    [0, levels − 1] (the bins of ``_adc`` in :mod:`diamp.service.simulated`).
    """
    e_prev = sigma_e * z[1]
    y = e_prev + sigma_rest * z[0]
    top = levels - 1
    for t in range(out.size):
        if t:
            e = sigma_e * z[t + 1]
            y = rho * y + e + theta * e_prev
            e_prev = e
        j = np.floor((centre + y - lo) / width)
        out[t] = 0 if j < 0 else (top if j > top else np.int64(j))
