"""``diamp report`` and the report ``diamp run`` writes, checked against independent oracles.

The page is parsed with the stdlib HTML parser; every number it shows is compared with the
certificate, embedded PNGs are decoded with Pillow (not diamp's encoder), key bits come from
``numpy.unpackbits`` of key.bin (MSB-first), the one-time pad is redone with a plain XOR, and
one test opens the page in headless Chromium and checks that every image decoded.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import io
import json
import math
import shutil
import subprocess
from fractions import Fraction
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from scipy.stats import binom
from typer.testing import CliRunner, Result

from diamp.cli import app
from diamp.report.files import load_run
from diamp.report.run import build_run_report
from diamp.report.run.key_sections import BIT_PALETTE, bit_image_indices
from diamp.report.run.png import encode_palette2
from diamp.report.run.randomness import binomial_tail, verdict_rows

REPO = Path(__file__).resolve().parents[2]
runner = CliRunner()


def invoke(*args: object) -> Result:
    return runner.invoke(app, [str(a) for a in args])


def squash(text: str) -> str:
    return "".join(text.split())


def assert_no_traceback(result: Result) -> None:
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        f"uncaught {result.exception!r}"
    )
    assert "Traceback" not in result.output


# --------------------------------------------------------------------------- page parsing


@dataclasses.dataclass
class PageSection:
    text: list[str] = dataclasses.field(default_factory=list)
    images: list[dict[str, str]] = dataclasses.field(default_factory=list)
    tables: list[list[list[str]]] = dataclasses.field(default_factory=list)

    @property
    def joined(self) -> str:
        return " ".join(" ".join(self.text).split())


class PageParser(HTMLParser):
    """Text, images and table cells of each <section id=...> (stdlib only)."""

    def __init__(self) -> None:
        super().__init__()
        self.sections: dict[str, PageSection] = {}
        self.current = PageSection()
        self.head = self.current
        self.cell: list[str] | None = None
        self.tags: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        self.tags.append(tag)
        if tag == "section":
            self.current = self.sections.setdefault(a["id"], PageSection())
        elif tag == "img":
            self.current.images.append(a)
        elif tag == "table":
            self.current.tables.append([])
        elif tag == "tr":
            self.current.tables[-1].append([])
        elif tag in ("td", "th"):
            self.cell = []
        elif tag in ("script", "link", "iframe", "object", "embed"):
            raise AssertionError(f"the report must not contain <{tag}>")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self.cell is not None:
            self.current.tables[-1][-1].append(" ".join("".join(self.cell).split()))
            self.cell = None
        elif tag == "section":
            self.current = self.head

    def handle_data(self, data: str) -> None:
        self.current.text.append(data)
        if self.cell is not None:
            self.cell.append(data)


def parse_page(path: Path) -> dict[str, PageSection]:
    parser = PageParser()
    parser.feed(path.read_text(encoding="utf-8"))
    return parser.sections


def decode_img(src: str) -> Image.Image:
    prefix = "data:image/png;base64,"
    assert src.startswith(prefix), src[:40]
    image = Image.open(io.BytesIO(base64.b64decode(src[len(prefix) :], validate=True)))
    image.load()
    return image


def rgb(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("RGB"), dtype=np.uint8)


def kv(section: PageSection) -> dict[str, str]:
    return {row[0]: row[1] for row in section.tables[0] if len(row) == 2}


# --------------------------------------------------------------------------- fixtures


@dataclasses.dataclass(frozen=True)
class Run:
    run_dir: Path
    result: Result
    cert: dict[str, Any]
    page: dict[str, PageSection]


def _make_run(base: Path, config: Path) -> Run:
    run_dir = base / "run"
    result = invoke("run", config, "--out", run_dir, "--quiet")
    assert (run_dir / "certificate.json").exists(), result.output
    cert = json.loads((run_dir / "certificate.json").read_text(encoding="utf-8"))
    page = parse_page(run_dir / "report.html") if (run_dir / "report.html").exists() else {}
    return Run(run_dir, result, cert, page)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Run:
    """The README demo (configs/simulated.toml): 2^25 trials, a 1.29 Mbit key."""
    return _make_run(tmp_path_factory.mktemp("demo"), REPO / "configs" / "simulated.toml")


@pytest.fixture(scope="module")
def aborted(tmp_path_factory: pytest.TempPathFactory) -> Run:
    """A local-hidden-variable device: the protocol aborts, there is no key."""
    return _make_run(tmp_path_factory.mktemp("lhv"), REPO / "configs" / "simulated-classical.toml")


@pytest.fixture
def demo_copy(demo: Run, tmp_path: Path) -> Path:
    dest = tmp_path / "run"
    shutil.copytree(demo.run_dir, dest)
    (dest / "report.html").unlink()
    return dest


def key_bits(run: Run) -> np.ndarray:
    return np.unpackbits(np.fromfile(run.run_dir / "key.bin", dtype=np.uint8))[
        : run.cert["output"]["bits"]
    ]


# --------------------------------------------------------------------------- diamp run → report


def test_run_writes_the_report(demo: Run) -> None:
    assert demo.result.exit_code == 0, demo.result.output
    assert_no_traceback(demo.result)
    path = demo.run_dir / "report.html"
    assert (path.stat().st_mode & 0o777) == 0o600  # it shows key bits: as secret as key.bin
    assert squash(f"report: {path}") in squash(demo.result.output)
    assert list(demo.page) == [
        "summary",
        "series",
        "counts",
        "length",
        "bit-image",
        "otp",
        "sp800-22",
        "diehard",
        "timing",
    ]
    assert "DISAGREES" not in path.read_text(encoding="utf-8")


def test_summary_numbers_equal_the_certificate(demo: Run) -> None:
    cert, rows = demo.cert, kv(demo.page["summary"])
    assert rows["run id"] == cert["run_id"]
    assert rows["status"] == "ok"
    assert rows["trials n"] == f"{cert['n_trials']:,}"
    assert float(rows["CHSH S"]) == pytest.approx(cert["chsh"], abs=5e-7)
    exact = rows["S_mu,obs"].split("exact: ")[1].rstrip(")")
    assert Fraction(exact) == Fraction(cert["s_mu_obs"])
    assert rows["certified m"].startswith(f"{cert['m']:,} bits")
    assert float(rows["eta"].split()[0]) == pytest.approx(cert["eta"], abs=5e-9)
    assert rows["key SHA-256"] == cert["output"]["sha256"]
    assert (
        rows["key SHA-256"] == hashlib.sha256((demo.run_dir / "key.bin").read_bytes()).hexdigest()
    )


def test_counts_table_equals_the_certificate(demo: Run) -> None:
    table = demo.page["counts"].tables[0]
    assert table[0][:5] == ["inputs", "a=0 b=0", "a=0 b=1", "a=1 b=0", "a=1 b=1"]
    counts = demo.cert["counts"]
    for row, (x, y) in zip(table[1:], [(0, 0), (0, 1), (1, 0), (1, 1)], strict=True):
        assert row[0] == f"x={x}, y={y}"
        cells = [int(c.replace(",", "")) for c in row[1:5]]
        assert cells == [counts[f"{a}{b}{x}{y}"] for a in (0, 1) for b in (0, 1)]
        assert int(row[5].replace(",", "")) == sum(cells)
        e_xy = (cells[0] + cells[3] - cells[1] - cells[2]) / sum(cells)
        assert float(row[6]) == pytest.approx(e_xy, abs=5e-7)


def test_series_figure_and_data(demo: Run) -> None:
    (image,) = demo.page["series"].images
    assert decode_img(image["src"]).size[0] > 300
    text = demo.page["series"].joined
    assert f"{demo.cert['series']['segment_trials']:,} trials" in text
    assert "2√2" in text and "classical bounds S = 2" in text


def test_output_length_steps_and_checks(demo: Run) -> None:
    sec = demo.cert["security"]
    rows = kv(demo.page["length"])
    assert rows["5. m = max(floor(m_real), 0)"] == f"{sec['m']:,} bits"
    assert float(rows["1. eta(eps_s, eps_EA, S_mu, n, mu)"].split()[0]) == pytest.approx(
        sec["eta"], abs=5e-11
    )
    assert float(rows["2. k1 = n·eta (smooth min-entropy of AB)"].split()[0].replace(",", "")) == (
        pytest.approx(sec["n"] * sec["eta"], abs=1e-3)
    )
    k2 = 2 * sec["n"] * math.log2(1 / (0.5 + float(Fraction(sec["mu"]))))  # independent
    assert float(
        rows["3. k2 = 2n·log2(1/(1/2 + mu)) (min-entropy of Z)"].split()[0].replace(",", "")
    ) == pytest.approx(k2, abs=1e-3)
    text = demo.page["length"].joined
    assert "agrees m recomputed" in text and "agrees eta recomputed" in text


def test_bit_image_is_the_key(demo: Run) -> None:
    (image,) = demo.page["bit-image"].images
    pixels = rgb(decode_img(image["src"]))
    assert pixels.shape == (1000, 1000, 3)  # the first 10^6 bits, square
    expected = key_bits(demo)[:1_000_000].reshape(1000, 1000) * 255  # white = 1, black = 0
    assert np.array_equal(pixels, np.repeat(expected[:, :, None], 3, axis=2).astype(np.uint8))


def test_bit_image_pads_in_grey() -> None:
    rng = np.random.default_rng(7)
    for nbits in (1, 2, 5, 10, 17, 64, 999):
        packed = rng.integers(0, 256, -(-nbits // 8), dtype=np.uint8)
        indices = bit_image_indices(packed, nbits)
        width = next(w for w in range(1, nbits + 1) if w * w >= nbits)
        assert indices.shape == (-(-nbits // width), width)
        decoded = rgb(Image.open(io.BytesIO(encode_palette2(indices, BIT_PALETTE))))
        for i in range(indices.size):  # slow direct definition, MSB-first
            bit = (int(packed[i // 8]) >> (7 - i % 8)) & 1 if i < nbits else None
            want = (160, 160, 160) if bit is None else (255 * bit,) * 3
            assert tuple(decoded[i // width, i % width]) == want, (nbits, i)


def test_one_time_pad_images(demo: Run) -> None:
    plain, cipher, decrypted = (rgb(decode_img(i["src"])) for i in demo.page["otp"].images)
    assert plain.shape == (128, 128, 3)
    pad = np.fromfile(demo.run_dir / "key.bin", dtype=np.uint8)[: plain.size].reshape(plain.shape)
    assert np.array_equal(cipher, plain ^ pad)
    assert np.array_equal(decrypted, plain)
    assert np.count_nonzero(cipher != plain) > 0.9 * plain.size
    assert len(np.unique(plain.reshape(-1, 3), axis=0)) > 100  # a real picture, not a flat fill


def test_sp800_22_table_matches_the_suite_cli(demo: Run, tmp_path: Path) -> None:
    result = invoke("test", "sp800-22", demo.run_dir / "key.bin", "--sequences", "1", "--json")
    assert result.exit_code == 0, result.output
    tests = json.loads(result.stdout)["tests"]
    rows = {r[0]: r for r in demo.page["sp800-22"].tables[0][1:]}
    assert list(rows) == list(tests)
    for name, entry in tests.items():
        values = [p for sub in entry["pvalues"] for p in sub]
        if name.startswith("RandomExcursions"):
            values = [p for p in values if p > 0]
        if not values:
            assert "does not apply" in rows[name][4]
            continue
        assert float(rows[name][2]) == pytest.approx(min(values), abs=1.5e-6)
        passed = sum(p >= 0.01 for p in values)
        assert rows[name][3].startswith(f"{passed}/{len(values)}")
        assert rows[name][4].split()[0] in ("pass", "fail")
    assert "1 sequence(s) of 1,000,000 bits" in demo.page["sp800-22"].joined


def test_binomial_tail_against_scipy() -> None:
    for trials in (1, 2, 8, 18, 148):
        for failures in range(trials + 1):
            assert binomial_tail(trials, failures) == pytest.approx(
                binom.sf(failures - 1, trials, 0.01), rel=1e-9, abs=1e-300
            )


def test_verdicts_one_sequence_and_many() -> None:
    one = verdict_rows({"Frequency": np.array([[0.009]]), "Runs": np.array([[0.5]])}, 1)
    assert one["Frequency"]["verdict"] == "fail" and one["Runs"]["verdict"] == "pass"
    templates = np.full((1, 148), 0.5)
    templates[0, :5] = 0.001  # P[Bin(148, .01) >= 5] ≈ 0.019 > α: still random-looking
    assert (
        verdict_rows({"NonOverlappingTemplate": templates}, 1)["NonOverlappingTemplate"]["verdict"]
        == "pass"
    )
    templates[0, :6] = 0.001  # P[... >= 6] ≈ 0.0045 <= α
    assert (
        verdict_rows({"NonOverlappingTemplate": templates}, 1)["NonOverlappingTemplate"]["verdict"]
        == "fail"
    )
    uniform = (np.arange(100, dtype=float)[:, None] + 0.5) / 100  # 10 per bin, 1 below α
    many = verdict_rows({"Frequency": uniform, "Runs": np.full((100, 1), 0.005)}, 100)
    assert many["Frequency"]["verdict"] == "pass"
    assert many["Frequency"]["pvalue"] == pytest.approx(1.0)  # χ² = 0
    assert many["Runs"]["verdict"] == "fail"  # 0/100 pass
    excursions = verdict_rows({"RandomExcursions": np.zeros((1, 8))}, 1)
    assert excursions["RandomExcursions"]["verdict"] == "n/a"


def test_timing_section(demo: Run) -> None:
    rows = kv(demo.page["timing"])
    assert rows["verdict"] == demo.cert["timing"]["verdict"] == "pass"
    assert rows["t_d = d/c"] == f"{demo.cert['timing']['budget']['t_d_ns']:.2f} ns"
    assert len(demo.page["timing"].tables[1]) - 1 == len(demo.cert["timing"]["checks"])


def test_short_key_says_what_does_not_apply(demo: Run) -> None:
    run = load_run(demo.run_dir)
    short = dataclasses.replace(run, key_packed=run.key_packed[:625], key_bits=5000)
    report = build_run_report(short)
    data = report.to_json()["sections"]
    assert data["otp"]["shown"] is False
    assert "needs 393,216 key bits and the run has 5,000" in " ".join(report.html.split())
    sp = data["sp800-22"]
    assert (sp["sequences"], sp["length"]) == (1, 5000)
    assert "Universal" in sp["not_applicable"] and "387,840" in sp["not_applicable"]["Universal"]
    assert "Universal" not in sp["tests"] and "Frequency" in sp["tests"]
    assert data["bit-image"]["bits_shown"] == 5000


def test_report_json(demo: Run, demo_copy: Path) -> None:
    result = invoke("report", demo_copy, "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["report"] == str(demo_copy / "report.html")
    assert data["checks_ok"] is True and all(c["ok"] for c in data["checks"])
    assert data["sections"]["summary"]["m"] == demo.cert["m"]
    assert data["sections"]["counts"]["counts"] == demo.cert["counts"]
    assert data["sections"]["series"]["chsh"] == [
        s["chsh"] for s in demo.cert["series"]["segments"]
    ]
    assert (demo_copy / "report.html").read_text(encoding="utf-8").startswith("<!doctype html>")


def test_report_to_other_file(demo_copy: Path, tmp_path: Path) -> None:
    target = tmp_path / "elsewhere.html"
    result = invoke("report", demo_copy, "-o", target, "--sequences", "1")
    assert result.exit_code == 0, result.output
    assert target.exists() and not (demo_copy / "report.html").exists()


def test_aborted_run_renders(aborted: Run) -> None:
    assert aborted.result.exit_code == 3, aborted.result.output
    assert (aborted.run_dir / "report.html").exists()
    page = aborted.page
    summary = kv(page["summary"])
    assert summary["status"].startswith("abort: ")
    assert aborted.cert["abort_reason"] in summary["status"]
    assert summary["certified m"].startswith("0 bits")
    assert "No key" in page["bit-image"].joined and not page["bit-image"].images
    assert "the run has 0" in page["otp"].joined and not page["otp"].images
    assert "No key" in page["sp800-22"].joined
    assert len(page["series"].images) == 1  # the Bell data are still shown
    rows = kv(page["length"])
    assert rows["decision"].startswith("status abort: certified m = 0 bits")
    result = invoke("report", aborted.run_dir, "--json")
    assert result.exit_code == 0, result.output  # a faithful report of an abort is a success


def test_disagreeing_certificate_is_marked_and_fails(demo_copy: Path) -> None:
    path = demo_copy / "certificate.json"
    cert = json.loads(path.read_text(encoding="utf-8"))
    cert["security"]["eta"] *= 1.001  # as if another eta construction had been used
    path.write_text(json.dumps(cert), encoding="utf-8")
    result = invoke("report", demo_copy)
    assert result.exit_code == 1, result.output
    assert_no_traceback(result)
    assert "eta recomputed" in result.output
    html = (demo_copy / "report.html").read_text(encoding="utf-8")
    assert "DISAGREES</b> eta recomputed" in html


def _edit_cert(run_dir: Path, edit: Any) -> None:
    path = run_dir / "certificate.json"
    cert = json.loads(path.read_text(encoding="utf-8"))
    edit(cert)
    path.write_text(json.dumps(cert), encoding="utf-8")


BAD_CERTS: dict[str, tuple[Any, str]] = {
    "schema": (
        lambda c: c.update(schema="other/2"),
        "field 'schema': expected 'diamp.certificate/1', found 'other/2'",
    ),
    "missing": (lambda c: c.pop("counts"), "field 'counts': expected a value, found 'nothing"),
    "count type": (
        lambda c: c["counts"].update({"0101": "7"}),
        "field 'counts.0101': expected an integer >= 0, found '7'",
    ),
    "s_mu text": (
        lambda c: c.update(s_mu_obs="about 0.1"),
        "field 's_mu_obs': expected an exact number",
    ),
    "bits": (
        lambda c: c["output"].update(bits=5),
        "field 'output.bits': expected the certified length m = 1290263, found 5",
    ),
    "status": (
        lambda c: c.update(status="maybe"),
        "field 'status': expected 'ok' or 'abort', found 'maybe'",
    ),
    "key name": (
        lambda c: c["output"].update(file="../key.bin"),
        "field 'output.file': expected a file name in the run directory, found '../key.bin'",
    ),
    "run id": (lambda c: c.update(run_id="20260101T000000Z-00000000"), "field 'run_id': expected"),
    "series": (
        lambda c: c["series"]["segments"][3].update(chsh="high"),
        "field 'series.segments.3.chsh': expected a number",
    ),
    "chain error": (
        lambda c: c.update(chain_error="tiny"),
        "field 'chain_error': expected a number, found 'tiny'",
    ),
    "post-selection": (
        lambda c: c["excluded_blocks"].update(post_selection_blocks=-2),
        "field 'excluded_blocks.post_selection_blocks': expected an integer >= 0, found -2",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_CERTS))
def test_bad_certificate_fails_closed(demo_copy: Path, case: str) -> None:
    edit, message = BAD_CERTS[case]
    _edit_cert(demo_copy, edit)
    result = invoke("report", demo_copy)
    assert result.exit_code == 1, result.output
    assert_no_traceback(result)
    assert squash(str(demo_copy / "certificate.json")) in squash(result.output)
    assert squash(message) in squash(result.output), result.output
    assert not (demo_copy / "report.html").exists()


def _damage_key(run_dir: Path, how: str) -> None:
    key = run_dir / "key.bin"
    data = bytearray(key.read_bytes())
    if how == "flip":
        data[1000] ^= 0x10
        key.write_bytes(bytes(data))
    elif how == "truncate":
        key.write_bytes(bytes(data[:-1]))
    else:
        key.unlink()


@pytest.mark.parametrize(
    ("how", "message"),
    [
        ("flip", "SHA-256 expected"),
        ("truncate", "expected 161,283 bytes for the certificate's 1,290,263 bits, found 161,282"),
        ("missing", "key file named by the certificate not found"),
    ],
)
def test_bad_key_fails_closed(demo_copy: Path, how: str, message: str) -> None:
    _damage_key(demo_copy, how)
    result = invoke("report", demo_copy)
    assert result.exit_code == 1, result.output
    assert_no_traceback(result)
    assert squash(f"{demo_copy / 'key.bin'}: {message}") in squash(result.output), result.output
    assert not (demo_copy / "report.html").exists()


def test_bad_run_directories_fail_closed(demo_copy: Path, tmp_path: Path) -> None:
    cases = {
        tmp_path / "nowhere": "not a directory",
        tmp_path: "certificate.json: no certificate",
    }
    (demo_copy / "trials.h5").rename(demo_copy / "moved.h5")
    cases[demo_copy] = "trials.h5: trial store not found"
    for run_dir, message in cases.items():
        result = invoke("report", run_dir)
        assert result.exit_code == 1, result.output
        assert_no_traceback(result)
        assert squash(message) in squash(result.output), result.output
    (demo_copy / "moved.h5").rename(demo_copy / "trials.h5")
    (demo_copy / "certificate.json").write_text('{"schema": "diamp.certificate/1",', "utf-8")
    result = invoke("report", demo_copy)
    assert result.exit_code == 1
    assert squash("not valid JSON at line 1 column") in squash(result.output), result.output
    assert invoke("report", demo_copy, "--sequences", "0").exit_code == 2


def test_run_survives_a_failing_report(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The certificate and key stay; the error is printed; exit 1 (3 would mean an abort)."""
    import diamp.report.files

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("matplotlib exploded")

    monkeypatch.setattr(diamp.report.files, "write_run_report", broken)
    run_dir = tmp_path / "run"
    result = invoke("run", REPO / "configs" / "simulated-classical.toml", "--out", run_dir, "-q")
    assert result.exit_code == 3  # the abort outranks the report failure
    assert squash("report not written: RuntimeError: matplotlib exploded") in squash(result.output)
    assert squash(f"retry with: diamp report {run_dir}") in squash(result.output)
    assert (run_dir / "certificate.json").exists() and not (run_dir / "report.html").exists()


