"""RFC 9421 interoperability: standard clients sign for a real server; they verify diamp's client.

``http-message-signatures`` and ``requests-http-signature`` are used in their default
configurations (only the key, the keyid and hmac-sha256 given): neither sends a ``nonce`` by
default, both cover ``@target-uri``, and ``requests-http-signature`` adds ``date`` and a
``content-digest`` of the empty body. Every request goes to uvicorn on 127.0.0.1.
"""

from __future__ import annotations

import datetime
import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from _svc import config_text, fill_counter, serve, settings_for, words
from http_message_signatures import (
    HTTPMessageSigner,
    HTTPMessageVerifier,
    InvalidSignature,
    algorithms,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from requests_http_signature import HTTPSignatureAuth

from diamp.service.app import create_app
from diamp.service.auth import REASONS
from diamp.service.client import signed_headers


class Keys:
    """A key resolver for http-message-signatures (shared secrets)."""

    def __init__(self, keys: dict[str, bytes]) -> None:
        self.keys = keys

    def resolve_public_key(self, key_id: str) -> bytes:
        return self.keys[key_id]

    def resolve_private_key(self, key_id: str) -> bytes:
        return self.keys[key_id]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, bytes, Any]]:
    tmp = tmp_path_factory.mktemp("interop")
    text = config_text(
        pool="fill = false", server="rate_burst_requests = 1000\nrate_requests_per_second = 500"
    )
    settings, keys = settings_for(tmp, text)
    fill_counter(tmp / "pool.sqlite", "standard", 20_000)
    app = create_app(settings)
    with serve(app) as base:
        yield base, keys["alice"], app


def _failures(base: str) -> str:
    return requests.get(f"{base}/metrics", timeout=10).text


def _hms_request(base: str, key: bytes, query: str = "bytes=16", **sign: Any) -> Any:
    prepared = requests.Request("GET", f"{base}/v1/random?{query}").prepare()
    signer = HTTPMessageSigner(
        signature_algorithm=algorithms.HMAC_SHA256,
        key_resolver=Keys({"alice": key, **sign.pop("extra_keys", {})}),
    )
    signer.sign(prepared, key_id=sign.pop("key_id", "alice"), **sign)
    return prepared


def test_http_message_signatures_default_signer_gets_bytes(server: Any) -> None:
    base, key, _ = server
    prepared = _hms_request(base, key)
    assert "nonce" not in prepared.headers["Signature-Input"]  # the library's default
    with requests.Session() as s:
        r = s.send(prepared, timeout=10)
        assert r.status_code == 200, r.text
        assert len(r.content) == 16
        again = s.send(prepared, timeout=10)  # the same signature a second time: a replay
    assert again.status_code == 401 and again.json()["detail"].startswith("replay:")
    assert again.headers["WWW-Authenticate"] == "Signature"


def test_requests_http_signature_default_auth_gets_bytes(server: Any) -> None:
    base, key, _ = server
    auth = HTTPSignatureAuth(key=key, key_id="alice", signature_algorithm=algorithms.HMAC_SHA256)
    seen: list[int] = []
    for n in (16, 24, 32):  # distinct requests: distinct signatures, all served once
        r = requests.get(f"{base}/v1/random", params={"bytes": n}, auth=auth, timeout=10)
        assert r.status_code == 200, r.text
        assert len(r.content) == n
        assert '"content-digest"' in r.request.headers["Signature-Input"]
        assert '"date"' in r.request.headers["Signature-Input"]
        seen += words(r.content)
    assert len(seen) == len(set(seen))  # counter words: nothing served twice


def test_optional_parameters_and_other_target_forms_are_accepted(server: Any) -> None:
    base, key, _ = server
    auth = HTTPSignatureAuth(
        key=key, key_id="alice", signature_algorithm=algorithms.HMAC_SHA256, use_nonce=True,
        expires_in=datetime.timedelta(seconds=30), tag="diamp-test",
        covered_component_ids=("@method", "@authority", "@request-target", "@scheme"),
    )  # fmt: skip
    r = requests.get(f"{base}/v1/random?bytes=8&format=hex", auth=auth, timeout=10)
    assert r.status_code == 200, r.text
    params = r.request.headers["Signature-Input"]
    assert all(f";{p}=" in params for p in ("expires", "tag", "nonce", "alg"))
    prepared = _hms_request(
        base, key, covered_component_ids=("@method", "@authority", "@path", "@query")
    )
    with requests.Session() as s:
        assert s.send(prepared, timeout=10).status_code == 200


