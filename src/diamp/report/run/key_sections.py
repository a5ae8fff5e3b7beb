"""Report sections that show the key: bit image and one-time pad (seed 003 Figs. 10, 11).

Key bits are read MSB-first from the packed key (bit i is bit 7 − (i mod 8) of byte i // 8).
In the bit image, bit i is pixel (i // W, i mod W), row by row from the top left, white for
1 and black for 0 (as Fig. 10); pixels after the last bit are grey.
"""

from __future__ import annotations

import math
from typing import Final

import numpy as np

from diamp.analysis.otp import one_time_pad
from diamp.report.run.model import RunData
from diamp.report.run.page import Section, esc, img
from diamp.report.run.png import data_uri, encode_palette2, encode_rgb

__all__ = [
    "BIT_IMAGE_MAX_BITS",
    "OTP_IMAGE_SHAPE",
    "bit_image_indices",
    "bit_image_section",
    "demo_image",
    "otp_section",
]

BIT_IMAGE_MAX_BITS: Final = 1_000_000
"""At most this many key bits (the first ones) are drawn."""
OTP_IMAGE_SHAPE: Final = (128, 128, 3)
"""Shape of the procedural test image that is one-time padded (RGB, 8 bits per channel)."""
BIT_PALETTE: Final = [(0, 0, 0), (255, 255, 255), (160, 160, 160)]
"""Palette of the bit image: index 0 black (bit 0), 1 white (bit 1), 2 grey (no bit)."""


def bit_image_indices(key_packed: np.ndarray, nbits: int) -> np.ndarray:
    """Palette indices (H, W) of the first ``nbits`` key bits, W = ⌈√nbits⌉, H = ⌈nbits/W⌉.

    The key is packed MSB-first; padding pixels after bit ``nbits`` − 1 get index 2.
    """
    width = math.isqrt(nbits - 1) + 1 if nbits > 1 else 1
    height = -(-nbits // width)
    flat = np.full(width * height, 2, dtype=np.uint8)
    flat[:nbits] = np.unpackbits(key_packed[: -(-nbits // 8)])[:nbits]
    return flat.reshape(height, width)


def bit_image_section(run: RunData) -> Section:
    """The first ≤ 10^6 key bits as a black-and-white image (Fig. 10)."""
    if run.key_packed is None or run.key_bits == 0:
        body = "<p>No key: the run produced no output bits.</p>"
        return Section("bit-image", "Key as a bit image", body, {"bits_shown": 0})
    shown = min(run.key_bits, BIT_IMAGE_MAX_BITS)
    indices = bit_image_indices(run.key_packed, shown)
    height, width = indices.shape
    ones = int(np.count_nonzero(indices == 1))
    spare = width * height - shown
    body = (
        f"<p>The first {shown:,} of {run.key_bits:,} key bits, row by row from the top left "
        f"({width} × {height} pixels): white = 1, black = 0"
        + (f", grey = no bit (the last {spare} pixels)" if spare else "")
        + f". Ones: {ones:,} ({ones / shown:.5f}). As seed 003 Fig. 10. This image shows key "
        "material: treat this page as secret as the key.</p>"
        + img(data_uri(encode_palette2(indices, BIT_PALETTE)), "key bits", "bits")
    )
    data = {"bits_shown": shown, "width": width, "height": height, "ones": ones}
    return Section("bit-image", "Key as a bit image", body, data)


def demo_image() -> np.ndarray:
    """The deterministic RGB test image that is one-time padded (no randomness, no files).

    A colour gradient with a yellow disc, a dark ring, a checkerboard square and a diagonal
    stripe: structure the eye recognises at once, so that the ciphertext visibly hides it.
    """
    height, width, _ = OTP_IMAGE_SHAPE
    y, x = np.mgrid[0:height, 0:width]
    image = np.zeros(OTP_IMAGE_SHAPE, dtype=np.uint8)
    image[..., 0] = (x * 255) // (width - 1)
    image[..., 1] = (y * 255) // (height - 1)
    image[..., 2] = 140
    r2 = (x - 76) ** 2 + (y - 70) ** 2
    image[r2 <= 34**2] = (240, 205, 40)
    image[(r2 >= 24**2) & (r2 <= 28**2)] = (40, 30, 90)
    checker = ((x // 6) + (y // 6)) % 2 == 0
    square = (x >= 10) & (x < 46) & (y >= 10) & (y < 46)
    image[square & checker] = (255, 255, 255)
    image[square & ~checker] = (20, 20, 20)
    image[np.abs(x - y - 40) <= 2] = (200, 30, 60)
    return image


def otp_section(run: RunData) -> Section:
    """Fig. 11 analogue: plain, one-time padded and decrypted test image side by side."""
    title = "One-time pad of an image"
    image = demo_image()
    need = 8 * image.size
    if run.key_packed is None or run.key_bits < need:
        have = 0 if run.key_packed is None else run.key_bits
        body = (
            f"<p>Not shown: the {OTP_IMAGE_SHAPE[1]} × {OTP_IMAGE_SHAPE[0]} RGB test image needs "
            f"{need:,} key bits and the run has {have:,}; a one-time pad never reuses or wraps "
            "its key.</p>"
        )
        return Section("otp", title, body, {"shown": False, "key_bits_needed": need})
    cipher = one_time_pad(image, run.key_packed, key_nbits=run.key_bits)
    decrypted = one_time_pad(cipher, run.key_packed, key_nbits=run.key_bits)
    same = bool(np.array_equal(decrypted, image))
    figures = "".join(
        f"<figure>{img(data_uri(encode_rgb(pixels)), label)}<figcaption>{esc(label)}"
        "</figcaption></figure>"
        for label, pixels in (
            ("plaintext", image),
            ("ciphertext", cipher),
            ("decrypted", decrypted),
        )
    )
    body = (
        f"<p>Each pixel byte (R, G, B) of a procedurally drawn {OTP_IMAGE_SHAPE[1]} × "
        f"{OTP_IMAGE_SHAPE[0]} test image is XORed with 8 key bits: key bits 0 … {need - 1:,}, "
        "MSB-first, pixels row by row (as <code>diamp otp</code> and seed 003 Fig. 11). "
        f"Decrypting with the same bits gives the plaintext back: {'yes' if same else 'NO'}."
        f'</p><div class="side">{figures}</div>'
    )
    data = {"shown": True, "key_bits_used": need, "decrypted_equals_plaintext": same}
    return Section("otp", title, body, data)
