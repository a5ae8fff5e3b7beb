"""Errors of the beacon: malformed pulses, failed verification, refused store writes.

Every error names the pulse (``chain C pulse P`` or the file it came from) and the NIST
Beacon 2.0 field at fault, so that a failed verification says exactly what to look at.
"""

from __future__ import annotations

from diamp.errors import DiampError, StorageError

__all__ = ["BeaconError", "BeaconStoreError", "PulseFormatError", "PulseVerificationError"]


class BeaconError(DiampError, ValueError):
    """A beacon operation failed (bad key, certificate, settings or pulse)."""


class PulseFormatError(BeaconError):
    """A pulse is not in the NIST Beacon 2.0 format (names the pulse and the field)."""


class PulseVerificationError(BeaconError):
    """A pulse failed verification (names the pulse and the field)."""


class BeaconStoreError(StorageError):
    """The pulse store refused a write that would re-issue a pulse, or is corrupt."""
