"""The RSA keys of API v3: the merchant's private key and WeChat's verification keys.

The merchant key (``apiclient_key.pem``, PKCS#8 or PKCS#1) signs every request and the
paySign. WeChat signs its answers and notifications either with the key of a platform
certificate (downloaded from ``/v3/certificates``, named by the certificate's serial) or
with the "WeChat Pay public key" (``pub_key.pem``, named ``PUB_KEY_ID_...``); during a
merchant's migration both are in use at once. :class:`VerifierKeys` holds them and picks
one by ``Wechatpay-Serial``, treated as an opaque string (a ``PUB_KEY_ID_`` is no hex
number), and never tries the others.

A key that cannot be used is a :class:`~wxpay_mw.errors.ConfigError` naming the setting;
no message ever shows key material.
"""

from __future__ import annotations

import base64
import binascii
import datetime as _dt
import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from ..errors import ConfigError

__all__ = [
    "PUBLIC_KEY_ID",
    "PlatformCertificate",
    "VerifierKeys",
    "certificate_serial",
    "load_certificate",
    "load_private_key",
    "load_public_key",
    "read_pem",
]

#: The form of a WeChat Pay public key id, as ``Wechatpay-Serial`` carries it.
PUBLIC_KEY_ID: Final = re.compile(r"^PUB_KEY_ID_[0-9A-Za-z]+\Z")
_MIN_BITS: Final = 2048


def read_pem(path: str | Path, setting: str) -> bytes:
    """The bytes of a key or certificate file; a ConfigError naming ``setting`` if unreadable."""
    try:
        return Path(path).read_bytes()
    except FileNotFoundError:
        raise ConfigError(setting, f"no file at {str(path)!r}") from None
    except OSError as exc:
        raise ConfigError(setting, f"cannot read {str(path)!r} ({exc.strerror})") from None


def _der(data: bytes) -> bytes | None:
    """The DER inside Base64 without PEM armour (a key pasted from the merchant platform)."""
    try:
        return base64.b64decode(b"".join(data.split()), validate=True)
    except (binascii.Error, ValueError):
        return None


def _rsa_bits(bits: int, setting: str) -> None:
    if bits < _MIN_BITS:
        raise ConfigError(setting, f"is a {bits}-bit RSA key; WeChat Pay v3 uses 2048-bit keys")


def load_private_key(
    data: bytes | str, setting: str = "WXPAY_PRIVATE_KEY_PATH"
) -> rsa.RSAPrivateKey:
    """The merchant's RSA private key from PEM (PKCS#8 ``PRIVATE KEY`` or PKCS#1
    ``RSA PRIVATE KEY``), or bare Base64 DER."""
    raw = data.encode() if isinstance(data, str) else data
    key: object
    try:
        if b"-----BEGIN" in raw:
            key = serialization.load_pem_private_key(raw, password=None)
        else:
            der = _der(raw)
            if der is None:
                raise ValueError("not PEM")
            key = serialization.load_der_private_key(der, password=None)
    except TypeError:
        raise ConfigError(
            setting,
            "is encrypted with a password: export apiclient_key.pem without one",
        ) from None
    except (ValueError, binascii.Error):
        if b"CERTIFICATE" in raw:
            problem = "holds a certificate, not the private key: use apiclient_key.pem"
        elif b"PUBLIC KEY" in raw:
            problem = "holds a public key, not the private key: use apiclient_key.pem"
        else:
            problem = "is not a PEM private key (PKCS#8 or PKCS#1): use apiclient_key.pem"
        raise ConfigError(setting, problem) from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ConfigError(setting, f"is a {type(key).__name__}, not an RSA private key")
    _rsa_bits(key.key_size, setting)
    return key


def load_public_key(data: bytes | str, setting: str = "WXPAY_PUBLIC_KEY_PATH") -> rsa.RSAPublicKey:
    """WeChat Pay's public key (``pub_key.pem``) from PEM (``PUBLIC KEY`` or
    ``RSA PUBLIC KEY``) or bare Base64 DER."""
    raw = data.encode() if isinstance(data, str) else data
    key: object
    try:
        if b"-----BEGIN" in raw:
            key = serialization.load_pem_public_key(raw)
        else:
            der = _der(raw)
            if der is None:
                raise ValueError("not PEM")
            key = serialization.load_der_public_key(der)
    except ValueError:
        if b"PRIVATE KEY" in raw:
            problem = "holds a private key: it wants WeChat Pay's public key (pub_key.pem)"
        elif b"CERTIFICATE" in raw:
            problem = (
                "holds a certificate: platform certificates are not the WeChat Pay public key "
                "(pub_key.pem from the merchant platform's API security page)"
            )
        else:
            problem = "is not a PEM public key: use pub_key.pem from the merchant platform"
        raise ConfigError(setting, problem) from None
    if not isinstance(key, rsa.RSAPublicKey):
        raise ConfigError(setting, f"is a {type(key).__name__}, not an RSA public key")
    _rsa_bits(key.key_size, setting)
    return key