def test_several_signatures_the_one_with_our_key_wins(server: Any) -> None:
    base, key, _ = server
    # (a query of its own: without a nonce, the same request signed in the same second as
    # another test's would be that request's replay)
    prepared = _hms_request(base, key, "bytes=17", key_id="proxy", label="proxy",
                            extra_keys={"proxy": b"p" * 32})  # fmt: skip
    HTTPMessageSigner(
        signature_algorithm=algorithms.HMAC_SHA256, key_resolver=Keys({"alice": key})
    ).sign(prepared, key_id="alice", label="client", append_if_signature_exists=True)
    assert prepared.headers["Signature-Input"].startswith("proxy=")
    with requests.Session() as s:
        ok = s.send(prepared, timeout=10)
    assert ok.status_code == 200, ok.text
    # Neither verifies: the refusal is the one of the signature whose keyid we know.
    bad = _hms_request(base, key, key_id="proxy", label="proxy", extra_keys={"proxy": b"p" * 32})
    HTTPMessageSigner(
        signature_algorithm=algorithms.HMAC_SHA256, key_resolver=Keys({"alice": b"w" * 32})
    ).sign(bad, key_id="alice", label="client", append_if_signature_exists=True)
    with requests.Session() as s:
        r = s.send(bad, timeout=10)
    assert r.status_code == 401 and r.json()["detail"].startswith("bad_signature:")


@pytest.mark.parametrize(
    ("sign", "reason"),
    [
        ({"expires": -60}, "expired"),  # seconds from now, taken when the test runs
        ({"covered_component_ids": ("@method", "@authority", "@path")}, "missing_component"),
        ({"covered_component_ids": ("@authority", "@target-uri")}, "missing_component"),
        (
            {"covered_component_ids": ("@method", "@target-uri", '"@query-param";name="bytes"')},
            "unsupported_component",
        ),
        ({"key_id": "mallory", "extra_keys": {"mallory": b"m" * 32}}, "unknown_key"),
        ({"created": -400}, "too_old"),
        ({"created": 60}, "not_yet_valid"),
    ],
)
def test_library_signed_refusals_name_the_reason(server: Any, sign: dict[str, Any],
                                                 reason: str) -> None:  # fmt: skip
    base, key, _ = server
    now = datetime.datetime.now()  # not at collection: the suite may run this minutes later
    sign = {
        k: now + datetime.timedelta(seconds=v) if k in ("created", "expires") else v
        for k, v in sign.items()
    }
    prepared = _hms_request(base, key, **sign)
    with requests.Session() as s:
        r = s.send(prepared, timeout=10)
    assert r.status_code == 401, r.text
    assert r.json()["detail"].startswith(f"{reason}:")
    assert f'diamp_auth_failures_total{{reason="{reason}"}}' in _failures(base)


def _diamp_request(key: bytes, url: str) -> Any:
    prepared = requests.Request("GET", url).prepare()
    prepared.headers.update(signed_headers(key, "alice", url))
    return prepared


def test_libraries_verify_diamp_client_signatures() -> None:
    key = b"k" * 32
    url = "https://rng.example.org:8443/v1/random?bytes=32&format=hex"
    prepared = _diamp_request(key, url)
    verifier = HTTPMessageVerifier(signature_algorithm=algorithms.HMAC_SHA256,
                                   key_resolver=Keys({"alice": key}))  # fmt: skip
    (result,) = verifier.verify(
        prepared, require_components=("@method", "@authority", "@path", "@query")
    )
    assert result.parameters["keyid"] == "alice" and result.nonce
    assert result.covered_components['"@query"'] == "?bytes=32&format=hex"
    # requests-http-signature's verify() requires @target-uri unless told otherwise; diamp's
    # client signs the target as @authority + @path + @query (a TLS-terminating proxy changes
    # the scheme the server sees, so the client does not sign it), which it verifies when
    # asked to require those.
    with pytest.raises(InvalidSignature, match="@target-uri"):
        HTTPSignatureAuth.verify(prepared, signature_algorithm=algorithms.HMAC_SHA256,
                                 key_resolver=Keys({"alice": key}))  # fmt: skip
    again = HTTPSignatureAuth.verify(
        prepared, signature_algorithm=algorithms.HMAC_SHA256, key_resolver=Keys({"alice": key}),
        require_components=("@method", "@authority", "@path", "@query"),
    )  # fmt: skip
    assert again.label == "sig1"
    # A changed query, or another key, does not verify with either library.
    tampered = _diamp_request(key, url)
    tampered.prepare_url(url.replace("bytes=32", "bytes=4096"), None)
    for check in (
        lambda: verifier.verify(tampered),
        lambda: HTTPMessageVerifier(signature_algorithm=algorithms.HMAC_SHA256,
                                    key_resolver=Keys({"alice": b"w" * 32})).verify(prepared),
    ):  # fmt: skip
        with pytest.raises(InvalidSignature):
            check()


