"""``deploy/``: the Prometheus rules, their unit tests, the Grafana dashboards, and the metrics.

- ``promtool check rules`` accepts the rules and ``promtool test rules`` passes every test;
  each alert has a firing and a not-firing case, and making any one alert never fire makes
  the tests fail (so no alert goes untested);
- each alert has a summary, a severity (page or ticket) and a runbook link to an existing
  section of ``docs/operations.md``;
- the dashboards are Grafana dashboard JSON whose every expression parses (promtool, on a
  throw-away rules file, and the ``promql-parser`` package);
- a real ``diamp serve`` exports every metric a rule or a dashboard reads.

Without ``promtool`` the promtool tests skip, unless ``DIAMP_REQUIRE_PROMTOOL=1`` (set by
``.ci/run``, which installs the distribution's ``prometheus`` package), so CI always runs them.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from _svc import config_text, write_config

ROOT = Path(__file__).parents[2]
PROM = ROOT / "deploy" / "prometheus"
RULES = PROM / "rules.yml"
UNIT_TESTS = sorted((PROM / "tests").glob("*.yml"))
GRAFANA = ROOT / "deploy" / "grafana"
DASHBOARDS = sorted(GRAFANA.glob("*.json"))
OPERATIONS = ROOT / "docs" / "operations.md"
# Series Prometheus makes itself, not the service: the scrape's ``up``.
SCRAPE_SERIES = {"up"}
GRAFANA_VARS = {"$__rate_interval": "5m", "$__range": "1d", "$__interval": "1m",
                "$instance": ".*", "$job": "diamp"}  # fmt: skip


def _promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        if os.environ.get("DIAMP_REQUIRE_PROMTOOL") == "1":
            pytest.fail(
                "promtool is required here (DIAMP_REQUIRE_PROMTOOL=1): apt-get install prometheus"
            )
        pytest.skip("promtool not installed (apt-get install prometheus); CI requires it")
    return found


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, timeout=120, check=False)


def _groups() -> list[dict[str, Any]]:
    groups: list[dict[str, Any]] = yaml.safe_load(RULES.read_text())["groups"]
    return groups


def _alerts() -> list[dict[str, Any]]:
    return [r for g in _groups() for r in g["rules"] if "alert" in r]


def _recorded() -> set[str]:
    return {r["record"] for g in _groups() for r in g["rules"] if "record" in r}


def test_promtool_accepts_the_rules() -> None:
    done = _run(_promtool(), "check", "rules", str(RULES))
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"SUCCESS: {sum(len(g['rules']) for g in _groups())} rules found" in done.stdout


def test_promtool_unit_tests_pass() -> None:
    done = _run(_promtool(), "test", "rules", *map(str, UNIT_TESTS))
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("SUCCESS") == len(UNIT_TESTS)


def _cases() -> dict[str, tuple[int, int]]:
    """Alert name -> (evaluations expecting it to fire, evaluations expecting none)."""
    cases: dict[str, tuple[int, int]] = {}
    for file in UNIT_TESTS:
        doc = yaml.safe_load(file.read_text())
        assert doc["rule_files"] == ["../rules.yml"], file
        for test in doc["tests"]:
            for case in test.get("alert_rule_test", []):
                fire, quiet = cases.get(case["alertname"], (0, 0))
                if case.get("exp_alerts"):
                    fire += 1
                else:
                    quiet += 1
                cases[case["alertname"]] = (fire, quiet)
    return cases


def test_every_alert_has_a_firing_and_a_quiet_case() -> None:
    cases = _cases()
    names = [a["alert"] for a in _alerts()]
    assert len(names) == len(set(names))
    missing = {n: cases.get(n, (0, 0)) for n in names if min(cases.get(n, (0, 0))) == 0}
    assert not missing, f"alerts without a firing and a not-firing test: {missing}"
    assert set(cases) <= set(names), "a test names an alert the rules do not have"


@pytest.mark.slow
def test_an_alert_that_never_fires_fails_its_tests(tmp_path: Path) -> None:
    """Each alert in turn made never to fire: promtool's tests must catch it."""
    promtool = _promtool()
    (tmp_path / "tests").mkdir()
    for file in UNIT_TESTS:
        shutil.copy(file, tmp_path / "tests" / file.name)
    for name in [a["alert"] for a in _alerts()]:
        tests = [str(tmp_path / "tests" / f.name) for f in UNIT_TESTS if name in f.read_text()]
        groups = _groups()
        for rule in (r for g in groups for r in g["rules"]):
            if rule.get("alert") == name:
                rule["expr"] = "vector(1) < 0"
        (tmp_path / "rules.yml").write_text(yaml.safe_dump({"groups": groups}))
        done = _run(promtool, "test", "rules", *tests)
        assert done.returncode != 0, f"{name} never firing still passes its tests"
        assert f"alertname: {name}" in done.stdout + done.stderr, done.stdout + done.stderr


