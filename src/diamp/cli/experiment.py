"""``diamp run``, ``amplify``, ``stats`` and ``rate``: the experiment and its analysis."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from diamp.cli.common import (
    ABORT_EXIT,
    bad_option,
    console,
    emit_json,
    escape,
    fail,
    invalid_parameter,
    out,
    parse_exact,
    parse_mu,
    progress_bars,
    verdict,
)
from diamp.cli.jsonmode import record_error
from diamp.errors import DiampError
from diamp.protocol.provenance import summary as provenance_summary

if TYPE_CHECKING:
    from diamp.protocol.run import RunOutput
    from diamp.protocol.security import OutputLength

__all__ = ["amplify", "rate", "run", "stats"]


def _summary(output: RunOutput) -> None:
    from rich.table import Table

    result = output.result
    total = result.scan.total
    table = Table(show_header=False, box=None, pad_edge=False)
    simulated = result.provenance.get("simulated")
    colour = "green" if simulated is False else "bold yellow"
    table.add_row("provenance", f"[{colour}]{escape(provenance_summary(result.provenance))}[/]")
    table.add_row("run", result.scan.run_id)
    table.add_row("trials n", f"{total.n:,} in {len(result.scan.blocks)} blocks")
    table.add_row("CHSH S", f"{total.chsh():.5f}")
    table.add_row("S_mu,obs", f"{float(result.s_mu_obs):.6g}  (mu = {float(result.params.mu)})")
    if result.length is not None:
        at = f"at S_mu = {float(result.length.s_mu):.6g}"
        bound = result.params.protocol.bound
        table.add_row("eta", f"{result.length.eta:.8f} bits/trial {at} ({bound} bound)")
    table.add_row(
        "status",
        "[green]ok[/]" if result.status == "ok" else f"[red]abort[/]: {result.abort_reason}",
    )
    table.add_row("certified m", f"{result.m:,} bits")
    if result.length is not None and result.m > 0:
        length = result.length
        colour = "green" if length.certified else "bold yellow"
        table.add_row("epsilon", f"[{colour}]{escape(length.eps_statement)}[/]")
        if length.post_selection_blocks:
            table.add_row(
                "post-selection",
                f"paid for {length.post_selection_blocks} blocks chosen after the data "
                f"(eps_EA * 2^-{length.post_selection_blocks}, spec §11b)",
            )
    table.add_row("certificate", escape(str(output.certificate_path)))
    if output.key_path is not None and result.key is not None:
        table.add_row("key", escape(f"{output.key_path} (sha256 {result.key.sha256()})"))
    out.print(table)


def _finish(output: RunOutput, as_json: bool) -> None:
    """Print the certificate or the summary, then the report's status; exit as they say."""
    cert = output.certificate
    if as_json:
        emit_json({k: cert[k] for k in cert if k != "series"})
    else:
        _summary(output)
    report = output.report
    if report is not None and report.error is not None:
        retry = f" (the run's results are saved; retry with: diamp report {output.run_dir})"
        if not record_error(report.error + retry):
            console.print(f"[bold red]error:[/] {escape(report.error + retry)}")
    elif report is not None and not as_json:
        out.print(escape(f"report: {report.path}"))
    if output.result.status != "ok":  # the protocol's verdict outranks a report failure
        raise verdict(ABORT_EXIT, f"protocol aborted: {output.result.abort_reason}")
    if report is not None and not report.ok:
        raise typer.Exit(1)