def test_the_report_after_a_run_catches_everything(
    demo_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import diamp.report.files
    from diamp.protocol.run import write_report

    assert write_report(demo_copy).ok
    monkeypatch.setattr(diamp.report.files, "write_run_report", lambda *a, **k: 1 / 0)
    failed = write_report(demo_copy)
    assert not failed.ok and "ZeroDivisionError" in (failed.error or "")
    (demo_copy / "key.bin").unlink()
    monkeypatch.undo()
    missing = write_report(demo_copy)
    assert not missing.ok and "key.bin" in (missing.error or "")


# --------------------------------------------------------------------------- in a browser

_PROBE = """<script>
addEventListener("load", () => {
  const out = document.createElement("pre");
  out.id = "probe";
  out.textContent = JSON.stringify([...document.images].map(
    (i) => [i.alt, i.complete, i.naturalWidth, i.naturalHeight]));
  document.body.appendChild(out);
});
</script>"""


def test_report_renders_in_headless_chromium(chromium: str, demo: Run, tmp_path: Path) -> None:
    """Every embedded image decodes in a real browser (probe script added to a copy)."""
    page = (demo.run_dir / "report.html").read_text(encoding="utf-8")
    assert "<script" not in page  # the report itself has none
    probe = tmp_path / "probe.html"
    probe.write_text(page.replace("</body>", _PROBE + "</body>"), encoding="utf-8")
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'profile'}",
        "--virtual-time-budget=10000",
    ]
    done = subprocess.run(
        [chromium, *flags, "--dump-dom", probe.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    parser = PageParser()
    parser.feed(done.stdout.replace(_PROBE, ""))  # the dumped DOM still holds the <script>
    probe_text = done.stdout.split('<pre id="probe">', 1)[1].split("</pre>", 1)[0]
    images = json.loads(probe_text.replace("&quot;", '"'))
    assert [alt for alt, *_ in images] == [
        "CHSH and S_mu per segment",
        "key bits",
        "plaintext",
        "ciphertext",
        "decrypted",
    ]
    for alt, complete, width, height in images:
        assert complete and width > 0 and height > 0, alt
    assert dict(zip([i[0] for i in images], [i[2:] for i in images], strict=True))["key bits"] == [
        1000,
        1000,
    ]
    shot = tmp_path / "shot.png"
    done = subprocess.run(
        [chromium, *flags, f"--screenshot={shot}", "--window-size=1200,2000", probe.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    pixels = rgb(Image.open(shot))
    assert pixels.shape[:2] == (2000, 1200) and len(np.unique(pixels.reshape(-1, 3), axis=0)) > 50


def test_adaptive_run_with_excluded_blocks(tmp_path: Path) -> None:
    """Theorem 6 recomputed, excluded blocks listed, a key shorter than 10^6 bits tested whole."""
    for sub in ("timing", "instruments"):
        shutil.copytree(REPO / "configs" / sub, tmp_path / sub)
    text = (REPO / "configs" / "simulated.toml").read_text(encoding="utf-8")
    for old, new in [
        ('mode = "fixed"', 'mode = "adaptive"'),
        ('s_mu_threshold = "0.0065"', 's_mu_max = "0.008"\nbins = 16\n#'),
        ('policy = "abort"', 'policy = "exclude"'),
        ("hours_per_block = 0.1", 'hours_per_block = 0.1\njitter_device = "awg5014"\n'
         "jitter_from_check = 6\n#"),
        ("blocks = 8\n", "blocks = 7\n"),
    ]:  # fmt: skip
        assert old in text
        text = text.replace(old, new, 1)
    (tmp_path / "adaptive.toml").write_text(text, encoding="utf-8")
    run = _make_run(tmp_path, tmp_path / "adaptive.toml")
    assert run.result.exit_code == 0, run.result.output
    cert = run.cert
    assert cert["protocol"]["mode"] == "adaptive" and cert["excluded_blocks"]["blocks"]
    page = run.page
    assert list(page)[-1] == "excluded"
    excluded = ", ".join(map(str, cert["excluded_blocks"]["blocks"]))
    assert f"block(s) excluded: {excluded}." in page["excluded"].joined
    assert (
        "Theorem 6 (adaptive): S_used = " + cert["protocol"]["s_used"]
        in kv(page["length"])["protocol"]
    )
    assert "DISAGREES" not in (run.run_dir / "report.html").read_text(encoding="utf-8")
    bits = cert["output"]["bits"]
    assert 387_840 <= bits < 1_000_000  # one sequence of all bits; Universal still applies
    assert f"1 sequence(s) of {bits:,} bits" in page["sp800-22"].joined
    assert kv(page["timing"])["verdict"] == "fail"


def test_epsilon_row_says_what_eps_means(demo: Run, demo_copy: Path) -> None:
    rows = kv(demo.page["summary"])
    assert rows["epsilon"].startswith("certified: the strict chain's error at m is")
    assert demo.cert["eps_certified"] is True and demo.cert["chain_error"] <= demo.cert["eps"]
    assert "agrees chain error" in demo.page["length"].joined
    # the paper bound on the same data: terminal, certificate and report all say it
    again = invoke("amplify", demo_copy, "--bound", "paper")
    assert again.exit_code == 0, again.output
    assert "NOTacertifiedepsilon" in squash(again.output)
    cert = json.loads((demo_copy / "certificate.amplify-001.json").read_text(encoding="utf-8"))
    assert cert["eps_certified"] is False and cert["chain_error"] > cert["eps"]
    assert cert["eps_statement"].startswith("NOT a certified epsilon")
    page_path = demo_copy / "paper.html"
    shown = invoke(
        "report", demo_copy, "--certificate", "certificate.amplify-001.json", "-o", page_path
    )
    assert shown.exit_code == 0, shown.output
    assert "provenance:SIMULATED(inputs,z,outcomes,timing)" in squash(shown.output)
    page = parse_page(page_path)
    assert kv(page["summary"])["epsilon"].startswith("NOT a certified epsilon")
    assert "eps is NOT certified" in page["length"].joined


def test_edited_chain_error_disagrees(demo_copy: Path) -> None:
    _edit_cert(demo_copy, lambda c: c.update(chain_error=1e-30))  # claims a smaller error
    result = invoke("report", demo_copy)
    assert result.exit_code == 1, result.output
    assert "chain error" in result.output
    assert "DISAGREES</b> chain error" in (demo_copy / "report.html").read_text(encoding="utf-8")


def test_diehard_table_matches_the_cli(demo: Run, tmp_path: Path) -> None:
    """The key's Diehard section equals `diamp test diehard` on the key's whole bytes."""
    run = load_run(demo.run_dir)
    key = tmp_path / "key-bytes.bin"
    key.write_bytes(run.key_packed[: run.key_bits // 8].tobytes())
    result = invoke("test", "diehard", key, "--json")
    assert result.exit_code in (0, 1), result.output
    cli = json.loads(result.stdout)["tests"]
    section = build_run_report(run).to_json()["sections"]["diehard"]
    assert section["tested"] is True and list(section["tests"]) == list(cli)
    for name, entry in cli.items():
        mine = section["tests"][name]
        assert (mine["status"], mine["bits_needed"]) == (entry["status"], entry["bits_needed"])
        assert mine.get("final_pvalues") == entry.get("final_pvalues")
    rows = {r[1]: r for r in demo.page["diehard"].tables[0][1:]}
    short = [n for n, e in cli.items() if e["status"] == "insufficient_data"]
    assert short and all("insufficient data: needs" in rows[n][4] for n in short)
    assert f"{32 * (run.key_bits // 32):,} bits" in demo.page["diehard"].joined
