"""A client for the service: RFC 9421-signed requests with a pre-shared key (httpx).

>>> with Client("https://127.0.0.1:8443", "alice", key, verify="ca.pem") as c:  # doctest: +SKIP
...     data = c.random(32)
"""

from __future__ import annotations

import base64
import os
import time
import urllib.parse
from types import TracebackType
from typing import Any, Literal, Self

from diamp.service.auth import RequestParts, normalize_authority, sign_request
from diamp.service.errors import ServiceError

__all__ = ["Client", "ClientError", "signed_headers"]

_LOOPBACK = ("127.0.0.1", "::1", "localhost")


class ClientError(ServiceError):
    """The server refused a request (``status`` holds the HTTP code)."""


def signed_headers(key: bytes, key_id: str, url: str, method: str = "GET") -> dict[str, str]:
    """RFC 9421 headers for ``method url`` (created now, a fresh 128-bit nonce)."""
    u = urllib.parse.urlsplit(url)
    parts = RequestParts(
        method=method.upper(),
        authority=normalize_authority(u.netloc, u.scheme),
        path=u.path or "/",
        query="?" + u.query,
    )
    return sign_request(key, key_id, parts, created=int(time.time()), nonce=os.urandom(16).hex())


class Client:
    """Signed requests to one server.

    Parameters
    ----------
    base_url
        ``http://host:port`` or ``https://host:port``.
    key_id, key
        The client id and its 256-bit key.
    verify
        TLS verification: True, False, or a CA bundle path (e.g. a self-signed server
        certificate).
    timeout
        Seconds per request.
    auth
        ``"signature"`` (RFC 9421) or ``"api_key"``: the ``x-api-key`` header of tiers with
        ``auth = "api_key"`` (derived from ``key``, :func:`diamp.service.keys.api_key`),
        sent over https only, or to a loopback address.
    """

    def __init__(
        self, base_url: str, key_id: str, key: bytes, *, verify: bool | str = True,
        timeout: float = 30.0, auth: Literal["signature", "api_key"] = "signature",
    ) -> None:  # fmt: skip
        import ssl

        import httpx

        self.base_url, self.key_id, self.key = base_url.rstrip("/"), key_id, key
        self.auth = auth
        u = urllib.parse.urlsplit(self.base_url)
        if auth == "api_key" and u.scheme != "https" and u.hostname not in _LOOPBACK:
            raise ClientError(f"{base_url}: an API key is sent over https only (or to a "
                              f"loopback address)", status=None)  # fmt: skip
        context: bool | ssl.SSLContext = verify if isinstance(verify, bool) else (
            ssl.create_default_context(cafile=verify)
        )  # fmt: skip
        self._http = httpx.Client(verify=context, timeout=timeout)

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def get(self, path: str, params: dict[str, Any]) -> Any:
        """A signed GET; returns the httpx response (any status)."""
        query = urllib.parse.urlencode({k: v for k, v in params.items() if v is not None})
        url = f"{self.base_url}{path}" + (f"?{query}" if query else "")
        import httpx

        try:
            return self._http.get(url, headers=self._auth_headers(url))
        except httpx.HTTPError as err:
            raise ClientError(f"{url}: {type(err).__name__}: {err}", status=None) from err

    def _auth_headers(self, url: str) -> dict[str, str]:
        if self.auth == "api_key":
            from diamp.service.keys import api_key

            return {"x-api-key": api_key(self.key).hex()}
        return signed_headers(self.key, self.key_id, url)

    def random(
        self, nbytes: int, *, tier: str | None = None,
        format: Literal["binary", "hex", "base64"] = "binary",
    ) -> bytes:  # fmt: skip
        """``nbytes`` random bytes (decoded from hex/base64 when asked in those formats).

        Raises
        ------
        ClientError
            If the server answers anything but 200.
        """
        r = self.get("/v1/random", {"bytes": nbytes, "format": format, "tier": tier})
        if r.status_code != 200:
            raise ClientError(
                f"{r.request.url}: HTTP {r.status_code}: {r.text[:300]}", status=r.status_code
            )
        if format == "binary":
            data: bytes = r.content
        elif format == "hex":
            data = bytes.fromhex(r.text)
        else:
            data = base64.b64decode(r.text, validate=True)
        if len(data) != nbytes:
            raise ClientError(f"server sent {len(data)} bytes, asked for {nbytes}", status=200)
        return data
