"""The one-time pad against a bit-by-bit reference, and the PNG/pixel helpers."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pngtools import encode_png

from diamp.analysis.otp import (
    OTP_KEY,
    OtpRecord,
    decode_png,
    format_otp_record,
    key_segment,
    merge_planes,
    one_time_pad,
    pad_png,
    parse_otp_record,
    pixels_to_uint8,
    read_png_header,
    split_planes,
)
from diamp.errors import ConfigError, StorageError

HYP = settings(derandomize=True, deadline=None, max_examples=80)


def _reference_pad(data: bytes, key: bytes, offset: int) -> bytes:
    """Bit by bit: key bit i is bit 7 - i % 8 of key byte i // 8 (MSB-first)."""
    out = bytearray()
    for j, byte in enumerate(data):
        pad = 0
        for t in range(8):
            i = offset + 8 * j + t
            pad = (pad << 1) | ((key[i // 8] >> (7 - i % 8)) & 1)
        out.append(byte ^ pad)
    return bytes(out)


def test_hand_computed_unaligned_offset() -> None:
    # key bits: 1011 0000 | 0111 1111 | 1100 0000 (bytes B0 7F C0); offset 4 takes bits
    # 4..19 = 0000 0111 | 1111 1100 = 07 FC. Data 00 FF -> 07 03.
    assert one_time_pad(b"\x00\xff", b"\xb0\x7f\xc0", key_offset=4) == b"\x07\x03"
    assert key_segment(b"\xb0\x7f\xc0", 2, key_offset=4).tolist() == [0x07, 0xFC]


@HYP
@given(
    data=st.binary(max_size=64),
    extra_bits=st.integers(0, 40),
    offset=st.integers(0, 40),
    seed=st.integers(0, 2**32 - 1),
)
def test_pad_matches_the_bit_reference_and_inverts(
    data: bytes, extra_bits: int, offset: int, seed: int
) -> None:
    nbits = offset + 8 * len(data) + extra_bits
    key = np.random.default_rng(seed).integers(0, 256, (nbits + 7) // 8, dtype=np.uint8)
    cipher = one_time_pad(data, key, key_nbits=nbits, key_offset=offset)
    assert isinstance(cipher, bytes)
    assert cipher == _reference_pad(data, key.tobytes(), offset)
    assert one_time_pad(cipher, key.tobytes(), key_nbits=nbits, key_offset=offset) == data


def test_exact_length_key_is_enough_one_bit_less_is_refused() -> None:
    data = bytes(range(10))
    key = np.arange(11, dtype=np.uint8)
    assert one_time_pad(data, key, key_nbits=83, key_offset=3) == _reference_pad(
        data, key.tobytes(), 3
    )
    with pytest.raises(ConfigError, match=r"too short.*80 key bits from bit 4.*83 bits") as info:
        one_time_pad(data, key, key_nbits=83, key_offset=4)
    assert info.value.fields["parameter"] == "key"
    with pytest.raises(ConfigError, match="never reuses or wraps"):
        one_time_pad(data + b"x", key[:10])


def test_bits_past_key_nbits_are_never_used() -> None:
    # 20-bit key in 3 bytes: the last 4 bits of byte 2 are padding; changing them changes
    # nothing, and asking for one of them is refused.
    a, b = b"\x12\x34\x50", b"\x12\x34\x5f"
    assert one_time_pad(b"\xaa\x55", a, key_nbits=20, key_offset=4) == one_time_pad(
        b"\xaa\x55", b, key_nbits=20, key_offset=4
    )
    with pytest.raises(ConfigError, match="too short"):
        one_time_pad(b"\xaa\x55", a, key_nbits=20, key_offset=5)


def test_arrays_keep_shape_and_dtype() -> None:
    rng = np.random.default_rng(7)
    img = rng.integers(0, 256, (5, 6, 3), dtype=np.uint8)
    key = rng.integers(0, 256, img.size, dtype=np.uint8)
    cipher = one_time_pad(img, key)
    assert cipher.shape == img.shape
    assert cipher.dtype == np.uint8
    assert cipher.tobytes() == _reference_pad(img.tobytes(), key.tobytes(), 0)
    assert np.array_equal(one_time_pad(cipher, key), img)
    view = img[:, ::2]  # non-contiguous input: its bytes in C order
    assert one_time_pad(view, key).tobytes() == _reference_pad(
        np.ascontiguousarray(view).tobytes(), key.tobytes(), 0
    )


@pytest.mark.parametrize(
    ("kwargs", "parameter", "fragment"),
    [
        ({"data": np.zeros(3, np.uint16), "key_bits_packed": b"\0" * 8}, "data", "uint16"),
        ({"data": b"ab", "key_bits_packed": np.zeros(4, np.int64)}, "key_bits_packed", "int64"),
        ({"data": b"ab", "key_bits_packed": b"\0" * 2, "key_nbits": 17}, "key_nbits", "2 bytes"),
        ({"data": b"ab", "key_bits_packed": b"\0" * 2, "key_nbits": 8}, "key_nbits", "9 … 16"),
        ({"data": b"ab", "key_bits_packed": b"\0" * 4, "key_offset": -1}, "key_offset", ">= 0"),
        ({"data": b"ab", "key_bits_packed": b"\0" * 4, "key_offset": True}, "key_offset", ">= 0"),
    ],
)
def test_invalid_pad_arguments(kwargs: dict[str, object], parameter: str, fragment: str) -> None:
    with pytest.raises(ConfigError) as info:
        one_time_pad(**kwargs)  # type: ignore[call-overload]
    assert info.value.fields["parameter"] == parameter
    assert fragment in str(info.value)


# --- record, header, pixels ---------------------------------------------------------------


def test_otp_record_round_trip_and_garbage() -> None:
    record = OtpRecord(key_offset=123, key_bits=4096)
    assert parse_otp_record(format_otp_record(record)) == record
    assert parse_otp_record(None) is None
    with pytest.raises(StorageError, match="unreadable"):
        parse_otp_record("key-offset=-1 key-bits=8")


def test_png_header_fields_text_and_damage() -> None:
    png = encode_png(np.zeros((3, 5, 3), np.uint8), 2, text={"diamp-channels": "RGB"})
    header = read_png_header(png)
    assert (header.width, header.height, header.bit_depth, header.colour_type) == (5, 3, 8, 2)
    assert header.text == {"diamp-channels": "RGB"}
    assert read_png_header(encode_png(np.zeros((2, 2), np.uint16), 0)).bit_depth == 16
    with pytest.raises(StorageError, match="not a PNG"):
        read_png_header(b"GIF89a")
    broken = bytearray(png)
    broken[20] ^= 0x01  # inside IHDR's body: its CRC no longer matches
    with pytest.raises(StorageError, match="CRC"):
        read_png_header(bytes(broken))
    with pytest.raises(StorageError, match="truncated"):
        read_png_header(png[:30])
    no_ihdr = (
        b"\x89PNG\r\n\x1a\n"
        + struct.pack(">I", 0)
        + b"IEND"
        + struct.pack(">I", zlib.crc32(b"IEND"))
    )
    with pytest.raises(StorageError, match="no IHDR"):
        read_png_header(no_ihdr)


def _imread_png(data: bytes) -> np.ndarray:
    import matplotlib.image as mpimg

    return np.asarray(mpimg.imread(io.BytesIO(data), format="png"))


def test_pixels_to_uint8_is_exact_for_8_bit_pngs() -> None:
    levels = np.arange(256, dtype=np.uint8).reshape(16, 16)
    floats = _imread_png(encode_png(levels, 0))
    assert floats.dtype == np.float32
    assert np.array_equal(pixels_to_uint8(floats), levels)
    assert pixels_to_uint8(levels) is levels


def test_pixels_to_uint8_refuses_16_bit_levels_and_bad_values() -> None:
    deep = np.array([[0, 1000, 65535]], dtype=np.uint16)  # 1000/65535 is no 8-bit level
    floats = _imread_png(encode_png(deep, 0))
    with pytest.raises(ConfigError, match="not 8-bit"):
        pixels_to_uint8(floats)
    with pytest.raises(ConfigError, match=r"\[0, 1\]"):
        pixels_to_uint8(np.array([1.5], np.float32))
    with pytest.raises(ConfigError, match="uint8 or 0–1 floats"):
        pixels_to_uint8(np.array([3], np.int32))


def test_split_and_merge_planes() -> None:
    rng = np.random.default_rng(3)
    grey = rng.integers(0, 256, (4, 5), dtype=np.uint8)
    planes = split_planes(grey)
    assert planes.channels == "L"
    assert np.array_equal(planes.alpha, np.full((4, 5), 255))
    rgba = merge_planes(planes)
    assert rgba.shape == (4, 5, 4)
    assert all(np.array_equal(rgba[:, :, c], grey) for c in range(3))
    again = split_planes(rgba, "L")  # grey written as RGBA, read back with its record
    assert again.channels == "L"
    assert np.array_equal(again.data, grey)
    colour = rng.integers(0, 256, (4, 5, 4), dtype=np.uint8)
    rgb = split_planes(colour)
    assert rgb.channels == "RGB"
    assert np.array_equal(rgb.alpha, colour[:, :, 3])
    assert np.array_equal(merge_planes(rgb), colour)
    with pytest.raises(ConfigError, match="R, G and B planes differ"):
        split_planes(colour, "L")
    with pytest.raises(ConfigError, match="holds a grey image"):
        split_planes(grey, "RGB")
    with pytest.raises(ConfigError, match="unknown pixel layout"):
        split_planes(colour, "CMYK")
    with pytest.raises(ConfigError, match=r"\(H, W, 3\)"):
        split_planes(np.zeros((2, 2, 2), np.uint8))


def test_pad_png_round_trip_records_the_key_bits() -> None:
    rng = np.random.default_rng(11)
    rgba = rng.integers(0, 256, (5, 7, 4), dtype=np.uint8)
    key = rng.integers(0, 256, 200, dtype=np.uint8).tobytes()
    cipher = pad_png(encode_png(rgba, 6), key, key_offset=9)
    assert (cipher.channels, cipher.width, cipher.height) == ("RGB", 7, 5)
    assert (cipher.nbytes, cipher.key_offset) == (105, 9)
    header = read_png_header(cipher.png)
    assert header.text[OTP_KEY] == "key-offset=9 key-bits=840"
    pixels = decode_png(cipher.png)
    assert np.array_equal(pixels[:, :, 3], rgba[:, :, 3])  # alpha in the clear
    expected = one_time_pad(rgba[:, :, :3].copy(), key, key_offset=9)
    assert np.array_equal(pixels[:, :, :3], expected)
    plain = pad_png(cipher.png, key, decrypt=True, software="test")
    assert np.array_equal(decode_png(plain.png), rgba)
    assert list(read_png_header(plain.png).text) == ["Software", "diamp-channels"]


def test_undecodable_png_is_a_storage_error() -> None:
    png = bytearray(encode_png(np.zeros((3, 3, 3), np.uint8), 2))
    start = png.index(b"IDAT") + 4
    body = b"not zlib data"
    chunk = struct.pack(">I", len(body)) + b"IDAT" + body
    chunk += struct.pack(">I", zlib.crc32(b"IDAT" + body))
    end = png.index(b"IEND") - 4
    damaged = bytes(png[: start - 8]) + chunk + bytes(png[end:])
    read_png_header(damaged)  # every chunk passes its CRC
    with pytest.raises(StorageError, match="cannot decode the PNG"):
        pad_png(damaged, bytes(100))
