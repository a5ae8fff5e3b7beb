"""Extraction workers: background mode gives the definition's bytes in order; fairness."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from _svc import config_text, settings_for

import diamp.service.extraction as extraction
from diamp.extractors.bits import PackedBits
from diamp.extractors.toeplitz import toeplitz_extract
from diamp.service.errors import ServiceConfigError
from diamp.service.extraction import packed_blocks
from diamp.service.pipeline import Pipeline
from diamp.service.pool import Pool


def _sources(tmp: Path, sizes: dict[str, int]) -> str:
    text = ""
    for k, (name, size) in enumerate(sizes.items()):
        data = np.random.default_rng(200 + k).integers(0, 256, size, dtype=np.uint8)
        (tmp / f"{name}.bin").write_bytes(data.tobytes())
        text += (
            f'[[sources]]\nkind = "file"\nname = "{name}"\npath = "{name}.bin"\n'
            'entropy = { model = "declared", min_entropy = 8.0 }\n'
        )
    return text


def _tiers(names: list[str], chunk: int) -> str:
    return "".join(
        f'[[tiers]]\nname = "t{n}"\nsources = ["{n}"]\nchunk_bytes = {chunk}\n' for n in names
    )


def _pipeline(
    tmp: Path, sizes: dict[str, int], workers: int, chunk: int = 64, engine: str = "auto"
) -> tuple[Pipeline, Pool]:
    text = config_text(
        sources=_sources(tmp, sizes),
        tiers=_tiers(list(sizes), chunk),
        pool="",
        extractor=f'block_bits = 1024\nworkers = {workers}\nengine = "{engine}"',
    ).replace("target_bytes = 262144", f"target_bytes = {1 << 30}")
    s, _ = settings_for(tmp, text)
    pool = Pool(tmp / "pool.sqlite")
    return Pipeline(s, pool), pool


@pytest.mark.parametrize("engine", ["gf2", "fft"])
def test_background_steps_deliver_every_block_in_order(tmp_path: Path, engine: str) -> None:
    p, pool = _pipeline(tmp_path, {"a": 8192, "b": 4096}, workers=2, engine=engine)
    for rt in p.sources.values():
        rt.stream.block_bytes = 384  # type: ignore[union-attr]  # 3 blocks a read, many jobs
    for _ in range(400):
        if not p.step(wait=False) and all(not rt.jobs for rt in p.sources.values()):
            break
    material = np.frombuffer(bytes.fromhex(pool.meta("extractor_seed_hex") or ""), np.uint8)
    seed = PackedBits(material, 8 * material.size)
    for name, size in (("a", 8192), ("b", 4096)):
        rt = p.sources[name]
        m = rt.params.m  # type: ignore[union-attr]
        key = PackedBits.from_bits(seed.unpack(0, 1024 + m - 1))
        raw = (tmp_path / f"{name}.bin").read_bytes()
        want = b"".join(
            toeplitz_extract(PackedBits(np.frombuffer(raw[i : i + 128], np.uint8), 1024), key, m)
            .output.data[: m // 8]
            .tobytes()
            for i in range(0, size, 128)
        )
        got = pool.take(pool.level(f"t{name}"), f"t{name}").data + bytes(rt.out)
        assert rt.health.status == "exhausted" and rt.extracted_bytes == len(want)
        assert got == want
        pieces = [got[i : i + m // 8] for i in range(0, len(got), m // 8)]
        assert len(set(pieces)) == len(pieces) == size // 128  # no block's output repeated
    p.stop()


def test_a_fast_source_does_not_starve_a_slow_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    order: list[str] = []
    real = extraction._hash

    def logged(engine: Any, samples: np.ndarray, *args: Any) -> np.ndarray:
        order.append("fast" if samples.shape[0] > 1 else "slow")
        return real(engine, samples, *args)

    monkeypatch.setattr(extraction, "_hash", logged)
    p, _ = _pipeline(tmp_path, {"fast": 1 << 18, "slow": 4096}, workers=1, chunk=4096)
    p.sources["fast"].stream.block_bytes = 4096  # type: ignore[union-attr]  # 32 blocks a read
    p.sources["slow"].stream.block_bytes = 128  # type: ignore[union-attr]  # one block a read
    for _ in range(40):
        p.step(wait=False)
        assert all(len(rt.jobs) <= 1 for rt in p.sources.values())  # its share: 1 worker
    p.stop()
    slow_jobs = order.count("slow")
    assert slow_jobs >= 10 and order.count("fast") >= 10  # both moved
    while_both = order[: len(order) - order[::-1].index("slow")]  # until the slow one ends
    runs = [len(list(g)) for k, g in itertools.groupby(while_both) if k == "fast"]
    assert max(runs) <= 2  # never more than its share ahead of the slow source's next job


def test_packed_blocks_follow_the_sample_bit_order() -> None:
    rng = np.random.default_rng(4)
    for bits in (1, 3, 7, 8):
        samples = rng.integers(0, 1 << bits, (3, 40), dtype=np.uint8)
        want = [
            np.packbits([(int(v) >> (bits - 1 - k)) & 1 for v in row for k in range(bits)])
            for row in samples
        ]
        assert np.array_equal(packed_blocks(samples, bits), np.stack(want))


def test_an_impossible_block_shape_is_refused_at_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("diamp.extractors.realtime.MAX_ERROR", 1e-30)
    with pytest.raises(ServiceConfigError, match="round-off bound") as info:
        _pipeline(tmp_path, {"a": 4096}, workers=1, engine="fft")
    assert info.value.key == "extractor.engine"
    (tmp_path / "auto").mkdir()
    p, _ = _pipeline(tmp_path / "auto", {"a": 4096}, workers=1)  # auto: the exact engine
    assert p.extraction.describe(p.sources["a"].params) == {  # type: ignore[arg-type]
        "engine": "gf2", "exactness": "exact"}  # fmt: skip
    p.stop()
    monkeypatch.setattr("diamp.extractors.gf2.MAX_TABLE_BYTES", 1000)
    (tmp_path / "gf2").mkdir()
    with pytest.raises(ServiceConfigError, match=r"window table .* use smaller blocks") as info:
        _pipeline(tmp_path / "gf2", {"a": 4096}, workers=1, engine="gf2")
    assert info.value.key == "extractor.engine"


@pytest.mark.parametrize("bad", ["0", "-1", '"2"', "2.0", "true", "1025"])
def test_invalid_worker_counts_are_refused(tmp_path: Path, bad: str) -> None:
    text = config_text(extractor=f"block_bits = 1024\nworkers = {bad}")
    with pytest.raises(ServiceConfigError, match=r"extractor\.workers"):
        settings_for(tmp_path, text)


def test_blocks_in_flight_at_an_old_min_entropy_are_dropped(tmp_path: Path) -> None:
    from dataclasses import replace

    p, _ = _pipeline(tmp_path, {"a": 4096}, workers=1)
    rt = p.sources["a"]
    rt.stream.block_bytes = 256  # type: ignore[union-attr]  # two blocks in one job
    assert p._produce(rt) and len(rt.jobs) == 1 and rt.extracted_bytes == 0
    old = rt.params
    assert old is not None
    rt.params = replace(old, m=old.m - 64)  # a new in-force value, as an assessment sets it
    p._collect_all(block=True, every=True)
    assert not rt.jobs and rt.extracted_bytes == 0 and not rt.out and not rt.divert
    rt.params = old  # the same job at the parameters in force is delivered
    p._produce(rt)
    p._collect_all(block=True, every=True)
    assert rt.extracted_bytes == 2 * (old.m // 8) == len(rt.out)
    p.stop()


@pytest.mark.parametrize(
    ("block_bits", "engine", "want"),
    [(1024, "auto", ("gf2", "exact")), (1 << 18, "auto", ("fft", "fft-bound")),
     (1024, "fft", ("fft", "fft-bound")), (1 << 18, "gf2", ("gf2", "exact"))],
)  # fmt: skip
def test_status_metrics_and_provenance_name_the_engine(
    tmp_path: Path, block_bits: int, engine: str, want: tuple[str, str]
) -> None:
    from diamp.service.core import Service
    from diamp.service.metrics import Metrics

    text = config_text(
        sources=_sources(tmp_path, {"a": 1 << 16}),
        tiers=_tiers(["a"], 64),
        extractor=f'block_bits = {block_bits}\nengine = "{engine}"',
    )
    s, _ = settings_for(tmp_path, text)
    svc = Service(s)
    try:
        info = svc.status()["sources"]["a"]["extractor"]
        metrics = Metrics()
        metrics.watch(svc.pipeline, svc.pool)
        rendered = metrics.render().decode()
        rt = svc.pipeline.sources["a"]
        parts = svc.pipeline._provenance(svc.pipeline.tiers["ta"], [rt])["sources"]["a"]
    finally:
        svc.stop()
    assert (info["engine"], info["exactness"]) == want
    assert (parts["extractor"]["engine"], parts["extractor"]["exactness"]) == want
    assert (
        f'diamp_source_extractor_info{{engine="{want[0]}",exactness="{want[1]}",source="a"}} 1.0'
        in rendered
    )


@pytest.mark.parametrize("bad", ['"GF2"', '"exact"', "1", '""'])
def test_invalid_engines_are_refused(tmp_path: Path, bad: str) -> None:
    text = config_text(extractor=f"block_bits = 1024\nengine = {bad}")
    with pytest.raises(ServiceConfigError, match=r"extractor\.engine: Input should be 'auto', "
                       r"'gf2' or 'fft'"):  # fmt: skip
        settings_for(tmp_path, text)


def test_engines_of_old_block_shapes_are_dropped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dataclasses import replace

    monkeypatch.setattr(extraction, "KEPT_ENGINES", 2)
    p, _ = _pipeline(tmp_path, {"a": 4096}, workers=1)
    params = p.sources["a"].params
    assert params is not None
    first = p.extraction.engine(params)
    for m in (params.m - 8, params.m - 16):  # new in-force values, as assessments set them
        p.extraction.engine(replace(params, m=m, seed_bits=params.n + m - 1))
    assert len(p.extraction._engines) == 2 and (params.n, params.m) not in p.extraction._engines
    rebuilt = p.extraction.engine(params)
    assert rebuilt is not first and np.array_equal(rebuilt.seed_words, first.seed_words)
    p.stop()
