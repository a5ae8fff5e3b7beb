"""The pipeline: Toeplitz output against the definition, XOR tiers, DIRA keys as-is, quarantine."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from _svc import settings_for

from diamp.service.errors import ServiceConfigError, SourceError, TierUnavailable
from diamp.service.pipeline import Pipeline
from diamp.service.pool import Pool
from diamp.service.settings import load_settings


def toeplitz_naive(raw_bits: np.ndarray, seed_bits: np.ndarray, m: int) -> np.ndarray:
    """DESIGN: out_i = Σ_{j<n} s_{i−j+n−1} r_j mod 2, straight from the definition."""
    n = raw_bits.size
    out = np.zeros(m, dtype=np.uint8)
    for i in range(m):
        window = seed_bits[i : i + n][::-1]  # s_{i−j+n−1} for j = 0 … n−1
        out[i] = int(np.dot(window.astype(np.int64), raw_bits)) & 1
    return out


def _file_sources(tmp: Path, names: tuple[str, ...], nbytes: int = 4096) -> str:
    text = ""
    for k, name in enumerate(names):
        data = np.random.default_rng(100 + k).integers(0, 256, nbytes, dtype=np.uint8)
        (tmp / f"{name}.bin").write_bytes(data.tobytes())
        text += (
            f'[[sources]]\nkind = "file"\nname = "{name}"\npath = "{name}.bin"\n'
            'entropy = { model = "declared", min_entropy = 8.0 }\n'
        )
    return text


def _run(p: Pipeline, steps: int = 50) -> None:
    for _ in range(steps):
        p.step()


def test_toeplitz_and_xor_tiers_match_the_definition(tmp_path: Path) -> None:
    sources = _file_sources(tmp_path, ("f1", "f2", "f3"))
    tiers = (
        '[[tiers]]\nname = "one"\nsources = ["f1"]\nchunk_bytes = 64\n'
        '[[tiers]]\nname = "xor"\nsources = ["f2", "f3"]\nchunk_bytes = 64\n'
    )
    s, _ = settings_for(tmp_path, _cfg(sources, tiers, "block_bits = 1024"))
    pool = Pool(tmp_path / "pool.sqlite")
    p = Pipeline(s, pool)
    _run(p, 4)
    seed = np.unpackbits(
        np.frombuffer(bytes.fromhex(pool.meta("extractor_seed_hex") or ""), np.uint8)
    )
    m = p.sources["f1"].params.m  # type: ignore[union-attr]
    # leftover hash lemma at eps = 2^-64, k = 1024: m <= k - 128 and 2^{-(k-m)/2} <= eps
    assert 1024 - 129 <= m <= 1024 - 128 and 2.0 ** (-(1024 - m) / 2) <= 2.0**-64
    expect = {}
    for name in ("f1", "f2", "f3"):
        raw = np.unpackbits(np.frombuffer((tmp_path / f"{name}.bin").read_bytes()[:128], np.uint8))
        expect[name] = np.packbits(toeplitz_naive(raw, seed, m))[: m // 8]
    one = pool.take(64, "one").data
    assert one == expect["f1"][:64].tobytes()
    assert pool.take(64, "xor").data == (expect["f2"][:64] ^ expect["f3"][:64]).tobytes()


@pytest.mark.parametrize("engine", ["gf2", "fft"])
@pytest.mark.parametrize(("extra", "flip_all"), [("", True), ("check_bits = 2048", False)])
def test_corrupted_extraction_is_caught_and_never_served(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, extra: str, flip_all: bool, engine: str
) -> None:
    import diamp.extractors.gf2 as gf2
    import diamp.extractors.realtime as realtime

    module, kernel, out_arg = (
        (gf2, "table_hash", 4) if engine == "gf2" else (realtime, "parity_rows", 2)
    )
    real = getattr(module, kernel)
    calls: list[int] = []

    def corrupted(*args: Any) -> None:
        """The first batch (blocks 0, 1) is right; from the second on one bit (or all) flips."""
        real(*args)
        out = args[out_arg]
        calls.append(1)
        if len(calls) >= 2:
            if flip_all:
                np.bitwise_xor(out, 0xFF, out=out)
            else:
                out[0, 0] ^= 0x04  # output bit 5 of the batch's first block

    monkeypatch.setattr(module, kernel, corrupted)
    extra += f'\nengine = "{engine}"'
    tier = '[[tiers]]\nname = "one"\nsources = ["f1"]\nchunk_bytes = 64\n'
    config = _cfg(_file_sources(tmp_path, ("f1",)), tier, f"block_bits = 1024\n{extra}")
    s, _ = settings_for(tmp_path, config)
    assert s.extractor.check_bits == (16 if flip_all else 2048)  # default: 16 bits per block
    pool = Pool(tmp_path / "pool.sqlite")
    p = Pipeline(s, pool)
    rt = p.sources["f1"]
    rt.stream.block_bytes = 256  # type: ignore[union-attr]  # two blocks per read and batch
    _run(p, 4)
    assert rt.health.status == "quarantined"
    assert "self-check failed at output bit" in rt.health.reason
    assert flip_all or "output bit 5 of block 0:" in rt.health.reason  # all bits checked
    m = rt.params.m  # type: ignore[union-attr]
    assert len(calls) == 2 and rt.extracted_bytes == 2 * (m // 8)  # batch 2 never buffered
    assert not rt.out and pool.level("one") == 0 and p.tier_problem("one") is not None


def _cfg(sources: str, tiers: str, extractor: str = "block_bits = 65536") -> str:
    from _svc import config_text

    return config_text(sources=sources, tiers=tiers, extractor=extractor)


def _dira_run(tmp: Path, name: str, key: bytes, status: str = "ok") -> Path:
    from _svc import dira_run

    file = str(tmp / name / "key.bin")  # an absolute key path in the certificate
    return dira_run(tmp, key, name=name, status=status, bits=8 * len(key) - 3, file=file)[0]


def test_dira_key_is_used_as_is_and_xored(tmp_path: Path) -> None:
    key = bytes(np.random.default_rng(5).integers(0, 256, 300, dtype=np.uint8))
    key = key[:-1] + bytes([key[-1] & 0xE0])  # 2397 bits: padding bits zero
    _dira_run(tmp_path, "run1", key)
    sources = '[[sources]]\nkind = "dira"\nname = "dira"\nrun = "run1"\n'
    s, _ = settings_for(
        tmp_path, _cfg(sources, '[[tiers]]\nname = "d"\nsources = ["dira"]\nchunk_bytes = 128\n')
    )
    pool = Pool(tmp_path / "pool.sqlite")
    p = Pipeline(s, pool)
    _run(p, 10)
    # whole bytes only (the last byte holds 5 key bits), nothing re-extracted
    draw = pool.take(299, "d")
    assert draw.data == key[:299]
    cert_hash = hashlib.sha512((tmp_path / "run1" / "certificate.json").read_bytes()).hexdigest()
    assert draw.dira_certificates == (cert_hash,)
    assert p.sources["dira"].health.status == "exhausted"
    # a restart does not hand the key out again
    p2 = Pipeline(s, pool)
    _run(p2, 5)
    assert pool.level("d") == 0


def test_dira_run_must_be_ok_and_match(tmp_path: Path) -> None:
    _dira_run(tmp_path, "bad", b"\x01" * 64, status="aborted")
    sources = '[[sources]]\nkind = "dira"\nname = "dira"\nrun = "bad"\n'
    s, _ = settings_for(tmp_path, _cfg(sources, '[[tiers]]\nname = "d"\nsources = ["dira"]\n'))
    with pytest.raises(SourceError, match="status: expected 'ok', found 'aborted'"):
        Pipeline(s, Pool(tmp_path / "pool.sqlite"))
    run = _dira_run(tmp_path, "tampered", b"\x01" * 64)
    (run / "key.bin").write_bytes(b"\x02" * 64)
    s2 = s.model_copy(
        update={"sources": [s.sources[0].model_copy(update={"run": Path("tampered")})]}
    )
    with pytest.raises(SourceError, match="does not match its certificate"):
        Pipeline(s2, Pool(tmp_path / "pool2.sqlite"))


def _sim(name: str, fault: str = "", seed: int = 1) -> str:
    from _svc import VACUUM

    return (
        f'[[sources]]\nkind = "simulated"\nname = "{name}"\nfamily = "vacuum-fluctuation"\n'
        f"seed = {seed}\n{VACUUM}\n{fault}\n"
    )


def test_health_failure_mid_stream_quarantines_and_discards(tmp_path: Path) -> None:
    sources = _sim("good") + _sim("bad", 'fault = "stuck"\nfault_after = 200000', seed=2)
    tiers = (
        '[[tiers]]\nname = "solo"\nsources = ["good"]\nchunk_bytes = 4096\n'
        '[[tiers]]\nname = "both"\nsources = ["good", "bad"]\nchunk_bytes = 4096\n'
    )
    s, _ = settings_for(tmp_path, _cfg(sources, tiers))
    pool = Pool(tmp_path / "pool.sqlite")
    p = Pipeline(s, pool)
    for _ in range(3):  # blocks 0-2 (196,608 samples) are healthy
        p.step()
    assert pool.level("both") > 0 and p.sources["bad"].health.status == "ok"
    _run(p, 30)
    health = p.sources["bad"].health
    assert health.status == "quarantined"
    assert "repetition count" in health.reason and "sample 2000" in health.reason
    assert pool.level("both") == 0  # its unserved output is gone
    assert p.tier_problem("both") is not None and p.tier_problem("solo") is None
    assert pool.level("solo") > 0
    from diamp.service.core import Service

    svc = Service.__new__(Service)  # only draw() is exercised
    svc.pipeline, svc.pool, svc.default_tier = p, pool, "solo"
    svc.metrics = __import__("diamp.service.metrics", fromlist=["Metrics"]).Metrics()
    with pytest.raises(TierUnavailable, match="quarantined"):
        svc.draw(16, "both")
    assert len(svc.draw(16, "solo").data) == 16


def test_seeded_device_resumes_after_restart(tmp_path: Path) -> None:
    s, _ = settings_for(tmp_path, _cfg(_sim("v"), '[[tiers]]\nname = "t"\nsources = ["v"]\n'))
    pool = Pool(tmp_path / "pool.sqlite")
    p = Pipeline(s, pool)
    _run(p, 3)
    position = pool.cursor("v")
    assert position is not None and position >= 3
    p2 = Pipeline(s, pool)
    assert p2.sources["v"].stream.position == position  # type: ignore[union-attr]


def test_shipped_config_is_valid_and_declared_entropies_are_safe() -> None:
    from diamp.service.settings import SimulatedSource
    from diamp.service.simulated import true_min_entropy

    s = load_settings(Path(__file__).parents[2] / "configs" / "service.toml")
    for src in s.sources:
        assert isinstance(src, SimulatedSource)
        declared = src.entropy.min_entropy if src.entropy.model == "declared" else None
        if declared is not None:
            assert declared <= true_min_entropy(src)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda t: t + "\n[bogus]\nx = 1\n", "bogus: unknown key"),
        (
            lambda t: t.replace('sources = ["vac"]', 'sources = ["nope"]'),
            "unknown sources ['nope']",
        ),
        (lambda t: t.replace("[server]", "[server]\ntls_cert = 'c.pem'"), "tls_cert and tls_key"),
        (lambda t: t.replace("schema_version = 1", "schema_version = 2"), "expected 1, found 2"),
    ],
)
def test_config_errors_name_the_key(tmp_path: Path, edit: object, message: str) -> None:
    from _svc import config_text

    from diamp.service.settings import parse_settings

    with pytest.raises(ServiceConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        parse_settings(edit(config_text()), str(tmp_path / "s.toml"))  # type: ignore[operator]


def _uniform_file_source(tmp: Path, declared: float, nbytes: int = 1 << 18) -> str:
    data = np.random.default_rng(9).integers(0, 256, nbytes, dtype=np.uint8)
    (tmp / "u.bin").write_bytes(data.tobytes())
    return (
        '[[sources]]\nkind = "file"\nname = "u"\npath = "u.bin"\n'
        f'entropy = {{ model = "declared", min_entropy = {declared} }}\n'
    )


@pytest.mark.parametrize(("fraction", "passes"), [(0.5, True), (1.0, False)])
def test_periodic_checks_pass_or_quarantine(tmp_path: Path, fraction: float, passes: bool) -> None:
    from _svc import config_text

    from diamp.service.metrics import Metrics

    checks = (
        "enabled = true\nperiod_seconds = 3600\nsp800_90b_samples = 20000\n"
        f"min_assessed_fraction = {fraction}\nsp800_22_sequences = 2\nsp800_22_length = 10000"
    )
    text = config_text(
        sources=_uniform_file_source(tmp_path, 7.9),
        tiers='[[tiers]]\nname = "t"\nsources = ["u"]\nchunk_bytes = 1024\n',
        checks=checks,
    )
    s, _ = settings_for(tmp_path, text)
    pool = Pool(tmp_path / "pool.sqlite")
    p = Pipeline(s, pool)
    _run(p, 20)
    health = p.sources["u"].health
    check = health.last_checks["sp800_90b"]
    # the non-IID estimators are conservative: uniform bytes assess below 8 but above 4
    assert 4.0 < check.detail["assessed_min_entropy"] < 7.9
    assert "sp800_22" in health.last_checks or not passes
    metrics = Metrics()
    metrics.watch(p, pool)
    text_metrics = metrics.render().decode()
    if passes:
        assert health.status in ("ok", "exhausted") and check.passed  # file read to its end
        assert health.last_checks["sp800_22"].passed
        assert 'diamp_entropy_per_bit{estimate="sp800_90b",source="u"}' in text_metrics
    else:
        assert health.status == "quarantined" and "periodic sp800_90b check failed" in health.reason
        assert pool.level("t") == 0
        assert 'diamp_check_failures_total{check="sp800_90b",source="u"} 1.0' in text_metrics


def test_serial_source_and_replay_detection(tmp_path: Path) -> None:
    from _svc import config_text

    from diamp.daq.sim.serial_handlers.protocol_qrngsim import Serial

    sources = (
        '[[sources]]\nkind = "serial"\nname = "usb"\nurl = "qrngsim://?seed=77&bias=0.004"\n'
        'entropy = { model = "declared", min_entropy = 7.0 }\n'
    )
    tiers = '[[tiers]]\nname = "t"\nsources = ["usb"]\nchunk_bytes = 1024\n'
    s, _ = settings_for(tmp_path, config_text(sources=sources, tiers=tiers))
    pool = Pool(tmp_path / "pool.sqlite")
    Serial._openings.clear()
    p = Pipeline(s, pool)
    _run(p, 6)
    p.stop()
    assert p.sources["usb"].health.status == "ok" and pool.level("t") > 0
    Serial._openings.clear()  # as after a process restart: the device replays its stream
    p2 = Pipeline(s, pool)
    _run(p2, 6)
    p2.stop()
    assert p2.sources["usb"].health.status == "quarantined"
    assert "repeat their output" in p2.sources["usb"].health.reason


def test_readmission_after_quarantine(tmp_path: Path) -> None:
    import time

    from _svc import config_text

    text = config_text(
        sources=_sim("bad", 'fault = "stuck"\nfault_after = 0'),
        tiers='[[tiers]]\nname = "t"\nsources = ["bad"]\n',
    ).replace("[checks]", "[health]\nreadmit_seconds = 0.05\n[checks]")
    s, _ = settings_for(tmp_path, text)
    p = Pipeline(s, Pool(tmp_path / "pool.sqlite"))
    p.step()
    h = p.sources["bad"].health
    assert h.status == "quarantined" and h.quarantines == 1
    p.step()
    assert h.quarantines == 1  # not before readmit_seconds
    time.sleep(0.06)
    p.step()  # re-admitted with fresh test state, and the stuck output fails again
    assert h.quarantines == 2 and h.status == "quarantined"
    assert p.pool.level("t") == 0
