"""Reading a certificate: the ``diamp.certificate/1`` schema, its parser and a typed view.

:func:`parse_certificate` checks a decoded certificate document (as ``json.load`` returns it)
and returns a read-only :class:`CertificateView`: every field is checked for presence and
type, the status against the abort reason and m against the output bits, and a failure
names the source, the field (dotted path) and what was expected and found.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Final

from diamp.errors import StorageError
from diamp.protocol.provenance import UNKNOWN

__all__ = [
    "ABXY_KEYS",
    "CERTIFICATE_SCHEMA",
    "EXACTNESS",
    "CertificateView",
    "SeriesPoint",
    "parse_certificate",
]

CERTIFICATE_SCHEMA: Final = "diamp.certificate/1"
"""The ``schema`` value of every certificate diamp writes and reads."""
ABXY_KEYS: Final = tuple(f"{a}{b}{x}{y}" for a in "01" for b in "01" for x in "01" for y in "01")
"""The 16 count keys "abxy" in index order a, b, x, y."""


@dataclass(frozen=True)
class SeriesPoint:
    """CHSH and S_μ (as a float) of one segment of the run; ``None`` where undefined."""

    n_trials: int
    chsh: float | None
    s_mu: float | None


@dataclass(frozen=True)
class CertificateView:
    """The checked fields of a certificate, read-only (``raw`` keeps the whole document)."""

    source: str
    run_id: str
    status: str
    abort_reason: str | None
    n_trials: int
    mu: Fraction
    counts: Mapping[str, int]
    chsh: float | None
    s_mu_obs: Fraction
    eps: float
    eta: float | None
    m: int
    bound: str
    protocol: Mapping[str, Any]
    security: Mapping[str, Any] | None
    output_bits: int
    output_sha256: str | None
    output_file: str | None
    segment_trials: int
    segments: tuple[SeriesPoint, ...]
    timing: Mapping[str, Any] | None
    excluded_blocks: tuple[int, ...]
    raw: Mapping[str, Any]
    provenance: Mapping[str, Any] = field(default_factory=lambda: dict(UNKNOWN))
    exactness: str | None = None  # "exact" or "fft-bound"; None when nothing was extracted
    chain_error: float | None = None  # None: m = 0, or written before certificates had it
    post_selection_blocks: int = 0


class _Reader:
    """Typed access to a JSON document; failures name the source and the field."""

    def __init__(self, source: str, doc: Any) -> None:
        self.source = source
        self.doc = doc

    def fail(self, field: str, expected: str, found: Any) -> StorageError:
        shown = repr(found)
        shown = shown if len(shown) <= 80 else shown[:77] + "..."
        return StorageError(
            f"{self.source}: field {field!r}: expected {expected}, found {shown}",
            path=self.source,
            field=field,
        )

    def get(self, field: str) -> Any:
        node = self.doc
        for part in field.split("."):
            if isinstance(node, list) and part.isdigit() and int(part) < len(node):
                node = node[int(part)]
            elif isinstance(node, Mapping) and part in node:
                node = node[part]
            else:
                raise self.fail(field, "a value", "nothing (the field is missing)")
        return node

    def int_(self, field: str, low: int = 0) -> int:
        value = self.get(field)
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise self.fail(field, f"an integer >= {low}", value)
        return value

    def float_(self, field: str) -> float:
        value = self.get(field)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.fail(field, "a number", value)
        return float(value)

    def float_or_none(self, field: str) -> float | None:
        return None if self.get(field) is None else self.float_(field)

    def str_(self, field: str) -> str:
        value = self.get(field)
        if not isinstance(value, str):
            raise self.fail(field, "a string", value)
        return value

    def str_or_none(self, field: str) -> str | None:
        return None if self.get(field) is None else self.str_(field)

    def mapping(self, field: str) -> Mapping[str, Any]:
        value = self.get(field)
        if not isinstance(value, Mapping):
            raise self.fail(field, "an object", value)
        return value

    def mapping_or_none(self, field: str) -> Mapping[str, Any] | None:
        return None if self.get(field) is None else self.mapping(field)

    def list_(self, field: str) -> list[Any]:
        value = self.get(field)
        if not isinstance(value, list):
            raise self.fail(field, "a list", value)
        return value

    def fraction(self, field: str) -> Fraction:
        value = self.str_(field)
        try:
            return Fraction(value)
        except (ValueError, ZeroDivisionError) as err:
            raise self.fail(field, "an exact number as text ('0.0075', '13/2000')", value) from err


def _provenance(r: _Reader) -> Mapping[str, Any]:
    """Where the run's data came from; a certificate without it reads as unknown."""
    if not isinstance(r.doc, Mapping) or r.doc.get("provenance") is None:
        return dict(UNKNOWN)  # written before certificates carried provenance
    found = r.mapping("provenance")
    if found.get("simulated") not in (True, False, None):
        raise r.fail("provenance.simulated", "true, false or null", found.get("simulated"))
    return found


