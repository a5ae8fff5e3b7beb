"""``diamp extract``: the extractors on bit files (inputs and outputs packed MSB-first)."""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from diamp.cli.common import bad_option, check_cluster, emit_json, fail, progress_bars
from diamp.errors import DiampError

if TYPE_CHECKING:
    from diamp.extractors.bits import BitSource
    from diamp.extractors.checked import CheckedExtraction, ExtractorKind
    from diamp.extractors.distributed import DaskTarget

extract_app = typer.Typer(
    name="extract",
    help=(
        "Run an extractor on bit files. Inputs and outputs are packed MSB-first; a file holds "
        "8 × its size bits unless --bits says otherwise. FILE.h5:/DATASET reads a packed "
        "HDF5 dataset (e.g. trials.h5:/z) and FILE.h5:AB the AB string of a trial store."
    ),
    no_args_is_help=True,
    rich_markup_mode=None,
)


Threads = Annotated[
    int | None, typer.Option(help="Worker threads (default: 1 with MKL, else one per core).")
]
VerifyBits = Annotated[
    int, typer.Option("--verify-bits", help="Output bits recomputed from the definition.")
]
AsJson = Annotated[bool, typer.Option("--json", help="Print sizes, timings, SHA-256.")]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")]
OutFile = Annotated[Path, typer.Option("-o", "--out", help="Output file (packed MSB-first).")]
EngineOption = Annotated[
    str,
    typer.Option(
        "--engine",
        help=(
            "Correlation engine: fft (blockwise FFT with a round-off bound) or exact "
            "(number-theoretic transform, no rounding). Same output bits."
        ),
    ),
]


@extract_app.command("dodis")
def dodis(
    x: Annotated[str, typer.Argument(help="First input (for DIRA: AB).")],
    y: Annotated[str, typer.Argument(help="Second input, same length (for DIRA: Z).")],
    m: Annotated[int, typer.Option("--m", help="Output length in bits, 1 <= m <= N.")],
    out: OutFile,
    bits: Annotated[
        int | None, typer.Option("--bits", help="Bits per input (default: 8 × file size).")
    ] = None,
    threads: Threads = None,
    verify_bits: VerifyBits = 64,
    max_fft_length: Annotated[int, typer.Option("--max-fft-length", help="Largest FFT length.")] = 2
    ** 26,
    max_memory_gib: Annotated[
        float, typer.Option("--max-memory", help="Memory budget of the FFT workspaces, GiB.")
    ] = 5.0,
    workers: Annotated[
        int | None,
        typer.Option("--workers", help="Run on a new local Dask cluster of K worker processes."),
    ] = None,
    scheduler: Annotated[
        str | None,
        typer.Option("--scheduler", help="Run on an existing Dask cluster (tcp://HOST:PORT)."),
    ] = None,
    as_json: AsJson = False,
    quiet: Quiet = False,
    engine: EngineOption = "exact",
) -> None:
    """Dodis two-source extractor: out_j = Σ_t x_t·y_{t+j} mod 2, exact (blockwise FFT or NTT).

    With --workers or --scheduler the blocks become Dask tasks; the workers read the inputs
    from their paths (which must be visible to every worker) and the result is identical to
    a local run. After extracting, --verify-bits randomly chosen output bits are recomputed
    directly from the definition; any mismatch fails the command and no output is written.
    """
    dask = _dodis_options(threads, verify_bits, workers, scheduler, engine)
    try:
        xs, ys = _open_dodis(out, x, y, bits, m)
        checked, seconds = _extract_to_file(
            "dodis",
            xs,
            ys,
            m,
            out,
            verify_bits,
            not quiet and not as_json,
            threads=threads,
            max_fft_length=max_fft_length,
            max_memory=_memory_bytes(max_memory_gib),
            dask=dask,
            engine=engine,
        )
    except DiampError as err:
        raise fail(err) from err
    _report(
        as_json,
        _dodis_report(xs.nbits, m, out, checked, seconds, threads, dask, engine),
        f"; {len(checked.checked_positions)} bits self-checked",
    )


