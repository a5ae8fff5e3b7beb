"""``diamp report RUN_DIR``: the self-contained HTML report of a run.

:func:`report_command` is a plain function whose parameters carry their typer options;
register it with ``app.command("report")(report_command)``. After a run, the report is
written by :func:`diamp.protocol.run.write_report`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any

import typer

from diamp.cli.common import bad_option, console, emit_json, escape, fail, out
from diamp.cli.jsonmode import record_error
from diamp.errors import DiampError

__all__ = ["report_command"]

log = logging.getLogger(__name__)


def report_command(
    run_dir: Annotated[
        Path, typer.Argument(help="Run directory (holds certificate.json, trials.h5, key.bin).")
    ],
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="HTML file to write (default: RUN_DIR/report.html)."),
    ] = None,
    certificate: Annotated[
        str,
        typer.Option(
            "--certificate",
            help="Certificate in RUN_DIR to report on, e.g. certificate.amplify-001.json.",
        ),
    ] = "certificate.json",
    sequences: Annotated[
        int | None,
        typer.Option(
            "--sequences",
            help="At most this many 10^6-bit key sequences go through SP 800-22 (default: all).",
        ),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the report's path and section data as JSON.")
    ] = False,
) -> None:
    """Write a self-contained HTML report of a run (no external files, fonts or scripts).

    Sections: summary; CHSH and S_mu per 2^22-trial segment with averages and bounds
    (seed 003 Fig. 4); counts; the output-length computation, recomputed and checked; the
    key as a bit image (Fig. 10); a one-time pad of a test image (Fig. 11); SP 800-22 on
    the key (seed 000 Table 2); timing checks and excluded blocks. An aborted run gets a
    report too. The page shows key bits, so it is written with mode 0600 like the key.
    Exit status 1 if the run directory is unreadable or inconsistent, or if a recomputed
    value disagrees with the certificate (the report is still written, marked).
    """
    from diamp.report.files import write_run_report

    if sequences is not None and sequences < 1:
        raise bad_option("--sequences", f"must be >= 1, found {sequences}")
    try:
        written = write_run_report(
            run_dir, output, certificate=certificate, sp800_22_sequences=sequences
        )
    except DiampError as err:
        raise fail(err) from err
    if as_json:
        emit_json({"report": str(written.path), **written.report.to_json()})
    else:
        from diamp.protocol.provenance import summary as provenance_summary

        shown = next((s.data for s in written.report.sections if s.id == "summary"), {})
        if "provenance" in shown:
            out.print(escape(f"provenance: {provenance_summary(shown['provenance'])}"))
        out.print(escape(f"report: {written.path}"))
    _refuse_disagreement(written.report.failed_checks)


def _refuse_disagreement(failed: Sequence[Any]) -> None:
    """Exit 1 naming the recomputed values that disagree with the certificate, if any."""
    if failed:
        names = "; ".join(f"{c.name} ({c.detail})" for c in failed)
        message = f"the certificate disagrees with: {names}"
        if not record_error(message):
            console.print(f"[bold red]error:[/] {escape(message)}")
        raise typer.Exit(1)
