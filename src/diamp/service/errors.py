"""Errors of the randomness service, under :class:`diamp.errors.DiampError`.

Each carries structured fields (``tier``, ``source``, ``path``, ``reason``) so the API can map
it to an HTTP status and the CLI can name what to change.
"""

from __future__ import annotations

from diamp.errors import ConfigError, DiampError, StorageError

__all__ = [
    "AuthError",
    "KeyFileError",
    "PoolEmpty",
    "PoolError",
    "ServiceConfigError",
    "ServiceError",
    "SourceError",
    "StateError",
    "TierUnavailable",
]


class ServiceError(DiampError):
    """Root of the service's errors."""


class ServiceConfigError(ServiceError, ConfigError):
    """The service config or a file it names is invalid (names file and key)."""

    exit_code = 2


class KeyFileError(ServiceConfigError):
    """A client or key file is malformed, missing, or readable by group or others."""


class PoolError(ServiceError, StorageError):
    """The pool database is unreadable, of another schema, or violates an invariant."""


class StateError(ServiceError, StorageError):
    """Persistent state disagrees with its anchor (lost, emptied, restored or copied database).

    Exit status 2: the service refuses to start until the operator recovers explicitly
    (``diamp serve --new-pool`` or ``--new-chain``).
    """

    exit_code = 2


class PoolEmpty(ServiceError):
    """The pool holds fewer fresh bytes of a tier than a request needs (HTTP 503)."""


class TierUnavailable(ServiceError):
    """A tier's policy cannot be met (a required source is quarantined) (HTTP 503)."""


class SourceError(ServiceError):
    """A source failed: unreadable, exhausted, or failing a health test or check."""


class AuthError(ServiceError):
    """A request's signature is missing, malformed, expired, replayed or wrong (HTTP 401).

    ``reason`` is a short label used in metrics and the 401 body: one of
    :data:`diamp.service.auth.REASONS` (``missing_signature``, ``malformed``, ``too_old``,
    ``replay``, ``bad_signature``, ``unknown_key``, ...).
    """
