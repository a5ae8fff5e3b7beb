"""``GET /status``: one self-contained HTML page that shows what ``/v1/status`` says.

A real server on 127.0.0.1 (a simulated source filling a tier, a file source of constant
bytes that the repetition count test quarantines, a beacon); the page is read with an HTML
parser and, when Chromium is installed, rendered by it: every value the page marks with a
``data-path`` (a JSON Pointer) must equal the value at that pointer of ``/v1/status`` fetched
just before and just after the page (or lie between the two for a value that moved).
"""

from __future__ import annotations

import copy
import json
import subprocess
import time
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from _svc import VACUUM, config_text, serve, write_config
from PIL import Image

from diamp.service.app import create_app
from diamp.service.settings import load_settings
from diamp.service.status_page import render_status_page

TARGET = 262144  # config_text's [pool] target_bytes
SOURCES = (
    '[[sources]]\nkind = "simulated"\nname = "vac"\nfamily = "vacuum-fluctuation"\nseed = 1\n'
    f"{VACUUM}\n"
    '[[sources]]\nkind = "file"\nname = "stuck"\npath = "stuck.bin"\n'
    'entropy = { model = "declared", min_entropy = 7.5 }\n'
)
TIERS = (
    '[[tiers]]\nname = "standard"\nsources = ["vac"]\nchunk_bytes = 4096\n'
    '[[tiers]]\nname = "broken"\nsources = ["stuck"]\nchunk_bytes = 4096\n'
)
BEACON = (
    "\n[beacon]\nperiod_s = 1.0\ntier = 'standard'\ngenerate_key = true\nkey_bits = 2048\n"
    "reserve_pulses = 2\nkey_file = 'b/key.pem'\ncertificate_file = 'b/cert.pem'\n"
    "state_db = 'b/pulses.sqlite'\n"
)
HOSTILE = "<script>document.title='pwned'</script><img src=x onerror=alert(1)>&amp;\"'"


class Cells(HTMLParser):
    """Every element with ``data-path``: (pointer, shown value); and every tag and URL seen."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.cells: list[tuple[str, str]] = []
        self.tags: list[str] = []
        self.urls: list[str] = []
        self._open: list[list[Any]] = []  # [pointer, data-value or None, text parts, depth]
        self._depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        a = dict(attrs)
        self.urls += [v for k, v in a.items() if k in ("src", "href", "action") and v]
        self._depth += 1
        if "data-path" in a:
            self._open.append([a["data-path"], a.get("data-value"), [], self._depth])

    def handle_endtag(self, tag: str) -> None:
        if self._open and self._open[-1][3] == self._depth:
            pointer, value, text, _ = self._open.pop()
            self.cells.append((pointer, value if value is not None else "".join(text)))
        self._depth -= 1

    def handle_data(self, data: str) -> None:
        for item in self._open:
            item[2].append(data)


def cells_of(page: str) -> Cells:
    parser = Cells()
    parser.feed(page)
    return parser


def resolve(doc: Any, pointer: str) -> Any:
    """RFC 6901: ``/a/b~1c`` is ``doc["a"]["b/c"]`` (a list takes the index)."""
    for token in pointer.split("/")[1:]:
        token = token.replace("~1", "/").replace("~0", "~")
        doc = doc[int(token)] if isinstance(doc, list) else doc[token]
    return doc


def agrees(shown: str, pointer: str, before: dict[str, Any], after: dict[str, Any]) -> bool:
    """The page's text equals the JSON value (numbers to 6 digits), or lies between two."""
    old, new = resolve(before, pointer), resolve(after, pointer)
    if isinstance(old, dict):  # a row's name: the last key of the pointer
        return shown == pointer.rsplit("/", 1)[1].replace("~1", "/").replace("~0", "~")
    if isinstance(old, int | float) and not isinstance(old, bool) and shown not in ("yes", "no"):
        lo, hi = sorted((float(old), float(new)))
        x = float(shown)
        return lo - 5e-6 * abs(lo) - 1e-300 <= x <= hi + 5e-6 * abs(hi) + 1e-300

    def text(v: Any) -> str:
        if v is None:
            return "—"
        if isinstance(v, bool):
            return "yes" if v else "no"
        return ", ".join(v) if isinstance(v, list) else str(v)

    return shown in (text(old), text(new))


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, Any]]:
    (tmp_path / "stuck.bin").write_bytes(bytes(1 << 20))  # one value repeated: RCT fails
    path, _ = write_config(
        tmp_path,
        config_text(sources=SOURCES, tiers=TIERS) + BEACON,
    )
    app = create_app(load_settings(path))
    with serve(app) as base:
        deadline = time.monotonic() + 60
        while True:  # the tier filled, the stuck source quarantined, a pulse published
            s = httpx.get(f"{base}/v1/status").json()
            if (
                s["tiers"]["standard"]["pool_bytes"] >= TARGET // 2
                and s["sources"]["stuck"]["status"] == "quarantined"
                and s["beacon"]["last_pulse"] is not None
            ):
                break
            assert time.monotonic() < deadline, json.dumps(s)[:2000]
            time.sleep(0.1)
        yield base, app


