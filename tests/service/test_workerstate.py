"""The shared-memory nonces and buckets of ``diamp serve --workers N`` (diamp.service.workerstate).

Processes are real (``spawn``, as the server starts its workers); the nonce generations are
checked against the replay window they must cover, the buckets against the in-memory
:class:`~diamp.service.core.RateLimiter` on the same requests.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from _svc import config_text, settings_for
from hypothesis import given, settings
from hypothesis import strategies as st

from diamp.service.auth import Accepted
from diamp.service.core import RateLimiter, Service
from diamp.service.errors import AuthError, PoolError
from diamp.service.shared import SharedNonces
from diamp.service.workerstate import BUCKET_SLOTS, WorkerState, available

pytestmark = pytest.mark.skipif(not available(), reason="no memfd_create on this system")
WINDOW, SKEW = 300, 5
SPAN = WINDOW + 2 * SKEW


def _reason(state: WorkerState, keyid: str, nonce: str) -> str:
    try:
        state.remember(keyid, nonce, 0.0)
    except AuthError as err:
        return str(err.fields["reason"])
    return "ok"


def _child(handle: Any, queue: Any, nonces: list[str], spend: int) -> None:
    state = handle.open()
    try:
        reasons = [_reason(state, "alice", n) for n in nonces]
        buckets = state.buckets("signed", 1e-6, 5, 1e9, 1 << 30)
        queue.put((reasons, [buckets.admit("alice", 8) for _ in range(spend)]))
    finally:
        state.close()


def _in_child(
    state: WorkerState, nonces: list[str], spend: int = 0
) -> tuple[list[str], list[float]]:
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    proc = context.Process(target=_child, args=(state.handle(), queue, nonces, spend))
    proc.start()
    try:
        found: tuple[list[str], list[float]] = queue.get(timeout=120)
    finally:
        proc.join(timeout=60)
        queue.close()
        queue.join_thread()
    assert proc.exitcode == 0
    return found


@pytest.fixture
def state() -> Iterator[WorkerState]:
    """Shared state of the default size, closed after the test."""
    shared = WorkerState.create(10_000, WINDOW, SKEW)
    try:
        yield shared
    finally:
        shared.close()


def test_a_nonce_seen_by_one_process_is_a_replay_in_another(state: WorkerState) -> None:
    assert _reason(state, "alice", "first-nonce") == "ok"
    reasons, _ = _in_child(state, ["first-nonce", "other-nonce", "other-nonce"])
    assert reasons == ["replay", "ok", "replay"]
    assert _reason(state, "alice", "other-nonce") == "replay"  # and back
    assert _reason(state, "bob", "other-nonce") == "ok"  # per key id


def test_a_clients_burst_is_spent_once_across_processes(state: WorkerState) -> None:
    mine = state.buckets("signed", 1e-6, 5, 1e9, 1 << 30)
    assert [mine.admit("alice", 8) for _ in range(2)] == [0.0, 0.0]
    _, waits = _in_child(state, [], spend=4)
    assert waits[:3] == [0.0, 0.0, 0.0] and waits[3] > 0  # 5 in all, whoever asks
    assert mine.admit("alice", 8) > 0
    assert mine.admit("bob", 8) == 0.0  # per client
    public = state.buckets("public ", 1e-6, 1, 1e9, 1 << 30)
    assert public.admit("alice", 8) == 0.0  # another limiter, another bucket


def test_a_replay_spends_no_token_and_the_nonce_is_recorded_with_the_tokens(
    state: WorkerState,
) -> None:
    buckets = state.buckets("signed", 1e-6, 2, 1e9, 1 << 30)
    accepted = Accepted("alice", "n" * 16, 0.0)
    assert buckets.admit_request("alice", 8, accepted) == (0.0, None)
    with pytest.raises(AuthError, match="replayed"):
        buckets.admit_request("alice", 8, accepted)
    assert buckets.admit_request("alice", 8, Accepted("alice", "m" * 16, 0.0))[0] == 0.0
    assert buckets.admit("alice", 8) > 0  # burst 2: the replay took none


class _Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@settings(max_examples=40, deadline=None)
@given(
    start=st.floats(1.7e9, 1.8e9),
    steps=st.lists(st.tuples(st.integers(0, 5), st.floats(0.0, 400.0)), min_size=1, max_size=40),
)
def test_nonces_are_kept_for_the_whole_replay_window(
    start: float, steps: list[tuple[int, float]]
) -> None:
    """Oracle: a nonce accepted at t is a replay until t + W, and free from its generation + 2W.

    W = window + 2 × skew bounds ``created + window + skew`` for a request accepted at t
    (``created <= t + skew``); in between, either answer is safe (the request is too old).
    """
    clock = _Clock(start)
    state = WorkerState.create(10_000, WINDOW, SKEW, clock)
    accepted: dict[int, float] = {}
    try:
        for nonce, dt in steps:
            clock.now += dt
            got = _reason(state, "alice", f"nonce-{nonce:04d}")
            last = accepted.get(nonce)
            if last is not None and clock.now <= last + SPAN:
                assert got == "replay", (nonce, last, clock.now)
            if last is None or clock.now >= (last // SPAN + 2) * SPAN:
                assert got == "ok", (nonce, last, clock.now)
            if got == "ok":
                accepted[nonce] = clock.now
    finally:
        state.close()


def test_a_clock_set_back_keeps_every_nonce() -> None:
    clock = _Clock(1.75e9)
    state = WorkerState.create(10_000, WINDOW, SKEW, clock)
    try:
        assert _reason(state, "alice", "n" * 16) == "ok"
        clock.now -= 10 * SPAN  # the generation never moves back
        assert _reason(state, "alice", "n" * 16) == "replay"
    finally:
        state.close()


def test_a_full_generation_refuses_rather_than_forgets() -> None:
    clock = _Clock(1.75e9)
    state = WorkerState.create(1000, WINDOW, SKEW, clock)
    try:
        assert all(_reason(state, "alice", f"nonce-{i:05d}") == "ok" for i in range(1000))
        assert _reason(state, "alice", "one-more-nonce") == "busy"
        assert _reason(state, "alice", "nonce-00007") == "replay"
        clock.now += SPAN  # the next generation has room; the last one is still checked
        assert _reason(state, "alice", "one-more-nonce") == "ok"
        assert _reason(state, "alice", "nonce-00007") == "replay"
    finally:
        state.close()


@settings(max_examples=30, deadline=None)
@given(
    steps=st.lists(
        st.tuples(st.sampled_from(["alice", "bob", "carol"]), st.integers(1, 600),
                  st.floats(0.0, 3.0)),
        min_size=1, max_size=60,
    ),
)  # fmt: skip
def test_buckets_decide_as_the_in_memory_limiter_does(
    steps: list[tuple[str, int, float]],
) -> None:
    """Oracle: :class:`RateLimiter` (in memory) on the same requests at the same times."""
    clock = _Clock(1000.0)
    state = WorkerState.create(10_000, WINDOW, SKEW)
    try:
        shared = state.buckets("signed", 2.0, 4, 500.0, 1000)
        shared.clock = clock
        oracle = RateLimiter(2.0, 4, 500.0, 1000)
        for client, nbytes, dt in steps:
            clock.now += dt
            monotonic = pytest.MonkeyPatch()
            monotonic.setattr("diamp.service.core.time.monotonic", clock)
            try:
                expected = oracle.admit(client, nbytes)
            finally:
                monotonic.undo()
            assert shared.admit(client, nbytes) == pytest.approx(expected, rel=1e-9, abs=1e-12)
    finally:
        state.close()


def test_refilled_buckets_are_forgotten_and_live_ones_kept() -> None:
    clock = _Clock(1000.0)
    state = WorkerState.create(10_000, WINDOW, SKEW)
    try:
        buckets = state.buckets("public ", 1.0, 1, 1e9, 1 << 30)
        buckets.clock = clock
        assert buckets.admit("busy client", 8) == 0.0  # empty for a second
        for i in range(BUCKET_SLOTS // 2 - 1):  # fill the table
            assert buckets.admit(f"client {i}", 8) == 0.0
        with pytest.raises(PoolError, match="rate-limit table full"):
            buckets.admit("one too many", 8)
        clock.now += 0.5  # nobody has refilled yet
        with pytest.raises(PoolError):
            buckets.admit("one too many", 8)
        clock.now += 0.6  # all refilled but the one that spends again now
        assert buckets.admit("busy client", 8) == 0.0
        assert buckets.admit("one too many", 8) == 0.0  # the full ones were dropped
        assert buckets.admit("busy client", 8) > 0  # still limited: its bucket was kept
    finally:
        state.close()


def _die_holding_the_lock(handle: Any) -> None:
    state = handle.open()
    state.locked().__enter__()
    os.kill(os.getpid(), signal.SIGKILL)


def test_a_process_killed_holding_the_lock_releases_it(state: WorkerState) -> None:
    context = multiprocessing.get_context("spawn")
    proc = context.Process(target=_die_holding_the_lock, args=(state.handle(),))
    proc.start()
    proc.join(timeout=120)
    assert proc.exitcode == -signal.SIGKILL
    assert _reason(state, "alice", "after-the-kill") == "ok"  # not blocked for ever


def _service(tmp_path: Path, processes: int) -> Service:
    tmp_path.mkdir(exist_ok=True)
    settings, _ = settings_for(tmp_path, config_text(pool="fill = false\n"))
    return Service(settings, processes=processes)


def test_the_first_of_several_processes_shares_memory_and_one_alone_does_not(
    tmp_path: Path,
) -> None:
    alone = _service(tmp_path / "one", 1)
    try:
        assert alone.worker_state is None and alone.verifier.shared is None
    finally:
        alone.stop()
    first = _service(tmp_path / "two", 2)
    try:
        assert first.worker_state is not None
        assert first.verifier.shared is first.worker_state
        assert not (tmp_path / "two" / "pool.requests.sqlite").exists()
    finally:
        first.stop()


def test_without_shared_memory_the_workers_use_the_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def refused(*args: object) -> WorkerState:
        raise OSError(38, "Function not implemented")

    monkeypatch.setattr(WorkerState, "create", refused)
    first = _service(tmp_path, 2)
    try:
        assert first.worker_state is None
        assert isinstance(first.verifier.shared, SharedNonces)
        assert (tmp_path / "pool.requests.sqlite").exists()
        assert "no shared memory for the workers" in caplog.text
    finally:
        first.stop()
