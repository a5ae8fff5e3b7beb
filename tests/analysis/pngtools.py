"""A minimal PNG encoder for tests (stdlib only), independent of matplotlib and diamp.

Writes real PNG files of any colour type at 8 or 16 bits, filter 0 on every row.
"""

from __future__ import annotations

import struct
import zlib

import numpy as np

# colour type → channels per pixel (0 grey, 2 RGB, 3 palette index, 4 grey+alpha, 6 RGBA)
CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def encode_png(
    pixels: np.ndarray,
    colour_type: int,
    *,
    palette: np.ndarray | None = None,
    text: dict[str, str] | None = None,
) -> bytes:
    """PNG bytes of ``pixels`` (H, W) or (H, W, C); uint8 → 8-bit, uint16 → 16-bit samples."""
    arr = np.asarray(pixels)
    height, width = arr.shape[:2]
    channels = 1 if arr.ndim == 2 else arr.shape[2]
    assert channels == CHANNELS[colour_type]
    depth = 16 if arr.dtype == np.uint16 else 8
    samples = arr.reshape(height, width * channels).astype(">u2" if depth == 16 else np.uint8)
    raw = b"".join(b"\x00" + row.tobytes() for row in samples)
    ihdr = struct.pack(">IIBBBBB", width, height, depth, colour_type, 0, 0, 0)
    parts = [b"\x89PNG\r\n\x1a\n", _chunk(b"IHDR", ihdr)]
    if palette is not None:
        parts.append(_chunk(b"PLTE", np.asarray(palette, dtype=np.uint8).tobytes()))
    for key, value in (text or {}).items():
        parts.append(_chunk(b"tEXt", key.encode("latin-1") + b"\0" + value.encode("latin-1")))
    parts += [_chunk(b"IDAT", zlib.compress(raw)), _chunk(b"IEND", b"")]
    return b"".join(parts)
