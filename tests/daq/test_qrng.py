"""Serial SV-source QRNG: the qrngsim:// device, faults, health checks, a real pseudo-terminal."""

from __future__ import annotations

import os
import threading
import tty

import numpy as np
import pytest
import serial

from diamp.daq.qrng import SerialQrng, register_url_handlers
from diamp.errors import InstrumentError


def test_qrngsim_streams_biased_reproducible_bits() -> None:
    url = "qrngsim://?seed=11&bias=0.004"
    with SerialQrng(url) as q:
        bits = q.bits(2_000_000)
    p = bits.mean()
    assert abs(p - 0.504) < 5 * np.sqrt(0.25 / bits.size)
    register_url_handlers()
    first = serial.serial_for_url(url, timeout=1)
    second = serial.serial_for_url(url, timeout=1)
    a, b = first.read(4096), second.read(4096)
    assert a != b  # every opening draws fresh bytes, like a real device
    assert len(a) == len(b) == 4096


def test_markov_model_and_url_errors() -> None:
    with SerialQrng("qrngsim://?seed=2&bias=0.005&model=markov") as q:
        bits = q.bits(400_000)
    after_one = bits[1:][bits[:-1] == 1].mean()
    after_zero = bits[1:][bits[:-1] == 0].mean()
    assert after_one > 0.5 > after_zero  # history-dependent, inside the SV band
    for bad in ("qrngsim://?bias=0.9", "qrngsim://?color=red", "qrngsim://?fault=melt"):
        with pytest.raises(InstrumentError, match="cannot open"):
            SerialQrng(bad).open()


def test_disconnect_is_retried_then_reported() -> None:
    q = SerialQrng("qrngsim://?seed=3&fault=disconnect&fault_after=1000", reconnects=3)
    with q:
        assert len(q.read_bytes(600)) == 600
        with pytest.raises(InstrumentError, match=r"disconnected.*gave up after 3 reconnects"):
            q.read_bytes(2000)  # 400 more arrive, then the cable stays pulled


def test_timeout_is_reported() -> None:
    with SerialQrng("qrngsim://?seed=4&fault=timeout&fault_after=100", timeout=0.01) as q:
        with pytest.raises(InstrumentError, match="timed out"):
            q.bits(8 * 500)


def test_stuck_output_fails_the_health_check() -> None:
    with SerialQrng("qrngsim://?seed=5&fault=stuck&fault_after=64") as q:
        with pytest.raises(InstrumentError, match=r"repeated \d+ times"):
            q.bits(8 * 200)


def test_bias_beyond_the_declared_bound_fails_the_health_check() -> None:
    with SerialQrng("qrngsim://?seed=6&bias=0.1", mu=0.0075) as q:
        with pytest.raises(InstrumentError, match="ones in a 4096-bit window"):
            q.bits(100_000)


def test_real_pseudo_terminal_with_a_device_thread() -> None:
    master, slave = os.openpty()
    tty.setraw(slave)
    name = os.ttyname(slave)
    rng = np.random.default_rng(99)
    stream = rng.bytes(30_000)
    stop = threading.Event()

    def device() -> None:
        view = memoryview(stream)
        while view and not stop.is_set():
            written = os.write(master, view[:4096])
            view = view[written:]

    q = SerialQrng(name, timeout=2.0)
    q.open()
    thread = threading.Thread(target=device, daemon=True)
    thread.start()
    try:
        got = q.read_bytes(20_000)
    finally:
        stop.set()
        q.close()
        thread.join(timeout=5)
        os.close(master)
        os.close(slave)
    assert got == stream[:20_000]
