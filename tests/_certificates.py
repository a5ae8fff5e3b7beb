"""Small valid ``diamp.certificate/1`` documents for tests that need a run folder, not a run."""

from __future__ import annotations

import hashlib
from typing import Any

ABXY = [f"{a}{b}{x}{y}" for a in "01" for b in "01" for x in "01" for y in "01"]


def _device(name: str, kind: str, address: str) -> dict[str, Any]:
    return {"instrument": name, "type": kind, "backend": "py", "address": address,
            "identity": f"test-only description of a {kind}", "simulated": False}  # fmt: skip


# What a run recorded from hardware says (``diamp.protocol.provenance.run_provenance``): no
# part simulated. Only tests that need a hardware run put it into a certificate by hand.
HARDWARE_PROVENANCE: dict[str, Any] = {
    "status": "recorded",
    "simulated": False,
    "simulated_parts": [],
    "config_sha256": "0" * 64,
    "inputs": {"origin": "instruments", "simulated": False,
               "instruments": [_device("qrng-a", "qrng", "/dev/ttyUSB0"),
                               _device("qrng-b", "qrng", "/dev/ttyUSB1")]},
    "z": {"origin": "instruments", "simulated": False,
          "instruments": [_device("qrng-a", "qrng", "/dev/ttyUSB0")]},
    "outcomes": {"origin": "instruments", "simulated": False,
                 "instruments": [_device("uhfqa-a", "uhfqa", "dev2345@127.0.0.1:8004")]},
    "timing": None,
}  # fmt: skip


def certificate_doc(
    key: bytes,
    *,
    status: str = "ok",
    run_id: str = "run",
    bits: int | None = None,
    file: str = "key.bin",
    provenance: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A certificate that passes ``parse_certificate``, certifying ``key`` (status ok).

    Without ``provenance`` it has none (as written before provenance existed: unknown).
    """
    ok = status == "ok"
    m = (8 * len(key) if bits is None else bits) if ok else 0
    doc: dict[str, Any] = {
        "schema": "diamp.certificate/1",
        "status": status,
        "abort_reason": None if ok else "S_mu,obs is below the threshold",
        "run_id": run_id,
        "n_trials": 16,
        "mu": "0.0075",
        "counts": dict.fromkeys(ABXY, 1),
        "chsh": 0.0,
        "s_mu_obs": "0",
        "eps": 1e-12,
        "eta": None,
        "m": m,
        "bound": "strict",
        "protocol": {"theorem": 5, "mode": "fixed", "s_mu_threshold": "0.01"},
        "security": None,
        "output": {
            "bits": m,
            "sha256": hashlib.sha256(key).hexdigest() if ok else None,
            "file": file if ok else None,
            "bit_order": "packed MSB-first",
        },
        "series": {
            "segment_trials": 16,
            "segments": [{"n_trials": 16, "chsh": 0.0, "s_mu_float": 0.0}],
        },
        "timing": None,
        "excluded_blocks": {"blocks": [], "rule": ""},
    }
    if provenance is not None:
        doc["provenance"] = provenance
    return doc