@pytest.fixture
def server(served: tuple[str, Any]) -> str:
    return served[0]


MOVING = ("/uptime_seconds", "/tiers/standard/availability", "/tiers/broken/availability")


def frozen(base: str, app: Any) -> dict[str, Any]:
    """Stop the beacon's clock and wait until nothing but the clock-driven values moves."""
    app.state.beacon.engine.stop()  # the store stays open: it is served
    deadline = time.monotonic() + 60
    last = None
    while True:
        s = httpx.get(f"{base}/v1/status").json()
        for p in MOVING:
            resolve(s, p)  # present
        now = {k: copy.deepcopy(v) for k, v in s.items() if k != "uptime_seconds"}
        for t in now["tiers"].values():
            t.pop("availability")
        if now == last:
            return s
        assert time.monotonic() < deadline, "the service state kept moving"
        last = now
        time.sleep(0.5)


def _check_page(page: str, before: dict[str, Any], after: dict[str, Any]) -> Cells:
    parsed = cells_of(page)
    wrong = [(p, v) for p, v in parsed.cells if not agrees(v, p, before, after)]
    assert not wrong, wrong
    shown = {p for p, _ in parsed.cells}
    for tier in before["tiers"]:
        assert {f"/tiers/{tier}/pool_bytes", f"/tiers/{tier}/simulated"} <= shown
    for name in before["sources"]:
        source = name.replace("~", "~0").replace("/", "~1")
        for k in ("declared", "assessed", "in_force"):
            assert f"/sources/{source}/min_entropy_per_sample/{k}" in shown
        assert f"/sources/{source}/quarantines" in shown
    assert {"/beacon/last_pulse/pulse_index", "/beacon/running", "/uptime_seconds"} <= shown
    assert "/sources/stuck/recent_quarantines/0/reason" in shown
    return parsed


def test_status_page_shows_what_v1_status_says(server: str) -> None:
    before = httpx.get(f"{server}/v1/status").json()
    r = httpx.get(f"{server}/status")  # unauthenticated, as /v1/status
    after = httpx.get(f"{server}/v1/status").json()
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert r.headers["cache-control"] == "no-store"
    assert "default-src 'none'" in r.headers["content-security-policy"]
    parsed = _check_page(r.text, before, after)
    assert "script" not in parsed.tags and "link" not in parsed.tags and "img" not in parsed.tags
    assert parsed.urls == ["/v1/status"]  # nothing from outside: no asset at all
    assert 'id="simulated"' in r.text and "SIMULATED — NOT CERTIFIED: vac" in r.text
    quarantine = before["sources"]["stuck"]["recent_quarantines"][0]
    assert "repetition" in quarantine["reason"] and quarantine["time_unix"] <= time.time()
    assert before["beacon"]["last_pulse"]["simulated"] is True


def test_every_value_is_escaped(server: str) -> None:
    """Text from configs and files (URLs, reasons, uris) cannot inject markup."""
    status = httpx.get(f"{server}/v1/status").json()
    hostile = copy.deepcopy(status)
    src = hostile["sources"]
    hostile["sources"] = {HOSTILE: src["vac"], **src}
    hostile["sources"][HOSTILE]["origin"]["basis"] = HOSTILE
    hostile["sources"]["stuck"]["reason"] = HOSTILE
    hostile["sources"]["stuck"]["recent_quarantines"][0]["reason"] = HOSTILE
    hostile["beacon"]["last_pulse"]["uri"] = HOSTILE
    hostile["pipeline_error"] = HOSTILE
    page = render_status_page(hostile)
    parsed = _check_page(page, hostile, hostile)
    assert "script" not in parsed.tags and "img" not in parsed.tags
    assert sum(v == HOSTILE for _, v in parsed.cells) >= 6  # shown as text, whole
    assert "<script" not in page and "onerror=alert" not in page.replace("onerror=alert(1)&gt;", "")


