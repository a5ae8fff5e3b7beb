"""RFC 9421 signature inputs: parsing (RFC 8941, via ``http-sf``), components, the base.

A request is a :class:`RequestParts` (method, scheme, authority, path, query) and its header
fields (lowercase name → the field's lines joined by ", ", RFC 9110 §5.3). From them
:func:`component_value` derives every component this server can (RFC 9421 §2.1, §2.2):

- ``@method``, ``@authority`` (the Host, lowercased, without a default port), ``@scheme``,
  ``@target-uri`` (``scheme://Host path[?query]``), ``@request-target`` (``path[?query]``),
  ``@path`` (as sent, "/" if empty) and ``@query`` ("?" plus the query as sent);
- any header field present in the request, as sent (no component parameters).

Anything else (``@status``, ``@query-param``, component parameters such as ``;sf`` or
``;key``, an absent field) is refused as ``unsupported_component``, naming it. Parsing
follows RFC 8941 exactly through ``http_sf``: ``Signature-Input`` and ``Signature`` are
Dictionaries; a label given twice, a member of the wrong type or a header that is not a
Structured Field is ``malformed``.

The signature base is §2.5: one line ``<component identifier>: <value>`` per covered
component, then ``"@signature-params": <inner list>``, joined by LF with no trailing LF; the
identifier and the inner list are the RFC 8941 serialisations of what was parsed.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
from dataclasses import dataclass
from typing import Any

import http_sf
from http_sf.innerlist import ser_innerlist

from diamp.service.errors import AuthError

__all__ = [
    "ALG",
    "COMPONENTS",
    "RequestParts",
    "SignatureParams",
    "component_value",
    "normalize_authority",
    "parse_signature",
    "parse_signature_input",
    "parse_signatures",
    "sign_request",
    "signature_base",
    "signature_values",
]

ALG = "hmac-sha256"
COMPONENTS = ("@method", "@authority", "@path", "@query")
"""What diamp's own client covers (any set holding the required ones is accepted)."""
PARAMS = frozenset({"created", "expires", "nonce", "alg", "keyid", "tag"})
"""The signature parameters RFC 9421 §6.3.2 registers; any other is refused."""
MAX_SIGNATURES = 8
"""Members of one ``Signature-Input`` beyond this are refused (bounded verification work)."""

Params = tuple[tuple[str, Any], ...]


@dataclass(frozen=True)
class RequestParts:
    """The derived components of a request, values exactly as RFC 9421 §2.2 defines them."""

    method: str
    authority: str
    path: str
    query: str
    scheme: str = "http"
    host: str | None = None
    """The Host as sent (for ``@target-uri``); None: ``authority``."""


@dataclass(frozen=True)
class SignatureParams:
    """A parsed ``Signature-Input`` member: label, covered components, parameters in order.

    ``components`` holds ``(name, component parameters)`` pairs; a name alone is accepted
    where a pair is expected.
    """

    label: str
    components: tuple[Any, ...]
    params: Params

    def get(self, name: str) -> Any:
        """A parameter's value (None if absent)."""
        return self._params.get(name)

    @functools.cached_property
    def _params(self) -> dict[str, Any]:
        return dict(self.params)

    @functools.cached_property
    def items(self) -> tuple[tuple[str, dict[str, Any]], ...]:
        """The components as ``(name, parameters)`` pairs."""
        return tuple((c, {}) if isinstance(c, str) else (c[0], dict(c[1])) for c in self.components)

    @functools.cached_property
    def names(self) -> tuple[str, ...]:
        """The covered components' names (parameters dropped)."""
        return tuple(name for name, _ in self.items)

    def serialize(self) -> str:
        """The inner list as RFC 8941 serialises it (the ``@signature-params`` value).

        The common shape (names without parameters; integer and string parameters, as the
        verifier admits) is written here, which ``http_sf`` does character by character;
        any other goes through ``http_sf``. Both give the same text (tested).
        """
        items, plain = self.items, True
        for name, component_params in items:
            plain = plain and not component_params and _printable(name)
        for _, value in self.params:
            small = type(value) is int and abs(value) < 10**15
            plain = plain and (small or (type(value) is str and _printable(value)))
        if plain:
            names = " ".join(_string(name) for name, _ in items)
            tail = "".join(
                f";{k}={v}" if type(v) is int else f";{k}={_string(v)}" for k, v in self.params
            )
            return f"({names}){tail}"
        try:
            return ser_innerlist((list(items), dict(self.params)))
        except (ValueError, TypeError) as err:
            raise AuthError(f"signature parameters cannot be serialised: {err}",
                            reason="malformed") from err  # fmt: skip


