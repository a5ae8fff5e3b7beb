"""RFC 9421 signatures: the RFC's own HMAC vector, the signature base, every refusal."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest

from diamp.service.auth import (
    RequestParts,
    SignatureParams,
    Verifier,
    parse_signature,
    parse_signature_input,
    sign_request,
    signature_base,
)
from diamp.service.errors import AuthError

# RFC 9421 Appendix B.1.5: the shared secret "test-shared-secret" (base64).
RFC_KEY = base64.b64decode(
    "uzvJfB4u3N0Jy4T7NZ75MDVcr8zSTInedJtkgcu46YW4XByzNJjxBdtjUkdJPBtbmHhIDi6pcl8jsasjlTMtDQ=="
)


def test_rfc9421_b25_hmac_vector() -> None:
    # Appendix B.2.5: signature base written out from the RFC text (RFC 8792 wrapping undone).
    base = (
        b'"date": Tue, 20 Apr 2021 02:07:55 GMT\n'
        b'"@authority": example.com\n'
        b'"content-type": application/json\n'
        b'"@signature-params": ("date" "@authority" "content-type")'
        b';created=1618884473;keyid="test-shared-secret"'
    )
    mac = hmac.new(RFC_KEY, base, hashlib.sha256).digest()
    assert base64.b64encode(mac).decode() == "pxcQw6G3AjtMBQjwo8XzkZf/bws5LelbaMk5rGIGtE8="
    # Our parser and serialiser reproduce the RFC's @signature-params value exactly.
    sig = parse_signature_input(
        'sig-b25=("date" "@authority" "content-type");created=1618884473;keyid="test-shared-secret"'
    )
    assert sig.label == "sig-b25"
    assert sig.serialize() == base.decode().split('"@signature-params": ')[1]
    assert (
        parse_signature("sig-b25=:pxcQw6G3AjtMBQjwo8XzkZf/bws5LelbaMk5rGIGtE8=:", "sig-b25") == mac
    )


PARTS = RequestParts("GET", "127.0.0.1:8443", "/v1/random", "?bytes=32&format=hex")


def test_signature_base_of_our_components() -> None:
    sig = SignatureParams(
        "sig1",
        ("@method", "@authority", "@path", "@query"),
        (
            ("created", 1700000000),
            ("keyid", "alice"),
            ("nonce", "abcdef0123"),
            ("alg", "hmac-sha256"),
        ),
    )
    expected = (
        b'"@method": GET\n"@authority": 127.0.0.1:8443\n"@path": /v1/random\n'
        b'"@query": ?bytes=32&format=hex\n"@signature-params": ("@method" "@authority" "@path" '
        b'"@query");created=1700000000;keyid="alice";nonce="abcdef0123";alg="hmac-sha256"'
    )
    assert signature_base(PARTS, sig) == expected
    headers = sign_request(b"k" * 32, "alice", PARTS, created=1700000000, nonce="abcdef0123")
    assert (
        headers["Signature-Input"] == "sig1=" + expected.decode().split('"@signature-params": ')[1]
    )
    mac = hmac.new(b"k" * 32, expected, hashlib.sha256).digest()
    assert headers["Signature"] == f"sig1=:{base64.b64encode(mac).decode()}:"


class Clock:
    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def _verifier(clock: Clock) -> Verifier:
    return Verifier({"alice": b"a" * 32, "bob": b"b" * 32}, window=300, skew=5, clock=clock)


def _headers(
    key: bytes = b"a" * 32, keyid: str = "alice", created: int = 10_000, nonce: str = "n0nce-0001"
) -> dict[str, str]:
    h = sign_request(key, keyid, PARTS, created=created, nonce=nonce)
    return {k.lower(): v for k, v in h.items()}


def _reason(v: Verifier, headers: dict[str, str], parts: RequestParts = PARTS) -> str:
    with pytest.raises(AuthError) as info:
        v.verify(headers, parts)
    return str(info.value.fields["reason"])


def test_verifier_accepts_once_then_refuses_replay() -> None:
    clock = Clock(10_000)
    v = _verifier(clock)
    h = _headers()
    assert v.verify(h, PARTS) == "alice"
    assert _reason(v, h) == "replay"
    assert v.verify(_headers(nonce="n0nce-0002"), PARTS) == "alice"


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda h: {}, "missing_signature"),
        (lambda h: {"signature-input": h["signature-input"]}, "missing_signature"),
        (lambda h: {**h, "signature-input": "sig1=(garbage"}, "malformed"),
        (lambda h: {**h, "signature": "sig2=" + h["signature"][5:]}, "malformed"),
        (lambda h: {**h, "signature": "sig1=:!!!:"}, "malformed"),
        (
            lambda h: {**h, "signature-input": h["signature-input"].replace(' "@query"', "")},
            "missing_component",
        ),
        (
            lambda h: {
                **h,
                "signature-input": h["signature-input"].replace("hmac-sha256", "hmac-sha512"),
            },
            "bad_alg",
        ),
        (
            lambda h: {
                **h,
                "signature-input": h["signature-input"].replace(";nonce=", ";x=1;nonce="),
            },
            "unsupported_parameter",
        ),
    ],
)
def test_verifier_refuses_malformed(mutate: object, reason: str) -> None:
    v = _verifier(Clock(10_000))
    assert _reason(v, mutate(_headers())) == reason  # type: ignore[operator]


def test_verifier_refuses_time_and_key_problems() -> None:
    clock = Clock(10_000)
    v = _verifier(clock)
    assert _reason(v, _headers(created=10_000 - 301)) == "too_old"
    assert _reason(v, _headers(created=10_000 + 60)) == "not_yet_valid"
    assert _reason(v, _headers(created=9_990)) == "too_old"  # before the verifier started
    assert _reason(v, _headers(keyid="mallory")) == "unknown_key"
    assert _reason(v, _headers(key=b"b" * 32)) == "bad_signature"
    clock.t = 10_200
    assert v.verify(_headers(created=10_100, nonce="late-nonce"), PARTS) == "alice"


@pytest.mark.parametrize("field", ["method", "authority", "path", "query"])
def test_verifier_refuses_tampered_components(field: str) -> None:
    v = _verifier(Clock(10_000))
    changed = {
        "method": RequestParts("POST", PARTS.authority, PARTS.path, PARTS.query),
        "authority": RequestParts("GET", "evil.example", PARTS.path, PARTS.query),
        "path": RequestParts("GET", PARTS.authority, "/v1/random/json", PARTS.query),
        "query": RequestParts("GET", PARTS.authority, PARTS.path, "?bytes=1048576&format=hex"),
    }[field]
    assert _reason(v, _headers(), changed) == "bad_signature"
