"""The PNG side of ``diamp otp``: header chunks, the ciphertext record, pixel planes.

A ciphertext PNG records in tEXt chunks its padded pixel layout (:data:`CHANNELS_KEY`) and
the key bits it used (:data:`OTP_KEY`). :func:`read_png_header` parses the signature, IHDR
and tEXt chunks (CRC-checked) without touching the pixels; :func:`pixels_to_uint8` turns
decoded pixels (0–1 floats) into the bytes that are padded, and :func:`split_planes` /
:func:`merge_planes` separate the padded bytes from an alpha plane kept in the clear.
"""

from __future__ import annotations

import re
import struct
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

import numpy as np

from diamp.errors import ConfigError, StorageError

__all__ = [
    "CHANNELS_KEY",
    "OTP_KEY",
    "PNG_SIGNATURE",
    "OtpRecord",
    "PixelPlanes",
    "PngHeader",
    "format_otp_record",
    "merge_planes",
    "parse_otp_record",
    "pixels_to_uint8",
    "read_png_header",
    "split_planes",
]

PNG_SIGNATURE: Final = b"\x89PNG\r\n\x1a\n"
CHANNELS_KEY: Final = "diamp-channels"
"""PNG text keyword naming the padded pixel layout, ``L`` (grey) or ``RGB``."""
OTP_KEY: Final = "diamp-otp"
"""PNG text keyword on a ciphertext: the key bits it used, ``key-offset=… key-bits=…``."""


# --- ciphertext record ---------------------------------------------------------------------


@dataclass(frozen=True)
class OtpRecord:
    """Which key bits a ciphertext used: [key_offset, key_offset + key_bits)."""

    key_offset: int
    key_bits: int


_RECORD = re.compile(r"key-offset=(\d+) key-bits=(\d+)")


def format_otp_record(record: OtpRecord) -> str:
    """The text stored under :data:`OTP_KEY` (no key material, only positions)."""
    return f"key-offset={record.key_offset} key-bits={record.key_bits}"


def parse_otp_record(text: str | None) -> OtpRecord | None:
    """Inverse of :func:`format_otp_record`; ``None`` for ``None``, StorageError if garbled."""
    if text is None:
        return None
    match = _RECORD.fullmatch(text.strip())
    if match is None:
        raise StorageError(
            f"unreadable {OTP_KEY} record {text!r} (expected key-offset=N key-bits=N)"
        )
    return OtpRecord(int(match[1]), int(match[2]))


# --- PNG header and pixels -----------------------------------------------------------------


@dataclass(frozen=True)
class PngHeader:
    """IHDR fields and the tEXt chunks of a PNG file."""

    width: int
    height: int
    bit_depth: int
    colour_type: int
    text: Mapping[str, str]


def read_png_header(data: bytes) -> PngHeader:
    """Parse a PNG's signature, IHDR and tEXt chunks (CRC-checked); pixels are left alone.

    Raises
    ------
    StorageError
        If ``data`` is not a PNG or a chunk is truncated or fails its CRC.
    """
    if not data.startswith(PNG_SIGNATURE):
        raise StorageError("not a PNG file (no PNG signature)")
    pos, ihdr, text = len(PNG_SIGNATURE), None, {}
    while pos + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        body = data[pos + 8 : pos + 8 + length]
        crc = data[pos + 8 + length : pos + 12 + length]
        if len(body) != length or len(crc) != 4:
            raise StorageError(f"PNG chunk {kind!r} at byte {pos} is truncated")
        if zlib.crc32(kind + body) != struct.unpack(">I", crc)[0]:
            raise StorageError(f"PNG chunk {kind!r} at byte {pos} fails its CRC")
        if kind == b"IHDR" and length == 13:
            ihdr = struct.unpack(">IIBB", body[:10])
        elif kind == b"tEXt" and b"\0" in body:
            keyword, _, value = body.partition(b"\0")
            text[keyword.decode("latin-1")] = value.decode("latin-1")
        elif kind == b"IEND":
            break
        pos += 12 + length
    if ihdr is None:
        raise StorageError("PNG file has no IHDR chunk")
    return PngHeader(ihdr[0], ihdr[1], ihdr[2], ihdr[3], text)


