"""The run certificate (``diamp.certificate/1``): its one format, built, parsed and loaded.

- :func:`build_certificate` writes the certificate of an amplification as a JSON-ready dict
  and :func:`dump_json` its strict text (:mod:`~diamp.protocol.certificate.build`);
- :func:`parse_certificate` checks a decoded document and returns a read-only
  :class:`CertificateView` (:mod:`~diamp.protocol.certificate.view`);
- :func:`load_certified_run` reads a run directory's certificate and the key it certifies,
  both verified (:mod:`~diamp.protocol.certificate.load`).

The certificate records every parameter, count and hash needed to re-judge a run: the
counts N(abxy), CHSH and the exact S_mu,obs, the security parameters and how eta and m were
obtained (bound and eta construction with versions), the SHA-256 of AB, Z and the key, the
extractor's exactness evidence, and the software version and timestamps.
"""

from diamp.protocol.certificate.build import build_certificate, dump_json, fraction_str
from diamp.protocol.certificate.load import (
    CERTIFICATE_NAME,
    CertifiedRun,
    load_certified_run,
    read_certificate,
)
from diamp.protocol.certificate.view import (
    ABXY_KEYS,
    CERTIFICATE_SCHEMA,
    CertificateView,
    SeriesPoint,
    parse_certificate,
)

__all__ = [
    "ABXY_KEYS",
    "CERTIFICATE_NAME",
    "CERTIFICATE_SCHEMA",
    "CertificateView",
    "CertifiedRun",
    "SeriesPoint",
    "build_certificate",
    "dump_json",
    "fraction_str",
    "load_certified_run",
    "parse_certificate",
    "read_certificate",
]