EXACTNESS: Final = ("exact", "fft-bound")
"""Values of ``extractor.exactness``: the NTT engine, or the FFT engine with its bound."""


def _exactness(r: _Reader) -> str | None:
    """How the key's exactness is established; None when there is no extractor section.

    Certificates written before the field existed read as ``"fft-bound"``: the blockwise
    FFT with its round-off bound was then the only engine.
    """
    if not isinstance(r.doc, Mapping) or r.doc.get("extractor") is None:
        return None
    section = r.mapping("extractor")
    if "exactness" not in section:
        return "fft-bound"
    found = section["exactness"]
    if found not in EXACTNESS:
        raise r.fail("extractor.exactness", "'exact' or 'fft-bound'", found)
    return str(found)


def _optional(r: _Reader, field: str) -> bool:
    """Whether ``field`` is present and not null (fields added after schema /1 appeared)."""
    try:
        return r.get(field) is not None
    except StorageError:
        return False


def _counts(r: _Reader) -> dict[str, int]:
    keys = sorted(r.mapping("counts"))
    if keys != list(ABXY_KEYS):
        raise r.fail("counts", "the 16 keys '0000' ... '1111' (a, b, x, y)", keys)
    return {key: r.int_(f"counts.{key}") for key in ABXY_KEYS}


def _segments(r: _Reader) -> tuple[SeriesPoint, ...]:
    return tuple(
        SeriesPoint(
            r.int_(f"series.segments.{i}.n_trials"),
            r.float_or_none(f"series.segments.{i}.chsh"),
            r.float_or_none(f"series.segments.{i}.s_mu_float"),
        )
        for i in range(len(r.list_("series.segments")))
    )


def _excluded(r: _Reader) -> tuple[int, ...]:
    count = len(r.list_("excluded_blocks.blocks"))
    return tuple(r.int_(f"excluded_blocks.blocks.{i}") for i in range(count))


def _check_status(r: _Reader) -> tuple[str, str | None]:
    status = r.str_("status")
    if status not in ("ok", "abort"):
        raise r.fail("status", "'ok' or 'abort'", status)
    reason = r.str_or_none("abort_reason")
    if (status == "abort") != (reason is not None):
        raise r.fail("abort_reason", "a reason exactly when status is 'abort'", reason)
    return status, reason


def parse_certificate(doc: Any, source: str) -> CertificateView:
    """Check a ``diamp.certificate/1`` document and return its typed view.

    Parameters
    ----------
    doc
        The decoded JSON document.
    source
        Where it came from (a path), used in error messages.

    Raises
    ------
    StorageError
        Naming ``source``, the field (dotted path), what was expected and what was found.
    """
    r = _Reader(source, doc)
    if not isinstance(doc, Mapping):
        raise r.fail("(document)", "a JSON object", type(doc).__name__)
    if r.get("schema") != CERTIFICATE_SCHEMA:
        raise r.fail("schema", repr(CERTIFICATE_SCHEMA), r.get("schema"))
    status, reason = _check_status(r)
    m = r.int_("m")
    if m != r.int_("output.bits"):
        raise r.fail("output.bits", f"the certified length m = {m}", r.get("output.bits"))
    if (status == "ok") != (m > 0):
        raise r.fail("m", "m > 0 exactly when status is 'ok'", m)
    return CertificateView(
        source=source,
        run_id=r.str_("run_id"),
        status=status,
        abort_reason=reason,
        n_trials=r.int_("n_trials", 1),
        mu=r.fraction("mu"),
        counts=_counts(r),
        chsh=r.float_or_none("chsh"),
        s_mu_obs=r.fraction("s_mu_obs"),
        eps=r.float_("eps"),
        eta=r.float_or_none("eta"),
        m=m,
        bound=r.str_("bound"),
        protocol=r.mapping("protocol"),
        security=r.mapping_or_none("security"),
        output_bits=m,
        output_sha256=r.str_or_none("output.sha256"),
        output_file=r.str_or_none("output.file"),
        segment_trials=r.int_("series.segment_trials", 1),
        segments=_segments(r),
        timing=r.mapping_or_none("timing"),
        excluded_blocks=_excluded(r),
        raw=doc,
        provenance=_provenance(r),
        chain_error=r.float_("chain_error") if _optional(r, "chain_error") else None,
        post_selection_blocks=r.int_("excluded_blocks.post_selection_blocks")
        if _optional(r, "excluded_blocks.post_selection_blocks")
        else 0,
        exactness=_exactness(r),
    )
