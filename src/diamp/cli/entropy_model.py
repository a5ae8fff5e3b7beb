"""``diamp entropy-model``: min-entropy per raw sample of the QRNG source models.

:func:`entropy_model_command` is a plain function whose parameters carry their typer
options; the ``diamp`` app registers it. The models (numpy) are imported inside the
command so that ``diamp --help`` stays fast.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Annotated, Any

import typer

from diamp.cli.common import bad_option, emit_json, escape, out
from diamp.errors import ConfigError

__all__ = ["ENTROPY_KINDS", "entropy_model_command"]

Row = tuple[str, str, str]

ENTROPY_KINDS: dict[str, tuple[str, str]] = {
    "vacuum": (
        "bits=B (ADC bits); range=R (±R) or vmin=V & vmax=V; gamma=γ (σ_q²/σ_c², 'inf' for "
        "none) or gamma_db=dB; sigma_t=σ (default 1: range in units of σ_t, else volts); "
        "centre=c (default 0); offset=k (worst case |e| ≤ k σ_c, default 5); centred=true "
        "adds the centred value (zero offset assumed; only when asked for)",
        "seed 000 eqs. 4-6, spec §10.2",
    ),
    "single-photon": (
        "rho11=ρ₁₁ (excited population, 0-1); gamma_t=Γt (decay rate × window, ≥ 0)",
        "seed 002 eq. 19",
    ),
    "arrival-time": (
        "rho11=ρ₁₁; gamma_t=Γt (whole window); bins=n (equal time bins, ≥ 1)",
        "seed 002 eq. 28",
    ),
    "spatial": (
        "p=p1,p2,… (probability that each detector collects the photon; sum 1)",
        "seed 002 eq. 34",
    ),
    "phase": (
        "lambda=λ & tau=τ (delay); or width=a, power=P, tau_c=τ_c, A=A (eq. 39) & tau=τ",
        "seed 002 eqs. 38-39",
    ),
}

_NAMES = {
    "vacuum": (
        *("bits", "range", "vmin", "vmax", "sigma_t", "gamma", "gamma_db", "centre"),
        *("offset", "centred"),
    ),
    "single-photon": ("rho11", "gamma_t"),
    "arrival-time": ("rho11", "gamma_t", "bins"),
    "spatial": ("p",),
    "phase": ("lambda", "tau", "width", "power", "tau_c", "A"),
}

# model-function parameter → the --param name a user typed (for error messages)
_CLI_NAME = {
    "v_min": "vmin",
    "v_max": "vmax",
    "sigma_total": "sigma_t",
    "max_offset_sigma_c": "offset",
    "excited_population": "rho11",
    "time_bins": "bins",
    "click_probabilities": "p",
    "lam": "lambda",
    "interval_width": "width",
    "laser_power": "power",
    "coherence_time": "tau_c",
    "a_const": "A",
}


class _Params:
    """``NAME=VALUE`` pairs for one kind: typed access, missing and unknown names reported."""

    def __init__(self, kind: str, pairs: list[str]) -> None:
        self.kind = kind
        self.values: dict[str, str] = {}
        for item in pairs:
            name, sep, value = item.partition("=")
            name = name.strip()
            if not sep or not name:
                raise bad_option("--param", f"expected NAME=VALUE, got {item!r}")
            if name in self.values:
                raise bad_option("--param", f"{name} is given twice")
            self.values[name] = value.strip()
        unknown = [n for n in self.values if n not in _NAMES[kind]]
        if unknown:
            raise bad_option(
                "--param",
                f"{kind} has no parameter {', '.join(unknown)}; it takes {ENTROPY_KINDS[kind][0]}",
            )
        self.values_used: dict[str, Any] = {}

    def has(self, name: str) -> bool:
        return name in self.values

    def _raw(self, name: str, default: str | None) -> str:
        if name in self.values:
            return self.values[name]
        if default is None:
            raise bad_option("--param", f"{self.kind} needs {name}: {ENTROPY_KINDS[self.kind][0]}")
        return default

    def real(self, name: str, default: str | None = None) -> float:
        text = self._raw(name, default)
        try:
            value = float(text)
        except ValueError:
            raise bad_option(f"--param {name}", f"expected a number, got {text!r}") from None
        self.values_used[name] = value
        return value

    def integer(self, name: str) -> int:
        text = self._raw(name, None)
        try:
            value = int(text)
        except ValueError:
            raise bad_option(f"--param {name}", f"expected an integer, got {text!r}") from None
        self.values_used[name] = value
        return value

    def flag(self, name: str) -> bool:
        """``true`` or ``false`` (default false); anything else is refused."""
        text = self._raw(name, "false").lower()
        if text not in ("true", "false"):
            raise bad_option(f"--param {name}", f"expected true or false, got {text!r}")
        self.values_used[name] = text == "true"
        return text == "true"

    def reals(self, name: str) -> list[float]:
        text = self._raw(name, None)
        try:
            value = [float(v) for v in text.split(",")]
        except ValueError:
            raise bad_option(
                f"--param {name}", f"expected comma-separated numbers, got {text!r}"
            ) from None
        self.values_used[name] = value
        return value

    def exclusive(self, first: str, *others: str) -> bool:
        """True if ``first`` is given; refuses ``first`` together with any of ``others``."""
        clash = [o for o in others if self.has(o)]
        if self.has(first) and clash:
            raise bad_option("--param", f"give either {first} or {' & '.join(others)}, not both")
        return self.has(first)


Model = tuple[dict[str, Any], list[Row]]


def _vacuum(p: _Params) -> Model:
    from diamp.analysis.entropy_models import (
        DEFAULT_MAX_OFFSET_SIGMA_C,
        gamma_from_db,
        vacuum_min_entropy,
        vacuum_min_entropy_worst_case,
    )

    bits = p.integer("bits")
    if p.exclusive("range", "vmin", "vmax"):
        half = p.real("range")
        v_min, v_max = -half, half
    else:
        v_min, v_max = p.real("vmin"), p.real("vmax")
    gamma = (
        p.real("gamma") if p.exclusive("gamma", "gamma_db") else gamma_from_db(p.real("gamma_db"))
    )
    common = {"sigma_total": p.real("sigma_t", "1"), "centre": p.real("centre", "0")}
    default = not p.has("offset")
    k = p.real("offset", repr(DEFAULT_MAX_OFFSET_SIGMA_C))
    w = vacuum_min_entropy_worst_case(bits, v_min, v_max, gamma, max_offset_sigma_c=k, **common)
    offset = f"|e| ≤ {k:g} σ_c = {w.max_offset:.6g}" + (" (default offset)" if default else "")
    rows = [
        ("ADC", f"{bits} bits, [{v_min:g}, {v_max:g}], Δ = {w.bin_width:.6g}", "unit of sigma_t"),
        ("γ = σ_q²/σ_c²", f"{gamma:.6g}", f"σ_t = {w.sigma_total:g}"),
        ("σ_q, σ_c", f"{w.sigma_q:.6g}, {w.sigma_c:.6g}", ""),
        ("P_max (worst case)", f"{w.p_max:.6g}", offset),
        (
            "H_min (worst case)",
            f"{w.min_entropy:.4f}",
            f"bits/sample ({w.min_entropy_per_bit:.4f}/bit)",
        ),
    ]
    result: dict[str, Any] = {"worst_case": {**w.to_dict(), "default_offset": default}}
    if p.flag("centred"):  # only by name: assumes the classical offset is zero
        c = vacuum_min_entropy(bits, v_min, v_max, gamma, **common)
        rows += [
            ("P_max (centred)", f"{c.p_max:.6g}", f"asked for: offset 0, bin {c.max_bin}"),
            (
                "H_min (centred)",
                f"{c.min_entropy:.4f}",
                f"bits/sample ({c.min_entropy_per_bit:.4f}/bit)",
            ),
        ]
        result["centred"] = {**c.to_dict(), "assumes": "zero classical offset (asked for)"}
    return result, rows


def _emission_rows(res: Any, unit: str) -> list[Row]:
    return [
        ("intrinsic randomness R", f"{res.intrinsic_randomness:.6g}", f"bits/{unit}, i.i.d. rate"),
        ("H_min", f"{res.min_entropy:.6g}", f"bits/{unit}, single shot"),
    ]


def _single_photon(p: _Params) -> Model:
    from diamp.analysis.entropy_models import single_photon_entropy

    res = single_photon_entropy(p.real("rho11"), p.real("gamma_t"))
    rows = [("P(click | excited)", f"{res.p_click:.6g}", "1 − e^{−Γt}")]
    return dataclasses.asdict(res), rows + _emission_rows(res, "window")


def _arrival_time(p: _Params) -> Model:
    from diamp.analysis.entropy_models import arrival_time_entropy

    res = arrival_time_entropy(p.real("rho11"), p.real("gamma_t"), p.integer("bins"))
    rows = [
        ("p per bin", f"{res.p_bin:.6g}", "1 − e^{−Γt/n}"),
        ("P(no detection)", f"{res.p_no_detection:.6g}", ""),
    ]
    return dataclasses.asdict(res), rows + _emission_rows(res, "window")


def _spatial(p: _Params) -> Model:
    from diamp.analysis.entropy_models import spatial_entropy

    res = spatial_entropy(p.reals("p"))
    rows = [("detectors", f"{len(res.probabilities)}", "")]
    return dataclasses.asdict(res), rows + _emission_rows(res, "photon")


def _phase(p: _Params) -> Model:
    from diamp.analysis.entropy_models import phase_fluctuation_entropy, phase_noise_lambda

    if p.exclusive("lambda", "width", "power", "tau_c", "A"):
        lam = p.real("lambda")
    else:
        lam = phase_noise_lambda(p.real("width"), p.real("power"), p.real("tau_c"), p.real("A"))
    res = phase_fluctuation_entropy(lam, p.real("tau"))
    rows = [
        ("λ, λ/√τ", f"{res.lam:.6g}, {res.ratio:.6g}", ""),
        ("P_max", f"{res.p_max:.6g}", "2Φ(λ/√τ) − 1"),
        ("H_min", f"{res.min_entropy:.6g}", "bits/sample"),
    ]
    return dataclasses.asdict(res), rows


_MODELS: dict[str, Callable[[_Params], Model]] = {
    "vacuum": _vacuum,
    "single-photon": _single_photon,
    "arrival-time": _arrival_time,
    "spatial": _spatial,
    "phase": _phase,
}

_KIND_HELP = "Model: " + ", ".join(ENTROPY_KINDS) + "."
_PARAM_HELP = "Model parameter NAME=VALUE (repeat). " + " ".join(
    f"{kind}: {names}." for kind, (names, _) in ENTROPY_KINDS.items()
)


def entropy_model_command(
    kind: Annotated[str, typer.Argument(help=_KIND_HELP, show_default=False)],
    param: Annotated[
        list[str] | None,
        typer.Option("--param", "-p", help=_PARAM_HELP, metavar="NAME=VALUE", show_default=False),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print inputs and result as JSON.")
    ] = False,
) -> None:
    """Min-entropy per raw sample of a QRNG model, for the Toeplitz output length.

    vacuum: homodyne vacuum noise on a b-bit ADC (seed 000, spec §10.2): the worst case over
    classical offsets up to 5 σ_c (or offset=k); the centred value only with centred=true.

    single-photon, arrival-time, spatial, phase: spontaneous emission (seed 002).

    R is seed 002's intrinsic randomness, an i.i.d. rate; H_min the single-shot min-entropy.

    Example: diamp entropy-model vacuum -p bits=8 -p range=5 -p gamma=10 (exit 2: bad input).
    """
    from rich.table import Table

    if kind not in _MODELS:
        raise bad_option("KIND", f"unknown model {kind!r}; choose one of {', '.join(_MODELS)}")
    params = _Params(kind, param or [])
    try:
        result, rows = _MODELS[kind](params)
    except ConfigError as err:
        name = err.fields.get("parameter", "")
        raise bad_option(f"--param {_CLI_NAME.get(name, name)}", err.message) from err
    reference = ENTROPY_KINDS[kind][1]
    if as_json:
        emit_json(
            {"kind": kind, "reference": reference, "inputs": params.values_used, "result": result}
        )
        return
    table = Table(title=f"{kind} entropy model ({reference})")
    for col in ("quantity", "value", "unit / note"):
        table.add_column(col)
    for row in rows:
        table.add_row(*(escape(cell) for cell in row))
    out.print(table)
