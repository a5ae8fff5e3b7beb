"""One-time pad of a PNG image's pixel bytes: PNG bytes in, PNG bytes out (``diamp otp``).

Grey pixels take 8 key bits, RGB pixels 24; an alpha plane is copied unpadded. The
ciphertext records its pixel layout and the key bits it used (:data:`CHANNELS_KEY`,
:data:`OTP_KEY`), so decryption needs only the key. PNGs are decoded and encoded in memory
with Pillow; nothing here touches a file.
"""

from __future__ import annotations

import dataclasses
import io
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

import numpy as np

from diamp.analysis.otp.pad import one_time_pad
from diamp.analysis.otp.pixels import (
    CHANNELS_KEY,
    OTP_KEY,
    PNG_SIGNATURE,
    OtpRecord,
    format_otp_record,
    merge_planes,
    parse_otp_record,
    pixels_to_uint8,
    read_png_header,
    split_planes,
)
from diamp.errors import ConfigError, StorageError

if TYPE_CHECKING:
    from PIL.PngImagePlugin import PngImageFile

__all__ = ["PaddedImage", "decode_png", "encode_rgba_png", "pad_offset", "pad_png"]

PNG_DPI: Final = 100
"""Resolution recorded in the pHYs chunk of a written PNG (dots per inch)."""


@dataclass(frozen=True)
class PaddedImage:
    """A padded PNG and the key bits it used: [key_offset, key_offset + 8 · nbytes)."""

    png: bytes
    channels: str
    width: int
    height: int
    nbytes: int
    key_offset: int


def _scaled(pixels: np.ndarray, top: int) -> np.ndarray:
    scaled: np.ndarray = np.divide(pixels, top, dtype=np.float32)
    return scaled


def _float_pixels(image: PngImageFile) -> np.ndarray:
    """0–1 float32 pixels of an open PNG: levels / (2^depth − 1); a 1-bit image as 0 and 1."""
    mode = image.mode
    rawmode = None if image.png is None else image.png.im_rawmode
    if rawmode == "1":
        return np.asarray(image, np.float32)
    depths = {"L;2": 2**2 - 1, "L;4": 2**4 - 1, "L": 2**8 - 1, "I;16B": 2**16 - 1}
    if rawmode in depths:
        return _scaled(np.asarray(image), depths[rawmode])
    if mode in ("RGB", "RGBA"):
        return _scaled(np.asarray(image), 2**8 - 1)
    if mode in ("P", "LA"):
        return _scaled(np.asarray(image.convert("RGBA")), 2**8 - 1)
    raise StorageError(f"cannot decode the PNG: unknown pixel format {rawmode!r}")


def decode_png(data: bytes) -> np.ndarray:
    """The pixels of PNG bytes as 8-bit levels, ``uint8`` (H, W), (H, W, 3) or (H, W, 4).

    Raises
    ------
    StorageError
        If the PNG cannot be decoded.
    ConfigError
        If its levels are not 8-bit (see :func:`pixels_to_uint8`).
    """
    from PIL import PngImagePlugin

    try:
        with PngImagePlugin.PngImageFile(io.BytesIO(data)) as image:
            floats = _float_pixels(image)
    except (OSError, SyntaxError, ValueError) as err:
        if isinstance(err, StorageError):
            raise
        raise StorageError(f"cannot decode the PNG: {err}") from err
    return pixels_to_uint8(floats)


def encode_rgba_png(rgba: np.ndarray, text: Mapping[str, str]) -> bytes:
    """PNG bytes of ``uint8`` (H, W, 4) pixels with tEXt chunks ``text`` (in its order).

    Pillow's encoder (8-bit RGBA), a pHYs chunk of :data:`PNG_DPI` dots per inch.
    """
    from PIL import Image, PngImagePlugin

    info = PngImagePlugin.PngInfo()
    for keyword, value in text.items():
        info.add_text(keyword, value)
    pixels = np.require(rgba, dtype=np.uint8, requirements="C")
    image = Image.frombuffer(
        "RGBA", (pixels.shape[1], pixels.shape[0]), pixels, "raw", "RGBA", 0, 1
    )
    buffer = io.BytesIO()
    image.save(buffer, format="png", pnginfo=info, dpi=(PNG_DPI, PNG_DPI))
    return buffer.getvalue()


