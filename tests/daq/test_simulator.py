"""Tests for the simulated lab: Bell device tables, sampling, SV sources, and SimulatedLab.

Oracles: the closed form of the Werner |Ψ+⟩ correlator E = −V·cos(θ_x + φ_y) with an
explicit readout confusion sum (not the density-matrix code under test), the CHSH facets
and a scipy LP over the 16 local deterministic strategies for locality, and binomial
5-sigma bands for every sampled frequency (all generators seeded).
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np
import pytest
from scipy.optimize import linprog

from _runconfig import run_config
from diamp.config import parse_config
from diamp.daq.sim import lab as simulator
from diamp.daq.sim.bell_device import (
    ALICE_ANGLES,
    BOB_ANGLES,
    SimulatedBellDevice,
    lhv_table,
    outcome_thresholds,
    quantum_table,
)
from diamp.daq.sim.lab import SimulatedLab
from diamp.daq.sim.rng import Stream, stream_rng, uniform_u32
from diamp.daq.sim.sv_sources import IidSVSource, MarkovSVSource

SIGMAS = 5.0


# --------------------------------------------------------------------------- oracles


def closed_form_table(
    visibility: float,
    fidelity: tuple[float, float] = (1.0, 1.0),
    alice_angles: tuple[float, float] = ALICE_ANGLES,
    bob_angles: tuple[float, float] = BOB_ANGLES,
) -> np.ndarray:
    """P[2x + y, 2a + b] from the closed form, then an explicit readout-confusion sum."""
    f0, f1 = fidelity

    def read(observed: int, true: int) -> float:
        correct = f0 if true == 0 else f1
        return correct if observed == true else 1.0 - correct

    table = np.zeros((4, 4))
    for x, y in itertools.product((0, 1), repeat=2):
        e = -visibility * math.cos(alice_angles[x] + bob_angles[y])
        ideal = {
            (a, b): (1 + (-1) ** (a ^ b) * e) / 4 for a, b in itertools.product((0, 1), repeat=2)
        }
        for ra, rb in itertools.product((0, 1), repeat=2):
            table[2 * x + y, 2 * ra + rb] = sum(
                read(ra, a) * read(rb, b) * p for (a, b), p in ideal.items()
            )
    return table


def correlators(table: np.ndarray) -> np.ndarray:
    """E_xy = P(00) + P(11) − P(01) − P(10) for each row 2x + y."""
    return table[:, 0] + table[:, 3] - table[:, 1] - table[:, 2]


def chsh(table: np.ndarray) -> float:
    e = correlators(table)
    return float(e[0] + e[1] + e[2] - e[3])


def chsh_facets(table: np.ndarray) -> list[float]:
    """The 8 CHSH-type expressions (one minus sign at any of 4 places, overall ±)."""
    e = correlators(table)
    values = []
    for k in range(4):
        signs = np.ones(4)
        signs[k] = -1
        s = float(signs @ e)
        values.extend([s, -s])
    return values


def is_local(table: np.ndarray) -> bool:
    """Feasibility LP: table = Σ_λ q_λ D_λ, q ≥ 0, Σ q = 1, over 16 deterministic strategies."""
    strategies = list(itertools.product((0, 1), repeat=4))  # (α0, α1, β0, β1)
    a_eq = np.zeros((17, 16))
    b_eq = np.zeros(17)
    for col, (a0, a1, b0, b1) in enumerate(strategies):
        alpha, beta = (a0, a1), (b0, b1)
        for x, y, a, b in itertools.product((0, 1), repeat=4):
            row = 4 * (2 * x + y) + 2 * a + b
            a_eq[row, col] = float(a == alpha[x] and b == beta[y])
        a_eq[16, col] = 1.0
    b_eq[:16] = table.reshape(16)
    b_eq[16] = 1.0
    result = linprog(np.zeros(16), A_eq=a_eq, b_eq=b_eq, bounds=(0, None), method="highs")
    assert result.status in (0, 2), result.message
    return bool(result.status == 0)


def assert_binomial(count: int, total: int, p: float, what: str) -> None:
    """count / total within SIGMAS binomial standard deviations of p (exact if p ∈ {0, 1})."""
    assert total > 0
    if p <= 0.0 or p >= 1.0:
        assert count == round(p * total), f"{what}: {count}/{total}, expected p = {p}"
        return
    sigma = math.sqrt(p * (1 - p) / total)
    freq = count / total
    assert abs(freq - p) <= SIGMAS * sigma, (
        f"{what}: frequency {freq:.6f}, expected {p:.6f} ± {SIGMAS}·{sigma:.2e}"
    )


# --------------------------------------------------------------------------- quantum_table

FIDELITIES = [(1.0, 1.0), (0.985, 0.985), (0.9, 0.9), (0.97, 0.93), (0.5, 0.5), (1.0, 0.8)]


@pytest.mark.parametrize("visibility", [0.0, 0.3, 0.7071, 0.95, 1.0])
@pytest.mark.parametrize("fidelity", FIDELITIES)
def test_quantum_table_matches_closed_form(
    visibility: float, fidelity: tuple[float, float]
) -> None:
    table = quantum_table(visibility, fidelity)
    assert table.shape == (4, 4)
    np.testing.assert_allclose(table, closed_form_table(visibility, fidelity), rtol=0, atol=1e-12)
    np.testing.assert_allclose(table.sum(axis=1), 1.0, rtol=0, atol=1e-12)
    assert np.all(table >= 0)


def test_quantum_table_closed_form_at_other_angles() -> None:
    rng = np.random.default_rng(20240101)
    for _ in range(10):
        alice = (float(rng.uniform(-math.pi, math.pi)), float(rng.uniform(-math.pi, math.pi)))
        bob = (float(rng.uniform(-math.pi, math.pi)), float(rng.uniform(-math.pi, math.pi)))
        v = float(rng.uniform(0, 1))
        f = (float(rng.uniform(0.5, 1)), float(rng.uniform(0.5, 1)))
        np.testing.assert_allclose(
            quantum_table(v, f, alice, bob), closed_form_table(v, f, alice, bob), atol=1e-12
        )


def test_quantum_table_orientation_x1_y1_anticorrelated() -> None:
    e = correlators(quantum_table(1.0))
    np.testing.assert_allclose(e, [1 / math.sqrt(2)] * 3 + [-1 / math.sqrt(2)], atol=1e-12)


@pytest.mark.parametrize("visibility", [0.0, 0.5, 0.8, 0.95, 1.0])
@pytest.mark.parametrize("f", [1.0, 0.985, 0.9, 0.75, 0.5])
def test_quantum_table_chsh_closed_form(visibility: float, f: float) -> None:
    table = quantum_table(visibility, (f, f))
    expected = 2 * math.sqrt(2) * visibility * (2 * f - 1) ** 2
    assert chsh(table) == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("visibility", [0.0, 0.6, 1.0])
@pytest.mark.parametrize("f", [1.0, 0.9, 0.6])
def test_quantum_table_marginals_uniform_for_symmetric_readout(visibility: float, f: float) -> None:
    table = quantum_table(visibility, (f, f)).reshape(4, 2, 2)  # [xy, a, b]
    np.testing.assert_allclose(table.sum(axis=2), 0.5, atol=1e-12)  # P(a | x, y)
    np.testing.assert_allclose(table.sum(axis=1), 0.5, atol=1e-12)  # P(b | x, y)


def test_quantum_table_no_signalling_for_asymmetric_readout() -> None:
    table = quantum_table(0.9, (0.97, 0.9)).reshape(2, 2, 2, 2)  # [x, y, a, b]
    alice = table.sum(axis=3)  # P(a | x, y)
    bob = table.sum(axis=2)  # P(b | x, y)
    np.testing.assert_allclose(alice[:, 0], alice[:, 1], atol=1e-12)
    np.testing.assert_allclose(bob[0], bob[1], atol=1e-12)
    # asymmetric readout biases the marginals: P(a = 0) = (f0 + 1 − f1) / 2
    np.testing.assert_allclose(alice[..., 0], (0.97 + 1 - 0.9) / 2, atol=1e-12)


def test_quantum_table_is_nonlocal_above_threshold_and_local_below() -> None:
    assert not is_local(quantum_table(1.0))
    assert not is_local(quantum_table(0.95, (0.985, 0.985)))
    assert max(chsh_facets(quantum_table(1.0))) == pytest.approx(2 * math.sqrt(2))
    # V < 1/√2: every facet holds, and the LP finds a local model
    table = quantum_table(0.6)
    assert max(chsh_facets(table)) <= 2
    assert is_local(table)


# --------------------------------------------------------------------------- lhv_table


@pytest.mark.parametrize("noise", [0.0, 0.1, 0.5, 1.0])
def test_lhv_table_chsh_and_locality(noise: float) -> None:
    table = lhv_table(noise)
    assert table.shape == (4, 4)
    np.testing.assert_allclose(table.sum(axis=1), 1.0, atol=1e-15)
    assert np.all(table >= 0)
    assert chsh(table) == pytest.approx(2 * (1 - noise), abs=1e-12)
    assert chsh(table) <= 2 + 1e-12
    assert max(abs(s) for s in chsh_facets(table)) <= 2 + 1e-12
    assert is_local(table)


def test_lhv_table_marginals_uniform() -> None:
    table = lhv_table(0.3).reshape(4, 2, 2)
    np.testing.assert_allclose(table.sum(axis=2), 0.5, atol=1e-15)
    np.testing.assert_allclose(table.sum(axis=1), 0.5, atol=1e-15)


# --------------------------------------------------------------------------- thresholds / device


def test_outcome_thresholds() -> None:
    table = quantum_table(0.9, (0.97, 0.93))
    thr = outcome_thresholds(table)
    assert thr.dtype == np.uint64
    assert thr.shape == (4, 3)
    assert np.all(np.diff(thr.astype(np.int64), axis=1) >= 0)
    for row in range(4):
        for k in range(3):
            assert int(thr[row, k]) == round(sum(table[row, : k + 1]) * 2**32)


def test_measure_thresholds_are_exact_at_boundaries() -> None:
    uniform = np.full((4, 4), 0.25)
    device = SimulatedBellDevice(uniform)
    # thresholds are 2^30, 2^31, 3·2^30: u just below / at each gives outcomes k, k + 1
    u_values = [0, 2**30 - 1, 2**30, 2**31 - 1, 2**31, 3 * 2**30 - 1, 3 * 2**30, 2**32 - 1]
    expected_k = [0, 0, 1, 1, 2, 2, 3, 3]
    for x, y in itertools.product((0, 1), repeat=2):
        n = len(u_values)
        out = device.measure(
            np.full(n, x, dtype=np.uint8),
            np.full(n, y, dtype=np.uint8),
            np.array(u_values, dtype=np.uint32),
        )
        assert out.dtype == np.uint8
        assert out.tolist() == [8 * x + 4 * y + k for k in expected_k]


def test_device_rejects_bad_tables() -> None:
    with pytest.raises(ValueError):
        SimulatedBellDevice(np.full((4, 3), 1 / 3))
    bad = np.full((4, 4), 0.25)
    bad[2, 1] = 0.3
    with pytest.raises(ValueError):
        SimulatedBellDevice(bad)


@pytest.mark.parametrize(
    ("name", "table"),
    [
        ("quantum", quantum_table(0.95, (0.985, 0.985))),
        ("quantum-asym", quantum_table(0.8, (0.97, 0.9))),
        ("lhv", lhv_table(0.0)),
    ],
)
def test_measure_frequencies_match_table(name: str, table: np.ndarray) -> None:
    n = 1_000_000
    rng = np.random.default_rng(97531)
    x = rng.integers(0, 2, n, dtype=np.uint8)
    y = rng.integers(0, 2, n, dtype=np.uint8)
    u = rng.integers(0, 2**32, n, dtype=np.uint32)
    v = SimulatedBellDevice(table).measure(x, y, u)
    assert v.dtype == np.uint8
    assert v.shape == (n,)
    assert int(v.max()) < 16
    # encoding v = 8x + 4y + 2a + b: x and y pass through unchanged
    np.testing.assert_array_equal((v >> 3) & 1, x)
    np.testing.assert_array_equal((v >> 2) & 1, y)
    counts = np.bincount(v, minlength=16).reshape(4, 4)  # [2x + y, 2a + b]
    for xy in range(4):
        n_xy = int(counts[xy].sum())
        assert n_xy == int(np.count_nonzero(2 * x + y == xy))
        for ab in range(4):
            assert_binomial(int(counts[xy, ab]), n_xy, float(table[xy, ab]), f"{name} {xy=} {ab=}")


# --------------------------------------------------------------------------- SV sources


@pytest.mark.parametrize("bias", [0.0, 0.004, -0.0075, 0.2])
def test_iid_source_bias(bias: float) -> None:
    n = 2_000_000
    bits = IidSVSource(bias, stream_rng(11, Stream.ALICE_INPUTS, 0)).bits(n)
    assert bits.dtype == np.uint8
    assert bits.shape == (n,)
    assert set(np.unique(bits).tolist()) <= {0, 1}
    p = 0.5 + bias
    assert_binomial(int(bits.sum()), n, p, "P(1)")
    # independent: the previous bit does not matter
    prev, cur = bits[:-1], bits[1:]
    for value in (0, 1):
        sel = cur[prev == value]
        assert_binomial(int(sel.sum()), sel.size, p, f"P(1 | prev={value})")


def markov_conditionals(bits: np.ndarray) -> dict[int, tuple[int, int]]:
    prev, cur = bits[:-1], bits[1:]
    return {value: (int(cur[prev == value].sum()), int((prev == value).sum())) for value in (0, 1)}


@pytest.mark.parametrize(("bias", "mu"), [(0.004, 0.0075), (-0.004, 0.0075), (0.2, 0.25)])
def test_markov_source_conditionals(bias: float, mu: float) -> None:
    n = 4_000_000
    bits = MarkovSVSource(bias, stream_rng(12, Stream.BOB_INPUTS, 0)).bits(n)
    assert bits.dtype == np.uint8
    assert set(np.unique(bits).tolist()) <= {0, 1}
    cond = markov_conditionals(bits)
    for prev, expected in ((0, 0.5 - bias), (1, 0.5 + bias)):
        ones, total = cond[prev]
        assert_binomial(ones, total, expected, f"P(1 | prev={prev})")
        assert 0.5 - mu <= ones / total <= 0.5 + mu


def test_markov_source_keeps_state_across_calls() -> None:
    # One bit per call: if the history were reset each call, P(1 | prev = 0) would be 0.7.
    source = MarkovSVSource(0.2, stream_rng(13, Stream.BOB_INPUTS, 0))
    bits = np.concatenate([source.bits(1) for _ in range(20_000)] + [source.bits(0)])
    cond = markov_conditionals(bits)
    assert_binomial(*cond[0], 0.3, "P(1 | prev=0)")
    assert_binomial(*cond[1], 0.7, "P(1 | prev=1)")


def test_markov_source_first_bit() -> None:
    ones = sum(
        int(MarkovSVSource(0.2, stream_rng(14, Stream.BOB_INPUTS, i)).bits(1)[0])
        for i in range(4000)
    )
    assert_binomial(ones, 4000, 0.7, "P(first bit = 1)")


@pytest.mark.parametrize("cls", [IidSVSource, MarkovSVSource])
def test_source_reproducible_per_stream_and_block(cls: type) -> None:
    def draw(seed: int, stream: Stream, block: int) -> np.ndarray:
        return cls(0.004, stream_rng(seed, stream, block)).bits(10_000)

    same = draw(7, Stream.ALICE_INPUTS, 3)
    np.testing.assert_array_equal(same, draw(7, Stream.ALICE_INPUTS, 3))
    assert not np.array_equal(same, draw(7, Stream.ALICE_INPUTS, 4))
    assert not np.array_equal(same, draw(7, Stream.BOB_INPUTS, 3))
    assert not np.array_equal(same, draw(8, Stream.ALICE_INPUTS, 3))


def test_uniform_u32() -> None:
    for count in (0, 1, 2, 7, 1000):
        words = uniform_u32(stream_rng(5, Stream.DEVICE, 0), count)
        assert words.dtype == np.uint32
        assert words.shape == (count,)
        assert words.flags.c_contiguous
    words = uniform_u32(stream_rng(5, Stream.DEVICE, 0), 1_000_001)
    np.testing.assert_array_equal(words[:7], uniform_u32(stream_rng(5, Stream.DEVICE, 0), 7))
    # every bit position is fair
    bits = np.unpackbits(words.view(np.uint8))
    assert_binomial(int(bits.sum()), bits.size, 0.5, "bit frequency")


# --------------------------------------------------------------------------- SimulatedLab


def lab_config(
    *,
    trials: int = 2**16,
    blocks: int = 4,
    device: dict[str, Any] | None = None,
    alice: dict[str, Any] | None = None,
    bob: dict[str, Any] | None = None,
    z_source: str = "alice",
    seed: int = 20241223,
) -> SimulatedLab:
    text = run_config(
        run={
            "name": "test",
            "seed": seed,
            "blocks": blocks,
            "trials_per_block": trials,
            "segment_trials": trials,
        },
        sources={
            "mu": "0.0075",
            "alice": alice or {"model": "iid", "bias": 0.004},
            "bob": bob or {"model": "markov", "bias": 0.004},
            "z_source": z_source,
        },
        device=device or {"model": "quantum", "visibility": 0.95, "readout_fidelity": 0.985},
        protocol={"mode": "fixed", "s_mu_threshold": "0.0065"},
    )
    return SimulatedLab.from_config(parse_config(text, "test.toml").config)


def test_lab_block_shape_and_encoding() -> None:
    lab = lab_config(trials=5000)
    block = lab.block(0)
    assert block.dtype == np.uint8
    assert block.shape == (5000,)
    assert int(block.max()) < 16


def test_lab_block_reproducible_and_order_independent() -> None:
    lab = lab_config()
    b3_first = lab.block(3)
    b0 = lab.block(0)
    b3_again = lab.block(3)
    np.testing.assert_array_equal(b3_first, b3_again)
    fresh = lab_config()
    np.testing.assert_array_equal(fresh.block(0), b0)
    np.testing.assert_array_equal(fresh.block(3), b3_first)
    assert not np.array_equal(b0, b3_first)
    assert not np.array_equal(lab_config(seed=1).block(0), b0)


def test_lab_inputs_follow_source_biases() -> None:
    n = 2**20
    lab = lab_config(
        trials=n,
        blocks=1,
        alice={"model": "iid", "bias": 0.0075},
        bob={"model": "iid", "bias": -0.0075},
    )
    v = lab.block(0)
    assert_binomial(int(((v >> 3) & 1).sum()), n, 0.5075, "P(x = 1)")
    assert_binomial(int(((v >> 2) & 1).sum()), n, 0.4925, "P(y = 1)")


@pytest.mark.parametrize(("visibility", "f"), [(0.95, 0.985), (0.8, 0.95), (1.0, 1.0)])
def test_lab_empirical_chsh(visibility: float, f: float) -> None:
    n = 2**20
    lab = lab_config(
        trials=n,
        blocks=1,
        device={"model": "quantum", "visibility": visibility, "readout_fidelity": f},
    )
    counts = np.bincount(lab.block(0), minlength=16).reshape(4, 4).astype(np.float64)
    n_xy = counts.sum(axis=1)
    e_hat = (counts[:, 0] + counts[:, 3] - counts[:, 1] - counts[:, 2]) / n_xy
    s_hat = e_hat[0] + e_hat[1] + e_hat[2] - e_hat[3]
    expected = 2 * math.sqrt(2) * visibility * (2 * f - 1) ** 2
    e_model = correlators(quantum_table(visibility, (f, f)))
    sigma = math.sqrt(float(np.sum((1 - e_model**2) / n_xy)))
    assert abs(s_hat - expected) <= SIGMAS * sigma, (s_hat, expected, sigma)


def test_lab_lhv_device() -> None:
    n = 2**18
    v = lab_config(trials=n, blocks=1, device={"model": "lhv", "noise": 0.0}).block(0)
    np.testing.assert_array_equal((v >> 1) & 1, v & 1)  # a == b always
    v = lab_config(trials=n, blocks=1, device={"model": "lhv", "noise": 0.4}).block(0)
    counts = np.bincount(v, minlength=16).reshape(4, 4).astype(np.float64)
    n_xy = counts.sum(axis=1)
    e_hat = (counts[:, 0] + counts[:, 3] - counts[:, 1] - counts[:, 2]) / n_xy
    s_hat = e_hat[0] + e_hat[1] + e_hat[2] - e_hat[3]
    sigma = math.sqrt(float(np.sum((1 - 0.6**2) / n_xy)))
    assert abs(s_hat - 2 * 0.6) <= SIGMAS * sigma


@pytest.mark.parametrize("n_bits", [0, 1, 7, 8, 9, 1001, 4096])
@pytest.mark.parametrize("z_source", ["alice", "bob"])
def test_z_packed_matches_z_bits(n_bits: int, z_source: str) -> None:
    lab = lab_config(z_source=z_source)
    bits = np.concatenate([np.zeros(0, dtype=np.uint8), *lab.z_bits(n_bits)])
    assert bits.dtype == np.uint8
    assert bits.size == n_bits
    packed = lab.z_packed(n_bits)
    assert packed.dtype == np.uint8
    assert packed.size == (n_bits + 7) // 8
    np.testing.assert_array_equal(packed, np.packbits(bits))
    np.testing.assert_array_equal(np.unpackbits(packed)[:n_bits], bits)
    assert not np.unpackbits(packed)[n_bits:].any()  # padding bits are zero


@pytest.mark.parametrize("z_source", ["alice", "bob"])
def test_z_is_a_prefix_stream_independent_of_chunking(
    z_source: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    n_bits = 64 * 3 + 13
    reference = lab_config(z_source=z_source).z_packed(n_bits)
    monkeypatch.setattr(simulator, "Z_CHUNK_BITS", 64)
    lab = lab_config(z_source=z_source)
    chunks = list(lab.z_bits(n_bits))
    assert [c.size for c in chunks] == [64, 64, 64, 13]
    packed = lab.z_packed(n_bits)
    np.testing.assert_array_equal(packed, np.packbits(np.concatenate(chunks)))
    np.testing.assert_array_equal(packed, reference)
    # Z(n) is a prefix of Z(n') for n < n'
    shorter = np.unpackbits(lab.z_packed(150))[:150]
    np.testing.assert_array_equal(shorter, np.unpackbits(packed)[:150])


def test_z_statistics_follow_source() -> None:
    n_bits = 2**21
    lab = lab_config(alice={"model": "iid", "bias": 0.0075}, z_source="alice")
    bits = np.unpackbits(lab.z_packed(n_bits))
    assert_binomial(int(bits.sum()), n_bits, 0.5075, "P(z = 1)")
