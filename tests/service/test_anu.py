"""The ANU JSON API as pure functions: the query parser's refusals and the body's numbers.

The numbers are checked against the definition written out byte by byte (docs/service.md,
"ANU-compatible JSON"): uint16 = 256 x first byte + second byte, hex strings = two
lowercase digits per byte, most significant nibble first.
"""

from __future__ import annotations

import binascii
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from diamp.service.anu import AnuQuery, AnuRefusal, anu_body, anu_error, parse_anu_query

CAP = 1024


def _oracle(query: AnuQuery, data: bytes) -> list[int] | list[str]:
    if query.type == "uint8":
        return [data[i] for i in range(len(data))]
    if query.type == "uint16":
        return [data[2 * i] * 256 + data[2 * i + 1] for i in range(query.length)]
    digits = "0123456789abcdef"
    out = []
    for i in range(query.length):
        block = data[i * query.size : (i + 1) * query.size]
        out.append("".join(digits[b >> 4] + digits[b & 15] for b in block))
    return out


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        (b"length=10", AnuQuery(10)),
        (b"length=5&type=uint16", AnuQuery(5, "uint16")),
        (b"type=hex16&length=10&size=2", AnuQuery(10, "hex16", 2)),
        (b"length=1024&type=hex8&size=1024", AnuQuery(1024, "hex8", 1024)),
        (b"length=1&type=uint16&size=1024", AnuQuery(1, "uint16", 1024)),  # quantumrand's cache
        (b"length=3&tier=pub.lic-1", AnuQuery(3, tier="pub.lic-1")),
        (b"length=%31%32", AnuQuery(12)),  # percent-encoded digits are still digits
        (b"&length=2&&type=uint8&", AnuQuery(2)),  # empty items, as URL builders leave them
    ],
)
def test_valid_queries(query: bytes, expected: AnuQuery) -> None:
    assert parse_anu_query(query, CAP) == expected


@pytest.mark.parametrize(
    ("query", "needle"),
    [
        (b"", "length is required"),
        (b"type=uint8", "length is required"),
        (b"length=", "length must be an integer from 1 to 65536, found ''"),
        (b"length=0", "length must be an integer"),
        (b"length=-1", "found '-1'"),
        (b"length=NaN", "found 'NaN'"),
        (b"length=nan", "found 'nan'"),
        (b"length=inf", "found 'inf'"),
        (b"length=1.5", "found '1.5'"),
        (b"length=1e3", "found '1e3'"),
        (b"length=+1", "found ' 1'"),  # "+" is a space in a query
        (b"length=%2B1", "found '+1'"),
        (b"length=%201", "found ' 1'"),
        (b"length=0x10", "found '0x10'"),
        (b"length=99999999999999999999999999999", "length must be an integer"),
        (b"length=65537", "from 1 to 65536, found '65537'"),
        (b"length=1&type=int8", "type must be one of uint8, uint16, hex16, hex8, found 'int8'"),
        (b"length=1&type=UINT8", "found 'UINT8'"),
        (b"length=1&type=", "found ''"),
        (b"length=1&size=0", "size must be an integer from 1 to 1024, found '0'"),
        (b"length=1&size=1025", "found '1025'"),
        (b"length=1&size=-2", "found '-2'"),
        (b"length=1&size=abc", "found 'abc'"),
        (b"length=1&length=2", "parameter 'length' given twice"),
        (b"length=1&type=uint8&type=uint16", "'type' given twice"),
        (b"length=1&bytes=8", "unknown parameter 'bytes'"),
        (b"length=1&=2", "unknown parameter ''"),
        (b"length=1&tier=", "tier must be 1 to 64"),
        (b"length=1&tier=a/b", "found 'a/b'"),
        (b"length=1&tier=" + b"a" * 65, "tier must be 1 to 64"),
        (b"length=%ff", "ASCII"),
        (b"length=1&" + b"x" * 2000, "at most 1024"),
    ],
)
def test_every_bad_query_is_refused_with_a_precise_message(query: bytes, needle: str) -> None:
    with pytest.raises(AnuRefusal) as info:
        parse_anu_query(query, CAP)
    assert info.value.status == 422
    assert needle in info.value.message, info.value.message
    assert "\n" not in info.value.message and len(info.value.message) < 200


def test_a_length_within_the_api_but_over_the_servers_cap_is_413() -> None:
    assert parse_anu_query(b"length=1024", CAP).length == 1024
    with pytest.raises(AnuRefusal) as info:
        parse_anu_query(b"length=1025", CAP)
    assert info.value.status == 413 and "at most 1024, found 1025" in info.value.message


def test_bytes_per_query() -> None:
    assert AnuQuery(10).nbytes == 10
    assert AnuQuery(10, "uint16", size=7).nbytes == 20  # size is ignored by the integer types
    assert AnuQuery(10, "hex16", 3).nbytes == 30
    assert AnuQuery(1024, "hex8", 1024).nbytes == 1 << 20


def test_body_shapes_match_the_anu_answers() -> None:
    data = bytes([0x9B, 0x0E, 0x11, 0xFA])
    assert anu_body(AnuQuery(4), data) == {
        "type": "uint8", "length": 4, "data": [155, 14, 17, 250], "success": True,
    }  # fmt: skip
    assert anu_body(AnuQuery(2, "uint16"), data) == {
        "type": "uint16", "length": 2, "data": [0x9B0E, 0x11FA], "success": True,
    }  # fmt: skip
    assert anu_body(AnuQuery(2, "hex16", 2), data) == {
        "type": "string", "length": 2, "size": 2, "data": ["9b0e", "11fa"], "success": True,
    }  # fmt: skip
    assert anu_body(AnuQuery(1, "hex8", 4), data)["data"] == ["9b0e11fa"]
    assert anu_body(AnuQuery(1, "hex8", 4), data)["type"] == "hex8"
    assert list(anu_body(AnuQuery(4), data)) == ["type", "length", "data", "success"]
    assert anu_error("x") == {"success": False, "message": "x"}


def test_body_needs_exactly_the_bytes_of_the_query() -> None:
    with pytest.raises(ValueError, match="4 bytes needed, given 3"):
        anu_body(AnuQuery(2, "uint16"), b"abc")


@settings(max_examples=200, deadline=None, derandomize=True)
@given(
    kind=st.sampled_from(["uint8", "uint16", "hex16", "hex8"]),
    length=st.integers(1, 64),
    size=st.integers(1, 40),
    seed=st.binary(min_size=1, max_size=64),
)
def test_numbers_are_the_served_bytes(kind: str, length: int, size: int, seed: bytes) -> None:
    query = parse_anu_query(f"length={length}&type={kind}&size={size}".encode(), CAP)
    data = (seed * (query.nbytes // len(seed) + 1))[: query.nbytes]
    body = anu_body(query, data)
    assert body["data"] == _oracle(query, data) and body["length"] == length
    json.dumps(body, allow_nan=False)  # plain JSON
    if kind in ("hex16", "hex8"):  # quantumrand.binary: unhexlify of the concatenation
        assert binascii.unhexlify("".join(body["data"])) == data
    elif kind == "uint16":
        assert b"".join(v.to_bytes(2, "big") for v in body["data"]) == data
    else:
        assert bytes(body["data"]) == data
