"""Kernels loaded as native code without numba (diamp.extractors._native).

The oracle is numba itself (the same kernels called through its dispatcher, DIAMP_NATIVE=0)
and, for the engines, the definition; the cache file is attacked the ways a careless operator
or a copied home directory would: truncated, edited, from another machine, unwritable.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from diamp.errors import ExtractionError
from diamp.extractors import _native

MODULES = ("diamp.extractors._bit_kernels", "diamp.extractors._ntt_kernels",
           "diamp.extractors._kernels")  # fmt: skip


def _python(script: str, cache: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environ = dict(os.environ, DIAMP_NATIVE_CACHE_DIR=str(cache), **env)
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)],
        capture_output=True, text=True, timeout=600, check=False, env=environ,
    )  # fmt: skip


def test_bit_kernels_match_numba_on_random_inputs() -> None:
    import diamp.extractors._bit_kernels as jit

    native = _native.load("diamp.extractors._bit_kernels")
    rng = np.random.default_rng(7)
    for _ in range(200):
        nx, ny = int(rng.integers(1, 40)), int(rng.integers(1, 60))
        x = rng.integers(0, 2**64, nx, dtype=np.uint64)
        y = rng.integers(0, 2**64, ny, dtype=np.uint64)
        shift = int(rng.integers(0, 64 * ny + 70))
        assert native.shifted_and_parity(x, y, shift) == jit.shifted_and_parity(x, y, shift)
        packed = rng.integers(0, 256, int(rng.integers(0, 50)), dtype=np.uint8)
        off, count = int(rng.integers(0, 9)), int(rng.integers(0, 420))
        assert native.count_bits(packed, off, count) == jit.count_bits(packed, off, count)


def test_ntt_kernels_match_numba() -> None:
    import diamp.extractors._ntt_kernels as jit

    native = _native.load("diamp.extractors._ntt_kernels")
    rng = np.random.default_rng(3)
    packed = rng.integers(0, 256, 300, dtype=np.uint8)
    for reverse in (False, True):
        a, b = np.zeros(4096, np.uint32), np.zeros(4096, np.uint32)
        native.unpack_bits(packed, 5, 2000, 3000, reverse, a, 0, 4096)
        jit.unpack_bits(packed, 5, 2000, 3000, reverse, b, 0, 4096)
        assert np.array_equal(a, b)
    values = rng.integers(0, jit.P, 1000, dtype=np.uint32)
    outs = [np.zeros(125, np.uint8), np.zeros(125, np.uint8)]
    got = [
        k.scaled_parities(values, 0, 1000, np.uint64(12345), np.uint64(jit.P), o)
        for k, o in zip((native, jit), outs, strict=True)
    ]
    assert got[0] == got[1] and np.array_equal(outs[0], outs[1])


def test_engines_give_the_same_bits_with_and_without_native_code(tmp_path: Path) -> None:
    script = """
    import hashlib, sys
    import numpy as np
    from diamp.extractors.bits import PackedBits
    from diamp.extractors.dodis import dodis_extract
    from diamp.extractors.ntt import correlate_parity_exact
    rng = np.random.default_rng(11)
    n = 70001
    x = PackedBits.from_bits(rng.integers(0, 2, n, dtype=np.uint8))
    y = PackedBits.from_bits(rng.integers(0, 2, n, dtype=np.uint8))
    a = dodis_extract(x, y, 30001).output.data.tobytes()
    b = correlate_parity_exact(x, y, 30001).output.data.tobytes()
    assert a == b
    print(hashlib.sha256(a).hexdigest(), "numba" in sys.modules)
    """
    native = _python(script, tmp_path / "cache")
    assert native.returncode == 0, native.stderr
    again = _python(script, tmp_path / "cache")  # from the cache file: numba never imported
    jit = _python(script, tmp_path / "cache", DIAMP_NATIVE="0")
    assert again.returncode == 0 and jit.returncode == 0, again.stderr + jit.stderr
    digest = jit.stdout.split()[0]
    assert native.stdout.split()[0] == again.stdout.split()[0] == digest
    assert again.stdout.split()[1] == "False"
    assert jit.stdout.split()[1] == "True"


_COUNT = """
import numpy as np, sys
from diamp.extractors._native import load
k = load("diamp.extractors._bit_kernels")
print(k.origin, k.count_bits(np.full(10, 255, np.uint8), 3, 70), "numba" in sys.modules)
"""


def _cache_file(cache: Path) -> Path:
    (path,) = cache.glob("_bit_kernels.*.native")
    return path


@pytest.mark.parametrize("damage", ["flip", "truncate", "key", "garbage", "empty"])
def test_a_damaged_or_foreign_cache_file_is_rebuilt_never_run(tmp_path: Path, damage: str) -> None:
    cache = tmp_path / "cache"
    first = _python(_COUNT, cache)
    assert first.returncode == 0, first.stderr
    assert first.stdout.split() == ["native", "70", "True"]  # built with numba
    path = _cache_file(cache)
    data = bytearray(path.read_bytes())
    if damage == "flip":
        data[-100] ^= 0x10  # one bit of the machine code
    elif damage == "truncate":
        data = data[: len(data) - 37]
    elif damage == "key":  # a file built on another CPU, copied here under this name
        magic, head, obj = bytes(data).split(b"\n", 2)
        header = json.loads(head)
        header["key"]["features"] = "+sse2,-avx512f"
        data = bytearray(magic + b"\n" + json.dumps(header).encode() + b"\n" + obj)
    elif damage == "garbage":
        data = bytearray(b"\x7fELF" + bytes(200))
    else:
        data = bytearray()
    path.write_bytes(bytes(data))
    second = _python(_COUNT, cache)
    assert second.returncode == 0, second.stderr
    assert second.stdout.split() == ["native", "70", "True"]  # rebuilt (numba imported)
    assert "refused" in second.stderr
    third = _python(_COUNT, cache)
    assert third.stdout.split() == ["native", "70", "False"]  # the rebuilt file is used


_LOADER = """
import numpy as np, sys
from diamp.extractors._native import load
k = load("diamp.extractors._bit_kernels")
print(k.count_bits(np.full(10, 255, np.uint8), 3, 70), "numba" in sys.modules,
      "llvmlite" in sys.modules)
