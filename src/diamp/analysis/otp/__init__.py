"""One-time pad with certified random bits, of bytes and of PNG images (``diamp otp``).

Seed 003 (Kulikov et al.) Fig. 11 one-time-pads an image with the amplified bits. Here the
key is a bit string packed MSB-first (``numpy.packbits`` order, as diamp stores keys):
key bit i is bit 7 − (i mod 8) of byte i // 8. Data byte j is XORed with the key byte made
of key bits [offset + 8j, offset + 8j + 8), first bit most significant. A key shorter than
the data is refused: a one-time pad never wraps or reuses its key.

Pure: bytes and arrays in and out, no files. :mod:`~diamp.analysis.otp.pad` is the pad,
:mod:`~diamp.analysis.otp.pixels` the PNG header chunks, ciphertext record and pixel
planes, :mod:`~diamp.analysis.otp.image` the padding of a PNG's pixels (PNG bytes in and
out, decoded and encoded in memory).
"""

from diamp.analysis.otp.image import (
    PaddedImage,
    decode_png,
    encode_rgba_png,
    pad_offset,
    pad_png,
)
from diamp.analysis.otp.pad import key_segment, one_time_pad
from diamp.analysis.otp.pixels import (
    CHANNELS_KEY,
    OTP_KEY,
    PNG_SIGNATURE,
    OtpRecord,
    PixelPlanes,
    PngHeader,
    format_otp_record,
    merge_planes,
    parse_otp_record,
    pixels_to_uint8,
    read_png_header,
    split_planes,
)

__all__ = [
    "CHANNELS_KEY",
    "OTP_KEY",
    "PNG_SIGNATURE",
    "OtpRecord",
    "PaddedImage",
    "PixelPlanes",
    "PngHeader",
    "decode_png",
    "encode_rgba_png",
    "format_otp_record",
    "key_segment",
    "merge_planes",
    "one_time_pad",
    "pad_offset",
    "pad_png",
    "parse_otp_record",
    "pixels_to_uint8",
    "read_png_header",
    "split_planes",
]
