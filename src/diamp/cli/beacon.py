"""``diamp beacon``: keys for a beacon and verification of NIST Beacon 2.0 pulses."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from diamp.cli.common import bad_option, console, emit_json, escape, fail, out, verdict
from diamp.errors import DiampError

if TYPE_CHECKING:
    from diamp.service.beacon.verify import VerificationReport

__all__ = ["beacon_app"]

beacon_app = typer.Typer(
    name="beacon",
    help=(
        "NIST Randomness Beacon 2.0 (NISTIR 8213): make signing keys for the beacon that "
        "`diamp serve` publishes, and verify pulses from files or from any Beacon 2.0 URL."
    ),
    no_args_is_help=True,
    rich_markup_mode=None,
)


@beacon_app.command("keygen")
def keygen(
    out_dir: Annotated[
        Path, typer.Option("--out", help="Directory for beacon-key.pem and beacon-cert.pem.")
    ],
    bits: Annotated[int, typer.Option(help="RSA key size in bits (at least 2048).")] = 4096,
    common_name: Annotated[
        str, typer.Option("--common-name", help="Subject common name of the certificate.")
    ] = "diamp beacon",
    days: Annotated[int, typer.Option(help="Validity of the certificate in days.")] = 3650,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Generate an RSA signing key (mode 0600) and a self-signed certificate.

    The certificate's SHA-512 (of its DER encoding) is the certificateId of every pulse the
    key signs. Existing files are never overwritten.
    """
    from diamp.service.beacon.crypto import generate_keypair, load_certificate

    try:
        key, cert = generate_keypair(out_dir, bits=bits, common_name=common_name, days=days)
        cid = load_certificate(cert).id_hex
    except DiampError as err:
        raise fail(err) from err
    if as_json:
        emit_json({"key": str(key), "certificate": str(cert), "certificate_id": cid})
        return
    out.print(escape(f"key          {key}"))
    out.print(escape(f"certificate  {cert}"))
    out.print(f"certificateId {cid}", soft_wrap=True)


@beacon_app.command("verify")
def verify(
    targets: Annotated[
        list[str],
        typer.Argument(help="A beacon base URL (http[s]://host:port) or pulse JSON files."),
    ],
    certificate: Annotated[
        list[Path] | None,
        typer.Option(
            "--certificate",
            help="Trusted PEM certificate (repeatable); required for files, optional for a URL.",
        ),
    ] = None,
    chain: Annotated[
        int | None, typer.Option(help="Chain to verify (URL mode; default: the newest).")
    ] = None,
    first: Annotated[
        int | None, typer.Option("--from", help="First pulse index (URL mode; default 1).")
    ] = None,
    last: Annotated[
        int | None, typer.Option("--to", help="Last pulse index (URL mode; default: newest).")
    ] = None,
    timeout: Annotated[float, typer.Option(help="HTTP timeout in seconds.")] = 10.0,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    certified_only: Annotated[
        bool,
        typer.Option(
            "--certified-only",
            help="Exit 1 also when a pulse is marked simulated or of unknown provenance.",
        ),
    ] = False,
) -> None:
    """Verify signatures, output values, the hash chain, precommitments, time stamps, period.

    Every failure names the pulse and the field; the exit status is 1 if any check fails.
    Pulses whose signed external block carries diamp's simulated-source marker are reported
    as SIMULATED (their randomness is not certified); with --certified-only they fail too.
    """
    from diamp.service.beacon.client import verify_files, verify_url

    certs = certificate or []
    if not 0 < timeout < math.inf:  # NaN fails the comparison too
        raise bad_option("--timeout", f"must be a positive number of seconds, found {timeout}")
    is_url = len(targets) == 1 and targets[0].startswith(("http://", "https://"))
    try:
        if is_url:
            report = verify_url(targets[0], chain, first, last, certs, timeout)
        else:
            if any(v is not None for v in (chain, first, last)):
                raise bad_option("--chain/--from/--to", "only with a base URL")
            if not certs:
                raise bad_option("--certificate", "give the beacon certificate to verify files")
            report = verify_files([Path(t) for t in targets], certs)
    except DiampError as err:
        raise fail(err) from err
    _print(report, as_json)
    if not report.ok:
        raise verdict(1, f"{len(report.failures)} verification failure(s)")
    if certified_only and report.simulated:
        raise verdict(1, f"{len(report.simulated)} pulse(s) simulated (--certified-only)")


def _print(report: VerificationReport, as_json: bool) -> None:
    if as_json:
        emit_json(report.to_dict())
        return
    for failure in report.failures:
        console.print(f"[bold red]FAIL[/] {escape(str(failure))}")
    chains = ", ".join(str(c) for c in sorted(report.chains)) or "none"
    status = "[green]ok[/]" if report.ok else f"[red]{len(report.failures)} failure(s)[/]"
    out.print(f"{report.pulses} pulse(s) in chain(s) {chains}: {status}")
    if report.not_checked:
        out.print(f"{len(report.not_checked)} check(s) skipped (referenced pulse not available)")
    for item in report.simulated:
        sources = ", ".join(item["sources"]) or "not named"
        console.print(
            f"[bold yellow]SIMULATED[/] {escape(item['pulse'])}: external marks "
            f"{item['marker']} sources ({escape(sources)}; statusCode {item['statusCode']}): "
            "localRandomValue is not certified randomness"
        )
    if report.simulated:
        out.print(f"{len(report.simulated)} pulse(s) simulated (not certified randomness)")