@extract_app.command("toeplitz")
def toeplitz(
    raw: Annotated[str, typer.Argument(help="Raw bits (n).")],
    seed: Annotated[str, typer.Argument(help="Uniform seed of n + m - 1 bits.")],
    m: Annotated[int, typer.Option("--m", help="Output length in bits.")],
    out: OutFile,
    bits: Annotated[
        int | None, typer.Option("--bits", help="Raw bits n (default: 8 × size).")
    ] = None,
    seed_bits: Annotated[
        int | None, typer.Option("--seed-bits", help="Seed bits (default: n + m - 1).")
    ] = None,
    threads: Threads = None,
    verify_bits: VerifyBits = 64,
    as_json: AsJson = False,
    quiet: Quiet = False,
    engine: EngineOption = "exact",
) -> None:
    """Toeplitz hashing: out_i = Σ_j s_{i−j+n−1}·r_j mod 2 (seed of n + m − 1 bits), exact."""
    if (threads is not None and threads < 1) or verify_bits < 0:
        raise bad_option("--threads/--verify-bits", "must be >= 1 and >= 0")
    _check_engine(engine)
    try:
        rs, ss = _open_toeplitz(out, raw, seed, bits, seed_bits, m)
        checked, seconds = _extract_to_file(
            "toeplitz",
            rs,
            ss,
            m,
            out,
            verify_bits,
            not quiet and not as_json,
            threads=threads,
            engine=engine,
        )
    except DiampError as err:
        raise fail(err) from err
    result = checked.result
    _report(
        as_json,
        {
            "extractor": "toeplitz",
            "n": rs.nbits,
            "seed_bits": ss.nbits,
            "m": m,
            "output": str(out),
            "output_bits": m,
            "output_sha256": result.output.sha256(),
            "engine": engine,
            "exactness": result.exactness,
            "fft_length": result.fft_length,
            "roundoff_bound": result.error_bound,
            "checked_positions": list(result.checked_positions),
            "seconds": {"extract": checked.extract_seconds, "total": seconds},
        },
    )


def _check_engine(engine: str) -> None:
    """Exit with status 2 unless ``engine`` names a correlation engine."""
    from diamp.extractors.blocks import ENGINES

    if engine not in ENGINES:
        raise bad_option("--engine", f"expected one of {', '.join(ENGINES)}, found {engine!r}")


def _open_dodis(out: Path, x: str, y: str, bits: int | None, m: int) -> tuple[BitSource, ...]:
    """The two inputs of ``diamp extract dodis``, paths and m checked before any work."""
    from diamp.daq.bitfiles import open_bits

    _check_paths(out, x, y)
    xs, ys = open_bits(x, bits), open_bits(y, bits)
    if not 1 <= m <= xs.nbits:
        raise bad_option("--m", f"must satisfy 1 <= m <= N = {xs.nbits:,}, found {m:,}")
    return xs, ys


def _open_toeplitz(
    out: Path, raw: str, seed: str, bits: int | None, seed_bits: int | None, m: int
) -> tuple[BitSource, ...]:
    """Raw string and seed of ``diamp extract toeplitz``, checked before any work."""
    from diamp.daq.bitfiles import open_bits

    _check_paths(out, raw, seed)
    rs = open_bits(raw, bits)
    if not 1 <= m <= rs.nbits:
        raise bad_option(
            "--m",
            f"must satisfy 1 <= m <= n = {rs.nbits:,} (hashing never outputs more bits "
            f"than it reads), found {m:,}",
        )
    return rs, open_bits(seed, seed_bits if seed_bits is not None else rs.nbits + m - 1)


def _check_paths(out: Path, *inputs: str) -> None:
    """Refuse, before any work, an input that is a folder and an output nowhere to go."""
    for name in inputs:
        if Path(name).is_dir():
            raise bad_option(name, "is a folder; give a file of bits")
    if out.is_dir():
        raise bad_option("--out", f"{out} is a folder; give the file to write")
    if not out.parent.is_dir():
        raise bad_option("--out", f"folder {out.parent} does not exist")


def _memory_bytes(gib: float) -> int:
    """``--max-memory`` in bytes; NaN, infinite or non-positive budgets are refused."""
    if not math.isfinite(gib) or gib <= 0:
        raise bad_option("--max-memory", f"must be a positive number of GiB, found {gib}")
    return int(gib * 2**30)


def _dodis_options(
    threads: int | None,
    verify_bits: int,
    workers: int | None,
    scheduler: str | None,
    engine: str,
) -> DaskTarget | None:
    """Check the options of ``diamp extract dodis``; the Dask target they name, if any."""
    from diamp.cli.extras import require
    from diamp.extractors.distributed import DaskTarget

    if threads is not None and threads < 1:
        raise bad_option("--threads", f"must be >= 1, found {threads}")
    check_cluster(workers, scheduler)
    if verify_bits < 0:
        raise bad_option("--verify-bits", f"must be >= 0, found {verify_bits}")
    _check_engine(engine)
    if workers is None and scheduler is None:
        return None
    require("distributed")
    return DaskTarget(workers, scheduler)