def test_library_signature_for_another_server_is_refused(server: Any) -> None:
    base, key, _ = server
    prepared = _hms_request(base, key)
    prepared.headers["Host"] = "rng.example.org"  # signed @authority/@target-uri of another host
    with requests.Session() as s:
        r = s.send(prepared, timeout=10)
    assert r.status_code == 401 and r.json()["detail"].startswith("authority:")


def _raw_get(base: str, header_lines: bytes, query: bytes = b"bytes=16") -> bytes:
    """One HTTP/1.1 GET over a fresh socket with the given header lines; the whole answer."""
    host, port = base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as s:
        s.sendall(
            b"GET /v1/random?%s HTTP/1.1\r\nHost: %s:%s\r\n" % (query, host.encode(), port.encode())
            + header_lines
            + b"Connection: close\r\n\r\n"
        )
        chunks = []
        while chunk := s.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


_FIELD_BYTES = st.binary(min_size=1, max_size=120).map(
    lambda b: bytes(c for c in b if c not in b"\r\n") or b"x"
)


@settings(max_examples=60, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])  # fmt: skip
@given(sig_input=_FIELD_BYTES, signature=_FIELD_BYTES)
def test_random_signature_header_bytes_get_a_refusal_never_a_500(
    server: Any, sig_input: bytes, signature: bytes
) -> None:
    base, _, _ = server
    answer = _raw_get(base, b"Signature-Input: %s\r\nSignature: %s\r\n" % (sig_input, signature))
    status = int(answer.split(b" ", 2)[1])
    assert status in (400, 401), answer[:300]
    assert b"Traceback" not in answer
    if status == 401:
        reason = json.loads(answer.split(b"\r\n\r\n", 1)[1])["detail"].split(":", 1)[0]
        assert reason in REASONS


def test_a_configured_signature_tag_is_required(tmp_path: Path) -> None:
    text = config_text(pool="fill = false", server='signature_tag = "diamp-prod"')
    settings, keys = settings_for(tmp_path, text)
    fill_counter(tmp_path / "pool.sqlite", "standard", 4096)
    with serve(create_app(settings)) as base:
        url = f"{base}/v1/random?bytes=8"
        tagged = HTTPSignatureAuth(key=keys["alice"], key_id="alice", tag="diamp-prod",
                                   signature_algorithm=algorithms.HMAC_SHA256)  # fmt: skip
        assert requests.get(url, auth=tagged, timeout=10).status_code == 200
        other = HTTPSignatureAuth(key=keys["alice"], key_id="alice", tag="diamp-test",
                                  signature_algorithm=algorithms.HMAC_SHA256)  # fmt: skip
        untagged = HTTPSignatureAuth(key=keys["alice"], key_id="alice",
                                     signature_algorithm=algorithms.HMAC_SHA256)  # fmt: skip
        for auth in (other, untagged):
            r = requests.get(f"{base}/v1/random?bytes=9", auth=auth, timeout=10)
            assert r.status_code == 401 and r.json()["detail"].startswith("bad_tag:")


@pytest.mark.parametrize("tag", ['""', '"tab\\there"', '"é"'])
def test_an_invalid_signature_tag_is_refused_by_the_config(tmp_path: Path, tag: str) -> None:
    from diamp.service.errors import ServiceConfigError

    with pytest.raises(ServiceConfigError, match="signature_tag"):
        settings_for(tmp_path, config_text(server=f"signature_tag = {tag}"))


def test_signature_fields_split_over_several_lines_are_one_dictionary(server: Any) -> None:
    base, key, _ = server
    prepared = _hms_request(base, key, "bytes=18", key_id="proxy", label="proxy",
                            extra_keys={"proxy": b"p" * 32})  # fmt: skip
    HTTPMessageSigner(
        signature_algorithm=algorithms.HMAC_SHA256, key_resolver=Keys({"alice": key})
    ).sign(prepared, key_id="alice", label="client", append_if_signature_exists=True)
    lines = b"".join(
        b"%s: %s\r\n" % (name.encode(), member.encode())
        for name in ("Signature-Input", "Signature")
        for member in prepared.headers[name].split(", ")
    )
    assert lines.count(b"Signature-Input:") == 2 and lines.count(b"Signature:") == 2
    answer = _raw_get(base, lines, query=b"bytes=18")
    assert answer.startswith(b"HTTP/1.1 200"), answer[:300]
