"""Compiled kernels loaded as native code, without importing numba (private).

The extractors' kernels are numba functions (``_bit_kernels``, ``_ntt_kernels``,
``_kernels``). Importing numba and building its CPU target context costs about 0.5 s of CPU
per process, more than everything else a short ``diamp extract`` does. This module keeps the
machine code of a kernel module in a cache file and calls it through :mod:`ctypes`; numba is
imported only to build the file, once per machine, kernel source and tool-chain version.
Where the system has a linker (``ld``), the build also links the code into a shared library
beside the cache file, which later processes open with :mod:`ctypes` alone (about 1 ms);
otherwise, or when that library is missing or fails its digest, the object code is loaded
with llvmlite's MCJIT (about 0.05 s, llvmlite's import).

Building (:func:`_build`): numba compiles (or loads from its own cache) each kernel of the
module, one explicit signature per kernel. Its optimised LLVM IR is taken as is; every
function but the kernel's native entry point is made internal and dropped when unreachable
(numba's Python-object wrappers go, and with them every call into the CPython API and numba's
runtime). A small C-ABI wrapper per kernel is added: it takes each array as (data pointer,
shape), scalars as 64-bit integers or doubles, and calls the entry point with numba's calling
convention (return slot, exception slot, then each array as meminfo, parent, size, item size,
data, shape, strides). The module is compiled with numba's own target machine (this host's CPU
name and features, numba's optimisation level) to one object file, and for the shared library
once more as position-independent code.

Loading (:func:`load`): the file's header names the kernels, their argument kinds and the
SHA-256 of the object code; the code is loaded only when the cache key (the kernels' sources,
numba, llvmlite and Python versions, the host CPU name and features, this module's format)
matches and the digest verifies. A stale, truncated, edited or foreign file is rebuilt, never
run. Calls check every argument as numba's dispatcher would (dtype, dimensions, C order,
writability), release the GIL (ctypes does for foreign calls, so threads run in parallel as
with ``nogil=True``) and turn a non-zero exception status into :class:`ExtractionError`.

``DIAMP_NATIVE=0`` (or ``off``) skips the cache: the numba functions themselves are used.
``DIAMP_NATIVE_LINK=0`` skips the shared library (the MCJIT route);
``DIAMP_NATIVE_CACHE_DIR`` moves the cache (default: ``__pycache__`` beside the kernels if
writable, else ``$XDG_CACHE_HOME/diamp/native``).
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import importlib
import json
import logging
import os
import platform
import sys
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from diamp.errors import ExtractionError

__all__ = ["FORMAT", "NativeKernels", "cache_path", "load"]

log = logging.getLogger(__name__)

FORMAT = 1
"""Version of the cache file layout and of the wrapper convention."""
_MAGIC = b"diamp-native-kernels\n"
_PACKAGE_DIR = Path(__file__).resolve().parent
_RETCODE_OK = (0, -2)  # numba: OK, and OK returning None
_lock = threading.Lock()
_loaded: dict[str, NativeKernels] = {}


@dataclass(frozen=True)
class _Arg:
    """One kernel argument: an array (dtype, ndim, readonly) or an integer/float scalar."""

    kind: str  # "array", "int", "float"
    dtype: str = ""
    ndim: int = 0
    readonly: bool = False
    bits: int = 64


class NativeKernels:
    """The kernels of one module, as attributes (``kernels.name(*args)``)."""

    def __init__(self, module: str, functions: dict[str, Callable[..., Any]], origin: str):
        self.module = module
        self.origin = origin  # "native" (cache file) or "numba"
        self._functions = functions
        for name, fn in functions.items():
            setattr(self, name, fn)

    def __getattr__(self, name: str) -> Any:  # for mypy: attributes are set dynamically
        raise AttributeError(f"{self.module} has no kernel {name!r}")


def _enabled() -> bool:
    return os.environ.get("DIAMP_NATIVE", "1").strip().lower() not in ("0", "off", "no", "false")


def load(module: str) -> NativeKernels:
    """The kernels of ``module`` (e.g. ``"diamp.extractors._ntt_kernels"``), loaded once."""
    with _lock:
        if module not in _loaded:
            _loaded[module] = _load(module) if _enabled() else _from_numba(module)
        return _loaded[module]


def _from_numba(module: str) -> NativeKernels:
    from diamp.extractors._native_build import _kernel_names

    mod = importlib.import_module(module)
    names = _kernel_names(mod)
    return NativeKernels(module, {n: getattr(mod, n) for n in names}, "numba")


# ---------------------------------------------------------------- cache key and file


@functools.cache
def _host_cpu() -> tuple[str, str]:
    """The host's CPU model and feature flags (what the machine code was compiled for).

    On Linux read from ``/proc/cpuinfo`` (model name and flags of the first processor), so
    that loading the kernels needs no llvmlite; elsewhere from LLVM.
    """
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        text = ""
    first = text.split("\n\n", 1)[0]
    fields = dict(
        (k.strip(), v.strip()) for k, _, v in (line.partition(":") for line in first.splitlines())
    )
    flags = fields.get("flags") or fields.get("Features") or ""
    if flags:
        model = fields.get("model name") or fields.get("CPU part") or ""
        return f"cpuinfo:{model}", " ".join(sorted(flags.split()))
    import llvmlite.binding as llvm

    return llvm.get_host_cpu_name(), llvm.get_host_cpu_features().flatten()


def _file_digest(package: str, name: str) -> str:
    """Digest of ``name`` inside ``package`` (its version file), found without importing it."""
    import importlib.util

    spec = importlib.util.find_spec(package)
    if spec is None or spec.origin is None:
        return "absent"
    try:
        return hashlib.sha256(Path(spec.origin).with_name(name).read_bytes()).hexdigest()[:16]
    except OSError:
        return "unknown"


@functools.cache
def _versions() -> dict[str, str]:
    """Versions of the tool chain, without importing numba or llvmlite."""
    return {
        "numba": _file_digest("numba", "_version.py"),  # hold their version strings
        "llvmlite": _file_digest("llvmlite", "_version.py"),
        "numpy": np.__version__,
        "python": platform.python_version(),
        "machine": platform.machine(),
    }


def _sources_digest(module: str) -> str:
    """SHA-256 over the kernel module's source and every private module of this package."""
    import importlib.util

    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None:
        raise ExtractionError(f"kernel module {module} not found")
    h = hashlib.sha256()
    for path in [Path(spec.origin), *sorted(_PACKAGE_DIR.glob("_*.py"))]:
        h.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()


