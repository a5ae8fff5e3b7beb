"""The output-length section: the inputs and steps of η and m as the certificate records them.

The computation is redone with :mod:`diamp.protocol.security` from the certificate's own
inputs (:func:`~diamp.protocol.security.output_length` for Theorem 5,
:func:`~diamp.protocol.security.output_length_adaptive` for Theorem 6), and k₁ = nη and
k₂ = 2n log₂(1/(½ + μ)) are re-evaluated directly; each comparison is a :class:`Check`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from fractions import Fraction
from typing import TYPE_CHECKING, Any

from diamp.errors import DiampError
from diamp.protocol.certificate import CertificateView
from diamp.report.run.model import RunData
from diamp.report.run.page import Check, Section, esc, kv_table

if TYPE_CHECKING:
    from diamp.protocol.security import OutputLength

__all__ = ["length_section", "recompute_length"]

_REL = 1e-12  # the same library on the same inputs: agreement to rounding


def _close(a: float, b: float) -> bool:
    return math.isfinite(a) and math.isfinite(b) and abs(a - b) <= _REL * max(abs(a), abs(b), 1.0)


def _num(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def recompute_length(cert: CertificateView) -> OutputLength:
    """The :class:`~diamp.protocol.security.OutputLength` recomputed from the certificate.

    Raises
    ------
    DiampError
        If the recorded inputs are rejected by the library (the message says which).
    """
    from diamp.protocol.security import output_length, output_length_adaptive

    sec = cert.security or {}
    p = cert.protocol
    n, mu = int(sec.get("n", cert.n_trials)), Fraction(str(sec.get("mu", cert.mu)))
    bound = sec.get("bound", cert.bound)
    if p.get("mode") == "adaptive":
        bins = int(p["bins"])
        per_bin = _num(p.get("eps_per_bin", _num(p.get("eps_total")) / bins))
        return output_length_adaptive(
            n,
            mu,
            cert.s_mu_obs,
            Fraction(str(p["s_mu_max"])),
            bins,
            per_bin,
            _num(sec["eps_s"]),
            bound,
            cert.post_selection_blocks,
        ).result
    return output_length(
        n,
        mu,
        Fraction(str(p["s_mu_threshold"])),
        _num(sec["eps"]),
        _num(sec["eps_s"]),
        _num(sec["eps_ea"]),
        bound,
        cert.post_selection_blocks,
    )


def _checks(cert: CertificateView, sec: Mapping[str, Any]) -> tuple[Check, ...]:
    n, mu = int(sec["n"]), Fraction(str(sec["mu"]))
    eta, k1, k2 = _num(sec["eta"]), _num(sec["k1"]), _num(sec["k2"])
    k2_direct = 2 * n * math.log2(1 / (0.5 + float(mu)))
    checks = [
        Check(
            "n and mu as in the run", n == cert.n_trials and mu == cert.mu, f"n = {n:,}, mu = {mu}"
        ),
        Check("k1 = n·eta", _close(k1, n * eta), f"{k1!r} vs {n * eta!r}"),
        Check("k2 = 2n·log2(1/(1/2 + mu))", _close(k2, k2_direct), f"{k2!r} vs {k2_direct!r}"),
        Check(
            "certified m",
            cert.m == (sec["m"] if cert.status == "ok" else 0),
            f"m = {cert.m:,} with status {cert.status} and computed m = {sec['m']:,}",
        ),
    ]
    try:
        again = recompute_length(cert)
    except (DiampError, KeyError, TypeError, ValueError) as err:
        return (*checks, Check("recomputed with diamp.protocol.security", False, str(err)))
    return (
        *checks,
        Check("eta recomputed", _close(again.eta, eta), f"{again.eta!r} vs {eta!r}"),
        Check("m recomputed", again.m == sec["m"], f"{again.m:,} vs {sec['m']:,}"),
        Check(
            "post-selection blocks B as in the exclusions",
            int(sec.get("post_selection_blocks", 0)) == cert.post_selection_blocks,
            f"B = {sec.get('post_selection_blocks', 0)} in the computation, "
            f"{cert.post_selection_blocks} in excluded_blocks",
        ),
        _chain_check(cert, again),
        Check(
            "S_mu fed to eta recomputed",
            str(again.s_mu) == str(sec["s_mu"]),
            f"{again.s_mu} vs {sec['s_mu']}",
        ),
    )


def _chain_check(cert: CertificateView, again: OutputLength) -> Check:
    """The recorded chain error equals the recomputed one; strict: at most eps."""
    recorded = cert.chain_error
    if again.m == 0:
        return Check("chain error", recorded is None, f"m = 0, recorded {recorded}")
    if recorded is None:  # written before certificates recorded it
        return Check(
            "chain error",
            not again.certified or again.chain_error <= again.eps,
            f"not recorded; recomputed {again.chain_error:.6g}",
        )
    # relative: errors are tiny numbers, the absolute floor of _close would accept any of them
    close = math.isclose(recorded, again.chain_error, rel_tol=1e-9)
    ok = close and (not again.certified or recorded <= again.eps)
    return Check("chain error", ok, f"{recorded!r} vs recomputed {again.chain_error!r}")


def _steps(cert: CertificateView, sec: Mapping[str, Any]) -> list[tuple[str, object]]:
    p = cert.protocol
    mode = (
        f"Theorem 6 (adaptive): S_used = {p.get('s_used')} in bin {p.get('bin_index')} of "
        f"{p.get('bins')}, ΔS = {p.get('delta_s')}"
        if p.get("mode") == "adaptive"
        else f"Theorem 5 (fixed threshold S_mu = {p.get('s_mu_threshold')})"
    )
    return [
        ("protocol", mode),
        (
            "inputs",
            f"n = {sec['n']:,}, mu = {sec['mu']}, S_mu = {sec['s_mu']}, eps = "
            f"{sec['eps']}, eps_s = {sec['eps_s']}, eps_EA = {sec['eps_ea']}"
            + (
                f", post-selection over B = {cert.post_selection_blocks} blocks: eta uses "
                f"eps_EA·2^-{cert.post_selection_blocks} (spec §11b)"
                if cert.post_selection_blocks
                else ""
            ),
        ),
        (
            "1. eta(eps_s, eps_EA, S_mu, n, mu)",
            f"{_num(sec['eta']):.10f} bits/trial "
            f"(t* = {sec.get('t_star')}, gradient ceiling {sec.get('grad_ceiling')}; "
            f"construction {sec.get('eta_construction')})",
        ),
        ("2. k1 = n·eta (smooth min-entropy of AB)", f"{_num(sec['k1']):,.3f} bits"),
        ("3. k2 = 2n·log2(1/(1/2 + mu)) (min-entropy of Z)", f"{_num(sec['k2']):,.3f} bits"),
        (f"4. m_real ({sec['bound']} bound)", f"{_num(sec['m_real']):,.6f}"),
        ("5. m = max(floor(m_real), 0)", f"{sec['m']:,} bits"),
        (
            "6. chain error at m (strict Theorems 2-4)",
            f"{sec.get('chain_error', sec.get('total_error'))} "
            + (
                f"(must be <= eps = {sec['eps']})"
                if sec["bound"] == "strict"
                else "(the paper bound's true error: eps is NOT certified, spec §11c)"
            ),
        ),
        (
            "decision",
            f"status {cert.status}: certified m = {cert.m:,} bits"
            + ("" if cert.abort_reason is None else f" ({cert.abort_reason})"),
        ),
    ]


def length_section(run: RunData) -> Section:
    """The output-length computation with its inputs, steps and recomputation checks."""
    cert = run.certificate
    sec = cert.security
    if sec is None:
        body = "<p>The certificate records no output-length computation.</p>"
        return Section("length", "Output length", body, {"security": None})
    try:
        steps, checks = _steps(cert, sec), _checks(cert, sec)
    except (KeyError, TypeError, ValueError) as err:
        raise _cert_error(cert, f"security: unreadable output-length record ({err!r})") from err
    body = (
        f"<p>{esc(sec.get('bound_description', ''))}</p>"
        + kv_table(steps)
        + "<p>Recomputed with <code>diamp.protocol.security</code> from the inputs above:</p>"
    )
    return Section("length", "Output length", body, {"security": dict(sec)}, checks)


def _cert_error(cert: CertificateView, message: str) -> DiampError:
    """A :class:`~diamp.errors.StorageError` about the certificate ``cert`` came from."""
    from diamp.errors import StorageError

    return StorageError(f"{cert.source}: {message}", path=cert.source)