def pixels_to_uint8(image: np.ndarray) -> np.ndarray:
    """Pixel bytes of an image array: ``uint8`` as is, 0–1 floats (a decoded PNG) × 255.

    Raises
    ------
    ConfigError
        If a float image is not exactly 8-bit (values not multiples of 1/255 to within
        float32 rounding, or outside [0, 1]), or the dtype is neither.
    """
    arr = np.asarray(image)
    if arr.dtype == np.uint8:
        return arr
    if not np.issubdtype(arr.dtype, np.floating):
        raise ConfigError(
            f"image pixels must be uint8 or 0–1 floats, got {arr.dtype}", parameter="image"
        )
    scaled = arr.astype(np.float64) * 255.0
    levels = np.rint(scaled)
    if not (np.all(np.isfinite(scaled)) and np.all((levels >= 0) & (levels <= 255))):
        raise ConfigError("image pixels must lie in [0, 1]", parameter="image")
    if np.max(np.abs(scaled - levels), initial=0.0) > 1e-3:
        raise ConfigError(
            "image pixels are not 8-bit levels (a 16-bit image?); convert it to 8 bits first",
            parameter="image",
        )
    return levels.astype(np.uint8)


@dataclass(frozen=True)
class PixelPlanes:
    """An image split into the bytes that are padded and an alpha plane kept in the clear.

    ``data`` is (H, W) for ``channels`` = ``"L"`` and (H, W, 3) for ``"RGB"``; ``alpha`` is
    (H, W), 255 where the image had no alpha channel.
    """

    channels: str
    data: np.ndarray
    alpha: np.ndarray


def split_planes(pixels: np.ndarray, channels: str | None = None) -> PixelPlanes:
    """Split uint8 pixels (H, W), (H, W, 3) or (H, W, 4) into padded bytes and alpha.

    ``channels`` is the layout recorded in the file (:data:`CHANNELS_KEY`): ``"L"`` pads one
    byte per pixel and needs R = G = B in a colour array (the grey written as RGBA), ``"RGB"``
    three. ``None`` takes the array's own layout.
    """
    arr = np.asarray(pixels)
    if (
        arr.dtype != np.uint8
        or arr.ndim not in (2, 3)
        or (arr.ndim == 3 and arr.shape[2] not in (3, 4))
    ):
        raise ConfigError(
            f"pixels must be uint8 (H, W), (H, W, 3) or (H, W, 4), got {arr.dtype} {arr.shape}",
            parameter="pixels",
        )
    if channels not in (None, "L", "RGB"):
        raise ConfigError(f"unknown pixel layout {channels!r} (L or RGB)", parameter="channels")
    height, width = arr.shape[:2]
    opaque = np.full((height, width), 255, dtype=np.uint8)
    if arr.ndim == 2:
        if channels == "RGB":
            raise ConfigError(
                "the file records RGB pixels but holds a grey image", parameter="channels"
            )
        return PixelPlanes("L", arr.copy(), opaque)
    rgb = arr[:, :, :3]
    alpha = arr[:, :, 3].copy() if arr.shape[2] == 4 else opaque
    if channels == "L":
        if not (
            np.array_equal(rgb[:, :, 0], rgb[:, :, 1])
            and np.array_equal(rgb[:, :, 0], rgb[:, :, 2])
        ):
            raise ConfigError(
                "the file records grey (L) pixels but its R, G and B planes differ",
                parameter="channels",
            )
        return PixelPlanes("L", rgb[:, :, 0].copy(), alpha)
    return PixelPlanes("RGB", np.ascontiguousarray(rgb), alpha)


def merge_planes(planes: PixelPlanes) -> np.ndarray:
    """RGBA uint8 (H, W, 4) of the planes: grey goes to R = G = B (what a PNG writer takes)."""
    rgb = planes.data if planes.channels == "RGB" else np.repeat(planes.data[:, :, None], 3, axis=2)
    return np.concatenate([rgb, planes.alpha[:, :, None]], axis=2)