def _extract_to_file(
    kind: ExtractorKind,
    x: BitSource,
    y: BitSource,
    m: int,
    out: Path,
    verify_bits: int,
    show_progress: bool,
    **engine: Any,
) -> tuple[CheckedExtraction, float]:
    """Extract and self-check with progress bars, write ``out`` atomically; seconds taken.

    ``engine`` (threads, memory, FFT length, Dask target) goes to ``extract_checked``.
    """
    from diamp.atomic import write_atomic
    from diamp.extractors.checked import extract_checked

    started = time.perf_counter()
    with progress_bars(show_progress) as progress:
        checked = extract_checked(
            kind, x, y, m, check_bits=verify_bits, progress=progress, **engine
        )
    write_atomic(out, checked.output.data.tobytes())
    return checked, time.perf_counter() - started


def _dodis_report(
    n: int,
    m: int,
    out: Path,
    checked: CheckedExtraction,
    seconds: float,
    threads: int | None,
    dask: DaskTarget | None,
    engine: str,
) -> dict[str, Any]:
    """The --json report of ``diamp extract dodis`` (``fft_backend`` is null for exact)."""
    from diamp.extractors.fft import fft_backend

    result = checked.result
    return {
        "extractor": "dodis",
        "n": n,
        "m": m,
        "output": str(out),
        "output_bits": m,
        "output_sha256": result.output.sha256(),
        "engine": engine,
        "exactness": result.exactness,
        "fft_length": result.fft_length,
        "block_bits": result.block_bits,
        "lag_bits": result.lag_bits,
        "threads": threads,
        "fft_backend": fft_backend().name if engine == "fft" else None,
        "dask": None if dask is None else dask.label,
        "roundoff_bound": result.error_bound,
        "max_residual": result.max_residual,
        "checked_positions": list(result.checked_positions),
        "seconds": {
            "extract": checked.extract_seconds,
            "verify": checked.check_seconds,
            "total": seconds,
        },
    }


@extract_app.command("xor")
def xor(
    inputs: Annotated[list[str], typer.Argument(help="Two or more equal-length inputs.")],
    out: OutFile,
    bits: Annotated[int | None, typer.Option("--bits", help="Bits per input.")] = None,
    as_json: AsJson = False,
) -> None:
    """Bitwise XOR of k equal-length sources (uniform if any one input is)."""
    from diamp.daq.bitfiles import open_bits, write_packed
    from diamp.extractors.combine import XorBits

    try:
        started = time.perf_counter()
        combined = XorBits([open_bits(spec, bits) for spec in inputs])
        write_packed(out, combined)
    except DiampError as err:
        raise fail(err) from err
    _report(
        as_json,
        {
            "extractor": "xor",
            "inputs": list(inputs),
            "n": combined.nbits,
            "output": str(out),
            "output_bits": combined.nbits,
            "output_sha256": _file_sha256(out),
            "seconds": {"total": time.perf_counter() - started},
        },
    )


@extract_app.command("von-neumann")
def von_neumann(
    raw: Annotated[str, typer.Argument(help="Raw bits.")],
    out: OutFile,
    bits: Annotated[
        int | None, typer.Option("--bits", help="Raw bits (default: 8 × size).")
    ] = None,
    as_json: AsJson = False,
) -> None:
    """Von Neumann debiasing: pairs 10 → 1, 01 → 0, 00 and 11 dropped.

    The output length depends on the data: it is printed (and in --json as output_bits);
    the last byte of the file is zero-padded.
    """
    from diamp.daq.bitfiles import PackedBitWriter, open_bits
    from diamp.extractors.combine import von_neumann_chunks

    try:
        started = time.perf_counter()
        source = open_bits(raw, bits)
        with PackedBitWriter(out) as writer:
            for chunk in von_neumann_chunks(source):
                writer.write(chunk)
        produced = writer.nbits
    except DiampError as err:
        raise fail(err) from err
    _report(
        as_json,
        {
            "extractor": "von-neumann",
            "n": source.nbits,
            "output": str(out),
            "output_bits": produced,
            "output_sha256": _file_sha256(out),
            "seconds": {"total": time.perf_counter() - started},
        },
    )


def _file_sha256(path: Path) -> str:
    import hashlib

    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(2**24), b""):
            digest.update(block)
    return digest.hexdigest()


def _report(as_json: bool, report: dict[str, Any], note: str = "") -> None:
    if as_json:
        emit_json(report)
    else:
        typer.echo(
            f"{report['output']}: {report['output_bits']:,} bits "
            f"(sha256 {report['output_sha256']}) in {report['seconds']['total']:.1f} s{note}"
        )
