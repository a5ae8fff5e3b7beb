"""The Toeplitz extractor seed: generated once and kept, read from a file, or a DIRA key.

The seed must be independent of the raw sources (leftover hash lemma, seed 000 eq. 3) and
is public in principle; it is never served. One seed string serves every source: source i
uses its first n_i + m_i − 1 bits (MSB-first).
"""

from __future__ import annotations

import os

import numpy as np

from diamp.service.errors import ServiceConfigError, SourceError
from diamp.service.pool import Pool
from diamp.service.settings import ServiceSettings
from diamp.service.sources import load_dira_key

__all__ = ["load_seed"]

_META_KEY = "extractor_seed_hex"


def load_seed(settings: ServiceSettings, pool: Pool) -> np.ndarray:
    """Seed bytes (``uint8``, bits MSB-first) as ``[extractor.seed]`` says.

    ``generate`` draws 2 × ``block_bits`` bits from ``os.urandom`` at the first start and
    stores them in the pool database, so a restart extracts with the same seed.

    Raises
    ------
    ServiceConfigError
        If the seed file or DIRA run cannot be read, or a stored seed is too short.
    """
    cfg = settings.extractor.seed
    need = 2 * settings.extractor.block_bits // 8
    if cfg.kind == "generate":
        stored = pool.meta(_META_KEY)
        if stored is None:
            stored = os.urandom(need).hex()
            pool.set_meta(_META_KEY, stored)
        data = bytes.fromhex(stored)
        if len(data) < need:
            raise ServiceConfigError(
                f"{pool.path}: stored extractor seed has {8 * len(data)} bits, "
                f"extractor.block_bits = {settings.extractor.block_bits} needs {8 * need}: "
                "use a new pool file or the old block size",
                key="extractor.block_bits",
            )
        return np.frombuffer(data, dtype=np.uint8)
    if cfg.path is None:  # SeedSettings requires it for "dira" and "file"
        raise ServiceConfigError(
            f"extractor.seed: kind {cfg.kind!r} needs a path", key="extractor.seed"
        )
    path = settings.resolve(cfg.path)
    if cfg.kind == "dira":
        try:
            return np.frombuffer(load_dira_key("extractor seed", path).key, dtype=np.uint8)
        except SourceError as err:
            raise ServiceConfigError(f"extractor.seed: {err}", key="extractor.seed") from err
    try:
        return np.frombuffer(path.read_bytes(), dtype=np.uint8)
    except OSError as err:
        raise ServiceConfigError(
            f"extractor.seed: cannot read {path}: {err}", key="extractor.seed.path", path=str(path)
        ) from err
