"""``diamp otp``: one-time-pad an image (or any file) with key bits (seed 003 Fig. 11).

:func:`otp_command` is a plain function whose parameters carry their typer options; the
``diamp`` app registers it. The padding is :mod:`diamp.analysis.otp` (bytes in, bytes out);
this module reads the files, writes the result atomically and prints the summary.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from diamp.cli.common import bad_option, emit_json, escape, fail, out
from diamp.errors import DiampError, StorageError

__all__ = ["otp_command"]


def _software() -> str:
    """The ``Software`` text of a written PNG: the program that wrote it, diamp."""
    from diamp import __version__

    return f"diamp {__version__} (diamp otp)"


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as err:
        raise StorageError(f"{path}: cannot read {what}: {err}", path=str(path)) from err


def _check_paths(image: Path, key: Path, out_file: Path, key_offset: int | None) -> None:
    if out_file.resolve() in (image.resolve(), key.resolve()):
        raise bad_option("-o", f"{out_file} would overwrite the input image or the key")
    if key_offset is not None and key_offset < 0:
        raise bad_option("--key-offset", f"must be >= 0, got {key_offset}")


def _key_nbits(key: Path, key_data: bytes, key_bits: int | None) -> int:
    """Bits in the key: ``--key-bits`` if it fits the file's size, else 8 × its size."""
    if key_bits is None:
        return 8 * len(key_data)
    if key_bits < 0 or (key_bits + 7) // 8 != len(key_data):
        raise bad_option("--key-bits", f"{key} holds {len(key_data)} bytes, not {key_bits} bits")
    return key_bits


def _pad(
    data: bytes, key: bytes, nbits: int, key_offset: int | None, raw: bool, decrypt: bool
) -> tuple[bytes, dict[str, Any]]:
    """The padded bytes and what the summary says about them."""
    from diamp.analysis.otp import one_time_pad, pad_png

    if raw:
        offset = 0 if key_offset is None else key_offset
        written = one_time_pad(data, key, key_nbits=nbits, key_offset=offset)
        return written, {"format": "raw", "bytes": len(data), "key_offset": offset}
    image = pad_png(
        data, key, key_nbits=nbits, key_offset=key_offset, decrypt=decrypt, software=_software()
    )
    info = {
        "format": "png",
        "channels": image.channels,
        "width": image.width,
        "height": image.height,
        "bytes": image.nbytes,
        "key_offset": image.key_offset,
    }
    return image.png, info


def _summary_data(
    info: dict[str, Any], decrypt: bool, image: Path, out_file: Path, key: Path, nbits: int
) -> dict[str, Any]:
    """``info`` with the mode, the files and the key bits used (the ``--json`` output)."""
    used = 8 * info["bytes"]
    return {
        **info,
        "mode": "decrypt" if decrypt else "encrypt",
        "input": str(image),
        "output": str(out_file),
        "key": str(key),
        "key_bits": nbits,
        "key_bits_used": used,
        "next_key_offset": info["key_offset"] + used,
    }


def _otp_summary(info: dict[str, Any]) -> None:
    from rich.table import Table

    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_row("mode", info["mode"])
    table.add_row("input", escape(info["input"]))
    table.add_row("output", escape(info["output"]))
    if info["format"] == "png":
        layout = "grey, 1 byte" if info["channels"] == "L" else "RGB, 3 bytes"
        table.add_row(
            "pixels", f"{info['width']} × {info['height']} ({layout} per pixel; alpha not padded)"
        )
    table.add_row("padded bytes", f"{info['bytes']:,}")
    first, used = info["key_offset"], info["key_bits_used"]
    table.add_row(
        "key bits used",
        f"{used:,} (bits {first:,} … {first + used - 1:,} of {info['key_bits']:,} in "
        f"{escape(info['key'])})",
    )
    table.add_row("next unused key bit", f"{info['next_key_offset']:,}")
    out.print(table)


def otp_command(
    image: Annotated[Path, typer.Argument(help="8-bit PNG image (any file with --raw).")],
    key: Annotated[Path, typer.Option("--key", help="Key file, bits packed MSB-first.")],
    out_file: Annotated[Path, typer.Option("-o", "--out", help="Output file to write.")],
    key_bits: Annotated[
        int | None, typer.Option("--key-bits", help="Bits in the key file (default 8 × its size).")
    ] = None,
    key_offset: Annotated[
        int | None,
        typer.Option(
            "--key-offset",
            help="First key bit to use (default 0; with --decrypt, the one the image records).",
        ),
    ] = None,
    raw: Annotated[
        bool, typer.Option("--raw", help="Pad the file's bytes, not PNG pixels.")
    ] = False,
    decrypt: Annotated[
        bool, typer.Option("--decrypt", help="IMAGE is a ciphertext written by diamp otp.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """One-time-pad an image with key bits (seed 003 Fig. 11): XOR its pixel bytes.

    Grey pixels take 8 key bits, RGB pixels 24; alpha is copied unpadded.

    The ciphertext PNG records its layout and key bits, so --decrypt restores the image.

    A key shorter than the data is refused, never wrapped or reused.

    To use more of a key, pass --key-offset with the reported next unused bit.
    """
    from diamp.atomic import write_atomic

    try:
        _check_paths(image, key, out_file, key_offset)
        data, key_data = _read(image, "the image"), _read(key, "the key")
        nbits = _key_nbits(key, key_data, key_bits)
        written, info = _pad(data, key_data, nbits, key_offset, raw, decrypt)
        write_atomic(out_file, written, what="the output")
    except DiampError as err:
        raise fail(err) from err
    summary = _summary_data(info, decrypt, image, out_file, key, nbits)
    if as_json:
        emit_json(summary)
    else:
        _otp_summary(summary)
