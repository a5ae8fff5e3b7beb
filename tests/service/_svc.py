"""Helpers for the service tests: configs, a uvicorn server in a thread, counter-filled pools."""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from _certificates import HARDWARE_PROVENANCE, certificate_doc
from diamp.service.keys import add_client
from diamp.service.pool import Pool
from diamp.service.settings import ServiceSettings, parse_settings

VACUUM = (
    'entropy = { model = "vacuum", bits = 8, v_min = -4.0, v_max = 4.0, gamma = 10.0, '
    "max_offset_sigma_c = 5.0 }"
)


def config_text(
    *,
    sources: str | None = None,
    tiers: str | None = None,
    server: str = "",
    pool: str = "",
    checks: str = "enabled = false",
    extractor: str = "block_bits = 65536",
) -> str:
    sources = sources or (
        f'[[sources]]\nkind = "simulated"\nname = "vac"\nfamily = "vacuum-fluctuation"\n'
        f"seed = 1\n{VACUUM}\n"
    )
    tiers = tiers or '[[tiers]]\nname = "standard"\nsources = ["vac"]\n'
    return (
        f"schema_version = 1\n[server]\nclients = 'clients.toml'\n{server}\n"
        f"[pool]\npath = 'pool.sqlite'\ntarget_bytes = 262144\n{pool}\n"
        f"[extractor]\n{extractor}\n[checks]\n{checks}\n{sources}\n{tiers}"
    )


def write_config(
    tmp: Path, text: str, clients: tuple[str, ...] = ("alice",)
) -> tuple[Path, dict[str, bytes]]:
    keys = {c: add_client(tmp / "clients.toml", c) for c in clients}
    path = tmp / "service.toml"
    path.write_text(text)
    return path, keys


def settings_for(tmp: Path, text: str) -> tuple[ServiceSettings, dict[str, bytes]]:
    path, keys = write_config(tmp, text)
    return parse_settings(text, str(path)), keys


def dira_run(
    tmp: Path,
    key: bytes,
    *,
    name: str = "run",
    status: str = "ok",
    bits: int | None = None,
    file: str = "key.bin",
    provenance: dict[str, Any] | None = HARDWARE_PROVENANCE,
) -> tuple[Path, bytes]:
    """A DIRA run directory with ``key.bin`` and a minimal certificate; (dir, certificate).

    The certificate says the run came from hardware unless ``provenance`` says otherwise
    (None: no provenance, as a certificate written before it existed: unknown).
    """
    run = tmp / name
    run.mkdir()
    (run / "key.bin").write_bytes(key)
    doc = certificate_doc(
        key, status=status, run_id=name, bits=bits, file=file, provenance=provenance
    )
    cert = json.dumps(doc).encode()
    (run / "certificate.json").write_bytes(cert)
    return run, cert


def fill_counter(
    path: Path, tier: str, words: int, chunk_words: int = 4096, start: int = 0
) -> None:
    """Chunks of 8-byte big-endian counters start … start + words − 1 (repeats detectable)."""
    pool = Pool(path)
    for lo in range(start, start + words, chunk_words):
        hi = min(lo + chunk_words, start + words)
        data = np.arange(lo, hi, dtype=">u8").tobytes()
        pool.append(tier, data, {"test": "counter"}, ["vac"])
    pool.close()


def words(data: bytes) -> list[int]:
    assert len(data) % 8 == 0
    return np.frombuffer(data, dtype=">u8").tolist()


@contextmanager
def serve(app: Any, **kw: Any) -> Iterator[str]:
    """Run ``app`` with uvicorn on 127.0.0.1 (free port) in a thread; yields the base URL."""
    import uvicorn

    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", **kw)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("server did not start")
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    scheme = "https" if "ssl_certfile" in kw else "http"
    try:
        yield f"{scheme}://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=20)


def nonce() -> str:
    return os.urandom(16).hex()


async def raw_get_many(
    base: str, paths: list[str], key: bytes, conns: int, got: list[bytes], stop: Any = None
) -> None:
    """Signed GETs over ``conns`` keep-alive HTTP/1.1 connections (raw asyncio: a light client).

    Appends each 200 body to ``got``; 503 is skipped; a closed connection ends that worker.
    """
    import asyncio
    import re

    from diamp.service.client import signed_headers

    host = base.removeprefix("http://")

    async def worker(part: list[str]) -> None:
        reader, writer = await asyncio.open_connection(*host.split(":"))
        try:
            for path in part:
                if stop is not None and stop.is_set():
                    return
                h = signed_headers(key, "alice", f"{base}{path}")
                extra = "".join(f"{k}: {v}\r\n" for k, v in h.items())
                writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}\r\n{extra}\r\n".encode())
                head = await reader.readuntil(b"\r\n\r\n")
                m = re.search(rb"(?i)content-length: (\d+)", head)
                body = await reader.readexactly(int(m.group(1)) if m else 0)
                status = int(head[9:12])
                if status == 200:
                    got.append(body)
                elif status != 503:
                    raise AssertionError(f"HTTP {status}: {body[:200]!r}")
        except (ConnectionError, asyncio.IncompleteReadError):
            return  # the server was killed
        finally:
            writer.close()

    await asyncio.gather(*(worker(paths[i::conns]) for i in range(conns)))