def _key(module: str) -> dict[str, Any]:
    cpu, features = _host_cpu()
    env = {k: v for k, v in os.environ.items() if k.startswith("NUMBA_")}
    return {
        "format": FORMAT,
        "module": module,
        "sources": _sources_digest(module),
        "versions": dict(_versions()),  # a copy: the cached one stays as read
        "cpu": cpu,
        "features": features,
        "numba_env": sorted(env.items()),
    }


def _cache_dir() -> Path:
    explicit = os.environ.get("DIAMP_NATIVE_CACHE_DIR")
    if explicit:
        return Path(explicit)
    here = _PACKAGE_DIR / "__pycache__"
    if os.access(_PACKAGE_DIR, os.W_OK) and (not here.exists() or os.access(here, os.W_OK)):
        return here
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "diamp" / "native"


def cache_path(module: str, key: dict[str, Any] | None = None) -> Path:
    """The cache file of ``module`` for this host and tool chain."""
    key = _key(module) if key is None else key
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
    return _cache_dir() / f"{module.rsplit('.', 1)[-1]}.{digest}.native"


def _read(path: Path, key: dict[str, Any]) -> tuple[dict[str, Any], bytes] | None:
    """Header and object code of a valid cache file for ``key``; None if absent or invalid."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as err:
        log.warning("native kernel cache %s unreadable (%s): rebuilding", path, err)
        return None
    reason = None
    header: dict[str, Any] = {}
    obj = b""
    if not data.startswith(_MAGIC):
        reason = "not a diamp kernel cache file"
    else:
        head, sep, obj = data[len(_MAGIC) :].partition(b"\n")
        try:
            header = json.loads(head) if sep else {}
        except ValueError:
            header = {}
        if not header:
            reason = "header unreadable"
        elif header.get("key") != key:
            reason = "built for another host, tool chain or kernel source"
        elif hashlib.sha256(obj).hexdigest() != header.get("sha256"):
            reason = (
                f"object code digest {hashlib.sha256(obj).hexdigest()[:16]}… differs from "
                f"the recorded {str(header.get('sha256'))[:16]}… (truncated or edited)"
            )
    if reason is not None:
        log.warning("native kernel cache %s refused: %s; rebuilding", path, reason)
        return None
    return header, obj


def _write(path: Path, header: dict[str, Any], obj: bytes) -> None:
    """Write atomically (temporary file, fsync, rename); a failure only costs a rebuild."""
    blob = _MAGIC + json.dumps(header, sort_keys=True).encode() + b"\n" + obj
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(blob)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as err:
        log.warning("native kernel cache %s not written (%s): the next run rebuilds it", path, err)


def _load(module: str) -> NativeKernels:
    key = _key(module)
    path = cache_path(module, key)
    found = _read(path, key)
    if found is None:
        from diamp.extractors._native_build import build

        shared = path.with_suffix(".so") if _linking_enabled() else None
        header, obj = build(module, key, shared)
        _write(path, header, obj)
    else:
        header, obj = found
    library = _shared_library(path, header)
    if library is not None:
        addresses = {
            name: ctypes.cast(getattr(library, spec["symbol"]), ctypes.c_void_p).value
            for name, spec in header["kernels"].items()
        }
        _libraries.append(library)
        return NativeKernels(module, _callers(header, addresses), "native")
    return NativeKernels(module, _link(header, obj), "native")


def _linking_enabled() -> bool:
    return os.environ.get("DIAMP_NATIVE_LINK", "1").strip().lower() not in ("0", "off", "no")


def _shared_library(path: Path, header: dict[str, Any]) -> ctypes.CDLL | None:
    """The kernels' shared library, if it was linked and its digest verifies."""
    entry = header.get("shared_object")
    if not entry or not _linking_enabled():
        return None
    lib = path.parent / str(entry.get("name"))
    try:
        digest = hashlib.sha256(lib.read_bytes()).hexdigest()
    except OSError as err:
        log.warning("native kernel library %s unreadable (%s): loading the object code", lib, err)
        return None
    if digest != entry.get("sha256"):
        log.warning(
            "native kernel library %s refused: digest %s… differs from the recorded %s… "
            "(edited or replaced); loading the object code",
            lib, digest[:16], str(entry.get("sha256"))[:16],
        )  # fmt: skip
        return None
    return ctypes.CDLL(str(lib))


