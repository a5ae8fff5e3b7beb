"""Pre-shared-key request signatures: RFC 9421 HTTP Message Signatures with hmac-sha256.

A client signs ``("@method" "@authority" "@path" "@query")`` with the parameters
``created`` (Unix seconds), ``keyid``, ``nonce`` and ``alg="hmac-sha256"``::

    Signature-Input: sig1=("@method" "@authority" "@path" "@query");created=1700000000;\
keyid="alice";nonce="3f1c…";alg="hmac-sha256"
    Signature: sig1=:BASE64(HMAC-SHA256(key, signature base)):

The signature base is RFC 9421 §2.5: one line ``"<component>": <value>`` per covered
component, then ``"@signature-params": <inner list>``, joined by LF with no trailing LF.
Derived values (§2.2): ``@method`` as sent; ``@authority`` the Host, lowercased, without a
default port; ``@path`` the request path as sent (percent-encoding kept), "/" if empty;
``@query`` "?" plus the query as sent ("?" alone without one).

The verifier requires exactly those four components and four parameters, ``created`` no
older than the replay window (≤ 300 s), not in the future beyond a small skew, and not
before the server started (the nonce cache lives in memory, so a restart must not reopen
the window); each (keyid, nonce) is accepted once: by this process, or with a shared nonce
store (:class:`diamp.service.shared.SharedNonces`, several processes or hosts) by all of
them. Signatures are compared with
:func:`hmac.compare_digest`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

from diamp.service.errors import AuthError

__all__ = [
    "COMPONENTS",
    "RequestParts",
    "SignatureParams",
    "Verifier",
    "parse_signature",
    "parse_signature_input",
    "sign_request",
    "signature_base",
]

COMPONENTS = ("@method", "@authority", "@path", "@query")
ALG = "hmac-sha256"
_TOKEN = r'"(?:[^"\\]|\\[\\"])*"'
_MEMBER = re.compile(
    r"^\s*([a-z*][a-z0-9_.*-]*)=\(((?:\s*"
    + _TOKEN
    + r")*)\s*\)((?:;[a-z*][a-z0-9_.*-]*=(?:-?\d{1,15}|"
    + _TOKEN
    + r"))*)\s*$"
)
_PARAM = re.compile(r";([a-z*][a-z0-9_.*-]*)=(-?\d{1,15}|" + _TOKEN + r")")
_SIG = re.compile(r"^\s*([a-z*][a-z0-9_.*-]*)=:([A-Za-z0-9+/=]*):\s*$")


@dataclass(frozen=True)
class SignatureParams:
    """A parsed ``Signature-Input`` member: label, covered components, parameters in order."""

    label: str
    components: tuple[str, ...]
    params: tuple[tuple[str, int | str], ...]

    def get(self, name: str) -> int | str | None:
        """A parameter's value (None if absent)."""
        return next((v for k, v in self.params if k == name), None)

    def serialize(self) -> str:
        """The inner list as RFC 8941 serialises it (the ``@signature-params`` value)."""
        items = " ".join(_quote(c) for c in self.components)
        params = "".join(
            f";{k}={v}" if isinstance(v, int) else f";{k}={_quote(v)}" for k, v in self.params
        )
        return f"({items}){params}"


@dataclass(frozen=True)
class RequestParts:
    """The derived components of a request (values exactly as §2.2 defines them)."""

    method: str
    authority: str
    path: str
    query: str

    def value(self, component: str) -> str:
        """The value of one derived component."""
        value: str = getattr(self, _FIELDS[component])
        return value


_FIELDS = {"@method": "method", "@authority": "authority", "@path": "path", "@query": "query"}


def _quote(text: str) -> str:
    if "\\" in text or '"' in text:
        text = text.replace("\\", "\\\\").replace('"', '\\"')
    return '"' + text + '"'


def _unquote(token: str) -> str:
    inner = token[1:-1]
    return re.sub(r"\\([\\\"])", r"\1", inner) if "\\" in inner else inner


def normalize_authority(host: str, scheme: str) -> str:
    """Host header lowercased, default port (80 for http, 443 for https) removed."""
    host = host.strip().lower()
    default = {"http": ":80", "https": ":443"}.get(scheme, "")
    return host[: -len(default)] if default and host.endswith(default) else host


def parse_signature_input(text: str) -> SignatureParams:
    """Parse a one-member ``Signature-Input`` dictionary (RFC 8941 inner list).

    Raises
    ------
    AuthError
        ``malformed`` if it is not exactly one well-formed member.
    """
    m = _MEMBER.match(text)
    if m is None:
        raise AuthError("Signature-Input is not one well-formed member", reason="malformed")
    components = tuple(_unquote(t) for t in re.findall(_TOKEN, m.group(2)))
    params: list[tuple[str, int | str]] = []
    for name, raw in _PARAM.findall(m.group(3)):
        params.append((name, _unquote(raw) if raw.startswith('"') else int(raw)))
    if len({k for k, _ in params}) != len(params):
        raise AuthError("Signature-Input repeats a parameter", reason="malformed")
    return SignatureParams(m.group(1), components, tuple(params))


def parse_signature(text: str, label: str) -> bytes:
    """The byte sequence of the ``Signature`` member ``label``."""
    m = _SIG.match(text)
    if m is None or m.group(1) != label:
        raise AuthError(
            f"Signature is not one byte sequence labelled {label!r}", reason="malformed"
        )
    try:
        return base64.b64decode(m.group(2), validate=True)
    except binascii.Error as err:
        raise AuthError("Signature is not valid base64", reason="malformed") from err


def signature_base(parts: RequestParts, sig: SignatureParams) -> bytes:
    """The RFC 9421 §2.5 signature base (derived components only)."""
    lines = [f"{_quote(c)}: {parts.value(c)}" for c in sig.components]
    lines.append(f'"@signature-params": {sig.serialize()}')
    return "\n".join(lines).encode()


