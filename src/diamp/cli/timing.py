"""``diamp timing``: the locality time budget, trace verification and timing reports."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from diamp.cli.common import emit_json, fail, out, verdict
from diamp.errors import DiampError

timing_app = typer.Typer(
    name="timing",
    help=(
        "Verify the Bell-test time budget: every trial's start at one node must be space-like "
        "separated from the stop at the other (durations in ns, TOML timing sections)."
    ),
    no_args_is_help=True,
    rich_markup_mode=None,
)


@timing_app.command("budget")
def budget(
    file: Annotated[
        Path, typer.Argument(help="Timing section (TOML), e.g. configs/timing/eth-2024.toml.")
    ],
    elapsed_hours: Annotated[
        float, typer.Option("--elapsed-hours", help="Hours since the last synchronisation.")
    ] = 0.0,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Protocol durations A→B and B→A against the light time t_d = d/c, with margins.

    Worst-case durations (uncertainties added against the verdict) are rounded up and t_d
    down to the section's resolution. Exit status 0 on pass, 4 on fail.
    """
    from rich.table import Table

    from diamp.timing.budget import BUDGET_ROWS, timing_budget
    from diamp.timing.drift import drift_window
    from diamp.timing.section import load_timing

    try:
        section = load_timing(file)
        result = timing_budget(section)
        window = drift_window(section.devices, elapsed_hours) if section.devices else None
    except DiampError as err:
        raise fail(err) from err
    data = result.to_dict()
    data["drift"] = None if window is None else window.to_dict()
    if as_json:
        emit_json(data)
    else:
        table = Table(title=f"Time budget — {file}")
        table.add_column("segment")
        table.add_column("A → B (ns)", justify="right")
        table.add_column("B → A (ns)", justify="right")
        seg = data["segments"]
        for label, key in BUDGET_ROWS:
            table.add_row(label, f"{seg['A->B'][key]:.2f}", f"{seg['B->A'][key]:.2f}")
        table.add_row(
            "t_protocol",
            f"{data['t_protocol_ab_ns']:.2f}",
            f"{data['t_protocol_ba_ns']:.2f}",
            style="bold",
        )
        table.add_row("t_d = d/c", f"{data['t_d_ns']:.2f}", f"{data['t_d_ns']:.2f}")
        table.add_row("margin", f"{data['margin_ab_ns']:.2f}", f"{data['margin_ba_ns']:.2f}")
        out.print(table)
        if window is not None:
            out.print(
                f"drift: {window.limiting_device} limits the configuration to "
                f"{window.safe_hours:.1f} h ({window.safe_hours / 24:.2f} days); "
                f"re-synchronisation {'DUE' if window.resync_due else 'not due'}"
            )
        colour = "green" if result.verdict == "pass" else "red"
        out.print(f"verdict: [{colour}]{result.verdict}[/]")
        for reason in result.reasons:
            out.print(f"  {reason}")
    if result.verdict != "pass":
        raise verdict(4, "timing verdict: fail: " + "; ".join(result.reasons))


