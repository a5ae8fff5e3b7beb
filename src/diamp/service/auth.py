"""Pre-shared-key request signatures: RFC 9421 HTTP Message Signatures with hmac-sha256.

diamp's own client signs ``("@method" "@authority" "@path" "@query")`` with ``created``,
``keyid``, ``nonce`` and ``alg="hmac-sha256"``::

    Signature-Input: sig1=("@method" "@authority" "@path" "@query");created=1700000000;\
keyid="alice";nonce="3f1c…";alg="hmac-sha256"
    Signature: sig1=:BASE64(HMAC-SHA256(key, signature base)):

The verifier accepts any standard client (RFC 9421 §3.2, §7):

- **Components.** Any covered list that holds ``@method`` and the target, either as
  ``@authority`` + ``@path`` + ``@query``, as ``@authority`` + ``@request-target`` or as
  ``@target-uri``; other components are fine when the server can derive them
  (:func:`diamp.service.sigbase.component_value`).
- **Parameters.** ``keyid`` and ``created`` are required; ``created`` no older than the
  replay window (≤ 300 s), not in the future beyond the clock skew, and not before the
  server started (the replay cache lives in memory, so a restart must not reopen the
  window). ``expires``, if present, must not have passed. ``alg``, if present, must be
  ``hmac-sha256``. ``tag`` is accepted (and, if the verifier is given one, required to
  match). ``nonce`` is optional; any other parameter is refused.
- **Replay.** A signature is accepted once: by its (keyid, nonce), or, without a nonce, by
  its (keyid, signature value). Nonce-less clients therefore get one answer per distinct
  request per second (their ``created`` resolution); a second identical request within the
  same second is refused as a replay, never served. The cache is this process's memory or a
  shared store (:class:`diamp.service.shared.SharedNonces`, several processes or hosts).
- **Several signatures.** Every ``Signature-Input`` member with a ``Signature`` value is a
  candidate (those with the expected ``tag``, if one is set); the first that verifies
  authenticates the request. If none does, the refusal is that of the first candidate whose
  ``keyid`` turned out to be a client's (``bad_signature``, ``revoked``, ``rotated``), else
  of the first.

Signatures are compared with :func:`hmac.compare_digest`; an unknown ``keyid`` costs the
same HMAC as a known one.
"""

from __future__ import annotations

import hashlib
import hmac
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import NamedTuple, Protocol

from diamp.service.errors import AuthError
from diamp.service.sigbase import (
    ALG,
    COMPONENTS,
    PARAMS,
    RequestParts,
    SignatureParams,
    normalize_authority,
    parse_signature,
    parse_signature_input,
    parse_signatures,
    sign_request,
    signature_base,
    signature_values,
)

__all__ = [
    "COMPONENTS",
    "REASONS",
    "Accepted",
    "KeyLookup",
    "RequestParts",
    "SignatureParams",
    "StaticKeys",
    "Verifier",
    "normalize_authority",
    "parse_signature",
    "parse_signature_input",
    "sign_request",
    "signature_base",
]


REASONS = (
    "missing_signature", "malformed", "missing_component", "unsupported_component",
    "missing_parameter", "unsupported_parameter", "bad_alg", "bad_tag", "bad_digest",
    "not_yet_valid", "too_old", "expired", "unknown_key", "bad_signature", "revoked",
    "rotated", "replay", "busy",
)  # fmt: skip
"""Every ``reason`` a :class:`Verifier` refusal carries (the 401 metric's label)."""

_KNOWN_KEY = frozenset({"bad_signature", "revoked", "rotated"})
"""Refusals that say the signature's ``keyid`` is a client's (preferred among several)."""
_TARGETS = (("@authority", "@path", "@query"), ("@authority", "@request-target"), ("@target-uri",))
_TYPES: dict[str, type] = {
    "created": int, "expires": int, "keyid": str, "nonce": str, "tag": str, "alg": str,
}  # fmt: skip


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


class Accepted(NamedTuple):
    """A request whose signature verified, before its nonce is recorded (:meth:`Verifier.check`).

    ``nonce``: the replay-cache key (the nonce, or ``"sig:"`` and the signature value in hex);
    ``expires``: Unix seconds until which it must be remembered.
    """

    keyid: str
    nonce: str
    expires: float


class NonceStore(Protocol):
    """A nonce cache shared with other processes (:class:`diamp.service.shared.SharedNonces`)."""

    def remember(self, keyid: str, nonce: str, expires: float) -> None:
        """Record the nonce; ``AuthError`` (``replay``) if it was seen before."""