def test_unknown_provenance_is_labelled(server: str) -> None:
    status = httpx.get(f"{server}/v1/status").json()
    status["sources"]["stuck"]["simulated"] = None
    page = render_status_page(status)
    assert "UNKNOWN PROVENANCE: stuck" in page


def test_status_page_without_a_beacon(tmp_path: Path) -> None:
    path, _ = write_config(tmp_path, config_text())
    with serve(create_app(load_settings(path))) as base:
        status = httpx.get(f"{base}/v1/status").json()
        page = httpx.get(f"{base}/status").text
    assert status["beacon"] == {"enabled": False}
    assert (
        "no beacon on this service" in page and status["sources"]["vac"]["recent_quarantines"] == []
    )


def _chromium_flags(profile: Path) -> list[str]:
    return [
        "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        f"--user-data-dir={profile}", "--virtual-time-budget=2000",
    ]  # fmt: skip


def test_status_page_in_headless_chromium(
    chromium: str, served: tuple[str, Any], tmp_path: Path
) -> None:
    """Rendered by a real browser: the DOM it built holds the numbers of /v1/status."""
    server, app = served
    flags = _chromium_flags(tmp_path / "profile")
    before = frozen(server, app)
    done = subprocess.run(
        [chromium, *flags, "--dump-dom", f"{server}/status"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    after = httpx.get(f"{server}/v1/status").json()
    assert done.returncode == 0, done.stderr[-2000:]
    parsed = _check_page(done.stdout, before, after)
    assert "script" not in parsed.tags
    values = [p for p, _ in parsed.cells if not isinstance(resolve(before, p), dict)]
    moved = [p for p in values if resolve(before, p) != resolve(after, p)]
    assert all(p.startswith(MOVING) for p in moved), moved  # the rest: equal, not between
    shot = tmp_path / "status.png"
    done = subprocess.run(
        [chromium, *flags, f"--screenshot={shot}", "--window-size=1280,1400", f"{server}/status"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    pixels = np.asarray(Image.open(shot).convert("RGB"), dtype=int)
    assert pixels.shape == (1400, 1280, 3)
    assert len(np.unique(pixels.reshape(-1, 3), axis=0)) > 20  # text drawn, not one colour
    banner = np.abs(pixels - np.array([253, 226, 184])).max(axis=2) <= 8
    assert banner.sum() > 5000  # the SIMULATED banner is painted, and large


def test_beacon_state_from_an_engine_and_from_a_workers_store(tmp_path: Path) -> None:
    """A ``--workers`` process serves the store only: its beacon state says what it knows."""
    from diamp.service.beacon.provenance import urandom_source
    from diamp.service.beacon.settings import BeaconSettings, build_engine
    from diamp.service.beacon.store import PulseStore
    from diamp.service.status_page import beacon_status

    settings = BeaconSettings(
        period_s=0.5, generate_key=True, key_bits=2048, key_file=tmp_path / "k.pem",
        certificate_file=tmp_path / "c.pem", state_db=tmp_path / "p.sqlite",
    )  # fmt: skip
    engine = build_engine(settings, urandom_source, served_at="http://127.0.0.1:9")
    assert beacon_status(engine)["last_pulse"] is None
    pulse = engine.emit(engine.next_slot())
    state = beacon_status(engine)
    assert state["running"] is False and state["chain_index"] == 1  # never started
    assert state["last_pulse"] == {
        "chain_index": 1, "pulse_index": 1, "time_unix": pulse.time_ms / 1000,
        "uri": "http://127.0.0.1:9/beacon/2.0/chain/1/pulse/1", "simulated": False,
    }  # fmt: skip
    store = PulseStore(settings.state_db)
    try:
        worker = beacon_status(store)
    finally:
        store.close()
        engine.store.close()
    assert worker["running"] is None and worker["last_pulse"] == state["last_pulse"]
    assert "chain_index" not in worker  # not known to a process without the engine
