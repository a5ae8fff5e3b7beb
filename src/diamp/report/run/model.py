"""What a run report is built from: the checked certificate and the key.

The certificate is a :class:`~diamp.protocol.certificate.CertificateView` (parsed and checked
by :mod:`diamp.protocol.certificate`); the key is kept packed MSB-first (``numpy.packbits``
order), as diamp stores it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from diamp.protocol.certificate import CertificateView

__all__ = ["RunData"]


@dataclass(frozen=True)
class RunData:
    """A run as the report sees it.

    Attributes
    ----------
    certificate
        The checked certificate.
    key_packed
        The key K packed MSB-first (``uint8``), or ``None`` when the run produced none.
    key_bits
        Number of key bits (``certificate.output_bits``; 0 without a key).
    label
        How the run is named on the page (e.g. the run directory).
    """

    certificate: CertificateView
    key_packed: np.ndarray | None
    key_bits: int
    label: str