"""


def test_the_linked_library_is_loaded_with_ctypes_alone(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    assert _python(_LOADER, cache).returncode == 0
    (library,) = cache.glob("_bit_kernels.*.so")
    proc = _python(_LOADER, cache)
    assert proc.stdout.split() == ["70", "False", "False"], proc.stderr  # neither numba nor llvm
    # without the shared library (no linker, DIAMP_NATIVE_LINK=0): llvmlite loads the object
    mcjit = _python(_LOADER, cache, DIAMP_NATIVE_LINK="0")
    assert mcjit.stdout.split() == ["70", "False", "True"], mcjit.stderr
    # an edited library is refused (its digest is in the cache header), never loaded
    data = bytearray(library.read_bytes())
    data[len(data) // 2] ^= 0x01
    library.write_bytes(bytes(data))
    edited = _python(_LOADER, cache)
    assert edited.stdout.split() == ["70", "False", "True"], edited.stderr
    assert "refused" in edited.stderr and library.name in edited.stderr
    library.unlink()
    lost = _python(_LOADER, cache)
    assert lost.stdout.split() == ["70", "False", "True"], lost.stderr
    assert "unreadable" in lost.stderr


def test_without_a_system_linker_the_object_code_is_loaded(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    built = _python(_LOADER, cache, PATH=str(tmp_path / "no-tools-here"))
    assert built.returncode == 0, built.stderr
    assert not list(cache.glob("*.so"))
    again = _python(_LOADER, cache, PATH=str(tmp_path / "no-tools-here"))
    assert again.stdout.split() == ["70", "False", "True"], again.stderr


def test_an_unwritable_cache_costs_a_rebuild_not_a_failure(tmp_path: Path) -> None:
    blocker = tmp_path / "cache"
    blocker.write_text("a file where the cache directory should be")
    proc = _python(_COUNT, blocker)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["native", "70", "True"]
    assert "not written" in proc.stderr


def test_arguments_are_checked_as_numba_would() -> None:
    k = _native.load("diamp.extractors._ntt_kernels")
    good = np.zeros(16, np.uint32)
    with pytest.raises(TypeError, match="uint32"):
        k.multiply_accumulate(good, good, np.zeros(16, np.int64), 0, 16)
    with pytest.raises(TypeError, match="C order"):
        k.multiply_accumulate(good, good, np.zeros(32, np.uint32)[::2], 0, 16)
    frozen = np.zeros(16, np.uint32)
    frozen.flags.writeable = False
    with pytest.raises(TypeError, match="writable"):
        k.multiply_accumulate(good, good, frozen, 0, 16)
    k.multiply_accumulate(frozen, frozen, good, 0, 16)  # read-only inputs are fine
    with pytest.raises(TypeError, match="takes 5 arguments"):
        k.multiply_accumulate(good, good, good, 0)
    with pytest.raises(TypeError, match="numpy array"):
        k.multiply_accumulate([0] * 16, good, good, 0, 16)


def test_a_kernel_exception_becomes_an_extraction_error(tmp_path: Path) -> None:
    pkg = tmp_path / "src" / "nativeprobe"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "kern.py").write_text(
        textwrap.dedent(
            """
            from numba import njit, types

            @njit(types.int64(types.int64, types.int64), cache=False, nogil=True)
            def divide(a, b):
                return a // b
            """
        )
    )
    script = """
    from diamp.errors import ExtractionError
    from diamp.extractors._native import load
    k = load("nativeprobe.kern")
    print(k.divide(7, 2))
    try:
        k.divide(1, 0)
    except ExtractionError as err:
        print("refused:", err)
    """
    env = {"PYTHONPATH": os.pathsep.join([str(tmp_path / "src"), *sys.path])}
    proc = _python(script, tmp_path / "cache", **env)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == "3"
    assert lines[1].startswith("refused: native kernel divide failed")


def test_the_cache_key_names_this_host_and_tool_chain() -> None:
    key = _native._key("diamp.extractors._bit_kernels")
    assert key["format"] == _native.FORMAT
    assert key["cpu"] and key["features"]
    assert set(key["versions"]) >= {"numba", "llvmlite", "numpy", "python"}
    other = dict(key, sources="0" * 64)
    assert _native.cache_path("x", key) != _native.cache_path("x", other)


def test_an_integer_too_large_for_64_bits_is_refused() -> None:
    k = _native.load("diamp.extractors._bit_kernels")
    words = np.zeros(2, np.uint64)
    with pytest.raises(OverflowError):
        k.shifted_and_parity(words, words, 1 << 64)
    with pytest.raises(ExtractionError, match="not found"):
        _native._sources_digest("diamp.extractors._no_such_kernels")


def test_a_read_only_install_caches_under_the_users_cache_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DIAMP_NATIVE_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert _native._cache_dir() == _native._PACKAGE_DIR / "__pycache__"  # writable checkout
    monkeypatch.setattr(_native.os, "access", lambda path, mode: False)  # site-packages, root-owned
    assert _native._cache_dir() == tmp_path / "xdg" / "diamp" / "native"
    monkeypatch.setenv("DIAMP_NATIVE_CACHE_DIR", str(tmp_path / "explicit"))
    assert _native._cache_dir() == tmp_path / "explicit"