def _printable(text: str) -> bool:
    """Whether an RFC 8941 String may hold ``text`` (printable ASCII, space included)."""
    return text.isascii() and text.isprintable()


def _string(text: str) -> str:
    """An RFC 8941 String of printable-ASCII ``text`` (backslash and quote escaped)."""
    if "\\" in text or '"' in text:
        text = text.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{text}"'


@functools.lru_cache(maxsize=1024)
def _identifier(name: str) -> str:
    """The serialised component identifier of a name without parameters."""
    return http_sf.ser(name)


def normalize_authority(host: str, scheme: str) -> str:
    """Host header lowercased, default port (80 for http, 443 for https) removed."""
    host = host.strip().lower()
    default = {"http": ":80", "https": ":443"}.get(scheme, "")
    return host[: -len(default)] if default and host.endswith(default) else host


def _dictionary(text: str, header: str) -> dict[str, Any]:
    def duplicate(key: str, context: str) -> None:
        raise AuthError(f"{header} names {key!r} twice", reason="malformed")

    try:
        parsed = http_sf.parse(text.encode("latin-1"), tltype="dictionary",
                               on_duplicate_key=duplicate)  # fmt: skip
    except AuthError:
        raise
    except (ValueError, TypeError, IndexError, KeyError, UnicodeError) as err:
        raise AuthError(f"{header} is not an RFC 8941 Dictionary: {err}",
                        reason="malformed") from err  # fmt: skip
    if not isinstance(parsed, dict) or not parsed:
        raise AuthError(f"{header} has no members", reason="malformed")
    return parsed


def parse_signatures(text: str) -> tuple[SignatureParams, ...]:
    """Every member of a ``Signature-Input`` field, in order.

    Raises
    ------
    AuthError
        ``malformed`` if it is not a Dictionary of inner lists of strings, or has more than
        :data:`MAX_SIGNATURES` members.
    """
    members = _dictionary(text, "Signature-Input")
    if len(members) > MAX_SIGNATURES:
        raise AuthError(f"Signature-Input has {len(members)} members, at most "
                        f"{MAX_SIGNATURES} are read", reason="malformed")  # fmt: skip
    found = []
    for label, (value, params) in members.items():
        if not isinstance(value, list) or not all(
            isinstance(item, tuple) and type(item[0]) is str for item in value
        ):
            raise AuthError(f"Signature-Input {label!r} is not an inner list of component "
                            "names", reason="malformed")  # fmt: skip
        found.append(SignatureParams(label, tuple(value), tuple(params.items())))
    return tuple(found)


def parse_signature_input(text: str) -> SignatureParams:
    """The one member of a one-member ``Signature-Input`` (``malformed`` otherwise)."""
    found = parse_signatures(text)
    if len(found) != 1:
        raise AuthError("Signature-Input is not one member", reason="malformed")
    return found[0]


def signature_values(text: str) -> dict[str, object]:
    """Label → value of each ``Signature`` member (``malformed`` if not a Dictionary)."""
    return {label: value for label, (value, _) in _dictionary(text, "Signature").items()}


def parse_signature(text: str, label: str) -> bytes:
    """The byte sequence of the ``Signature`` member ``label``.

    Raises
    ------
    AuthError
        ``malformed`` if the field is not a Dictionary, has no member ``label`` or that
        member is not a byte sequence.
    """
    value = signature_values(text).get(label)
    if not isinstance(value, bytes):
        raise AuthError(f"Signature has no byte sequence labelled {label!r}", reason="malformed")
    return value


def _unsupported(name: str, why: str) -> AuthError:
    return AuthError(f"covered component {name!r}: {why}", reason="unsupported_component")


