"""The Toeplitz extractor seed: generated once and kept, read from a file, or a DIRA key.

The seed must be independent of the raw sources (leftover hash lemma, seed 000 eq. 3) and
is public in principle; it is never served. One seed string serves every source: source i
uses its first n_i + m_i − 1 bits (MSB-first).

A DIRA key as seed follows the rule of DIRA sources: a run whose provenance is simulated or
unknown is refused unless ``[extractor] seed = {kind = "dira", ..., allow_simulated = true}``.
A simulated seed does not make the output simulated (the leftover hash lemma needs the seed
only to be independent of the raw samples, as ``generate``'s ``os.urandom`` is), but the
config names a DIRA key, and a simulated one must not pass for certified: ``/v1/status``
shows the seed's provenance and how it was admitted.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from diamp.service.errors import PoolError, ServiceConfigError, SourceError
from diamp.service.pool import Pool
from diamp.service.settings import ServiceSettings
from diamp.service.sources import DiraKey, admit_dira, load_dira_key
from diamp.service.state import SEED_META, keep_seed_copy

__all__ = ["ExtractorSeed", "load_seed"]


@dataclass(frozen=True)
class ExtractorSeed:
    """The seed bytes (``uint8``, bits MSB-first), where they came from, and the DIRA key."""

    material: np.ndarray
    kind: str
    dira: DiraKey | None = None

    def describe(self) -> dict[str, Any]:
        """JSON-ready for ``/v1/status`` (never the seed itself)."""
        out: dict[str, Any] = {"kind": self.kind, "bits": 8 * self.material.size}
        if self.dira is not None:
            out["dira"] = {"run_id": self.dira.run_id,
                           "certificate_sha512": self.dira.certificate_sha512,
                           **self.dira.origin()}  # fmt: skip
        return out


def _stored_seed(pool: Pool, stored: str) -> bytes:
    """The stored seed's bytes; a damaged value is a pool error naming file and field."""
    if re.fullmatch(r"(?:[0-9a-fA-F]{2})+", stored) is None:
        raise PoolError(
            f"{pool.path}: meta {SEED_META}: stored extractor seed is not a hex string of whole "
            f"bytes ({len(stored)} characters): the pool file is damaged; restore it or start "
            "a new pool",
            path=str(pool.path), key=SEED_META,
        )  # fmt: skip
    return bytes.fromhex(stored)


def load_seed(settings: ServiceSettings, pool: Pool) -> ExtractorSeed:
    """The seed as ``[extractor.seed]`` says.

    ``generate`` draws 2 × ``block_bits`` bits from ``os.urandom`` at the first start and
    stores them in the pool database (its SHA-256 in the pool's anchor, a copy in
    ``POOL.seed``), so a restart, and a ``--new-pool`` start, extract with the same seed.

    Raises
    ------
    ServiceConfigError
        If the seed file or DIRA run cannot be read, a stored seed is too short, or a DIRA
        run is simulated or of unknown provenance without ``allow_simulated``.
    PoolError
        If the stored seed is not a hex string of whole bytes (a damaged pool file).
    """
    cfg = settings.extractor.seed
    need = 2 * settings.extractor.block_bits // 8
    if cfg.kind == "generate":
        stored = pool.meta(SEED_META)
        if stored is None:
            stored = os.urandom(need).hex()
            pool.set_meta(SEED_META, stored)
        data = _stored_seed(pool, stored)
        keep_seed_copy(pool, stored)
        if len(data) < need:
            raise ServiceConfigError(
                f"{pool.path}: stored extractor seed has {8 * len(data)} bits, "
                f"extractor.block_bits = {settings.extractor.block_bits} needs {8 * need}: "
                "use a new pool file or the old block size",
                key="extractor.block_bits",
            )
        return ExtractorSeed(np.frombuffer(data, dtype=np.uint8), cfg.kind)
    if cfg.path is None:  # SeedSettings requires it for "dira" and "file"
        raise ServiceConfigError(
            f"extractor.seed: kind {cfg.kind!r} needs a path", key="extractor.seed"
        )
    path = settings.resolve(cfg.path)
    if cfg.kind == "dira":
        try:
            key = load_dira_key("extractor seed", path)
        except SourceError as err:
            raise ServiceConfigError(f"extractor.seed: {err}", key="extractor.seed") from err
        key = admit_dira(
            key, cfg.allow_simulated, "extractor.seed", "[extractor] seed = {kind = \"dira\", …}",
            "extractor.seed.allow_simulated",
        )  # fmt: skip
        return ExtractorSeed(np.frombuffer(key.key, dtype=np.uint8), cfg.kind, key)
    try:
        return ExtractorSeed(np.frombuffer(path.read_bytes(), dtype=np.uint8), cfg.kind)
    except OSError as err:
        raise ServiceConfigError(
            f"extractor.seed: cannot read {path}: {err}", key="extractor.seed.path", path=str(path)
        ) from err
