"""Keep-alive connections spread evenly over the processes of ``diamp serve --workers N``.

Each process listens on a socket of its own (``SO_REUSEPORT``, :mod:`diamp.service.workers`)
and the kernel picks the socket of a new connection by a hash of its addresses, so 16
connections opened at once land 8 and 8 only by luck: six runs of the benchmark's client saw
11/5, 9/7, 12/4, 12/4, 9/7 and 8/8, and requests per second followed (4151 at 12/4, 7156 at
8/8), since a keep-alive connection stays with its process for good.

So every process publishes how many connections it holds, in a small shared memory file the
first process makes and hands to each worker (as it hands the socket), and a process holding
more than its share (the total divided by N, rounded up) answers its next request with
``Connection: close``. The client opens a new connection, which the kernel hashes anew,
until the counts are even. An HTTP/1.1 client reconnects after ``Connection: close`` by
itself; the answer is complete, nothing is refused or served twice.

A process updates its own count when it answers, so another's may be stale: a count too
high (connections closed since) makes the share look larger and closes fewer connections,
never more than an up-to-date count would.
"""

from __future__ import annotations

import mmap
import os
from collections.abc import Callable
from multiprocessing import reduction
from typing import Any

__all__ = ["Balance"]


class Balance:
    """Connection counts of ``processes`` processes; this one is number ``index``.

    Make it with :meth:`create` (first process, index 0; where
    :func:`diamp.service.workerstate.available`) and pass :meth:`handle` to each
    worker, which calls ``handle.open(index)``. Set :attr:`count` to this process's count of
    open connections (the server's), then ask :meth:`should_close` at each answer.
    """

    def __init__(self, fd: int, processes: int, index: int) -> None:
        if not 0 <= index < processes:
            raise ValueError(f"process index {index} not in 0 … {processes - 1}")
        self.fd, self.processes, self.index = fd, processes, index
        size = 8 * processes
        if os.fstat(fd).st_size < size:
            os.ftruncate(fd, size)
        self._map = mmap.mmap(fd, size, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
        self._counts = memoryview(self._map).cast("q")
        self.count: Callable[[], int] = lambda: 0

    @classmethod
    def create(cls, processes: int) -> Balance:
        """New counts, all zero, in a new anonymous shared memory file; this is process 0."""
        return cls(os.memfd_create("diamp-balance", os.MFD_CLOEXEC), processes, 0)

    def handle(self) -> _Handle:
        """What a worker process is given (pickled with the worker's arguments)."""
        return _Handle(self.fd, self.processes)

    def should_close(self) -> bool:
        """Publish this process's count; True if it holds more than its share.

        Only under load: while the processes hold fewer than two connections each on
        average, none is closed (a client with a connection or two per process is not
        slowed by where they are, and a test may hold one to a chosen process).
        """
        mine = self.count()
        self._counts[self.index] = mine
        total = sum(self._counts)
        return total >= 2 * self.processes and mine > -(-total // self.processes)

    def counts(self) -> list[int]:
        """Every process's last published count."""
        return list(self._counts)

    def close(self) -> None:
        """Unmap and close (the memory goes when the last process closes it)."""
        self._counts.release()
        self._map.close()
        os.close(self.fd)


class _Handle:
    """A worker's way to the counts: the file descriptor travels as the socket does."""

    def __init__(self, fd: int, processes: int) -> None:
        self.fd, self.processes = fd, processes

    def __reduce__(self) -> tuple[Callable[..., Any], tuple[Any, ...]]:
        return _rebuild, (reduction.DupFd(self.fd), self.processes)

    def open(self, index: int) -> Balance:
        """Map the counts in this process, as process ``index``."""
        return Balance(self.fd, self.processes, index)


def _rebuild(dup: Any, processes: int) -> _Handle:
    return _Handle(dup.detach(), processes)
