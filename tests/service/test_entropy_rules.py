"""Entropy rules: declared, assessed, in force; the quarantine fraction; centred only by name.

Spec §11d and SP 800-90B §3.1.5: once an assessment exists the output length uses
min(declared, assessed); an assessment below ``min_assessed_fraction`` × declared
quarantines; the vacuum model is the worst case over offsets up to 5 σ_c unless
``centred = true`` is written, and the status page says which.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from _svc import config_text, settings_for

from diamp.analysis.entropy_models import vacuum_min_entropy, vacuum_min_entropy_worst_case
from diamp.extractors.params import ToeplitzParams
from diamp.service.errors import ServiceConfigError
from diamp.service.metrics import Metrics
from diamp.service.pipeline import Pipeline
from diamp.service.pool import Pool
from diamp.service.settings import SimulatedSource, parse_settings
from diamp.service.sources import declared_min_entropy

VAC = 'model = "vacuum", bits = 8, v_min = -4.0, v_max = 4.0, gamma = 10.0'


def _vacuum_source(entropy: str) -> str:
    return (
        '[[sources]]\nkind = "simulated"\nname = "vac"\nfamily = "vacuum-fluctuation"\n'
        f"seed = 1\nentropy = {{ {entropy} }}\n"
    )


def _uniform_file(tmp: Path, declared: float, nbytes: int = 1 << 18) -> str:
    data = np.random.default_rng(9).integers(0, 256, nbytes, dtype=np.uint8)
    (tmp / "u.bin").write_bytes(data.tobytes())
    return (
        '[[sources]]\nkind = "file"\nname = "u"\npath = "u.bin"\n'
        f'entropy = {{ model = "declared", min_entropy = {declared} }}\n'
    )


def _checks(fraction: float = 0.6) -> str:
    return (
        "enabled = true\nperiod_seconds = 3600\nsp800_90b_samples = 20000\n"
        f"min_assessed_fraction = {fraction}\nsp800_22_sequences = 2\nsp800_22_length = 10000"
    )


TIER_U = '[[tiers]]\nname = "t"\nsources = ["u"]\nchunk_bytes = 1024\n'


def _declared(tmp: Path, entropy: str) -> float:
    s = parse_settings(config_text(sources=_vacuum_source(entropy)), str(tmp / "s.toml"))
    src = s.sources[0]
    assert isinstance(src, SimulatedSource)
    return declared_min_entropy(src, 8)


def test_vacuum_without_offset_is_the_worst_case_at_five_sigma_c(tmp_path: Path) -> None:
    worst = vacuum_min_entropy_worst_case(8, -4, 4, 10.0, max_offset_sigma_c=5.0).min_entropy
    centred = vacuum_min_entropy(8, -4, 4, 10.0).min_entropy
    assert worst < centred
    assert _declared(tmp_path, VAC) == worst  # unset: the documented default, 5 sigma_c
    assert _declared(tmp_path, VAC + ", max_offset_sigma_c = 5.0") == worst
    assert _declared(tmp_path, VAC + ", centred = true") == centred  # only when named
    with pytest.raises(ServiceConfigError, match="centred = true assumes a zero classical"):
        _declared(tmp_path, VAC + ", centred = true, max_offset_sigma_c = 2.0")


def test_renamed_fraction_key_says_its_new_name(tmp_path: Path) -> None:
    text = config_text(checks="sp800_90b_fraction = 0.5")
    with pytest.raises(ServiceConfigError, match="renamed min_assessed_fraction"):
        parse_settings(text, str(tmp_path / "s.toml"))


@pytest.mark.parametrize(
    ("entropy", "label"),
    [
        (VAC, "vacuum: worst case over |e| <= 5 sigma_c (default offset)"),
        (VAC + ", max_offset_sigma_c = 3.0", "vacuum: worst case over |e| <= 3 sigma_c"),
        (VAC + ", centred = true", "vacuum: centred (asked for by name"),
    ],
)
def test_status_names_the_vacuum_variant(tmp_path: Path, entropy: str, label: str) -> None:
    from diamp.service.core import Service

    s, _ = settings_for(tmp_path, config_text(sources=_vacuum_source(entropy)))
    svc = Service(s)
    try:
        info = svc.status()["sources"]["vac"]["min_entropy_per_sample"]
    finally:
        svc.stop()
    assert info["model"].startswith(label)
    assert info["declared"] == pytest.approx(_declared(tmp_path, entropy))
    assert info["assessed"] is None and info["in_force"] == info["declared"]  # checks off


def test_assessment_below_declared_sets_m_and_nothing_is_served_before(tmp_path: Path) -> None:
    # uniform bytes declared at 7.9: the non-IID estimators assess them lower (between 4
    # and 7.9), so the assessed value is in force and every served block is that short
    text = config_text(sources=_uniform_file(tmp_path, 7.9), tiers=TIER_U, checks=_checks())
    s, _ = settings_for(tmp_path, text)
    pool = Pool(tmp_path / "pool.sqlite")
    p = Pipeline(s, pool)
    rt = p.sources["u"]
    declared_m = rt.params.m  # type: ignore[union-attr]
    while rt.health.assessed is None and rt.health.status == "ok":
        assert pool.level("t") == 0  # held: no byte before the first assessment
        p.step()
    h = rt.health
    assert h.assessed is not None and 4.0 < h.assessed < 7.9
    assert h.in_force == h.assessed and h.last_checks["sp800_90b"].passed
    samples = s.extractor.block_bits // 8
    expect = ToeplitzParams.from_params(8 * samples, samples * h.assessed, s.extractor.eps)
    assert rt.params == expect and expect.m < declared_m
    assert h.monitor_h == h.assessed  # health-test cutoffs follow the in-force value
    for _ in range(20):
        p.step()
    served = pool.take(pool.level("t"), "t")
    assert served.data
    for seg in served.segments:
        extractor = json.loads(seg.provenance)["sources"]["u"]["extractor"]
        assert extractor["m"] == expect.m and extractor["min_entropy"] == expect.min_entropy
    metrics = Metrics()
    metrics.watch(p, pool)
    text_metrics = metrics.render().decode()
    for kind, value in (("declared", 7.9), ("assessed", h.assessed), ("in_force", h.assessed)):
        line = f'diamp_source_min_entropy_bits{{kind="{kind}",source="u"}} {value!r}'
        assert line in text_metrics


def test_assessment_below_the_fraction_quarantines(tmp_path: Path) -> None:
    # declared 8.0, assessed about 7: 0.9 of the claim; a floor of 0.95 refuses the source
    text = config_text(sources=_uniform_file(tmp_path, 8.0), tiers=TIER_U, checks=_checks(0.95))
    s, _ = settings_for(tmp_path, text)
    pool = Pool(tmp_path / "pool.sqlite")
    p = Pipeline(s, pool)
    for _ in range(20):
        p.step()
    h = p.sources["u"].health
    check = h.last_checks["sp800_90b"]
    assert not check.passed and check.detail["required"] == pytest.approx(0.95 * 8.0)
    assert check.detail["assessed_min_entropy"] < 0.95 * 8.0
    assert h.status == "quarantined" and "periodic sp800_90b check failed" in h.reason
    assert pool.level("t") == 0 and p.tier_problem("t") is not None


@pytest.mark.parametrize(("alpha", "ok"), [(2.0**-20, True), (2.0**-40, True), (2.0**-41, False)])
def test_health_alpha_stays_in_the_range_sp800_90b_allows(
    tmp_path: Path, alpha: float, ok: bool
) -> None:
    text = config_text().replace("[checks]", f"[health]\nalpha = {alpha!r}\n[checks]")
    if ok:
        assert parse_settings(text, str(tmp_path / "s.toml")).health.alpha == alpha
    else:
        with pytest.raises(ServiceConfigError, match=r"health\.alpha"):
            parse_settings(text, str(tmp_path / "s.toml"))
    default = parse_settings(config_text(), str(tmp_path / "s.toml")).health.alpha
    assert default == 2.0**-40