def sign_request(
    key: bytes, keyid: str, parts: RequestParts, *, created: int, nonce: str, label: str = "sig1"
) -> dict[str, str]:
    """The ``Signature-Input`` and ``Signature`` headers for a request."""
    sig = SignatureParams(
        label, COMPONENTS, (("created", created), ("keyid", keyid), ("nonce", nonce), ("alg", ALG))
    )
    mac = hmac.new(key, signature_base(parts, sig), hashlib.sha256).digest()
    return {
        "Signature-Input": f"{label}={sig.serialize()}",
        "Signature": f"{label}=:{base64.b64encode(mac).decode()}:",
    }


class KeyLookup(Protocol):
    """Where the verifier finds a client's keys (:class:`diamp.service.clients.ClientRegistry`)."""

    def match(self, keyid: str, verifies: Callable[[bytes], bool]) -> None:
        """Return if ``verifies(key)`` holds for a valid key of ``keyid``; else ``AuthError``."""


class StaticKeys:
    """A fixed ``keyid`` → key mapping as a :class:`KeyLookup`."""

    def __init__(self, keys: Mapping[str, bytes]) -> None:
        self.keys = dict(keys)

    def match(self, keyid: str, verifies: Callable[[bytes], bool]) -> None:
        """See :meth:`KeyLookup.match` (an unknown id costs one dummy verification too)."""
        key = self.keys.get(keyid)
        if not verifies(key or b"\0" * 32) or key is None:
            reason = "unknown_key" if key is None else "bad_signature"
            raise AuthError(f"signature does not verify ({reason})", reason=reason)


class NonceStore(Protocol):
    """A nonce cache shared with other processes (:class:`diamp.service.shared.SharedNonces`)."""

    def remember(self, keyid: str, nonce: str, expires: float) -> None:
        """Record the nonce; ``AuthError`` (``replayed``) if it was seen before."""


class Verifier:
    """Checks request signatures against per-client keys, with a replay window and nonces.

    ``keys``: a fixed mapping or a :class:`KeyLookup` (the server's reloading registry);
    ``nonces``: a shared nonce store (None: the cache lives in this process's memory).
    """

    def __init__(
        self,
        keys: Mapping[str, bytes] | KeyLookup,
        *,
        window: int = 300,
        skew: int = 5,
        cache_size: int = 1_000_000,
        clock: Callable[[], float] = time.time,
        nonces: NonceStore | None = None,
    ) -> None:
        if not 0 < window <= 300:
            raise AuthError(f"replay window must be 1..300 s, found {window}", reason="config")
        self.keys: KeyLookup = StaticKeys(keys) if isinstance(keys, Mapping) else keys
        self.window, self.skew, self.clock = window, skew, clock
        self.started = int(clock())
        self.cache_size = cache_size
        self._nonces: OrderedDict[tuple[str, str], float] = OrderedDict()
        self._lock = threading.Lock()
        self.shared = nonces

    def verify(self, headers: Mapping[str, str], parts: RequestParts) -> str:
        """The client id of a correctly signed, fresh, first-seen request.

        Raises
        ------
        AuthError
            With ``reason`` ``unsigned``, ``malformed``, ``components``, ``alg``,
            ``expired``, ``future``, ``unknown_key``, ``bad_signature``, ``revoked``,
            ``rotated`` (a replaced key after its grace period) or ``replayed``.
        """
        text, signature = headers.get("signature-input"), headers.get("signature")
        if not text or not signature:
            raise AuthError("request is not signed (RFC 9421 headers missing)", reason="unsigned")
        sig = parse_signature_input(text)
        mac = parse_signature(signature, sig.label)
        if sig.components != COMPONENTS:
            raise AuthError(f"signature must cover exactly {COMPONENTS}", reason="components")
        names = sorted(k for k, _ in sig.params)
        created, keyid, nonce = sig.get("created"), sig.get("keyid"), sig.get("nonce")
        if names != ["alg", "created", "keyid", "nonce"] or sig.get("alg") != ALG:
            raise AuthError(f"parameters must be created, keyid, nonce, alg={ALG!r}", reason="alg")
        if not (isinstance(created, int) and isinstance(keyid, str) and isinstance(nonce, str)):
            raise AuthError(
                "created must be an integer, keyid and nonce strings", reason="malformed"
            )
        if not 8 <= len(nonce) <= 128:
            raise AuthError("nonce must have 8 to 128 characters", reason="malformed")
        now = self.clock()
        if created > now + self.skew:
            raise AuthError(f"created {created} is in the future", reason="future")
        if created < now - self.window or created < self.started:
            raise AuthError(f"created {created} is outside the replay window", reason="expired")
        base = signature_base(parts, sig)
        self.keys.match(
            keyid,
            lambda key: hmac.compare_digest(hmac.new(key, base, hashlib.sha256).digest(), mac),
        )
        self._remember(keyid, nonce, created + self.window + self.skew)
        return keyid

    def _remember(self, keyid: str, nonce: str, expires: float) -> None:
        if self.shared is not None:
            self.shared.remember(keyid, nonce, expires)
            return
        now = self.clock()
        with self._lock:
            while self._nonces:
                first = next(iter(self._nonces.items()))
                if first[1] >= now and len(self._nonces) < self.cache_size:
                    break
                if first[1] >= now:  # full of live nonces: refuse rather than forget one
                    raise AuthError("nonce cache full; retry later", reason="busy")
                self._nonces.popitem(last=False)
            if (keyid, nonce) in self._nonces:
                raise AuthError("nonce already used (replayed request)", reason="replayed")
            self._nonces[(keyid, nonce)] = expires