def pad_offset(record: OtpRecord | None, key_offset: int | None, decrypt: bool) -> int:
    """The first key bit to use, from the image's record and the requested offset.

    Encryption refuses an image that is already a ciphertext and starts at ``key_offset``
    (default 0); decryption needs the record and takes its offset (a different
    ``key_offset`` is refused).
    """
    if not decrypt:
        if record is not None:
            raise ConfigError(
                f"IMAGE is already a diamp otp ciphertext (key bits from {record.key_offset}); "
                "pass --decrypt",
                parameter="image",
            )
        return 0 if key_offset is None else key_offset
    if record is None:
        raise ConfigError(
            "IMAGE has no diamp-otp record, so it is not a ciphertext written by diamp otp",
            parameter="image",
        )
    if key_offset is not None and key_offset != record.key_offset:
        raise ConfigError(
            f"the ciphertext used key bits from {record.key_offset}, "
            f"--key-offset says {key_offset}",
            parameter="key_offset",
        )
    return record.key_offset


def _check_png(data: bytes) -> dict[str, str]:
    """The text chunks of an 8-bit PNG; refuses other data and deeper PNGs."""
    if not data.startswith(PNG_SIGNATURE):
        raise ConfigError("IMAGE is not a PNG file; pass --raw to pad its bytes", parameter="image")
    header = read_png_header(data)
    if header.bit_depth > 8:
        raise ConfigError(
            f"a {header.bit_depth}-bit PNG would be read at reduced depth; convert it to 8 bits "
            "or pad the file's bytes with --raw",
            parameter="image",
        )
    return dict(header.text)


def pad_png(
    data: bytes,
    key_bits_packed: bytes | np.ndarray,
    *,
    key_nbits: int | None = None,
    key_offset: int | None = None,
    decrypt: bool = False,
    software: str | None = None,
) -> PaddedImage:
    """One-time-pad the pixel bytes of the PNG ``data`` (encrypt, or ``decrypt`` a ciphertext).

    Parameters
    ----------
    data
        An 8-bit PNG file's bytes (grey, RGB, palette, with or without alpha).
    key_bits_packed, key_nbits
        The key, packed MSB-first, as in :func:`~diamp.analysis.otp.one_time_pad`.
    key_offset
        First key bit to use (:func:`pad_offset`: default 0, or the ciphertext's record).
    decrypt
        ``data`` is a ciphertext written by this function.
    software
        Text of a ``Software`` chunk written first, if any.

    Returns
    -------
    PaddedImage
        The padded PNG (RGBA; grey written as R = G = B) and the key bits it used.

    Raises
    ------
    ConfigError
        Not a PNG, deeper than 8 bits, a key too short, or an offset or record mismatch.
    StorageError
        A damaged PNG or record, or an encoder that does not reproduce the pixels.
    """
    text = _check_png(data)
    record = parse_otp_record(text.get(OTP_KEY))
    offset = pad_offset(record, key_offset, decrypt)
    planes = split_planes(decode_png(data), text.get(CHANNELS_KEY))
    nbytes = int(planes.data.size)
    if record is not None and decrypt and record.key_bits != 8 * nbytes:
        raise StorageError(
            f"the ciphertext records {record.key_bits} key bits but holds {8 * nbytes}"
        )
    padded = one_time_pad(planes.data, key_bits_packed, key_nbits=key_nbits, key_offset=offset)
    rgba = merge_planes(dataclasses.replace(planes, data=padded))
    meta = {} if software is None else {"Software": software}
    meta[CHANNELS_KEY] = planes.channels
    if not decrypt:
        meta[OTP_KEY] = format_otp_record(OtpRecord(offset, 8 * nbytes))
    png = encode_rgba_png(rgba, meta)
    if not np.array_equal(decode_png(png), rgba):
        raise StorageError("the PNG writer did not reproduce the padded pixels; nothing written")
    height, width = planes.alpha.shape
    return PaddedImage(png, planes.channels, width, height, nbytes, offset)
