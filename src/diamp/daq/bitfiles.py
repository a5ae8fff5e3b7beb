"""Bit strings on disk: packed files and HDF5 datasets as streaming bit sources.

Every source here implements :class:`diamp.extractors.bits.BitSource` (``nbits`` and
``read_bytes``), reads only the byte ranges asked for, and pickles as a description (path,
dataset, bit count) so that Dask workers reopen the file themselves. Files hold bits packed
MSB-first; a file without a stated bit count holds 8 × its size bits. Bits past ``nbits`` in
the last byte are masked to zero on read.

Why here: this is file I/O (``pread`` on packed files, h5py on HDF5 datasets, the trial
store's AB through :mod:`diamp.daq.store`), so it cannot live in the pure
:mod:`diamp.extractors` package, which only defines the ``BitSource`` protocol these classes
implement. ``daq`` is where diamp's data files are read and written (trial store, timing
traces), and the only place h5py is used, so the bit files join them there. Writers go
through :mod:`diamp.atomic`.
"""

from __future__ import annotations

import os
from contextlib import ExitStack
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np

from diamp.atomic import atomic_target
from diamp.errors import StorageError
from diamp.extractors.bits import BitSource

__all__ = ["Hdf5PackedBits", "PackedBitWriter", "PackedFileBits", "open_bits", "write_packed"]


