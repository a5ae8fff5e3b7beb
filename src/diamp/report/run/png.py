"""A small PNG encoder for the run report (stdlib zlib; no matplotlib needed for pixels).

Two kinds of image are written: RGB at 8 bits per channel (colour type 2) for the one-time
pad demonstration, and palette images at 2 bits per pixel (colour type 3) for the key's bit
image (black for 0, white for 1, grey for pixels that hold no bit). Every row uses filter 0
(none), so a decoder needs only zlib to read the pixels back.
"""

from __future__ import annotations

import base64
import struct
import zlib

import numpy as np

from diamp.errors import ConfigError

__all__ = ["data_uri", "encode_palette2", "encode_rgb"]

_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _chunk(kind: bytes, body: bytes) -> bytes:
    crc = zlib.crc32(kind + body)
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)


def _png(width: int, height: int, depth: int, colour: int, rows: np.ndarray, plte: bytes) -> bytes:
    raw = np.zeros((height, rows.shape[1] + 1), dtype=np.uint8)  # column 0: filter type 0
    raw[:, 1:] = rows
    parts = [
        _SIGNATURE,
        _chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, 0)),
    ]
    if plte:
        parts.append(_chunk(b"PLTE", plte))
    parts += [_chunk(b"IDAT", zlib.compress(raw.tobytes(), 6)), _chunk(b"IEND", b"")]
    return b"".join(parts)


def encode_rgb(pixels: np.ndarray) -> bytes:
    """PNG bytes of an (H, W, 3) ``uint8`` image (8-bit RGB, no alpha)."""
    arr = np.asarray(pixels)
    if arr.dtype != np.uint8 or arr.ndim != 3 or arr.shape[2] != 3 or 0 in arr.shape:
        raise ConfigError(
            f"an RGB image must be a non-empty uint8 (H, W, 3) array, got {arr.dtype} {arr.shape}",
            parameter="pixels",
        )
    height, width = arr.shape[:2]
    return _png(width, height, 8, 2, arr.reshape(height, 3 * width), b"")


def encode_palette2(indices: np.ndarray, palette: list[tuple[int, int, int]]) -> bytes:
    """PNG bytes of an (H, W) image of palette indices 0–3 at 2 bits per pixel.

    Pixels are packed four to a byte, the leftmost pixel in the most significant bits (as
    the PNG specification orders sub-byte samples).
    """
    arr = np.asarray(indices)
    if arr.dtype != np.uint8 or arr.ndim != 2 or 0 in arr.shape or int(arr.max()) >= len(palette):
        raise ConfigError(
            f"palette indices must be a non-empty uint8 (H, W) array below {len(palette)}",
            parameter="indices",
        )
    if not 1 <= len(palette) <= 4:
        raise ConfigError("a 2-bit palette holds 1 to 4 colours", parameter="palette")
    height, width = arr.shape
    padded = np.zeros((height, -(-width // 4) * 4), dtype=np.uint8)
    padded[:, :width] = arr
    quads = padded.reshape(height, -1, 4)
    rows = (quads[:, :, 0] << 6) | (quads[:, :, 1] << 4) | (quads[:, :, 2] << 2) | quads[:, :, 3]
    plte = bytes(channel for colour in palette for channel in colour)
    return _png(width, height, 2, 3, rows.astype(np.uint8), plte)


def data_uri(png: bytes) -> str:
    """``data:image/png;base64,…`` for embedding in an ``<img src>``."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")