def _derived(name: str, parts: RequestParts) -> str:
    """A derived component's value (RFC 9421 §2.2), or ``unsupported_component``."""
    if name == "@method":
        return parts.method
    if name == "@authority":
        return parts.authority
    if name == "@path":
        return parts.path or "/"
    if name == "@query":
        return parts.query or "?"
    query = "" if parts.query in ("", "?") else parts.query
    if name == "@target-uri":
        host = (parts.host or parts.authority).strip()
        return f"{parts.scheme.lower()}://{host}{parts.path or '/'}{query}"
    if name == "@request-target":
        return (parts.path or "/") + query
    if name == "@scheme":
        return parts.scheme.lower()
    raise _unsupported(name, "not a request component this server derives")


def component_value(name: str, params: dict[str, Any], parts: RequestParts,
                    fields: dict[str, str]) -> str:  # fmt: skip
    """The value of one covered component (RFC 9421 §2.1, §2.2), or ``unsupported_component``."""
    if params:
        raise _unsupported(name, f"component parameters {sorted(params)} are not supported")
    if name.startswith("@"):
        return _derived(name, parts)
    if name != name.lower() or not name:
        raise _unsupported(name, "field names are covered in lowercase")
    if name in ("signature", "signature-input"):
        raise _unsupported(name, "a signature cannot cover the signature fields")
    value = fields.get(name)
    if value is None:
        raise _unsupported(name, "the request has no such header field")
    if name == "content-digest":
        check_empty_digest(value)
    return value


_EMPTY = {"sha-256": hashlib.sha256(b"").digest(), "sha-512": hashlib.sha512(b"").digest()}


def check_empty_digest(value: str) -> None:
    """Refuse a ``Content-Digest`` (RFC 9530) that is not the digest of no content.

    The signed routes are GETs whose content is never read, so a covered digest must be
    that of the empty content: each member it names that we know (sha-256, sha-512) must
    match, and it must name at least one.
    """
    members = _dictionary(value, "Content-Digest")
    known = {k: v for k, (v, _) in members.items() if k in _EMPTY}
    if not known or any(v != _EMPTY[k] for k, v in known.items()):
        raise AuthError("Content-Digest is not the sha-256 or sha-512 digest of the empty "
                        "content these routes read", reason="bad_digest")  # fmt: skip


def signature_base(parts: RequestParts, sig: SignatureParams,
                   fields: dict[str, str] | None = None) -> bytes:  # fmt: skip
    """The RFC 9421 §2.5 signature base of ``sig`` over this request.

    Raises
    ------
    AuthError
        ``malformed`` for a component covered twice or a value that cannot be in a base
        (line breaks, non-ASCII); ``unsupported_component`` for one the server cannot derive.
    """
    lines, seen = [], set()
    for name, params in sig.items:
        identifier = _identifier(name) if not params else http_sf.ser((name, params))
        if identifier in seen:
            raise AuthError(f"component {identifier} is covered twice", reason="malformed")
        seen.add(identifier)
        value = component_value(name, params, parts, fields or {})
        lines.append(f"{identifier}: {value}")
    lines.append(f'"@signature-params": {sig.serialize()}')
    base = "\n".join(lines)
    if not base.isascii() or "\r" in base or base.count("\n") != len(lines) - 1:
        raise AuthError("a covered value holds a line break or non-ASCII text",
                        reason="malformed")  # fmt: skip
    return base.encode("ascii")


def sign_request(
    key: bytes, keyid: str, parts: RequestParts, *, created: int, nonce: str, label: str = "sig1"
) -> dict[str, str]:
    """The ``Signature-Input`` and ``Signature`` headers diamp's client sends."""
    sig = SignatureParams(
        label, COMPONENTS, (("created", created), ("keyid", keyid), ("nonce", nonce), ("alg", ALG))
    )
    mac = hmac.new(key, signature_base(parts, sig), hashlib.sha256).digest()
    return {
        "Signature-Input": f"{label}={sig.serialize()}",
        "Signature": f"{label}=:{base64.b64encode(mac).decode()}:",
    }