def _clip(start: int, stop: int, nbits: int) -> tuple[int, int]:
    """Byte range [start, stop) clipped to a string of ``nbits`` bits."""
    return max(start, 0), min(stop, (nbits + 7) // 8)


def _mask_tail(data: np.ndarray, stop: int, nbits: int) -> np.ndarray:
    """Zero the bits past ``nbits`` if ``data`` ends at the last byte."""
    spare = 8 * ((nbits + 7) // 8) - nbits
    if spare and data.size and stop >= (nbits + 7) // 8:
        data = data.copy()
        data[-1] &= (0xFF << spare) & 0xFF
    return data


class PackedFileBits:
    """A packed MSB-first bit file, read with ``pread`` (no mapping, no full load)."""

    def __init__(self, path: str | Path, nbits: int | None = None) -> None:
        self.path = Path(path)
        try:
            size = self.path.stat().st_size
        except OSError as err:
            raise StorageError(f"{self.path}: cannot read bit file: {err}", path=str(path)) from err
        if nbits is None:
            nbits = 8 * size
        if nbits < 0 or size != (nbits + 7) // 8:
            raise StorageError(
                f"{self.path}: holds {size} bytes, but {nbits} bits need {(nbits + 7) // 8} "
                "(check --bits)",
                path=str(path),
            )
        self._nbits = nbits
        self._fd: int | None = None

    @property
    def nbits(self) -> int:
        """Number of bits."""
        return self._nbits

    def read_bytes(self, start: int, stop: int) -> np.ndarray:
        """Packed bytes ``[start, stop)`` clipped to the file."""
        start, stop = _clip(start, stop, self._nbits)
        if stop <= start:
            return np.zeros(0, dtype=np.uint8)
        if self._fd is None:
            self._fd = os.open(self.path, os.O_RDONLY)
        data = os.pread(self._fd, stop - start, start)
        if len(data) != stop - start:
            raise StorageError(
                f"{self.path}: short read at byte {start} ({len(data)} of {stop - start} bytes); "
                "was the file truncated?",
                path=str(self.path),
            )
        return _mask_tail(np.frombuffer(data, dtype=np.uint8), stop, self._nbits)

    def __getstate__(self) -> dict[str, Any]:
        return {"path": self.path, "_nbits": self._nbits, "_fd": None}

    def __del__(self) -> None:
        if getattr(self, "_fd", None) is not None:
            os.close(self._fd)  # type: ignore[arg-type]


class Hdf5PackedBits:
    """A 1-d ``uint8`` HDF5 dataset of packed bits (e.g. a trial store's ``/z``).

    The bit count is ``nbits`` if given, else the dataset's ``bits`` attribute, else 8 × its
    length.
    """

    def __init__(self, path: str | Path, dataset: str, nbits: int | None = None) -> None:
        import h5py

        self.path, self.dataset = Path(path), dataset
        try:
            with h5py.File(self.path, "r") as f:
                if dataset not in f:
                    raise StorageError(f"{self.path}: no dataset {dataset!r}", path=str(path))
                ds = f[dataset]
                if ds.dtype != np.uint8 or ds.ndim != 1:
                    raise StorageError(
                        f"{self.path}:{dataset}: expected 1-d uint8 packed bits, found "
                        f"{ds.dtype} {ds.shape}",
                        path=str(path),
                    )
                size = int(ds.shape[0])
                if nbits is None:
                    nbits = int(ds.attrs["bits"]) if "bits" in ds.attrs else 8 * size
        except OSError as err:
            raise StorageError(
                f"{self.path}: cannot read HDF5 file: {err}", path=str(path)
            ) from err
        if size != (nbits + 7) // 8:
            raise StorageError(
                f"{self.path}:{dataset}: holds {size} bytes, {nbits} bits need {(nbits + 7) // 8}",
                path=str(path),
            )
        self._nbits = nbits
        self._file: Any = None

    @property
    def nbits(self) -> int:
        """Number of bits."""
        return self._nbits

    def read_bytes(self, start: int, stop: int) -> np.ndarray:
        """Packed bytes ``[start, stop)`` clipped to the dataset."""
        import h5py

        start, stop = _clip(start, stop, self._nbits)
        if stop <= start:
            return np.zeros(0, dtype=np.uint8)
        if self._file is None:
            self._file = h5py.File(self.path, "r")
        try:
            data = np.asarray(self._file[self.dataset][start:stop], dtype=np.uint8)
        except OSError as err:
            raise StorageError(
                f"{self.path}:{self.dataset}: unreadable bytes [{start}, {stop}): {err}",
                path=str(self.path),
            ) from err
        return _mask_tail(data, stop, self._nbits)

    def __getstate__(self) -> dict[str, Any]:
        return {"path": self.path, "dataset": self.dataset, "_nbits": self._nbits, "_file": None}


def open_bits(spec: str, nbits: int | None = None) -> BitSource:
    """Open a bit source from a command-line spec.

    ``FILE`` is a packed file; ``FILE.h5:/DATASET`` a packed HDF5 dataset; ``FILE.h5:AB``
    the AB string (a_0 b_0 a_1 b_1 …) of a trial store, checksums verified as it is read.
    """
    path, sep, inner = spec.partition(":")
    if sep and path.endswith((".h5", ".hdf5")):
        if inner == "AB":
            from diamp.daq.store import StoreAbBits

            source: BitSource = StoreAbBits(path)
            if nbits is not None and nbits != source.nbits:
                raise StorageError(f"{spec}: holds {source.nbits} bits, --bits says {nbits}")
            return source
        return Hdf5PackedBits(path, inner, nbits)
    return PackedFileBits(spec, nbits)


def write_packed(path: str | Path, bits: BitSource, chunk_bytes: int = 2**24) -> None:
    """Write a bit source to ``path`` packed MSB-first (atomically: :mod:`diamp.atomic`)."""
    size = (bits.nbits + 7) // 8
    with atomic_target(path, what="packed bits") as tmp, open(tmp, "wb") as fh:
        for start in range(0, size, chunk_bytes):
            fh.write(bits.read_bytes(start, min(start + chunk_bytes, size)).tobytes())


class PackedBitWriter:
    """Write a stream of unpacked bit chunks to a packed MSB-first file, atomically.

    The file appears under its name only after :meth:`close` (temp file, fsync, rename);
    ``nbits`` is the number of bits written.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._stack = ExitStack()
        tmp = self._stack.enter_context(atomic_target(self.path, what="packed bits"))
        try:
            self._fh = self._stack.enter_context(open(tmp, "wb"))
        except OSError as err:
            self._stack.__exit__(type(err), err, err.__traceback__)
            raise StorageError(f"{self.path}: cannot write: {err}", path=str(path)) from err
        self._carry = np.zeros(0, dtype=np.uint8)
        self.nbits = 0

    def write(self, bits: np.ndarray) -> None:
        """Append unpacked ``uint8`` 0/1 bits."""
        data = np.concatenate([self._carry, bits]) if self._carry.size else bits
        whole = data.size - data.size % 8
        self._fh.write(np.packbits(data[:whole]).tobytes())
        self._carry = np.array(data[whole:], dtype=np.uint8)
        self.nbits += bits.size

    def close(self) -> None:
        """Flush the last partial byte (zero-padded), then fsync and rename into place."""
        if self._carry.size:
            self._fh.write(np.packbits(self._carry).tobytes())
            self._carry = np.zeros(0, dtype=np.uint8)
        self._stack.close()

    def __enter__(self) -> PackedBitWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.close()
        else:
            self._stack.__exit__(exc_type, exc, tb)  # the temporary file is removed
