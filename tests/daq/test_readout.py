"""Readout discrimination maths (diamp.daq.readout) against direct oracles and properties."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from scipy.stats import norm

from diamp.daq.readout import Calibration, assignment_fidelity, calibrate, discriminate


def blobs(
    n: int, ground: complex, excited: complex, sigma: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    noise = rng.normal(size=(4, n)) * sigma
    return ground + noise[0] + 1j * noise[1], excited + noise[2] + 1j * noise[3]


def brute_force_fidelity(g: np.ndarray, e: np.ndarray, angle: float) -> float:
    """Best empirical fidelity over every threshold, by trying each one (O(n²))."""
    pg = [(z * complex(math.cos(angle), -math.sin(angle))).real for z in g]
    pe = [(z * complex(math.cos(angle), -math.sin(angle))).real for z in e]
    best = 0.0
    for t in [*pg, *pe, min(pg + pe) - 1.0]:
        p1_g = sum(1 for p in pg if p > t) / len(pg)
        p0_e = sum(1 for p in pe if p <= t) / len(pe)
        best = max(best, 1.0 - (p1_g + p0_e) / 2.0)
    return best


def test_axis_and_midpoint_threshold_match_the_direct_definition() -> None:
    g, e = blobs(500, complex(-1.0, 2.0), complex(0.5, -1.0), 0.3, seed=1)
    cal = calibrate(g, e)
    d = e.mean() - g.mean()
    assert cal.angle == pytest.approx(math.atan2(d.imag, d.real), abs=1e-12)
    rot = np.exp(-1j * cal.angle)
    assert cal.threshold == pytest.approx(((g.mean() + e.mean()) / 2 * rot).real, abs=1e-12)
    assert cal.ground_mean == pytest.approx(g.mean()) and cal.excited_mean == pytest.approx(
        e.mean()
    )
    direct = (
        1 - (np.mean((g * rot).real > cal.threshold) + np.mean((e * rot).real <= cal.threshold)) / 2
    )
    assert cal.fidelity == pytest.approx(direct, abs=1e-15)


@pytest.mark.parametrize("seed", range(5))
def test_max_fidelity_threshold_matches_brute_force_search(seed: int) -> None:
    g, e = blobs(60, complex(0.0, 0.0), complex(1.0, 0.4), 0.6, seed=seed)
    e[:5] = g[:5] + 0.5  # unequal, overlapping blobs: the optimum is not at the midpoint
    cal = calibrate(g, e, threshold="max_fidelity")
    assert cal.fidelity == pytest.approx(brute_force_fidelity(g, e, cal.angle), abs=1e-12)
    assert cal.fidelity >= calibrate(g, e).fidelity


def test_fidelity_of_gaussian_blobs_matches_the_normal_cdf() -> None:
    sigma, d = 0.2, 0.6  # |d| / (2σ) = 1.5
    g, e = blobs(40_000, complex(0.1, 0.1), complex(0.1, 0.1) + d * np.exp(0.7j), sigma, seed=7)
    cal = calibrate(g, e)
    assert cal.fidelity == pytest.approx(norm.cdf(d / (2 * sigma)), abs=0.006)
    assert cal.angle == pytest.approx(0.7, abs=0.01)


def test_discriminate_matches_a_per_value_loop() -> None:
    rng = np.random.default_rng(3)
    values = rng.normal(size=200) + 1j * rng.normal(size=200)
    cal = Calibration(angle=2.1, threshold=0.3)
    expected = [1 if (v * complex(math.cos(2.1), -math.sin(2.1))).real > 0.3 else 0 for v in values]
    bits = discriminate(values, cal)
    assert bits.dtype == np.uint8 and bits.tolist() == expected
    assert discriminate(np.zeros(0, dtype=complex), cal).shape == (0,)


def test_calibration_helpers() -> None:
    cal = Calibration(angle=math.pi / 2, threshold=1.0, fidelity=0.98, ground_mean=1j)
    assert cal.rotation == pytest.approx(-1j)
    as_dict = cal.as_dict()
    assert as_dict["ground_mean_im"] == 1.0 and as_dict["fidelity"] == 0.98
    assert assignment_fidelity(np.array([0.0, 2.0]), np.array([2.0, 3.0]), 1.0) == 0.75


@pytest.mark.parametrize(
    ("ground", "excited", "message"),
    [
        (np.zeros(0), np.ones(3), "non-empty"),
        (np.ones((2, 2)), np.ones(3), "1-d"),
        (np.array([1.0, np.nan]), np.ones(3), "NaN"),
        (np.array(["a"]), np.ones(3), "numbers"),
        (np.ones(4), np.ones(3), "same mean"),
    ],
)
def test_bad_reference_shots_are_refused(
    ground: np.ndarray, excited: np.ndarray, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        calibrate(ground, excited)


def test_unknown_threshold_method_is_refused() -> None:
    with pytest.raises(ValueError, match="threshold method"):
        calibrate(np.zeros(3), np.ones(3), threshold="median")  # type: ignore[arg-type]


points = st.lists(
    st.tuples(st.integers(-40, 40), st.integers(-40, 40)), min_size=1, max_size=25
).map(lambda xs: np.array([complex(a, b) / 4 for a, b in xs]))


def away_from_threshold(values: np.ndarray, cal: Calibration) -> np.ndarray:
    distance = np.abs((values * cal.rotation).real - cal.threshold)
    return np.asarray(distance > 1e-9 * (1 + np.abs(values).max()))


@settings(max_examples=150, deadline=None)
@given(points, points, st.integers(0, 3), st.integers(-20, 20), st.integers(-20, 20))
def test_bits_do_not_depend_on_where_the_blobs_sit(
    g: np.ndarray, e: np.ndarray, quarter_turns: int, dx: int, dy: int
) -> None:
    assume(abs(g.mean() - e.mean()) > 1e-6)

    def moved(z: np.ndarray) -> np.ndarray:
        return z * 1j**quarter_turns + complex(dx, dy)

    cal, cal_moved = calibrate(g, e), calibrate(moved(g), moved(e))
    turned = (cal.angle + quarter_turns * math.pi / 2 - cal_moved.angle) % (2 * math.pi)
    assert min(turned, 2 * math.pi - turned) < 1e-9
    shots = np.concatenate([g, e])
    keep = away_from_threshold(shots, cal) & away_from_threshold(moved(shots), cal_moved)
    assert (discriminate(shots, cal)[keep] == discriminate(moved(shots), cal_moved)[keep]).all()
    assert cal.fidelity == pytest.approx(cal_moved.fidelity, abs=1.0 / min(g.size, e.size))


@settings(max_examples=150, deadline=None)
@given(points, points)
def test_swapping_the_states_flips_axis_and_bits(g: np.ndarray, e: np.ndarray) -> None:
    assume(abs(g.mean() - e.mean()) > 1e-6)
    cal, swapped = calibrate(g, e), calibrate(e, g)
    turned = (cal.angle - swapped.angle) % (2 * math.pi)
    assert abs(turned - math.pi) < 1e-9
    shots = np.concatenate([g, e])
    keep = away_from_threshold(shots, cal)
    assert (discriminate(shots, cal)[keep] == 1 - discriminate(shots, swapped)[keep]).all()


@settings(max_examples=150, deadline=None)
@given(points, points)
def test_fidelity_bounds_and_blob_centres(g: np.ndarray, e: np.ndarray) -> None:
    assume(abs(g.mean() - e.mean()) > 1e-6)
    mid, best = calibrate(g, e), calibrate(g, e, threshold="max_fidelity")
    assert 0.0 <= mid.fidelity <= best.fidelity <= 1.0
    assert best.fidelity >= 0.5  # a threshold below every shot already reaches 1/2
    centres = discriminate(np.array([mid.ground_mean, mid.excited_mean]), mid)
    assert centres.tolist() == [0, 1]
