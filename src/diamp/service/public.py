"""Who an unsigned request to a public tier comes from: the rate-limit key of its address.

A public tier (``[[tiers]] public = true``) serves without a signature, so its rate limit is
kept per client address. The address is the TCP peer's, unless the peer is one of
``[server] trusted_proxies``: only then is ``X-Forwarded-For`` read, from the right (the
entry the nearest proxy appended) leftwards past every trusted proxy; the first address that
is not one is the client. Entries left of it were written by that client and are never
believed. A malformed entry stops the walk: the hop that passed it on is taken as the
client (a proxy then shares one limit with everyone behind it, never the reverse).

Keys are bounded by what an attacker can own: an IPv4 address, or the /64 of an IPv6
address (one subscriber's usual allocation; a client with a whole /64 has 2^64 addresses).
IPv4-mapped IPv6 addresses count as their IPv4 address.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence

__all__ = ["KEY_PREFIX", "Network", "client_address", "parse_networks", "rate_key"]

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
KEY_PREFIX = "public "
"""Every public rate-limit key starts so (a space: never a signing client's id)."""
_Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def parse_networks(items: Iterable[str]) -> tuple[Network, ...]:
    """Addresses or CIDR networks (``10.0.0.1``, ``10.0.0.0/8``, ``::1``).

    Raises
    ------
    ValueError
        Naming the first item that is neither (host bits set in a network count as wrong).
    """
    found = []
    for item in items:
        try:
            found.append(ipaddress.ip_network(item, strict=True))
        except ValueError as err:
            raise ValueError(f"{item!r} is not an IP address or network: {err}") from err
    return tuple(found)


def _address(text: str) -> _Address | None:
    text = text.strip()
    if text.startswith("[") and "]" in text:  # [v6]:port
        text = text[1 : text.index("]")]
    elif text.count(":") == 1:  # v4:port
        text = text.partition(":")[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _trusted(address: _Address, trusted: Sequence[Network]) -> bool:
    return any(address.version == n.version and address in n for n in trusted)


def client_address(
    peer: str | None, forwarded: Sequence[str], trusted: Sequence[Network]
) -> _Address | None:
    """The client's address (see the module docs); None when the peer has no IP address.

    ``forwarded`` holds every ``X-Forwarded-For`` header value in the order received.
    """
    hop = _address(peer) if peer is not None else None
    if hop is None or not _trusted(hop, trusted):
        return hop
    entries = [e for value in forwarded for e in value.split(",")]
    for entry in reversed(entries):
        found = _address(entry)
        if found is None:
            return hop
        hop = found
        if not _trusted(hop, trusted):
            return hop
    return hop  # every hop is a trusted proxy: the leftmost one is the client


def rate_key(address: _Address | None) -> str:
    """The rate-limit key of an address (an IPv6 address by its /64; module docs).

    It contains a space, so it never equals a signing client's id.
    """
    if address is None:
        return KEY_PREFIX + "unknown"
    if isinstance(address, ipaddress.IPv6Address):
        return KEY_PREFIX + str(ipaddress.IPv6Network((address, 64), strict=False))
    return KEY_PREFIX + str(address)