def _anchors(markdown: str) -> set[str]:
    """GitHub's anchors of the headings: lower case, punctuation dropped, spaces to dashes."""
    heads = re.findall(r"^#+\s+(.+?)\s*$", markdown, flags=re.MULTILINE)
    return {re.sub(r"[^\w\- ]", "", h.lower()).replace(" ", "-") for h in heads}


def test_every_alert_says_what_it_is_how_urgent_and_where_its_runbook_is() -> None:
    anchors = _anchors(OPERATIONS.read_text())
    for alert in _alerts():
        name = alert["alert"]
        assert alert["labels"]["severity"] in {"page", "ticket"}, name
        assert alert["annotations"]["summary"].strip(), name
        url = alert["annotations"]["runbook_url"]
        page, _, anchor = url.partition("#")
        assert page == "docs/operations.md", (name, url)
        assert anchor in anchors, f"{name}: no section #{anchor} in docs/operations.md"


def _exprs(node: Any) -> Iterator[str]:
    """Every PromQL expression of a dashboard (targets, annotations, variable queries)."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "expr" and isinstance(value, str):
                yield value
            elif key == "definition" and isinstance(value, str):
                m = re.fullmatch(r"label_values\((.+),\s*\w+\)", value)
                assert m, value
                yield m.group(1)
            else:
                yield from _exprs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _exprs(item)


def _grafana_expr(expr: str) -> str:
    for var, value in GRAFANA_VARS.items():
        expr = expr.replace(var, value)
    assert "$" not in expr, f"unknown dashboard variable in {expr}"
    return expr


def _dashboard(path: Path) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(path.read_text())
    return doc


def test_dashboards_are_grafana_dashboards() -> None:
    assert {p.stem for p in DASHBOARDS} == {"diamp-executive", "diamp-oncall", "diamp-debug"}
    uids = set()
    for path in DASHBOARDS:
        doc = _dashboard(path)
        assert isinstance(doc["title"], str) and isinstance(doc["schemaVersion"], int)
        assert doc["uid"] not in uids and len(doc["uid"]) <= 40
        uids.add(doc["uid"])
        variables = {v["name"] for v in doc["templating"]["list"]}
        assert {"DS_PROMETHEUS", "job", "instance"} <= variables
        ids = [p["id"] for p in doc["panels"]]
        assert len(ids) == len(set(ids)) and len(ids) >= 6, path.name
        for panel in doc["panels"]:
            g = panel["gridPos"]
            assert 0 <= g["x"] and g["x"] + g["w"] <= 24 and g["h"] > 0, (path.name, panel)
            assert panel["type"] in {"stat", "timeseries", "table", "text"}, panel["type"]
            for t in panel.get("targets", []):
                assert t["datasource"]["uid"] == "${DS_PROMETHEUS}" and t["expr"], panel
    provisioning = yaml.safe_load((GRAFANA / "provisioning.yml").read_text())
    (provider,) = provisioning["providers"]
    assert provisioning["apiVersion"] == 1 and provider["type"] == "file"


def test_every_dashboard_expression_parses(tmp_path: Path) -> None:
    exprs = sorted({_grafana_expr(e) for p in DASHBOARDS for e in _exprs(_dashboard(p))})
    assert len(exprs) > 30
    rules = [{"record": f"dashboard:expr_{i}:check", "expr": e} for i, e in enumerate(exprs)]
    file = tmp_path / "dashboards.yml"
    file.write_text(yaml.safe_dump({"groups": [{"name": "dashboards", "rules": rules}]}))
    done = _run(_promtool(), "check", "rules", str(file))
    assert done.returncode == 0, done.stdout + done.stderr


def test_a_broken_dashboard_expression_is_caught(tmp_path: Path) -> None:
    """The check above can fail: promtool refuses a mangled expression."""
    file = tmp_path / "bad.yml"
    bad = {"record": "dashboard:bad:check", "expr": "sum by (tier) (rate(diamp_pool_bytes[5m])"}
    file.write_text(yaml.safe_dump({"groups": [{"name": "d", "rules": [bad]}]}))
    assert _run(_promtool(), "check", "rules", str(file)).returncode != 0


def _selectors(node: Any) -> Iterator[str]:
    """Metric names selected anywhere in a parsed PromQL expression."""
    import promql_parser

    if isinstance(node, promql_parser.VectorSelector):
        name = node.name or next(
            (m.value for m in node.matchers.matchers if m.name == "__name__"), None
        )
        assert name, f"selector without a metric name: {node}"
        yield name
        return
    for attr in ("lhs", "rhs", "expr", "vector_selector", "param"):
        child = getattr(node, attr, None)
        if child is not None:
            yield from _selectors(child)
    for arg in getattr(node, "args", None) or ():
        yield from _selectors(arg)


def _used_metrics() -> set[str]:
    import promql_parser

    exprs = [r["expr"] for g in _groups() for r in g["rules"]]
    exprs += [_grafana_expr(e) for p in DASHBOARDS for e in _exprs(_dashboard(p))]
    return {name for e in exprs for name in _selectors(promql_parser.parse(e))}


def test_selector_extraction_sees_every_kind_of_expression() -> None:
    """The oracle for "metrics used": names inside functions, aggregations, binaries, ranges."""
    import promql_parser

    expr = (
        'histogram_quantile(0.9, sum by (le) (rate(a_bucket{x="1"}[5m]))) > on (i) '
        'group_left b or -c offset 5m and {__name__="d"} unless max_over_time(e[1h:1m])'
    )
    assert set(_selectors(promql_parser.parse(expr))) == {"a_bucket", "b", "c", "d", "e"}


def test_dashboards_read_only_recorded_series_the_rules_define() -> None:
    recorded = {n for n in _used_metrics() if ":" in n}
    assert recorded and recorded <= _recorded(), recorded - _recorded()


SERVE_CONFIG = (
    "\n[beacon]\nperiod_s = 0.5\ntier = 'standard'\ngenerate_key = true\nkey_bits = 2048\n"
    "key_file = 'b/key.pem'\ncertificate_file = 'b/cert.pem'\nstate_db = 'b/pulses.sqlite'\n"
)


def _serve(config: Path) -> tuple[subprocess.Popen[bytes], str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    log = config.parent / "serve.log"
    with log.open("wb") as err:
        proc = subprocess.Popen(
            [sys.executable, "-c", "from diamp.cli import main; main()", "serve", str(config),
             "--port", "0", "--log-level", "info"],
            stderr=err, stdout=subprocess.DEVNULL, env=env,
        )  # fmt: skip
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        m = re.search(r"running on (http://127\.0\.0\.1:\d+)", log.read_text())
        if m:
            return proc, m.group(1)
        time.sleep(0.05)
    proc.kill()
    proc.wait()
    raise RuntimeError("server did not start: " + log.read_text())


def _exported(text: str) -> set[str]:
    from prometheus_client.parser import text_string_to_metric_families

    return {s.name for fam in text_string_to_metric_families(text) for s in fam.samples}


def _entropy(text: str) -> dict[str, float]:
    """``diamp_entropy_per_bit`` of source ``vac`` by estimate."""
    from prometheus_client.parser import text_string_to_metric_families

    return {
        s.labels["estimate"]: s.value
        for fam in text_string_to_metric_families(text)
        for s in fam.samples
        if s.name == "diamp_entropy_per_bit" and s.labels["source"] == "vac"
    }


@pytest.mark.slow
def test_a_running_server_exports_every_metric_the_rules_and_dashboards_use(
    tmp_path: Path,
) -> None:
    from diamp.service.client import signed_headers

    used = _used_metrics() - _recorded() - SCRAPE_SERIES
    assert {"diamp_beacon_pulses_missed_total", "process_cpu_seconds_total"} <= used
    checks = (
        "enabled = true\nperiod_seconds = 3600\nsp800_90b_samples = 20000\n"
        "sp800_22_sequences = 2\nsp800_22_length = 10000"
    )
    path, keys = write_config(tmp_path, config_text(checks=checks) + SERVE_CONFIG)
    proc, base = _serve(path)
    try:
        deadline = time.monotonic() + 120
        while True:
            url = f"{base}/v1/random?bytes=16"
            served = httpx.get(url, headers=signed_headers(keys["alice"], "alice", url))
            refused = httpx.get(url)  # unsigned: 401
            text = httpx.get(f"{base}/metrics").text
            missing = used - _exported(text)
            ready = not missing and served.status_code == 200 and "sp800_90b" in _entropy(text)
            if ready or time.monotonic() > deadline:
                break
            time.sleep(0.5)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    assert refused.status_code == 401
    assert served.status_code == 200, served.text
    assert not missing, f"used by rules or dashboards but not exported: {sorted(missing)}"
    assert "_created" not in text
    entropy = _entropy(text)  # the estimates the entropy alert compares, from the same scrape
    assert set(entropy) == {"declared", "floor", "sp800_90b"}
    assert entropy["floor"] == pytest.approx(0.6 * entropy["declared"], rel=1e-12)  # default
