"""Public tiers' rate-limit keys: the client address, X-Forwarded-For only from trusted proxies.

An attacker controls the left part of X-Forwarded-For and, without a trusted proxy in
front, all of it: every case here is one way of lying about an address.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from diamp.service.core import RateLimiter
from diamp.service.errors import ServiceConfigError
from diamp.service.keys import _ID
from diamp.service.public import KEY_PREFIX, client_address, parse_networks, rate_key
from diamp.service.settings import parse_settings
from diamp.service.shared import SharedBuckets, open_shared

PROXIES = parse_networks(["10.0.0.0/8", "fd00::/8"])


def _key(peer: str | None, *forwarded: str, trusted=PROXIES) -> str:  # type: ignore[no-untyped-def]
    return rate_key(client_address(peer, list(forwarded), trusted))


def test_without_trusted_proxies_the_header_is_never_read() -> None:
    assert _key("203.0.113.7", "198.51.100.1", trusted=()) == "public 203.0.113.7"
    assert _key("10.1.2.3", "198.51.100.1", trusted=()) == "public 10.1.2.3"


def test_a_peer_that_is_not_a_trusted_proxy_cannot_forward() -> None:
    assert _key("203.0.113.7", "198.51.100.1") == "public 203.0.113.7"


def test_the_rightmost_untrusted_entry_is_the_client() -> None:
    # the client sent "1.1.1.1" itself; the proxy appended the address it saw
    assert _key("10.0.0.5", "1.1.1.1, 198.51.100.9") == "public 198.51.100.9"
    # two proxies: the outer one (10.0.0.9) appended the client, the inner one the outer
    assert _key("10.0.0.5", "6.6.6.6, 198.51.100.9, 10.0.0.9") == "public 198.51.100.9"
    # several header lines are one list, in order
    assert _key("10.0.0.5", "6.6.6.6", "198.51.100.9") == "public 198.51.100.9"


def test_a_malformed_entry_stops_the_walk_at_the_hop_that_passed_it_on() -> None:
    assert _key("10.0.0.5", "1.1.1.1, garbage") == "public 10.0.0.5"
    assert _key("10.0.0.5", "1.1.1.1, not-an-ip, 10.0.0.9") == "public 10.0.0.9"
    assert _key("10.0.0.5", "") == "public 10.0.0.5"


def test_only_trusted_hops_means_the_leftmost_is_the_client() -> None:
    assert _key("10.0.0.5", "10.0.0.7, 10.0.0.9") == "public 10.0.0.7"
    assert _key("10.0.0.5") == "public 10.0.0.5"


def test_ipv6_clients_are_keyed_by_their_64() -> None:
    a = _key("2001:db8:1:2:aaaa::1", trusted=())
    b = _key("2001:db8:1:2:ffff:1:2:3", trusted=())
    assert a == b == "public 2001:db8:1:2::/64"
    assert _key("2001:db8:1:3::1", trusted=()) != a
    assert _key("::ffff:198.51.100.2", trusted=()) == "public 198.51.100.2"
    assert _key("fd00::1", "[2001:db8:9:9::5]:443") == "public 2001:db8:9:9::/64"
    assert _key("10.0.0.5", "198.51.100.9:5555") == "public 198.51.100.9"


def test_no_peer_address_shares_one_key() -> None:
    assert _key(None) == _key("not-an-address") == "public unknown"


def test_public_keys_never_equal_a_signing_clients_id() -> None:
    for key in (_key("203.0.113.7"), _key("2001:db8::1"), _key(None)):
        assert key.startswith(KEY_PREFIX) and _ID.match(key) is None


def test_trusted_proxies_are_checked_in_the_config() -> None:
    base = "schema_version = 1\n[[tiers]]\nname = 't'\nsources = ['s']\n"
    src = (
        "[[sources]]\nkind = 'simulated'\nname = 's'\nfamily = 'photon-counting'\n"
        "entropy = { model = 'declared', min_entropy = 7.0 }\n"
    )
    ok = parse_settings(f"{base}{src}[server]\ntrusted_proxies = ['10.0.0.0/8', '::1']\n")
    assert ok.server.trusted_proxies == ("10.0.0.0/8", "::1")
    for bad in ("'10.0.0.1/8'", "'proxy.example'", "''", "'10.0.0.0/33'"):
        with pytest.raises(ServiceConfigError, match=r"trusted_proxies|IP address"):
            parse_settings(f"{base}{src}[server]\ntrusted_proxies = [{bad}]\n")
    with pytest.raises(ServiceConfigError, match="public"):
        parse_settings(base.replace("sources = ['s']", "sources = ['s']\npublic = 1") + src)


def test_idle_full_buckets_are_forgotten_and_busy_ones_kept() -> None:
    limiter = RateLimiter(1e6, 2, 1e9, 1000, max_idle=100)  # refilled within 2 us
    assert limiter.admit("busy", 1) == 0.0
    limiter._buckets["busy"].stamp += 3600  # as if it spent an hour from now: not refilled
    for i in range(300):
        assert limiter.admit(f"public 192.0.2.{i}", 1) == 0.0
    assert len(limiter._buckets) <= 201  # forgotten once over the limit, not kept for ever
    assert "busy" in limiter._buckets  # its state survives the pruning
    # a forgotten client starts again from a full bucket, as a new one would
    assert limiter.admit("public 192.0.2.0", 1) == 0.0


def test_a_bucket_keeps_its_limit_while_it_is_not_full() -> None:
    limiter = RateLimiter(1e-3, 2, 1e9, 1 << 30, max_idle=1)
    assert [limiter.admit("public 192.0.2.1", 1) for _ in range(2)] == [0.0, 0.0]
    for i in range(10):  # other clients force prunes; the empty bucket must stay
        limiter.admit(f"public 198.51.100.{i}", 1)
    assert limiter.admit("public 192.0.2.1", 1) > 0


def test_shared_public_buckets_are_swept_once_refilled_and_signed_ones_kept(
    tmp_path: Path,
) -> None:
    now = [1000.0]
    db = open_shared(tmp_path / "pool.sqlite", None)
    try:
        rates = (0.1, 2, 1e9, 1 << 20)  # 20 s from empty to full
        public = SharedBuckets(db, *rates, clock=lambda: now[0], sweep=KEY_PREFIX)
        signed = SharedBuckets(db, *rates, clock=lambda: now[0])
        for i in range(50):
            assert public.admit(f"public 192.0.2.{i}", 1) == 0.0
        assert signed.admit("alice", 1) == 0.0
        assert [public.admit("public 192.0.2.0", 1), public.admit("public 192.0.2.0", 1)][1] > 0
        rows = db.execute("SELECT count(*) FROM bucket").fetchone()[0]
        assert rows == 51
        now[0] += 6  # a sweep is due, but nothing has refilled: deleting would reset limits
        assert public.admit("public 198.51.100.1", 1) == 0.0
        assert db.execute("SELECT count(*) FROM bucket").fetchone()[0] == 52
        now[0] += 30  # all refilled: the public ones go, alice's stays
        assert public.admit("public 198.51.100.2", 1) == 0.0
        left = {r[0] for r in db.execute("SELECT client FROM bucket").fetchall()}
        assert left == {"alice", "public 198.51.100.2"}
    finally:
        db.close()


def test_the_shipped_public_tier_parses_once_uncommented() -> None:
    config = Path(__file__).resolve().parents[2] / "configs" / "service.toml"
    text = config.read_text()
    block = text[text.index('# [[tiers]]\n# name = "public"') :].split("\n\n")[0]
    opened = text.replace(block, "\n".join(line[2:] for line in block.splitlines()))
    shipped, demo = parse_settings(text, str(config)), parse_settings(opened, str(config))
    assert not any(t.public for t in shipped.tiers)  # off unless an operator opens it
    assert [t.name for t in demo.tiers if t.public] == ["public"]
