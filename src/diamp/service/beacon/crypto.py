"""Beacon keys and certificates: RSA PKCS#1 v1.5 with SHA-512 (cipherSuite 0).

``certificateId`` is the SHA-512 of the certificate's DER encoding (checked against the real
NIST pulse and certificate in ``shared/vectors/``). Keys and certificates are PEM files; the
private key must not be readable by group or others. ``generate_keypair`` writes a throw-away
self-signed pair for a test or demo beacon (``diamp beacon keygen``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import stat
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

from diamp.service.beacon.errors import BeaconError

__all__ = [
    "BeaconCertificate",
    "Signer",
    "generate_keypair",
    "load_certificate",
    "load_signer",
    "parse_certificate",
]

KEY_NAME = "beacon-key.pem"
CERT_NAME = "beacon-cert.pem"


@dataclass(frozen=True)
class BeaconCertificate:
    """An X.509 certificate with its PEM text and ``certificateId`` (SHA-512 of DER)."""

    pem: bytes
    certificate: x509.Certificate

    @property
    def id(self) -> bytes:
        """``certificateId``: SHA-512 of the DER encoding."""
        der = self.certificate.public_bytes(serialization.Encoding.DER)
        return hashlib.sha512(der).digest()

    @property
    def id_hex(self) -> str:
        """``certificateId`` as NIST writes it (lower-case hex)."""
        return self.id.hex()

    def not_before_ms(self) -> int:
        """Start of validity, ms since the epoch."""
        return int(self.certificate.not_valid_before_utc.timestamp() * 1000)

    def not_after_ms(self) -> int:
        """End of validity, ms since the epoch."""
        return int(self.certificate.not_valid_after_utc.timestamp() * 1000)

    def verify(self, data: bytes, signature: bytes) -> bool:
        """True when ``signature`` is a valid RSA PKCS#1 v1.5 / SHA-512 signature of ``data``."""
        key = self.certificate.public_key()
        if not isinstance(key, rsa.RSAPublicKey) or len(signature) != (key.key_size + 7) // 8:
            return False
        try:
            key.verify(signature, data, padding.PKCS1v15(), hashes.SHA512())
        except InvalidSignature:
            return False
        return True


def parse_certificate(pem: bytes, where: str) -> BeaconCertificate:
    """A certificate from PEM bytes; :class:`BeaconError` naming ``where`` if it is not one."""
    try:
        cert = x509.load_pem_x509_certificate(pem)
    except ValueError as err:
        raise BeaconError(f"{where}: not a PEM X.509 certificate: {err}", path=where) from err
    if not isinstance(cert.public_key(), rsa.RSAPublicKey):
        raise BeaconError(f"{where}: the certificate's key is not RSA (cipherSuite 0)", path=where)
    return BeaconCertificate(pem, cert)


def load_certificate(path: Path) -> BeaconCertificate:
    """Read a PEM certificate file."""
    try:
        pem = path.read_bytes()
    except OSError as err:
        raise BeaconError(f"{path}: cannot read certificate: {err}", path=str(path)) from err
    return parse_certificate(pem, str(path))


class Signer:
    """Signs pulses with an RSA key that matches the beacon certificate."""

    def __init__(self, key: rsa.RSAPrivateKey, certificate: BeaconCertificate) -> None:
        public = certificate.certificate.public_key()
        if not isinstance(public, rsa.RSAPublicKey) or public.public_numbers() != (
            key.public_key().public_numbers()
        ):
            raise BeaconError("the signing key does not match the beacon certificate")
        self._key = key
        self.certificate = certificate

    def sign(self, data: bytes) -> bytes:
        """RSA PKCS#1 v1.5 signature with SHA-512 of ``data``."""
        return self._key.sign(data, padding.PKCS1v15(), hashes.SHA512())


def load_signer(key_path: Path, cert_path: Path) -> Signer:
    """The signer from a PEM private key (private to its owner) and its certificate."""
    try:
        mode = key_path.stat().st_mode
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise BeaconError(
                f"{key_path}: the beacon key is readable by group or others "
                f"(mode {stat.S_IMODE(mode):o}); chmod 600 it",
                path=str(key_path),
            )
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    except OSError as err:
        raise BeaconError(f"{key_path}: cannot read key: {err}", path=str(key_path)) from err
    except (ValueError, TypeError) as err:
        raise BeaconError(
            f"{key_path}: not an unencrypted PEM private key: {err}", path=str(key_path)
        ) from err
    if not isinstance(key, rsa.RSAPrivateKey):
        raise BeaconError(f"{key_path}: the key is not RSA (cipherSuite 0)", path=str(key_path))
    return Signer(key, load_certificate(cert_path))


def generate_keypair(
    out_dir: Path, bits: int = 4096, common_name: str = "diamp beacon", days: int = 3650
) -> tuple[Path, Path]:
    """Write a new RSA key (mode 0600) and a self-signed certificate into ``out_dir``.

    Returns the paths (key, certificate). Refuses to overwrite existing files.
    """
    if bits < 2048:
        raise BeaconError(f"--bits: expected at least 2048, found {bits}", key="bits")
    key_path, cert_path = out_dir / KEY_NAME, out_dir / CERT_NAME
    for path in (key_path, cert_path):
        if path.exists():
            raise BeaconError(f"{path}: exists; refusing to overwrite a key", path=str(path))
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA512())
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    _write_new(key_path, key_pem, 0o600)
    _write_new(cert_path, cert.public_bytes(serialization.Encoding.PEM), 0o644)
    return key_path, cert_path


def _write_new(path: Path, data: bytes, mode: int) -> None:
    """Create ``path`` with ``mode`` atomically, never readable by others and never replaced."""
    from diamp.atomic import write_atomic
    from diamp.errors import StorageError

    try:
        write_atomic(path, data, mode=mode, what="a beacon key", exclusive=True)
    except StorageError as err:
        raise BeaconError(f"{path}: cannot create: {err}", path=str(path)) from err
