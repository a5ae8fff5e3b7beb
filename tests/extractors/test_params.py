from __future__ import annotations

import math
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from diamp.errors import DiampError, ExtractionError
from diamp.extractors.params import DodisParams, ToeplitzParams
from diamp.protocol.security import eta, z_min_entropy

# the K24 point (spec §12): n = 20·2^26 trials, mu = 0.0075, S_mu = 0.00296, eps = 1e-12
N_TRIALS = 20 * 2**26
MU = Fraction("0.0075")
EPS = 1e-12


def k24_entropies() -> tuple[float, float]:
    rate = eta(EPS / 12, EPS, Fraction("0.00296"), N_TRIALS, MU).eta
    return N_TRIALS * rate, z_min_entropy(2 * N_TRIALS, MU)


def test_dodis_quantum_smooth_reproduces_the_strict_chain() -> None:
    k1, k2 = k24_entropies()
    p = DodisParams.from_params(2 * N_TRIALS, k1, k2, EPS, delta1=EPS / 12)
    assert p.m == 20_860_818  # spec §12 part 8: dodis_max_m quantum_smooth
    assert p.error == pytest.approx(9.411e-13, rel=1e-3)
    assert p.error <= EPS


def test_dodis_special_cases_match_the_spec() -> None:
    k1, k2 = k24_entropies()
    classical = DodisParams.from_params(2 * N_TRIALS, k1, k2, EPS, model="classical")
    quantum = DodisParams.from_params(2 * N_TRIALS, k1, k2, EPS, model="quantum")
    assert classical.m == 62_582_633  # spec §12 part 8
    assert quantum.m == 20_860_838
    assert classical.error <= EPS and quantum.error <= EPS
    # one more output bit would break the guarantee (the choice is the longest)
    assert 2 ** (-(k1 + k2 - 2 * N_TRIALS - 2 * (classical.m + 1)) / 2) > EPS


@settings(max_examples=30, deadline=None, derandomize=True)
@given(
    n=st.integers(1_000, 10**9),
    f1=st.floats(0.6, 1.0),
    f2=st.floats(0.6, 1.0),
    log_eps=st.floats(-60, -3),
    model=st.sampled_from(["classical", "quantum", "quantum-smooth"]),
)
def test_dodis_forward_error_never_exceeds_eps(
    n: int, f1: float, f2: float, log_eps: float, model: str
) -> None:
    eps = 2.0**log_eps
    try:
        p = DodisParams.from_params(n, f1 * n, f2 * n, eps, model=model)  # type: ignore[arg-type]
    except ExtractionError:
        return  # no output at these entropies: refusing is the right answer
    assert 1 <= p.m <= n
    assert p.error <= eps


def test_toeplitz_leftover_hash_lemma() -> None:
    p = ToeplitzParams.from_params(10**6, 741_933.5, 2.0**-100)
    assert p.m == 741_733  # floor(k - 2 log2(1/eps)) = floor(741,933.5 - 200)
    assert p.seed_bits == 10**6 + p.m - 1
    assert p.error == pytest.approx(2 ** (-(741_933.5 - 741_733) / 2))
    assert p.error <= 2.0**-100
    # k - 2 log2(1/eps) = 280 exactly: the safe floor takes one bit less when a value sits on
    # an integer (within 1e-25), so the guarantee never rests on the last digit
    exact = ToeplitzParams.from_params(1000, 300.0, 2.0**-10)
    assert exact.m == 279 and math.isclose(exact.error, 2.0**-10.5)


@pytest.mark.parametrize(
    "call",
    [
        lambda: ToeplitzParams.from_params(1000, 10.0, 2.0**-10),  # no output
        lambda: ToeplitzParams.from_params(1000, 1001.0, 0.5),  # k > n
        lambda: ToeplitzParams.from_params(0, 0.0, 0.5),
        lambda: ToeplitzParams.from_params(1000, 500.0, 0.0),
        lambda: DodisParams.from_params(1000, 100.0, 100.0, 1e-6),  # no output
        lambda: DodisParams.from_params(1000, 900.0, 900.0, 1.5),
        lambda: DodisParams.from_params(1000, 900.0, 900.0, 1e-3, model="weird"),  # type: ignore[arg-type]
    ],
)
def test_invalid_parameters_raise(call: object) -> None:
    with pytest.raises(DiampError):
        call()  # type: ignore[operator]


def test_params_are_frozen() -> None:
    p = ToeplitzParams.from_params(1000, 300.0, 2.0**-10)
    with pytest.raises(AttributeError):
        p.m = 1  # type: ignore[misc]
