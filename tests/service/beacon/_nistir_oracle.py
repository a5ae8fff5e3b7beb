"""An independent NISTIR 8213 pulse checker, written from the standard for the tests.

It does not import diamp's serializer: it re-derives the signed bytes from the JSON with its
own code (length-prefixed UTF-8 strings and byte strings, big-endian integers, NIST's field
order) and checks signature, output value, certificate id and the chain links.
"""

from __future__ import annotations

import datetime
import hashlib
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding

ORDER = ("previous", "hour", "day", "month", "year")


def time_ms(stamp: str) -> int:
    """Milliseconds since the epoch of a NIST time stamp (``...T..:..:...mmmZ``)."""
    t = datetime.datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=datetime.UTC)
    return round(t.timestamp() * 1000)


def _lp(raw: bytes) -> bytes:
    return len(raw).to_bytes(4, "big") + raw


def signed_message(p: dict[str, Any]) -> bytes:
    msg = _lp(p["uri"].encode()) + _lp(p["version"].encode())
    msg += p["cipherSuite"].to_bytes(4, "big") + p["period"].to_bytes(4, "big")
    msg += _lp(bytes.fromhex(p["certificateId"]))
    msg += p["chainIndex"].to_bytes(8, "big") + p["pulseIndex"].to_bytes(8, "big")
    msg += _lp(p["timeStamp"].encode()) + _lp(bytes.fromhex(p["localRandomValue"]))
    ext = p["external"]
    msg += _lp(bytes.fromhex(ext["sourceId"])) + ext["statusCode"].to_bytes(4, "big")
    msg += _lp(bytes.fromhex(ext["value"]))
    by_type = {v["type"]: v["value"] for v in p["listValues"]}
    for kind in ORDER:
        msg += _lp(bytes.fromhex(by_type[kind]))
    msg += _lp(bytes.fromhex(p["precommitmentValue"])) + p["statusCode"].to_bytes(4, "big")
    return msg


def check_pulse(p: dict[str, Any], cert_pem: bytes) -> None:
    """Raise AssertionError unless the pulse verifies against the certificate."""
    cert = x509.load_pem_x509_certificate(cert_pem)
    der = cert.public_bytes(serialization.Encoding.DER)
    assert hashlib.sha512(der).hexdigest() == p["certificateId"].lower(), "certificateId"
    msg = signed_message(p)
    sig = bytes.fromhex(p["signatureValue"])
    cert.public_key().verify(sig, msg, padding.PKCS1v15(), hashes.SHA512())  # type: ignore[union-attr,call-arg]
    assert hashlib.sha512(msg + sig).hexdigest() == p["outputValue"].lower(), "outputValue"


def check_link(prev: dict[str, Any], cur: dict[str, Any]) -> None:
    """Raise AssertionError unless ``cur`` follows ``prev`` in one chain."""
    assert cur["chainIndex"] == prev["chainIndex"]
    assert cur["pulseIndex"] == prev["pulseIndex"] + 1
    by_type = {v["type"]: v["value"] for v in cur["listValues"]}
    assert by_type["previous"].lower() == prev["outputValue"].lower(), "previous"
    lrv = bytes.fromhex(cur["localRandomValue"])
    assert hashlib.sha512(lrv).hexdigest() == prev["precommitmentValue"].lower(), "precommitment"