# ---------------------------------------------------------------- loading and calling

_engines: list[Any] = []  # keeps every loaded engine (and so its code) alive
_libraries: list[ctypes.CDLL] = []


def _link(header: dict[str, Any], obj: bytes) -> dict[str, Callable[..., Any]]:
    import llvmlite.binding as llvm

    llvm.initialize_native_target()
    llvm.initialize_native_asmprinter()
    libc = ctypes.CDLL(None)
    from diamp.extractors._native_build import LIBC_SYMBOLS  # the fallback route only

    for name in LIBC_SYMBOLS:
        llvm.add_symbol(name, ctypes.cast(getattr(libc, name), ctypes.c_void_p).value)
    target = llvm.Target.from_default_triple().create_target_machine()
    engine = llvm.create_mcjit_compiler(llvm.parse_assembly(""), target)
    engine.add_object_file(llvm.ObjectFileRef.from_data(obj))
    engine.finalize_object()
    _engines.append(engine)
    addresses = {
        name: engine.get_function_address(spec["symbol"])
        for name, spec in header["kernels"].items()
    }
    return _callers(header, addresses)


def _callers(header: dict[str, Any], addresses: dict[str, int | None]) -> dict[str, Any]:
    functions = {}
    for name, spec in header["kernels"].items():
        address = addresses[name]
        if not address:
            raise ExtractionError(f"native kernel {name}: symbol {spec['symbol']} not found")
        args = [_Arg(**a) for a in spec["args"]]
        functions[name] = _caller(name, address, args, spec["returns"])
    return functions


_CTYPE = {"int": ctypes.c_int64, "float": ctypes.c_double}


def _caller(name: str, address: int, args: list[_Arg], returns: str) -> Callable[..., Any]:
    """A Python function calling the wrapper at ``address`` with checked arguments."""
    c_args: list[Any] = [ctypes.c_void_p]  # the return slot
    for a in args:
        if a.kind == "array":
            c_args += [ctypes.c_void_p] + [ctypes.c_int64] * a.ndim
        else:
            c_args.append(_CTYPE[a.kind])
    fn = ctypes.CFUNCTYPE(ctypes.c_int32, *c_args)(address)
    dtypes = [np.dtype(a.dtype) if a.kind == "array" else None for a in args]

    def call(*values: Any) -> Any:
        if len(values) != len(args):
            raise TypeError(f"kernel {name} takes {len(args)} arguments, got {len(values)}")
        slot = np.zeros(2, dtype=np.int64)
        flat: list[Any] = [slot.ctypes.data]
        for i, (a, v) in enumerate(zip(args, values, strict=True)):
            if a.kind == "array":
                _check_array(name, i, a, dtypes[i], v)
                flat.append(v.ctypes.data)
                flat.extend(v.shape)
            elif a.kind == "float":
                flat.append(float(v))
            else:
                flat.append(_wrap(int(v)))
        status = fn(*flat)
        if status not in _RETCODE_OK:
            raise ExtractionError(f"native kernel {name} failed (numba status {status})")
        if returns == "int":
            return int(slot[0])
        if returns == "float":
            return float(slot.view(np.float64)[0])
        return None

    call.__name__ = name
    return call


def _wrap(value: int) -> int:
    """An integer as the signed 64-bit value with the same bits (uint64 arguments)."""
    if not -(1 << 63) <= value < (1 << 64):
        raise OverflowError(f"{value} does not fit in 64 bits")
    return value - (1 << 64) if value >= (1 << 63) else value


def _check_array(name: str, i: int, a: _Arg, dtype: Any, v: Any) -> None:
    if not isinstance(v, np.ndarray):
        raise TypeError(f"kernel {name}: argument {i} must be a numpy array, not {type(v)}")
    if v.dtype != dtype or v.ndim != a.ndim or not v.flags.c_contiguous:
        raise TypeError(
            f"kernel {name}: argument {i} must be a C-contiguous {a.ndim}-d {dtype} array, "
            f"found {v.ndim}-d {v.dtype}{'' if v.flags.c_contiguous else ' (not C order)'}"
        )
    if not a.readonly and not v.flags.writeable:
        raise TypeError(f"kernel {name}: argument {i} must be writable")


if sys.byteorder != "little":  # pragma: no cover - the wrappers assume it
    raise ImportError("diamp's native kernels assume a little-endian host")
