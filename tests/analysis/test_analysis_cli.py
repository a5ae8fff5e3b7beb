"""``entropy-model`` and ``otp`` through a throwaway Typer app, on real PNG files.

Input PNGs are written by the stdlib encoder in ``pngtools`` (not by the code under test);
expected ciphertext pixels are recomputed here from the key file bit by bit (MSB-first).
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import typer
from pngtools import encode_png
from typer.testing import CliRunner, Result

from diamp.analysis.entropy_models import (
    arrival_time_entropy,
    phase_fluctuation_entropy,
    phase_noise_lambda,
    single_photon_entropy,
    spatial_entropy,
)
from diamp.cli.entropy_model import entropy_model_command
from diamp.cli.otp import otp_command

app = typer.Typer(pretty_exceptions_enable=False)
app.command("entropy-model")(entropy_model_command)
app.command("otp")(otp_command)
runner = CliRunner()


def run(*args: str) -> Result:
    return runner.invoke(app, [str(a) for a in args])


def squash(text: str) -> str:
    return re.sub(r"\s+", " ", text)


def as_json(result: Result) -> Any:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


# --- entropy-model ------------------------------------------------------------------------


def test_vacuum_table_reproduces_the_spec_line() -> None:
    # spec §12: "ADC 8 bit, range +-5.0 sigma_t, gamma = 10.000: H_min = 5.9355 bits/sample
    # (0.7419/bit); worst-case |e|<=5 sigma_c: 5.9352"
    args = ("entropy-model", "vacuum", "-p", "bits=8", "-p", "range=5", "-p", "gamma=10")
    result = run(*args, "-p", "centred=true")
    assert result.exit_code == 0, result.output
    text = squash(result.stdout)
    assert "H_min (centred) │ 5.9355 │ bits/sample (0.7419/bit)" in text
    assert "asked for: offset 0" in text
    assert "H_min (worst case) │ 5.9352" in text


def test_vacuum_defaults_to_the_worst_case_at_five_sigma_c() -> None:
    # spec §11d: never the centred model unless asked for; the default offset is 5 sigma_c
    args = ("entropy-model", "vacuum", "-p", "bits=8", "-p", "range=4", "-p", "gamma_db=5")
    result = run(*args)
    assert result.exit_code == 0, result.output
    text = squash(result.stdout)
    assert "centred" not in text
    assert "H_min (worst case) │ 4.6154" in text and "(default offset)" in text
    data = as_json(run(*args, "--json"))
    assert set(data["result"]) == {"worst_case"}
    assert data["result"]["worst_case"]["max_offset_sigma_c"] == 5.0
    assert data["result"]["worst_case"]["default_offset"] is True
    bad = run(*args, "-p", "centred=maybe")
    assert bad.exit_code == 2 and "--param centred: expected true or false" in squash(bad.output)


def test_vacuum_json_with_volts_and_decibels() -> None:
    # Range given in volts around σ_t = 0.2 V: the same physics as ±4σ_t at γ = 5 dB.
    data = as_json(
        run(
            "entropy-model",
            "vacuum",
            "--json",
            "-p",
            "bits=8",
            "-p",
            "vmin=-0.8",
            "-p",
            "vmax=0.8",
            "-p",
            "sigma_t=0.2",
            "-p",
            "gamma_db=5",
            "-p",
            "offset=5",
            "-p",
            "centred=true",
        )
    )
    assert data["kind"] == "vacuum"
    assert data["inputs"] == {
        "bits": 8,
        "vmin": -0.8,
        "vmax": 0.8,
        "gamma_db": 5.0,
        "sigma_t": 0.2,
        "centre": 0.0,
        "offset": 5.0,
        "centred": True,
    }
    assert f"{data['result']['centred']['min_entropy']:.4f}" == "6.1279"
    assert f"{data['result']['worst_case']['min_entropy']:.4f}" == "4.6154"
    assert data["result"]["centred"]["gamma"] == pytest.approx(10**0.5)


def test_vacuum_infinite_gamma_is_null_in_json() -> None:
    data = as_json(
        run(
            "entropy-model", "vacuum", "--json", "-p", "bits=1", "-p", "range=2", "-p", "gamma=inf",
            "-p", "centred=true",
        )
    )  # fmt: skip
    assert data["result"]["centred"]["gamma"] is None  # strict JSON has no Infinity
    assert data["result"]["centred"]["min_entropy"] == 1.0


@pytest.mark.parametrize(
    ("kind", "params", "expected"),
    [
        ("single-photon", ["rho11=0.5", "gamma_t=2"], single_photon_entropy(0.5, 2.0)),
        ("arrival-time", ["rho11=0.8", "gamma_t=1.3", "bins=4"], arrival_time_entropy(0.8, 1.3, 4)),
        ("spatial", ["p=0.5,0.25,0.25"], spatial_entropy([0.5, 0.25, 0.25])),
        ("phase", ["lambda=1.2", "tau=4"], phase_fluctuation_entropy(1.2, 4.0)),
        (
            "phase",
            ["width=1", f"power={1 / (4 * math.pi)}", "tau_c=4", "A=1", "tau=2"],
            phase_fluctuation_entropy(phase_noise_lambda(1.0, 1 / (4 * math.pi), 4.0, 1.0), 2.0),
        ),
    ],
)
def test_emission_kinds_json_equal_the_library(kind: str, params: list[str], expected: Any) -> None:
    args = [a for p in params for a in ("-p", p)]
    data = as_json(run("entropy-model", kind, "--json", *args))
    assert data["kind"] == kind
    assert data["result"]["min_entropy"] == expected.min_entropy
    if kind != "phase":
        assert data["result"]["intrinsic_randomness"] == expected.intrinsic_randomness
    table = run("entropy-model", kind, *args)
    assert table.exit_code == 0
    assert f"{expected.min_entropy:.6g}" in table.stdout


def test_spatial_hand_values_in_the_table() -> None:
    text = squash(run("entropy-model", "spatial", "-p", "p=0.5,0.25,0.25").stdout)
    assert "intrinsic randomness R │ 1.5 │" in text
    assert "H_min │ 1 │" in text


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["warp"], "KIND: unknown model 'warp'; choose one of vacuum, single-photon"),
        (["vacuum", "-p", "range=5", "-p", "gamma=10"], "vacuum needs bits"),
        (
            ["vacuum", "-p", "bits=8", "-p", "range=5", "-p", "gama=10"],
            "vacuum has no parameter gama",
        ),
        (["vacuum", "-p", "bits=8", "-p", "range=5"], "vacuum needs gamma_db"),
        (
            ["vacuum", "-p", "bits=8.5", "-p", "range=5", "-p", "gamma=1"],
            "--param bits: expected an integer",
        ),
        (
            ["vacuum", "-p", "bits=8", "-p", "range=x", "-p", "gamma=1"],
            "--param range: expected a number",
        ),
        (["vacuum", "-p", "bits=8", "-p", "bits=9"], "bits is given twice"),
        (["vacuum", "-p", "bits"], "expected NAME=VALUE, got 'bits'"),
        (
            ["vacuum", "-p", "bits=8", "-p", "range=5", "-p", "vmin=-1", "-p", "gamma=1"],
            "give either range or vmin & vmax, not both",
        ),
        (
            ["vacuum", "-p", "bits=40", "-p", "range=5", "-p", "gamma=1"],
            "--param bits: bits must lie in [1, 32]",
        ),
        (
            ["vacuum", "-p", "bits=8", "-p", "range=5", "-p", "gamma=-1"],
            "--param gamma: gamma must lie in (0, ∞]",
        ),
        (
            ["vacuum", "-p", "bits=8", "-p", "range=-5", "-p", "gamma=1"],
            "--param vmax: the ADC range needs",
        ),
        (
            ["vacuum", "-p", "bits=8", "-p", "range=5", "-p", "gamma=1", "-p", "offset=-2"],
            "--param offset: max_offset_sigma_c must lie in [0, ∞)",
        ),
        (
            ["single-photon", "-p", "rho11=1.2", "-p", "gamma_t=1"],
            "--param rho11: excited_population must lie in [0, 1]",
        ),
        (
            ["arrival-time", "-p", "rho11=0.5", "-p", "gamma_t=1", "-p", "bins=0"],
            "--param bins: time_bins must lie in [1,",
        ),
        (["spatial", "-p", "p=0.5,0.4"], "--param p: click_probabilities must sum to 1"),
        (["spatial", "-p", "p=0.5,a"], "--param p: expected comma-separated numbers"),
        (["phase", "-p", "tau=1"], "phase needs width"),
        (
            ["phase", "-p", "lambda=1", "-p", "tau=1", "-p", "A=2"],
            "give either lambda or width & power & tau_c & A",
        ),
        (["phase", "-p", "lambda=0", "-p", "tau=1"], "--param lambda: lam must lie in (0, ∞)"),
    ],
)
def test_entropy_model_errors_exit_2_with_a_clear_message(args: list[str], message: str) -> None:
    result = run("entropy-model", *args)
    assert result.exit_code == 2, result.output
    assert message in squash(result.stderr)
    assert "Traceback" not in result.output


def test_entropy_model_help_lists_every_kind_and_parameter() -> None:
    text = squash(run("entropy-model", "--help").stdout)
    for fragment in (
        "vacuum:",
        "single-photon:",
        "arrival-time:",
        "spatial:",
        "phase:",
        "gamma_db",
        "rho11",
        "bins=n",
        "tau_c",
    ):
        assert fragment in text


# --- otp ----------------------------------------------------------------------------------


def key_bits(key: bytes, offset: int, count: int) -> np.ndarray:
    """Key bits [offset, offset + count) as 0/1, MSB-first, read one by one."""
    return np.array(
        [(key[i // 8] >> (7 - i % 8)) & 1 for i in range(offset, offset + count)], np.uint8
    )


def pad_bytes(key: bytes, offset: int, nbytes: int) -> np.ndarray:
    bits = key_bits(key, offset, 8 * nbytes).reshape(nbytes, 8)
    return (bits * (1 << np.arange(7, -1, -1))).sum(axis=1).astype(np.uint8)


def read_rgba(path: Path) -> np.ndarray:
    import matplotlib.image as mpimg

    return np.rint(mpimg.imread(path) * 255).astype(np.uint8)


@pytest.fixture
def key_file(tmp_path: Path) -> tuple[Path, bytes]:
    key = np.random.default_rng(2024).integers(0, 256, 4000, dtype=np.uint8).tobytes()
    path = tmp_path / "key.bin"
    path.write_bytes(key)
    return path, key


def test_rgb_png_encrypt_and_decrypt(tmp_path: Path, key_file: tuple[Path, bytes]) -> None:
    key_path, key = key_file
    rgb = np.random.default_rng(1).integers(0, 256, (12, 9, 3), dtype=np.uint8)
    rgb[:6] = 200  # a flat region: visible in the plaintext, noise in the ciphertext
    (tmp_path / "sheep.png").write_bytes(encode_png(rgb, 2))
    enc, dec = tmp_path / "sheep-otp.png", tmp_path / "sheep-back.png"
    data = as_json(run("otp", tmp_path / "sheep.png", "--key", key_path, "-o", enc, "--json"))
    assert data["key_bits_used"] == 8 * rgb.size == 2592
    assert (data["key_offset"], data["next_key_offset"], data["key_bits"]) == (0, 2592, 32000)
    assert (data["channels"], data["width"], data["height"]) == ("RGB", 9, 12)
    cipher = read_rgba(enc)
    expected = rgb ^ pad_bytes(key, 0, rgb.size).reshape(rgb.shape)
    assert np.array_equal(cipher[:, :, :3], expected)
    assert np.all(cipher[:, :, 3] == 255)
    assert len(np.unique(cipher[:6, :, :3])) > 100  # the flat region is gone
    decrypted = as_json(run("otp", enc, "--key", key_path, "-o", dec, "--decrypt", "--json"))
    assert decrypted["mode"] == "decrypt"
    assert np.array_equal(read_rgba(dec)[:, :, :3], rgb)


def test_grey_png_uses_one_key_byte_per_pixel(tmp_path: Path, key_file: tuple[Path, bytes]) -> None:
    key_path, key = key_file
    grey = np.arange(7 * 11, dtype=np.uint8).reshape(7, 11)
    (tmp_path / "g.png").write_bytes(encode_png(grey, 0))
    enc, dec = tmp_path / "g-otp.png", tmp_path / "g-back.png"
    result = run("otp", tmp_path / "g.png", "--key", key_path, "-o", enc, "--key-offset", "13")
    assert result.exit_code == 0, result.output
    text = squash(result.stdout)
    assert "key bits used 616 (bits 13 … 628 of 32,000" in text
    assert "next unused key bit 629" in text
    cipher = read_rgba(enc)
    expected = grey ^ pad_bytes(key, 13, grey.size).reshape(grey.shape)
    for c in range(3):
        assert np.array_equal(cipher[:, :, c], expected)
    # --decrypt takes the offset recorded in the ciphertext
    assert run("otp", enc, "--key", key_path, "-o", dec, "--decrypt").exit_code == 0
    assert np.array_equal(read_rgba(dec)[:, :, 0], grey)


def test_rgba_png_keeps_alpha_in_the_clear(tmp_path: Path, key_file: tuple[Path, bytes]) -> None:
    key_path, key = key_file
    rgba = np.random.default_rng(5).integers(0, 256, (6, 5, 4), dtype=np.uint8)
    (tmp_path / "a.png").write_bytes(encode_png(rgba, 6))
    enc = tmp_path / "a-otp.png"
    data = as_json(run("otp", tmp_path / "a.png", "--key", key_path, "-o", enc, "--json"))
    assert data["key_bits_used"] == 8 * 6 * 5 * 3
    cipher = read_rgba(enc)
    assert np.array_equal(cipher[:, :, 3], rgba[:, :, 3])
    assert np.array_equal(cipher[:, :, :3], rgba[:, :, :3] ^ pad_bytes(key, 0, 90).reshape(6, 5, 3))


def test_palette_png_is_padded_as_rgb(tmp_path: Path, key_file: tuple[Path, bytes]) -> None:
    key_path, key = key_file
    palette = np.array([[255, 0, 0], [0, 128, 255], [10, 20, 30]], dtype=np.uint8)
    index = np.array([[0, 1, 2], [2, 1, 0]], dtype=np.uint8)
    (tmp_path / "p.png").write_bytes(encode_png(index, 3, palette=palette))
    enc = tmp_path / "p-otp.png"
    assert run("otp", tmp_path / "p.png", "--key", key_path, "-o", enc).exit_code == 0
    expected = palette[index] ^ pad_bytes(key, 0, 18).reshape(2, 3, 3)
    assert np.array_equal(read_rgba(enc)[:, :, :3], expected)


def test_two_images_share_a_key_without_reuse(tmp_path: Path, key_file: tuple[Path, bytes]) -> None:
    key_path, _ = key_file
    img = np.full((4, 4, 3), 77, dtype=np.uint8)
    (tmp_path / "i.png").write_bytes(encode_png(img, 2))
    first = as_json(
        run("otp", tmp_path / "i.png", "--key", key_path, "-o", tmp_path / "1.png", "--json")
    )
    nxt = str(first["next_key_offset"])
    second = as_json(
        run(
            "otp",
            tmp_path / "i.png",
            "--key",
            key_path,
            "-o",
            tmp_path / "2.png",
            "--key-offset",
            nxt,
            "--json",
        )
    )
    assert second["key_offset"] == first["next_key_offset"] == 384
    assert not np.array_equal(read_rgba(tmp_path / "1.png"), read_rgba(tmp_path / "2.png"))
    for name in ("1", "2"):
        out = tmp_path / f"{name}-back.png"
        assert (
            run(
                "otp", tmp_path / f"{name}.png", "--key", key_path, "-o", out, "--decrypt"
            ).exit_code
            == 0
        )
        assert np.array_equal(read_rgba(out)[:, :, :3], img)


def test_short_key_is_refused_and_nothing_written(tmp_path: Path) -> None:
    img = np.zeros((10, 10, 3), dtype=np.uint8)  # 300 bytes: 2400 key bits
    (tmp_path / "i.png").write_bytes(encode_png(img, 2))
    (tmp_path / "k.bin").write_bytes(b"\xff" * 300)
    out = tmp_path / "o.png"
    exact = run("otp", tmp_path / "i.png", "--key", tmp_path / "k.bin", "-o", out)
    assert exact.exit_code == 0, exact.output
    out.unlink()
    short = run(
        "otp", tmp_path / "i.png", "--key", tmp_path / "k.bin", "-o", out, "--key-bits", "2399"
    )
    assert short.exit_code == 2
    assert (
        "the key is too short: 300 bytes need 2,400 key bits from bit 0, but the key holds 2,399"
        in squash(short.stderr)
    )
    assert not out.exists()
    shifted = run(
        "otp", tmp_path / "i.png", "--key", tmp_path / "k.bin", "-o", out, "--key-offset", "1"
    )
    assert shifted.exit_code == 2
    assert "never reuses or wraps its key" in squash(shifted.stderr)
    assert not any(p.name.startswith(".o.png") for p in tmp_path.iterdir())


def test_raw_bytes_round_trip_with_unaligned_offset(
    tmp_path: Path, key_file: tuple[Path, bytes]
) -> None:
    key_path, key = key_file
    plain = b"attack at dawn \x00\xff" * 5
    (tmp_path / "m.txt").write_bytes(plain)
    data = as_json(
        run(
            "otp",
            tmp_path / "m.txt",
            "--key",
            key_path,
            "-o",
            tmp_path / "c.bin",
            "--raw",
            "--key-offset",
            "3",
            "--json",
        )
    )
    assert data["format"] == "raw"
    assert data["key_bits_used"] == 8 * len(plain)
    cipher = (tmp_path / "c.bin").read_bytes()
    assert cipher == bytes(np.frombuffer(plain, np.uint8) ^ pad_bytes(key, 3, len(plain)))
    back = run(
        "otp",
        tmp_path / "c.bin",
        "--key",
        key_path,
        "-o",
        tmp_path / "p.txt",
        "--raw",
        "--key-offset",
        "3",
    )
    assert back.exit_code == 0
    assert (tmp_path / "p.txt").read_bytes() == plain


@pytest.mark.parametrize(
    ("setup", "args", "status", "message"),
    [
        ("plain", ["--decrypt"], 2, "IMAGE has no diamp-otp record"),
        (
            "cipher",
            [],
            2,
            "IMAGE is already a diamp otp ciphertext (key bits from 0); pass --decrypt",
        ),
        (
            "cipher",
            ["--decrypt", "--key-offset", "8"],
            2,
            "the ciphertext used key bits from 0, --key-offset says 8",
        ),
        ("text", [], 2, "IMAGE is not a PNG file; pass --raw to pad its bytes"),
        ("deep", [], 2, "a 16-bit PNG would be read at reduced depth"),
        ("plain", ["--key-bits", "7"], 2, "--key-bits: "),
        ("plain", ["--key-offset", "-3"], 2, "--key-offset: must be >= 0"),
        ("damaged", [], 1, "fails its CRC"),
    ],
)
def test_otp_refusals(
    tmp_path: Path,
    key_file: tuple[Path, bytes],
    setup: str,
    args: list[str],
    status: int,
    message: str,
) -> None:
    key_path, _ = key_file
    img = np.full((3, 3, 3), 9, dtype=np.uint8)
    source = tmp_path / "in.png"
    if setup == "text":
        source.write_bytes(b"hello")
    elif setup == "deep":
        source.write_bytes(encode_png(np.full((3, 3), 1000, np.uint16), 0))
    elif setup == "damaged":
        png = bytearray(encode_png(img, 2))
        png[-20] ^= 1  # inside IDAT
        source.write_bytes(bytes(png))
    else:
        source.write_bytes(encode_png(img, 2))
        if setup == "cipher":
            tmp = tmp_path / "c.png"
            assert run("otp", source, "--key", key_path, "-o", tmp).exit_code == 0
            source = tmp
    result = run("otp", source, "--key", key_path, "-o", tmp_path / "out.png", *args)
    assert result.exit_code == status, result.output
    assert message in squash(result.stderr)
    assert not (tmp_path / "out.png").exists()


def test_otp_never_overwrites_its_key_or_input(
    tmp_path: Path, key_file: tuple[Path, bytes]
) -> None:
    key_path, key = key_file
    (tmp_path / "i.png").write_bytes(encode_png(np.zeros((2, 2, 3), np.uint8), 2))
    for target in (key_path, tmp_path / "i.png"):
        result = run("otp", tmp_path / "i.png", "--key", key_path, "-o", target)
        assert result.exit_code == 2
        assert "would overwrite the input image or the key" in squash(result.stderr)
    assert key_path.read_bytes() == key


def test_missing_key_file_is_a_storage_error(tmp_path: Path) -> None:
    (tmp_path / "i.png").write_bytes(encode_png(np.zeros((2, 2, 3), np.uint8), 2))
    result = run(
        "otp", tmp_path / "i.png", "--key", tmp_path / "nope.bin", "-o", tmp_path / "o.png"
    )
    assert result.exit_code == 1
    assert "cannot read the key" in squash(result.stderr)
