"""Fuzzing the command line and the run config (issue 15, item 6).

Hypothesis draws hostile values (empty, negative, huge, NaN, infinities, booleans, text where
numbers go, numbers where text goes) for the options of the commands that take numbers and
for every key of the shipped run config. The guarantees under test: no traceback ever, exit
status 0 (accepted), 2 (invalid argument or configuration, with an ``error:`` line or a usage
message naming the problem), 1 only for runtime failures, and a run config either parses
or raises :class:`~diamp.errors.ConfigError` naming the key.
"""

from __future__ import annotations

import math
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from _runconfig import CONFIGS
from diamp.cli import app
from diamp.config import parse_config
from diamp.errors import ConfigError

runner = CliRunner()

HOSTILE_TEXT = st.sampled_from(
    ["", " ", "0", "-0", "-1", "1e400", "-1e400", "nan", "NaN", "inf", "-inf", "0x10", "1/0",
     "0.5", "0.4999999999999999999", "1e-400", "abc", "true", "None", "2**64", "9" * 400,
     "0.0075\x00", "½", "1,5", "--help"]
)  # fmt: skip
NUMBERISH = st.one_of(
    HOSTILE_TEXT,
    st.integers(-(2**70), 2**70).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
)


def _no_traceback(args: list[str]) -> int:
    result = runner.invoke(app, args)
    text = result.output
    assert "Traceback" not in text, (args, text)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(f"{args}: uncaught {result.exception!r}")
    assert result.exit_code in (0, 1, 2, 3), (args, result.exit_code, text)
    if result.exit_code == 2:
        assert "error" in text.lower() or "usage" in text.lower(), (args, text)
    return result.exit_code


@settings(max_examples=150, deadline=None, derandomize=True)
@given(n=NUMBERISH, mu=NUMBERISH, s_mu=NUMBERISH, eps=NUMBERISH, blocks=NUMBERISH)
def test_rate_never_tracebacks_and_bad_values_exit_2(
    n: str, mu: str, s_mu: str, eps: str, blocks: str
) -> None:
    args = ["rate", "--n", n, "--mu", mu, "--s-mu", s_mu, "--eps", eps,
            "--post-selection-blocks", blocks, "--json"]  # fmt: skip
    code = _no_traceback(args)
    assert code in (0, 2), (args, code)  # rate does no I/O: nothing can fail at run time


@pytest.fixture(scope="module")
def key_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("fuzz") / "bits.bin"
    path.write_bytes(bytes(range(256)) * 4)
    return path


@settings(
    max_examples=60, deadline=None, derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)  # fmt: skip
@given(
    kind=st.sampled_from(["dodis", "toeplitz"]),
    m=NUMBERISH,
    bits=st.one_of(st.none(), NUMBERISH),
    verify=st.one_of(st.none(), NUMBERISH),
)
def test_extract_never_tracebacks(
    key_file: Path, tmp_path_factory: pytest.TempPathFactory, kind: str, m: str,
    bits: str | None, verify: str | None,
) -> None:  # fmt: skip
    out = tmp_path_factory.mktemp("out") / "k.bin"
    args = ["extract", kind, str(key_file), str(key_file), "--m", m, "-o", str(out), "-q"]
    if bits is not None:
        args += ["--bits", bits]
    if verify is not None:
        args += ["--verify-bits", verify]
    code = _no_traceback(args)
    if code != 0:
        assert not out.exists(), args  # a refused extraction writes nothing


# --- the run config -------------------------------------------------------------------------

BASE_TEXT = (CONFIGS / "simulated.toml").read_text()
BASE = tomllib.loads(BASE_TEXT)


def _leaves(doc: dict[str, Any], prefix: str = "") -> list[str]:
    keys = []
    for key, value in doc.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            keys += _leaves(value, name + ".")
        else:
            keys.append(name)
    return keys


LEAVES = _leaves(BASE)
HOSTILE_VALUES = st.one_of(
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from(["0.0075", "-0.0075", "1e400", "nan", "", "sim", "instruments"]),
    st.lists(st.integers(-3, 3), max_size=3),
    st.just({}),
)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return '"' + value.encode("unicode_escape").decode().replace('"', '\\"') + '"'
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return "{}"


def _replace(text: str, dotted: str, value: Any) -> str | None:
    """``text`` with the first ``KEY = …`` line of ``dotted``'s table rewritten, or None."""
    *tables, key = dotted.split(".")
    lines = text.splitlines()
    header = f"[{'.'.join(tables)}]" if tables else None
    inside = header is None
    for i, line in enumerate(lines):
        stripped = line.strip()
        if stripped.startswith("["):
            inside = stripped == header
            continue
        if inside and re.match(rf'^"?{re.escape(key)}"?\s*=', stripped):
            lines[i] = f"{key} = {_toml_value(value)}"
            return "\n".join(lines) + "\n"
    return None


@settings(max_examples=300, deadline=None, derandomize=True)
@given(key=st.sampled_from(LEAVES), value=HOSTILE_VALUES)
def test_run_config_mutations_parse_or_name_the_key(key: str, value: Any) -> None:
    text = _replace(BASE_TEXT, key, value)
    if text is None:  # an inline table's inner key: not a line of its own
        return
    try:
        parse_config(text, str(CONFIGS / "fuzzed.toml"))
    except ConfigError as err:
        assert err.exit_code == 2
        message = str(err)
        assert "fuzzed.toml" in message, message
        leaf = key.split(".")[-1]
        assert leaf in message or "TOML" in message or "sources" in message, (key, message)
