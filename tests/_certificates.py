"""Small valid ``diamp.certificate/1`` documents for tests that need a run folder, not a run."""

from __future__ import annotations

import hashlib
from typing import Any

ABXY = [f"{a}{b}{x}{y}" for a in "01" for b in "01" for x in "01" for y in "01"]


def certificate_doc(
    key: bytes,
    *,
    status: str = "ok",
    run_id: str = "run",
    bits: int | None = None,
    file: str = "key.bin",
) -> dict[str, Any]:
    """A certificate that passes ``parse_certificate``, certifying ``key`` (status ok)."""
    ok = status == "ok"
    m = (8 * len(key) if bits is None else bits) if ok else 0
    return {
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