def certificate_serial(cert: x509.Certificate) -> str:
    """The serial number as WeChat writes it: upper-case hex, no leading zeros."""
    return format(cert.serial_number, "X")


@dataclass(frozen=True)
class PlatformCertificate:
    """A WeChat Pay platform certificate: its serial, public key and validity (UTC)."""

    serial_no: str
    public_key: rsa.RSAPublicKey = field(repr=False, compare=False)
    not_before: _dt.datetime
    not_after: _dt.datetime

    def valid_at(self, when: _dt.datetime) -> bool:
        """True when ``when`` (aware) lies within the certificate's validity."""
        return self.not_before <= when <= self.not_after


def load_certificate(
    data: bytes | str, setting: str = "WXPAY_PLATFORM_CERT_PATHS"
) -> PlatformCertificate:
    """A platform certificate from PEM; its serial is read from the certificate itself."""
    raw = data.encode() if isinstance(data, str) else data
    try:
        cert = x509.load_pem_x509_certificate(raw)
    except ValueError:
        raise ConfigError(setting, "is not a PEM certificate (wechatpay_<serial>.pem)") from None
    key = cert.public_key()
    if not isinstance(key, rsa.RSAPublicKey):
        raise ConfigError(setting, f"certificate holds a {type(key).__name__}, not an RSA key")
    _rsa_bits(key.key_size, setting)
    return PlatformCertificate(
        serial_no=certificate_serial(cert),
        public_key=key,
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
    )


class VerifierKeys:
    """WeChat's verification keys, chosen by ``Wechatpay-Serial``.

    Holds the WeChat Pay public key under its ``PUB_KEY_ID_...``, any number of platform
    certificates under their serials, or both (a migration). Certificates can be added
    later (a refresh from ``/v3/certificates``); lookups and additions are thread-safe.
    """

    def __init__(
        self,
        *,
        public_key: rsa.RSAPublicKey | None = None,
        public_key_id: str | None = None,
        certificates: Iterable[PlatformCertificate] = (),
    ) -> None:
        if (public_key is None) != (public_key_id is None):
            raise ConfigError(
                "WXPAY_PUBLIC_KEY_ID" if public_key_id is None else "WXPAY_PUBLIC_KEY_PATH",
                "the WeChat Pay public key and its PUB_KEY_ID_... go together: set both or neither",
            )
        if public_key_id is not None and not PUBLIC_KEY_ID.match(public_key_id):
            raise ConfigError(
                "WXPAY_PUBLIC_KEY_ID",
                f"{public_key_id!r} is not a public key id: expected PUB_KEY_ID_ and digits, as "
                "shown beside the public key in the merchant platform",
            )
        self._lock = threading.Lock()
        self._keys: dict[str, rsa.RSAPublicKey] = {}
        self._certificates: dict[str, PlatformCertificate] = {}
        self.public_key_id = public_key_id
        if public_key is not None and public_key_id is not None:
            self._keys[public_key_id] = public_key
        for cert in certificates:
            self.add_certificate(cert)

    def add_certificate(self, cert: PlatformCertificate) -> None:
        """Trust ``cert`` for messages whose ``Wechatpay-Serial`` is its serial."""
        with self._lock:
            self._certificates[cert.serial_no] = cert
            self._keys[cert.serial_no] = cert.public_key

    def extended(self, certificates: Iterable[PlatformCertificate]) -> VerifierKeys:
        """A copy that also trusts ``certificates`` (this one is left unchanged)."""
        pub_id = self.public_key_id
        return VerifierKeys(
            public_key=self.key_for(pub_id) if pub_id else None,
            public_key_id=pub_id,
            certificates=[*self.certificates, *certificates],
        )

    def key_for(self, serial: str) -> rsa.RSAPublicKey | None:
        """The key for a ``Wechatpay-Serial``, or None when we hold none by that name."""
        with self._lock:
            return self._keys.get(serial)

    @property
    def serials(self) -> tuple[str, ...]:
        """Every serial a message may name: the public key id and the certificate serials."""
        with self._lock:
            return tuple(self._keys)

    @property
    def certificates(self) -> tuple[PlatformCertificate, ...]:
        """The platform certificates held, in the order they were added."""
        with self._lock:
            return tuple(self._certificates.values())

    def newest_certificate(self) -> PlatformCertificate | None:
        """The certificate that expires last (for the request header ``Wechatpay-Serial``)."""
        certs = self.certificates
        return max(certs, key=lambda c: c.not_after) if certs else None

    def __repr__(self) -> str:
        return f"VerifierKeys(serials={list(self.serials)!r})"
