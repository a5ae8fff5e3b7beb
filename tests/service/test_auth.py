"""RFC 9421 signatures: the RFC's own HMAC vector, the signature base, every refusal."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from diamp.service.auth import (
    REASONS,
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


def _input(components: str, params: str, label: str = "sig1") -> str:
    return f"{label}=({components}){params}"


def _sign_raw(
    key: bytes,
    components: str,
    params: str,
    parts: RequestParts = PARTS,
    fields: dict[str, str] | None = None,
    label: str = "sig1",
) -> dict[str, str]:
    """Headers for an arbitrary Signature-Input, the base built here by hand (RFC 9421 §2.5)."""
    from diamp.service.sigbase import component_value

    sig = parse_signature_input(_input(components, params, label))
    values = {**(fields or {})}  # header fields as sent; derived ones as the RFC says
    lines = [
        f'"{n}": {values[n] if n in values else component_value(n, {}, parts, {})}'
        for n in sig.names
    ]
    lines.append(f'"@signature-params": ({components}){params}')
    mac = hmac.new(key, "\n".join(lines).encode(), hashlib.sha256).digest()
    return {
        **(fields or {}),
        "signature-input": _input(components, params, label),
        "signature": f"{label}=:{base64.b64encode(mac).decode()}:",
    }


STD = '"@method" "@authority" "@path" "@query"'
OK = ';created=10000;keyid="alice"'


@pytest.mark.parametrize(
    "components",
    [
        STD,
        '"@method" "@target-uri"',
        '"@target-uri" "@method" "@scheme"',
        '"@method" "@authority" "@request-target"',
        '"date" "@method" "@authority" "@path" "@query" "content-type"',
    ],
)
def test_any_covered_list_with_the_required_components_verifies(components: str) -> None:
    fields = {"date": "Tue, 20 Apr 2021 02:07:55 GMT", "content-type": "text/plain"}
    h = _sign_raw(b"a" * 32, components, OK, fields=fields)
    assert _verifier(Clock(10_000)).verify(h, PARTS) == "alice"


def test_derived_values_match_rfc_definitions() -> None:
    from diamp.service.sigbase import component_value

    parts = RequestParts("GET", "rng.example.org", "/v1/random", "?", "https", "RNG.example.org")
    got = {
        c: component_value(c, {}, parts, {})
        for c in ("@target-uri", "@request-target", "@query", "@scheme", "@path")
    }
    assert got == {
        "@target-uri": "https://RNG.example.org/v1/random",
        "@request-target": "/v1/random",
        "@query": "?",
        "@scheme": "https",
        "@path": "/v1/random",
    }
    assert component_value("@target-uri", {}, PARTS, {}) == (
        "http://127.0.0.1:8443/v1/random?bytes=32&format=hex"
    )


@pytest.mark.parametrize(
    ("components", "params", "reason"),
    [
        ('"@method" "@authority" "@path"', OK, "missing_component"),
        ('"@authority" "@target-uri"', OK, "missing_component"),
        ('"@method" "@target-uri" "@status"', OK, "unsupported_component"),
        ('"@method" "@target-uri" "x-absent"', OK, "unsupported_component"),
        ('"@method" "@target-uri" "@authority";req', OK, "unsupported_component"),
        ('"@method" "@target-uri" "content-type";sf', OK, "unsupported_component"),
        ('"@method" "@target-uri" "X-Upper"', OK, "unsupported_component"),
        ('"@method" "@target-uri" "signature"', OK, "unsupported_component"),
        ('"@method" "@target-uri" "@method"', OK, "malformed"),
        (STD, ';keyid="alice"', "missing_parameter"),
        (STD, ";created=10000", "missing_parameter"),
        (STD, OK + ';alg="rsa-pss-sha512"', "bad_alg"),
        (STD, OK + ";alg=hmac-sha256", "malformed"),  # a token, not a string
        (STD, ';created="10000";keyid="alice"', "malformed"),
        (STD, ';created=?1;keyid="alice"', "malformed"),  # a boolean is not an integer
        (STD, ";created=10000;keyid=alice", "malformed"),
        (STD, OK + ";expires=9990", "expired"),
        (STD, OK + ";expires=9999", "expired"),  # before created
        (STD, OK + ';nonce="short"', "malformed"),
        (STD, OK + ";context=1", "unsupported_parameter"),
    ],
)
def test_refusals_name_their_reason(components: str, params: str, reason: str) -> None:
    from diamp.service.sigbase import signature_values

    fields = {"content-type": "text/plain"}
    sig = _input(components, params)
    mac = "sig1=:" + base64.b64encode(b"z" * 32).decode() + ":"
    assert signature_values(mac)  # the Signature field itself is well-formed
    v = _verifier(Clock(10_000))
    assert _reason(v, {**fields, "signature-input": sig, "signature": mac}) == reason


def test_expires_in_the_future_and_tag_are_accepted_and_tag_can_be_required() -> None:
    h = _sign_raw(b"a" * 32, STD, OK + ';expires=10030;tag="diamp";nonce="n0nce-tag1"')
    clock = Clock(10_000)
    v = _verifier(clock)
    clock.t = 10_020
    assert v.verify(h, PARTS) == "alice"
    v = Verifier({"alice": b"a" * 32}, clock=Clock(10_000), tag="other")
    assert _reason(v, h) == "bad_tag"
    tagged = Verifier({"alice": b"a" * 32}, clock=Clock(10_000), tag="diamp")
    assert tagged.verify(h, PARTS) == "alice"


def test_without_nonce_the_signature_itself_is_accepted_once() -> None:
    v = _verifier(Clock(10_000))
    h = _sign_raw(b"a" * 32, STD, OK)
    assert v.verify(h, PARTS) == "alice"
    assert _reason(v, h) == "replay"
    relabelled = {
        **h,
        "signature-input": "x" + h["signature-input"],
        "signature": "x" + h["signature"],
    }
    assert _reason(v, relabelled) == "replay"  # another label, the same signature
    assert v.verify(_sign_raw(b"a" * 32, STD, ';created=10001;keyid="alice"'), PARTS) == "alice"


def test_several_signatures_first_that_verifies_wins_else_known_keyids_reason() -> None:
    v = _verifier(Clock(10_000))
    proxy = _sign_raw(b"p" * 32, STD, ';created=10000;keyid="proxy"', label="proxy")
    good = _sign_raw(b"a" * 32, STD, OK + ';nonce="n0nce-many"', label="client")
    both = {
        "signature-input": proxy["signature-input"] + ", " + good["signature-input"],
        "signature": proxy["signature"] + ", " + good["signature"],
    }
    assert v.verify(both, PARTS) == "alice"
    wrong = _sign_raw(b"w" * 32, STD, OK + ';nonce="n0nce-wrng"', label="client")
    both = {
        "signature-input": proxy["signature-input"] + ", " + wrong["signature-input"],
        "signature": proxy["signature"] + ", " + wrong["signature"],
    }
    assert _reason(v, both) == "bad_signature"  # not the proxy's unknown_key
    assert _reason(v, proxy) == "unknown_key"
    dup = {"signature-input": good["signature-input"] + ", " + good["signature-input"],
           "signature": good["signature"]}  # fmt: skip
    assert _reason(v, dup) == "malformed"
    many = ", ".join(f"s{i}=({STD}){OK}" for i in range(9))
    assert _reason(v, {"signature-input": many, "signature": good["signature"]}) == "malformed"


@pytest.mark.parametrize(
    ("digest", "reason"),
    [
        ("sha-256=:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=:", None),
        (
            "sha-256=:" + base64.b64encode(hashlib.sha256(b"x").digest()).decode() + ":",
            "bad_digest",
        ),
        ("md5=:1B2M2Y8AsgTpgAmY7PhCfg==:", "bad_digest"),
        ("not a dictionary", "malformed"),
    ],
)
def test_covered_content_digest_must_be_that_of_no_content(digest: str, reason: str | None) -> None:
    # 47DEQ…SuFU= is the well-known sha-256 of no content (as base64).
    h = _sign_raw(b"a" * 32, STD + ' "content-digest"', OK, fields={"content-digest": digest})
    v = _verifier(Clock(10_000))
    if reason is None:
        assert v.verify(h, PARTS) == "alice"
    else:
        assert _reason(v, h) == reason


_SF_CHARS = st.sampled_from(
    list('sig1=("@method" @target-uri);created=10000keyid"alice":AAA=, \\?*')
)


@settings(max_examples=400, deadline=None, derandomize=True)
@given(
    sig_input=st.one_of(
        st.binary(max_size=200).map(lambda b: b.decode("latin-1")),
        st.lists(_SF_CHARS, max_size=120).map("".join),
    ),
    signature=st.one_of(
        st.binary(max_size=80).map(lambda b: b.decode("latin-1")),
        st.lists(_SF_CHARS, max_size=60).map("".join),
    ),
    digest=st.binary(max_size=60).map(lambda b: b.decode("latin-1")),
)
def test_random_header_text_only_ever_gives_an_auth_refusal(
    sig_input: str, signature: str, digest: str
) -> None:
    v = _verifier(Clock(10_000))
    headers = {"signature-input": sig_input, "signature": signature, "content-digest": digest}
    with pytest.raises(AuthError) as info:
        v.verify(headers, PARTS)
    assert info.value.fields["reason"] in REASONS


@settings(max_examples=200, deadline=None, derandomize=True)
@given(cut=st.integers(0, 200), junk=st.binary(min_size=1, max_size=4))
def test_mutated_valid_headers_never_escape_as_another_exception(cut: int, junk: bytes) -> None:
    v = _verifier(Clock(10_000))
    h = _sign_raw(
        b"a" * 32,
        STD + ' "content-digest"',
        OK,
        fields={"content-digest": "sha-256=:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=:"},
    )
    for name in ("signature-input", "signature", "content-digest"):
        text = h[name]
        at = cut % (len(text) + 1)
        mutated = {**h, name: text[:at] + junk.decode("latin-1") + text[at:]}
        try:
            assert v.verify(mutated, PARTS) == "alice"  # a harmless change (e.g. spaces)
        except AuthError as err:
            assert err.fields["reason"] in REASONS


_PRINTABLE = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=20)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(
    names=st.lists(_PRINTABLE, max_size=5),
    params=st.lists(
        st.tuples(
            st.sampled_from(["created", "expires", "keyid", "nonce", "tag", "alg", "x"]),
            st.one_of(st.integers(-(10**15) + 1, 10**15 - 1), _PRINTABLE, st.just(True)),
        ),
        max_size=6,
        unique_by=lambda kv: kv[0],
    ),
)
def test_signature_params_serialise_exactly_as_the_library(
    names: list[str], params: list[tuple[str, object]]
) -> None:
    from http_sf.innerlist import ser_innerlist

    sig = SignatureParams("sig1", tuple(names), tuple(params))
    assert sig.serialize() == ser_innerlist(([(n, {}) for n in names], dict(params)))