def _check_shape(sig: SignatureParams) -> None:
    """Parameters and components, before any key or clock is consulted."""
    for name, value in sig.params:
        if name not in PARAMS:
            raise AuthError(f"signature parameter {name!r} is not one RFC 9421 defines",
                            reason="unsupported_parameter")  # fmt: skip
        if type(value) is not _TYPES[name]:
            kind = "an integer" if _TYPES[name] is int else "a string"
            raise AuthError(f"signature parameter {name!r} must be {kind}", reason="malformed")
    for name in ("keyid", "created"):
        if sig.get(name) is None:
            raise AuthError(f"signature parameter {name!r} is required",
                            reason="missing_parameter")  # fmt: skip
    alg = sig.get("alg")
    if alg is not None and alg != ALG:
        raise AuthError(f"alg {alg!r} is not {ALG!r}", reason="bad_alg")
    nonce = sig.get("nonce")
    if nonce is not None and not 8 <= len(nonce) <= 128:
        raise AuthError("nonce must have 8 to 128 characters", reason="malformed")
    names = set(sig.names)
    if "@method" not in names:
        raise AuthError("signature must cover @method", reason="missing_component")
    if not any(names.issuperset(t) for t in _TARGETS):
        raise AuthError(
            "signature must cover the target: @authority with @path and @query "
            "(or @request-target), or @target-uri",
            reason="missing_component",
        )


class Verifier:
    """Checks request signatures against per-client keys, with a replay window and cache.

    ``keys``: a fixed mapping or a :class:`KeyLookup` (the server's reloading registry);
    ``nonces``: a shared nonce store (None:
    the cache lives in this process's memory). ``tag``: if set, only signatures with this
    ``tag`` parameter are considered.
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
        tag: str | None = None,
    ) -> None:
        if not 0 < window <= 300:
            raise AuthError(f"replay window must be 1..300 s, found {window}", reason="config")
        self.keys: KeyLookup = StaticKeys(keys) if isinstance(keys, Mapping) else keys
        self.window, self.skew, self.clock, self.tag = window, skew, clock, tag
        self.started = int(clock())
        self.cache_size = cache_size
        self._nonces: OrderedDict[tuple[str, str], float] = OrderedDict()
        self._lock = threading.Lock()
        self.shared = nonces

    def verify(self, headers: Mapping[str, str], parts: RequestParts) -> str:
        """The client id of a correctly signed, fresh, first-seen request.

        ``headers`` maps lowercase field names to the field's value (several lines joined
        by ", ").

        Raises
        ------
        AuthError
            With one of :data:`REASONS` as ``reason``.
        """
        accepted = self.check(headers, parts)
        self.remember(accepted)
        return accepted.keyid

    def check(self, headers: Mapping[str, str], parts: RequestParts) -> Accepted:
        """:meth:`verify` without recording the nonce: the caller must record it before serving.

        A shared store records it in the same transaction as the client's rate-limit
        spending (:meth:`diamp.service.shared.SharedBuckets.admit`); otherwise call
        :meth:`remember`. Raises as :meth:`verify` does, except ``replay`` and ``busy``.
        """
        text, signature = headers.get("signature-input"), headers.get("signature")
        if not text or not signature:
            raise AuthError("request is not signed (RFC 9421 Signature-Input and Signature "
                            "headers missing)", reason="missing_signature")  # fmt: skip
        values = signature_values(signature)
        candidates = [s for s in parse_signatures(text) if s.label in values]
        if not candidates:
            raise AuthError("no Signature member has the label of a Signature-Input member",
                            reason="malformed")  # fmt: skip
        if self.tag is not None:
            candidates = [s for s in candidates if s.get("tag") == self.tag]
            if not candidates:
                raise AuthError(f"no signature has tag {self.tag!r}", reason="bad_tag")
        fields = dict(headers)
        failures: list[tuple[bool, AuthError]] = []
        for sig in candidates:
            try:
                keyid, replay_key = self._check(sig, values[sig.label], parts, fields)
            except AuthError as err:
                failures.append((err.fields.get("reason") in _KNOWN_KEY, err))
                continue
            return Accepted(keyid, replay_key, int(sig.get("created")) + self.window + self.skew)
        raise next((err for known, err in failures if known), failures[0][1])

    def _check(self, sig: SignatureParams, mac: object, parts: RequestParts,
               fields: dict[str, str]) -> tuple[str, str]:  # fmt: skip
        """(keyid, replay-cache key) of one signature that verifies; AuthError otherwise."""
        if not isinstance(mac, bytes):
            raise AuthError(f"Signature {sig.label!r} is not a byte sequence", reason="malformed")
        _check_shape(sig)
        created, expires = sig.get("created"), sig.get("expires")
        now = self.clock()
        if created > now + self.skew:
            raise AuthError(f"created {created} is in the future", reason="not_yet_valid")
        if created < now - self.window or created < self.started:
            raise AuthError(f"created {created} is older than the replay window or the "
                            "server's start", reason="too_old")  # fmt: skip
        if expires is not None and (expires < created or expires + self.skew < now):
            raise AuthError(f"the signature expired at {expires}", reason="expired")
        keyid: str = sig.get("keyid")
        base = signature_base(parts, sig, fields)
        self.keys.match(
            keyid,
            lambda key: hmac.compare_digest(hmac.new(key, base, hashlib.sha256).digest(), mac),
        )
        nonce = sig.get("nonce")
        return keyid, nonce if nonce is not None else "sig:" + mac.hex()

    def remember(self, accepted: Accepted) -> None:
        """Record a checked request's nonce (``AuthError``: ``replay`` if seen, or ``busy``)."""
        keyid, nonce, expires = accepted
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
                raise AuthError("signature already used (replayed request)", reason="replay")
            self._nonces[(keyid, nonce)] = expires
