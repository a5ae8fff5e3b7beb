"""Building the run certificate (``diamp.certificate/1``) and its strict JSON text.

The certificate records every parameter, count and hash needed to re-judge a run: the
counts N(abxy), CHSH and the exact S_mu,obs, the security parameters and how eta and m were
obtained (bound and eta construction with versions), the SHA-256 of AB, Z and the key, the
extractor's exactness evidence, and the software version and timestamps. The protocol
modules are imported when a certificate is built, so that reading one (the service, the
report, ``--json`` output) does not load the amplification and its numba kernels.
"""

from __future__ import annotations

import hashlib
import json
import math
from fractions import Fraction
from typing import TYPE_CHECKING, Any

from diamp import __version__
from diamp.protocol.certificate.view import CERTIFICATE_SCHEMA
from diamp.protocol.epsilon import eps_statement

if TYPE_CHECKING:
    from diamp.protocol.amplify import AmplifyResult

__all__ = ["build_certificate", "dump_json", "fraction_str"]


def fraction_str(value: Fraction) -> str:
    """Exact text of a fraction: a terminating decimal when there is one, else "p/q"."""
    den = value.denominator
    twos = fives = 0
    while den % 2 == 0:
        den //= 2
        twos += 1
    while den % 5 == 0:
        den //= 5
        fives += 1
    if den != 1:
        return f"{value.numerator}/{value.denominator}"
    digits = max(twos, fives)
    scaled = value * 10**digits
    sign = "-" if scaled < 0 else ""
    whole = str(abs(scaled.numerator))
    if digits == 0:
        return sign + whole
    whole = whole.rjust(digits + 1, "0")
    return f"{sign}{whole[:-digits]}.{whole[-digits:]}"


def _protocol_dict(result: AmplifyResult) -> dict[str, Any]:
    from diamp.config import FixedProtocol

    p = result.params.protocol
    if isinstance(p, FixedProtocol):
        return {"theorem": 5, "mode": "fixed", "s_mu_threshold": fraction_str(p.s_mu_threshold)}
    info: dict[str, Any] = {
        "theorem": 6,
        "mode": "adaptive",
        "s_mu_max": fraction_str(p.s_mu_max),
        "bins": p.bins,
        "eps_total": p.eps,
    }
    if result.adaptive is not None:
        info.update(
            eps_per_bin=p.eps / p.bins,
            delta_s=fraction_str(result.adaptive.delta_s),
            s_used=fraction_str(result.adaptive.s_used),
            bin_index=result.adaptive.bin_index,
        )
    return info


def build_certificate(result: AmplifyResult, key_file: str | None) -> dict[str, Any]:
    """The certificate of one amplification as a JSON-ready dict."""
    from diamp.protocol.amplify import z_requirement
    from diamp.protocol.scan import series_dict
    from diamp.protocol.security import (
        BOUND_DESCRIPTIONS,
        ETA_CONSTRUCTION,
        POST_SELECTION_DESCRIPTION,
    )

    scan, params, length = result.scan, result.params, result.length
    n = scan.total.n
    p = params.protocol
    extraction = result.extraction
    return {
        "schema": CERTIFICATE_SCHEMA,
        "status": result.status,
        "abort_reason": result.abort_reason,
        "run_id": scan.run_id,
        "config_sha256": hashlib.sha256(scan.config_text.encode()).hexdigest(),
        "provenance": result.provenance,
        "n_trials": n,
        "mu": fraction_str(params.mu),
        "counts": scan.total.as_abxy(),
        "chsh": scan.total.chsh(),
        "s_mu_obs": str(result.s_mu_obs),
        "s_mu_obs_float": float(result.s_mu_obs),
        "eps": p.eps,
        "eps_s": None if length is None else length.eps_s,
        "eps_ea": None if length is None else length.eps_ea,
        "eta": None if length is None else length.eta,
        "m": result.m,
        "m_bound": None if length is None else length.m,
        "bound": p.bound,
        "bound_description": BOUND_DESCRIPTIONS[p.bound],
        "chain_error": None if length is None else length.chain_error,
        "eps_certified": p.bound == "strict",
        "eps_statement": eps_statement(
            p.bound, p.eps, math.nan if length is None else length.chain_error
        ),
        "eta_construction": ETA_CONSTRUCTION,
        "protocol": _protocol_dict(result),
        "security": None if length is None else length.to_dict(),
        "inputs": {
            "ab_sha256": scan.ab_sha256,
            "ab_bits": 2 * n,
            "z_sha256": result.z_sha256,
            "z_bits": result.z_bits,
            "z_min_entropy_bound": z_requirement(n, params.mu),
            "z_source": "SV source, d = 2n bits drawn after the last trial",
        },
        "output": {
            "bits": result.m,
            "sha256": None if result.key is None else result.key.sha256(),
            "file": key_file,
            "bit_order": "packed MSB-first",
        },
        "extractor": None
        if extraction is None
        else {
            "name": "dodis-noncyclic",
            "definition": "K_j = sum_{t=0}^{N-1-j} AB_t * Z_{t+j} mod 2",
            "exactness": extraction.exactness,
            "strong_input": "Z",
            "strong_input_reason": (
                "K_j = AB^T A_j Z with A_j the non-cyclic shift; every non-empty sum of the A_j "
                "and of their transposes has rank >= N - m + 1, so Dodis et al. Lemma 4 makes "
                "Ext strong in Z with the same error: K is uniform given the public Z"
            ),
            "block_bits": extraction.block_bits,
            "lag_bits": extraction.lag_bits,
            "fft_length": extraction.fft_length,
            "roundoff_bound": extraction.error_bound,
            "max_residual": extraction.max_residual,
            "checked_positions": list(extraction.checked_positions),
        },
        "blocks": [
            {"index": b.index, "n_trials": b.n_trials, "sha256": b.sha256} for b in scan.blocks
        ],
        "series": series_dict(scan, params.mu),
        "timing": None if result.timing is None else result.timing.to_dict(),
        "timing_traces_sha256": result.traces_sha256,
        "excluded_blocks": {
            "blocks": list(result.excluded_blocks),
            "rule": (
                "timing policy 'exclude': block k is used only if the checks before and after "
                "it both pass; excluded trials are stored but never estimated or extracted"
            ),
            "post_selection_blocks": result.post_selection_blocks,
            "post_selection_cost": POST_SELECTION_DESCRIPTION
            if result.post_selection_blocks
            else None,
        },
        "software": {"name": "diamp", "version": __version__},
        "timestamps": {"started_utc": result.started_utc, "finished_utc": result.finished_utc},
    }


def _json_safe(obj: Any) -> Any:
    """Replace non-finite floats (e.g. CHSH with an empty input class) by None."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_json_safe(v) for v in obj]
    return obj


def dump_json(obj: Any) -> bytes:
    """Strict pretty JSON (UTF-8, trailing newline); NaN and infinities become null."""
    text = json.dumps(_json_safe(obj), indent=2, ensure_ascii=False, allow_nan=False)
    return (text + "\n").encode()