def run(
    config: Annotated[Path, typer.Argument(help="Run config (TOML), e.g. configs/simulated.toml.")],
    out_dir: Annotated[
        Path | None,
        typer.Option("--out", help="Run directory to create (default: runs/<name>-<run id>)."),
    ] = None,
    resume: Annotated[
        Path | None,
        typer.Option("--resume", help="Continue the interrupted run in this directory."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the certificate as JSON.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")] = False,
) -> None:
    """Run a complete DIRA experiment: trials, Z, statistics, output length, extraction.

    Writes DIR/trials.h5 (trial store v3, block files in DIR/trials.blocks/),
    DIR/certificate.json and, unless the protocol aborts, DIR/key.bin (packed MSB-first),
    then the HTML report DIR/report.html (also after an abort; see ``diamp report``).
    Exit status 3 means the protocol aborted: the certificate says why and no key is
    written. Exit status 1 after a complete run means only the report failed (the
    certificate and key are kept; ``diamp report DIR`` retries).
    Ctrl-C stops cleanly after the current block (exit status 130); a kill at any
    moment loses at most the block in flight. ``diamp run CONFIG --resume DIR`` continues
    the same run (same config required) and produces the store an uninterrupted run would
    have.
    """
    from diamp.protocol.acquire import Interrupted
    from diamp.protocol.run import run as run_experiment

    if resume is not None:
        _finished_already(config, resume, as_json)
    stop, where = _StopFlag(), [resume]
    try:
        with progress_bars(not quiet) as progress, stop.installed():
            output = run_experiment(
                config,
                out_dir=out_dir,
                resume=resume,
                progress=progress,
                should_stop=stop.is_set,
                on_run_dir=lambda d: where.__setitem__(0, d),
            )
    except Interrupted as err:
        resume_with = f"resume with: diamp run {config} --resume {where[0]}"
        if not record_error(f"interrupted: {err}; {resume_with}", run_dir=str(where[0])):
            console.print(f"[yellow]interrupted:[/] {escape(str(err))}")
            console.print(escape(resume_with))
        raise typer.Exit(err.exit_code) from err
    except DiampError as err:
        raise fail(err) from err
    _finish(output, as_json)


def _finished_already(config: Path, run_dir: Path, as_json: bool) -> None:
    """``--resume`` of a finished run: verify it against its certificate, change nothing."""
    from diamp.protocol.run import finished_run

    try:
        done = finished_run(config, run_dir)
    except DiampError as err:
        raise fail(err) from err
    if done is None:
        return
    cert = done.certificate
    said = (
        f"run {cert.run_id} finished earlier (status {cert.status}, m = {cert.m:,} bits); "
        f"store, Z, key and {done.path.name} verified; nothing changed"
    )
    if as_json:
        emit_json({"run_id": cert.run_id, "status": cert.status, "m": cert.m,
                   "certificate": str(done.path), "finished_earlier": True})  # fmt: skip
    else:
        out.print(escape(said))
    if cert.status != "ok":
        raise verdict(ABORT_EXIT, f"protocol aborted earlier: {said}")
    raise typer.Exit(0)


class _StopFlag:
    """SIGINT sets a flag (polled between blocks) instead of killing the run mid-block."""

    def __init__(self) -> None:
        self._set = False

    def is_set(self) -> bool:
        return self._set

    @contextmanager
    def installed(self) -> Iterator[None]:
        import signal

        def handler(signum: int, frame: object) -> None:
            if self._set:  # a second Ctrl-C: stop now
                raise KeyboardInterrupt
            self._set = True
            console.print("[yellow]stopping after the current block (Ctrl-C again to abort)[/]")

        try:
            previous = signal.signal(signal.SIGINT, handler)
        except ValueError:  # not the main thread (e.g. in-process test runners)
            yield
            return
        try:
            yield
        finally:
            signal.signal(signal.SIGINT, previous)


def amplify(
    run_dir: Annotated[Path, typer.Argument(help="A run directory holding trials.h5.")],
    mu: Annotated[
        str | None, typer.Option(help="SV bias bound mu (default: the run's config).")
    ] = None,
    eps: Annotated[float | None, typer.Option(help="Security parameter epsilon.")] = None,
    eps_s: Annotated[float | None, typer.Option("--eps-s", help="Smoothing parameter.")] = None,
    eps_ea: Annotated[float | None, typer.Option("--eps-ea", help="EAT abort parameter.")] = None,
    bound: Annotated[str | None, typer.Option(help="Output-length bound: strict or paper.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the certificate as JSON.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")] = False,
) -> None:
    """Re-run parameter estimation and extraction on a stored run (batch post-processing).

    Writes certificate.amplify-NNN.json and key.amplify-NNN.bin beside the run's files; the
    store is only read.
    """
    from diamp.protocol.run import reamplify

    if bound is not None and bound not in ("strict", "paper"):
        raise bad_option("--bound", f"expected 'strict' or 'paper', found {bound!r}")
    given = {"eps": eps, "eps_s": eps_s, "eps_ea": eps_ea, "bound": bound}
    overrides: dict[str, Any] = {k: v for k, v in given.items() if v is not None}
    if mu is not None:
        overrides["mu"] = parse_mu("--mu", mu)
    try:
        with progress_bars(not quiet) as progress:
            output = reamplify(run_dir, overrides, progress)
    except DiampError as err:
        raise fail(err) from err
    _finish(output, as_json)


def stats(
    trials: Annotated[Path, typer.Argument(help="Trial store (HDF5) to analyse.")],
    mu: Annotated[str, typer.Option(help="SV bias bound mu used in S_mu.")],
    segment: Annotated[int, typer.Option(help="Trials per series segment.")] = 2**22,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")] = False,
) -> None:
    """Recompute Bell statistics (counts, CHSH, exact S_mu, per-block series) from a store."""
    from rich.table import Table

    from diamp.protocol.certificate import fraction_str
    from diamp.protocol.scan import scan_store, series_dict

    mu_value = parse_mu("--mu", mu)
    if segment < 1:
        raise bad_option("--segment", f"must be >= 1 trial, found {segment}")
    try:
        with progress_bars(not quiet and not as_json) as progress:
            scan = scan_store(trials, segment, with_ab=False, progress=progress)
        total = scan.total
        s_mu = total.s_mu(mu_value)
    except DiampError as err:
        raise fail(err) from err
    provenance = _stored_provenance(trials)
    data = {
        "run_id": scan.run_id,
        "provenance": provenance,
        "n_trials": total.n,
        "mu": fraction_str(mu_value),
        "counts": total.as_abxy(),
        "chsh": total.chsh(),
        "s_mu_obs": str(s_mu),
        "s_mu_obs_float": float(s_mu),
        "series": series_dict(scan, mu_value),
    }
    if as_json:
        emit_json(data)
        return
    table = Table(title=escape(f"{trials} — run {scan.run_id}"))
    table.add_column("block", justify="right")
    table.add_column("trials", justify="right")
    table.add_column("CHSH", justify="right")
    table.add_column("S_mu", justify="right")
    for i, c in enumerate(scan.block_counts):
        table.add_row(str(i), f"{c.n:,}", f"{c.chsh():.5f}", f"{float(c.s_mu(mu_value)):.6g}")
    table.add_row("all", f"{total.n:,}", f"{total.chsh():.5f}", f"{float(s_mu):.6g}", style="bold")
    out.print(table)
    out.print(f"S_mu,obs = {s_mu}  (exact)")
    out.print(escape(f"provenance: {provenance_summary(provenance)}"))


def _stored_provenance(trials: Path) -> dict[str, Any]:
    from diamp.daq.store import TrialStoreReader
    from diamp.protocol.provenance import parse_provenance

    with TrialStoreReader(trials) as reader:
        return parse_provenance(reader.attribute("provenance"))


def rate(
    n: Annotated[int, typer.Option("--n", help="Number of Bell trials n.")],
    mu: Annotated[str, typer.Option("--mu", help="SV bias bound mu, e.g. 0.0075.")],
    s_mu: Annotated[str, typer.Option("--s-mu", help="S_mu threshold (Theorem 5).")],
    eps: Annotated[float, typer.Option(help="Security parameter epsilon.")] = 1e-12,
    eps_s: Annotated[
        float | None, typer.Option("--eps-s", help="Smoothing (default eps/12).")
    ] = None,
    eps_ea: Annotated[
        float | None, typer.Option("--eps-ea", help="EAT abort (default eps).")
    ] = None,
    bound: Annotated[
        str, typer.Option(help="strict (re-derived chain, default) or paper (eq. 18).")
    ] = "strict",
    post_selection_blocks: Annotated[
        int,
        typer.Option(
            "--post-selection-blocks",
            help=(
                "B: the trials were chosen among B blocks after seeing data (timing policy "
                "'exclude'); pays a union bound over 2^B block sets (eps_EA * 2^-B)."
            ),
        ),
    ] = 0,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print JSON (keys include eta, m, chain_error).")
    ] = False,
) -> None:
    """Rate eta and output length m for n trials at an S_mu threshold (Theorem 5)."""
    from diamp.protocol.security import output_length

    if bound not in ("strict", "paper"):
        raise bad_option("--bound", f"expected 'strict' or 'paper', found {bound!r}")
    if post_selection_blocks < 0:
        raise bad_option(
            "--post-selection-blocks", f"expected an integer >= 0, found {post_selection_blocks}"
        )
    mu_value, s_value = parse_mu("--mu", mu), parse_exact("--s-mu", s_mu)
    if s_value <= 0:
        raise bad_option("--s-mu", f"must be > 0 (at S_mu <= 0 nothing is certified), found {s_mu}")
    try:
        result = output_length(
            n,
            mu_value,
            s_value,
            eps,
            eps_s,
            eps_ea,
            bound,  # type: ignore[arg-type]
            post_selection_blocks,
        )
    except DiampError as err:
        raise invalid_parameter(err, _RATE_OPTIONS) from err
    if as_json:
        emit_json(result.to_dict())
    else:
        _print_rate(result)


_RATE_OPTIONS = {
    "n": "--n",
    "mu": "--mu",
    "s_mu": "--s-mu",
    "eps": "--eps",
    "eps_s": "--eps-s",
    "eps_ea": "--eps-ea",
    "bound": "--bound",
}


def _print_rate(result: OutputLength) -> None:
    out.print(f"eta = {result.eta:.8f} bits/trial   m = {result.m:,} bits   ({result.bound} bound)")
    blocks = result.post_selection_blocks
    if blocks:
        out.print(f"post-selection: {blocks} blocks, eps_EA * 2^-{blocks}")
    out.print(result.eps_statement)
