"""Fuzzing the service config (issue 15, items 5 and 6): both schemas, the service's and the
``[beacon]`` table's.

Hypothesis replaces one key of the shipped ``configs/service.toml`` (every leaf, in every
table, array of tables and inline table) with a hostile value: booleans, huge and negative
integers, NaN and infinities, numbers written as strings, empty strings, arrays and tables.
The config then either validates or raises :class:`ServiceConfigError` (exit status 2)
naming the key; nothing else ever escapes. Typing is strict: a value accepted in place of
another type is a failure (``port = "8443"``, ``fill = 1``, ``rate = inf``).
"""

from __future__ import annotations

import json
import math
import tomllib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from diamp.service.errors import ServiceConfigError
from diamp.service.settings import parse_settings

REPO = Path(__file__).resolve().parents[2]
SHIPPED = tomllib.loads((REPO / "configs" / "service.toml").read_text())
WHERE = "/nonexistent/fuzz/service.toml"

Key = tuple[str | int, ...]


def _leaves(node: Any, prefix: Key = ()) -> list[Key]:
    if isinstance(node, dict):
        return [k for key, v in node.items() for k in _leaves(v, (*prefix, key))]
    if isinstance(node, list) and node and all(isinstance(v, dict) for v in node):
        return [k for i, v in enumerate(node) for k in _leaves(v, (*prefix, i))]
    return [prefix]


LEAVES = _leaves(SHIPPED)


def _toml(value: Any) -> str:
    """``value`` as TOML (tables inline, so one line holds any part of the document)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        return ("inf" if value > 0 else "-inf") if math.isinf(value) else repr(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):  # a JSON string is a TOML basic string, but for DEL
        return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return "{" + ", ".join(f"{_toml(k)} = {_toml(v)}" for k, v in value.items()) + "}"


def _document(doc: dict[str, Any]) -> str:
    return "".join(f"{_toml(k)} = {_toml(v)}\n" for k, v in doc.items())


def _with(key: Key, value: Any) -> dict[str, Any]:
    doc = json.loads(json.dumps(SHIPPED))
    node = doc
    for part in key[:-1]:
        node = node[part]
    node[key[-1]] = value
    return doc


def _get(key: Key) -> Any:
    node: Any = SHIPPED
    for part in key:
        node = node[part]
    return node


HOSTILE = st.one_of(
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.sampled_from([0, -1, 1, 2**31, 2**63, 2**64, -(2**63) - 1]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([math.nan, math.inf, -math.inf, 0.0, -0.0, 1e308, 5e-324]),
    st.text(max_size=12),
    st.sampled_from(["", " ", "8443", "1.5", "nan", "inf", "true", "not a uri", "ftp://x",
                     "http://", "http://h:99999", "http://h/?q", "a\x00b", "-1", "vacuum",
                     "standard", "generate", "simulated", "declared"]),
    st.lists(st.one_of(st.integers(-3, 3), st.text(max_size=3)), max_size=3),
    st.dictionaries(st.sampled_from(["a", "kind", "model", "path"]), st.integers(0, 3),
                    max_size=2),
)  # fmt: skip


def _names_key(message: str, key: Key) -> bool:
    """The message names the key, or (for cross-references) a table above it."""
    words = [str(part) for part in key if isinstance(part, str)]
    return any(word in message for word in words)


def _same_type(original: Any, value: Any, parsed: Any) -> bool:
    """``value`` has the type of the key (``parsed``: what the model made of it)."""
    if isinstance(original, bool) or isinstance(value, bool):
        return type(original) is type(value)
    if isinstance(original, int | float) and isinstance(value, int | float):
        return type(parsed) is type(value) or type(parsed) is float  # an int may be a float
    return type(original) is type(value)


def _parsed(model: Any, key: Key) -> Any:
    node = model
    for part in key:
        node = node[part] if isinstance(part, int) else getattr(node, part)
    return node


@settings(max_examples=400, deadline=None, derandomize=True)
@given(key=st.sampled_from(LEAVES), value=HOSTILE)
def test_service_config_mutations_validate_or_name_the_key(key: Key, value: Any) -> None:
    text = _document(_with(key, value))
    try:
        parsed = parse_settings(text, WHERE)
    except ServiceConfigError as err:
        assert err.exit_code == 2
        message = str(err)
        assert message.startswith(WHERE), message
        assert "\n" not in message and "Traceback" not in message, message
        assert _names_key(message, key), (key, value, message)
        return
    original = _get(key)
    got = _parsed(parsed, key)
    assert _same_type(original, value, got), f"{key} = {value!r} accepted for {original!r}"
    if isinstance(value, float):
        assert math.isfinite(value), (key, value)
    assert parsed.schema_version == 1


def test_the_shipped_config_survives_the_round_trip() -> None:
    parse_settings(_document(SHIPPED), WHERE)


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        (("server", "port"), "8443", "server.port"),
        (("server", "port"), True, "server.port"),
        (("server", "rate_requests_per_second"), math.inf, "server.rate_requests_per_second"),
        (("server", "rate_requests_per_second"), math.nan, "server.rate_requests_per_second"),
        (("server", "max_request_bytes"), 1.0, "server.max_request_bytes"),
        (("pool", "fill"), 1, "pool.fill"),
        (("pool", "path"), "", "pool.path"),
        (("pool", "freshness_seconds"), "86400", "pool.freshness_seconds"),
        (("extractor", "eps"), "2^-64", "extractor.eps"),
        (("sources", 0, "samples_per_second"), math.inf, "sources.0.samples_per_second"),
        (("sources", 1, "entropy", "min_entropy"), math.nan, "sources.1.entropy"),
        (("beacon", "public_base_uri"), "not a uri", "beacon.public_base_uri"),
        (("beacon", "public_base_uri"), "ftp://127.0.0.1", "beacon.public_base_uri"),
        (("beacon", "public_base_uri"), "http://:8443", "beacon.public_base_uri"),
        (("beacon", "public_base_uri"), "http://127.0.0.1:99999", "beacon.public_base_uri"),
        (("beacon", "period_s"), True, "beacon.period_s"),
        (("beacon", "period_s"), math.inf, "beacon.period_s"),
        (("beacon", "generate_key"), 1, "beacon.generate_key"),
        (("beacon", "key_bits"), 2**40, "beacon.key_bits"),
    ],
)
def test_reported_nonsense_is_refused_naming_the_key(key: Key, value: Any, expected: str) -> None:
    with pytest.raises(ServiceConfigError, match=expected.replace(".", r"\.")) as info:
        parse_settings(_document(_with(key, value)), WHERE)
    assert info.value.exit_code == 2


def test_a_base_dir_key_is_refused() -> None:
    with pytest.raises(ServiceConfigError, match="base_dir: unknown key"):
        parse_settings(_document({**SHIPPED, "base_dir": "/etc"}), WHERE)


def test_public_authorities_come_from_an_array() -> None:
    doc = _with(("server", "public_authorities"), ["rng.example", "rng.example:8443"])
    assert parse_settings(_document(doc), WHERE).server.public_authorities == (
        "rng.example",
        "rng.example:8443",
    )