@timing_app.command("check")
def check(
    traces: Annotated[Path, typer.Argument(help="Trace file (diamp.traces, HDF5).")],
    timing: Annotated[Path, typer.Option("--timing", help="Timing section (TOML).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Verify stored oscilloscope traces: jitter per device, inter-node offset, budget, drift.

    Exit status 0 when the timing verifies, 4 when it does not (the reasons are printed).
    """
    from rich.table import Table

    from diamp.daq.traces import read_traces
    from diamp.timing.section import load_timing
    from diamp.timing.verify import verify_timing

    try:
        result = verify_timing(load_timing(timing), read_traces(traces))
    except DiampError as err:
        raise fail(err) from err
    if as_json:
        emit_json(result.to_dict())
    else:
        table = Table(title=f"Timing checks — {traces}")
        for col in (
            "check",
            "time (h)",
            "trace",
            "early (ns)",
            "late (ns)",
            "spread (ns)",
            "jitter",
        ):
            table.add_column(col)
        for c in result.checks:
            for name, e in c.edges:
                table.add_row(
                    c.label,
                    f"{c.time_h:.2f}",
                    name,
                    f"{e.early_ns:.3f}",
                    f"{e.late_ns:.3f}",
                    f"{e.spread_ns:.3f}",
                    "[red]yes[/]" if e.jitter else "no",
                )
        out.print(table)
        offsets = [c.offset_ns for c in result.checks if c.offset_ns is not None]
        if offsets:
            out.print(f"inter-node offset: {min(offsets):.3f} … {max(offsets):.3f} ns")
        b = result.budget
        ab, ba, td = float(b.t_protocol_ab_ns), float(b.t_protocol_ba_ns), float(b.t_d_ns)
        out.print(f"budget: A→B {ab:.2f} ns, B→A {ba:.2f} ns, t_d {td:.2f} ns")
        colour = "green" if result.verdict == "pass" else "red"
        out.print(f"verdict: [{colour}]{result.verdict}[/]")
        for reason in result.reasons:
            out.print(f"  {reason}")
    if result.verdict != "pass":
        raise verdict(4, "timing verdict: fail: " + "; ".join(result.reasons))


@timing_app.command("simulate")
def simulate(
    timing: Annotated[Path, typer.Option("--timing", help="Timing section (TOML).")],
    out_file: Annotated[Path, typer.Option("-o", "--out", help="Trace file to create.")],
    checks: Annotated[int, typer.Option(help="Number of timing checks.")] = 21,
    hours: Annotated[float, typer.Option(help="Duration of the run in hours.")] = 9.0,
    jitter_device: Annotated[
        str | None, typer.Option("--jitter-device", help="Inject granularity-step jitter here.")
    ] = None,
    jitter_from: Annotated[
        int, typer.Option("--jitter-from", help="First check with injected jitter.")
    ] = 0,
    offset_ns: Annotated[
        float, typer.Option("--offset", help="Inter-node offset t_0B - t_0A.")
    ] = 0.55,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 1,
) -> None:
    """Write synthetic envelope traces for a run (the simulated scopes' output).

    Every declared device with a threshold gets an edge trace at each check, drifting at its
    declared rate; both nodes get reference and remote pulses with the given offset.
    """
    import numpy as np

    from diamp.daq.traces import write_traces
    from diamp.timing.section import load_timing
    from diamp.timing.simulate import simulated_checks

    try:
        section = load_timing(timing)
        series = simulated_checks(
            section,
            checks=checks,
            hours=hours,
            offset_ns=offset_ns,
            jitter_device=jitter_device,
            jitter_from=jitter_from,
            rng=np.random.default_rng(seed),
        )
        write_traces(out_file, series)
    except DiampError as err:
        raise fail(err) from err
    out.print(f"{out_file}: {len(series)} checks over {hours} h")


@timing_app.command("report")
def report(
    run: Annotated[Path, typer.Argument(help="A trace file, or a run directory with timing.h5.")],
    timing: Annotated[Path, typer.Option("--timing", help="Timing section (TOML).")],
    out_file: Annotated[
        Path | None, typer.Option("-o", "--out", help="HTML file (default: RUN/timing.html).")
    ] = None,
) -> None:
    """Draw the timing report: crossings per check over the run, offsets, budget table.

    Writes a self-contained HTML page (plots embedded as PNG).
    """
    from diamp.atomic import write_atomic
    from diamp.daq.traces import read_traces
    from diamp.report.timing import render_timing_report
    from diamp.timing.section import load_timing
    from diamp.timing.verify import verify_timing

    traces = run / "timing.h5" if run.is_dir() else run
    target = out_file or (run / "timing.html" if run.is_dir() else run.with_suffix(".html"))
    try:
        result = verify_timing(load_timing(timing), read_traces(traces))
        page = render_timing_report(result, f"Timing report — {traces.name}")
        write_atomic(target, page.encode(), what="the timing report")
    except DiampError as err:
        raise fail(err) from err
    out.print(f"{target}: {len(result.checks)} checks, verdict {result.verdict}")
