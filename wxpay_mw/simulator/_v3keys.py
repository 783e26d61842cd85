"""The RSA keys of the simulator's v3 mode: the merchant's, and WeChat's own.

The merchant's side is what a host configures (``apiclient_key.pem`` and its certificate's
serial, the APIv3 key); WeChat's side is what the simulator signs with: the "WeChat Pay
public key" pair, named ``PUB_KEY_ID_...`` (``pub_key.pem`` is handed to the host), and
platform certificates, served sealed with the APIv3 key by ``/v3/certificates``. Each
key is RSA 2048 and made at start; with a directory they are written there on the first
start and read back on the next, so a host's settings survive a restart of the simulator.

Certificates are self-signed: the v3 client trusts a platform certificate because the
APIv3 key sealed it, not because of its issuer (wechatpay-v3.md section 1).
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import os
import secrets
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

__all__ = ["PlatformKey", "V3Files", "V3Keys"]

#: What WeChat's platform certificates last (wechatpay-v3.md section 1).
CERT_YEARS: Final = 5
_STATE_FILE: Final = "simulator-v3.json"


def _new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _serial() -> int:
    # 40 hex digits, as WeChat's merchant and platform serials have, and below 2**159
    # (x509 serials are at most 20 positive octets).
    return secrets.randbits(156) | (1 << 156)


def _certificate(key: rsa.RSAPrivateKey, common_name: str, serial: int) -> x509.Certificate:
    now = _dt.datetime.now(_dt.UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(serial)
        .not_valid_before(now - _dt.timedelta(minutes=5))
        .not_valid_after(now + _dt.timedelta(days=365 * CERT_YEARS))
        .sign(key, hashes.SHA256())
    )


def _key_pem(key: rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _public_pem(key: rsa.RSAPrivateKey) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _load_key(path: Path) -> rsa.RSAPrivateKey:
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError(f"{path} does not hold an RSA private key")
    return key


@dataclass(frozen=True)
class PlatformKey:
    """One platform certificate and its private key."""

    key: rsa.RSAPrivateKey = field(repr=False)
    certificate: x509.Certificate = field(repr=False)

    @property
    def serial_no(self) -> str:
        """The serial as WeChat writes it: upper-case hex."""
        return format(self.certificate.serial_number, "X")

    @property
    def pem(self) -> bytes:
        """The certificate as PEM."""
        return self.certificate.public_bytes(serialization.Encoding.PEM)

    @classmethod
    def new(cls) -> PlatformKey:
        """A fresh key and a certificate valid for five years."""
        key = _new_key()
        return cls(key, _certificate(key, "Tenpay.com sign (wxpay-mw simulator)", _serial()))


@dataclass(frozen=True)
class V3Files:
    """The PEM files a host configures: ``private_key`` (WXPAY_PRIVATE_KEY_PATH),
    ``certificate`` (apiclient_cert.pem, whose serial is WXPAY_CERT_SERIAL) and
    ``public_key`` (WXPAY_PUBLIC_KEY_PATH), and the first platform certificate
    (``platform_certificate``, for WXPAY_PLATFORM_CERT_PATHS during a migration)."""

    directory: str
    private_key: str
    certificate: str
    public_key: str
    platform_certificate: str


class V3Keys:
    """Every key of one simulated v3 merchant, and the files a host reads them from.

    Thread-safe: the platform certificates can change while the simulator runs
    (:meth:`new_certificate`, :meth:`drop_old_certificates`).
    """

    def __init__(
        self,
        *,
        apiv3_key: str,
        merchant_key: rsa.RSAPrivateKey,
        merchant_cert: x509.Certificate,
        public_key_id: str,
        wechat_key: rsa.RSAPrivateKey,
        platform: list[PlatformKey],
        files: V3Files,
        owns_directory: bool,
    ) -> None:
        self.apiv3_key = apiv3_key
        self.merchant_key = merchant_key
        self.merchant_public_key = merchant_key.public_key()
        self.cert_serial = format(merchant_cert.serial_number, "X")
        self.public_key_id = public_key_id
        self.wechat_key = wechat_key
        self.files = files
        self._owns_directory = owns_directory
        self._lock = threading.Lock()
        self._platform = list(platform)
        self._initial = tuple(platform)

    def __repr__(self) -> str:
        # The APIv3 key and the private keys are secrets: only names and serials show.
        serials = [p.serial_no for p in self.platform]
        return (
            f"V3Keys(cert_serial={self.cert_serial!r}, public_key_id={self.public_key_id!r}, "
            f"platform={serials!r}, directory={self.files.directory!r})"
        )

    # -- platform certificates

    @property
    def platform(self) -> tuple[PlatformKey, ...]:
        """The platform certificates WeChat lists, oldest first."""
        with self._lock:
            return tuple(self._platform)

    @property
    def signing_certificate(self) -> PlatformKey:
        """The newest platform certificate: the one WeChat signs with."""
        with self._lock:
            return self._platform[-1]

    def new_certificate(self) -> PlatformKey:
        """Issue a new platform certificate; WeChat signs with it from now on, and lists
        the old ones beside it until they are dropped."""
        made = PlatformKey.new()
        with self._lock:
            self._platform.append(made)
        return made

    def drop_old_certificates(self) -> None:
        """List only the newest platform certificate (the old ones revoked)."""
        with self._lock:
            del self._platform[:-1]

    def restore(self) -> None:
        """Back to the platform certificates of the start."""
        with self._lock:
            self._platform = list(self._initial)

    # -- making and storing

    @classmethod
    def create(cls, mch_id: str, directory: str | Path | None = None) -> V3Keys:
        """Fresh keys in a new private temporary directory; or, with ``directory``, the
        keys stored there (made and written on the first use)."""
        if directory is None:
            return cls._generate(mch_id, Path(tempfile.mkdtemp(prefix="wxpay-sim-v3-")), True)
        path = Path(directory)
        if (path / _STATE_FILE).exists():
            return cls._load(path)
        path.mkdir(parents=True, exist_ok=True)
        return cls._generate(mch_id, path, False)

    @classmethod
    def _generate(cls, mch_id: str, directory: Path, owns: bool) -> V3Keys:
        merchant_key = _new_key()
        merchant_cert = _certificate(merchant_key, f"{mch_id} (wxpay-mw simulator)", _serial())
        wechat_key = _new_key()
        platform = PlatformKey.new()
        public_key_id = "PUB_KEY_ID_" + "".join(str(secrets.randbelow(10)) for _ in range(32))
        # Shaped like the merchant platform's key: 32 letters and digits.
        apiv3_key = secrets.token_hex(16)
        write = _writer(directory)
        files = V3Files(
            directory=str(directory),
            private_key=write("apiclient_key.pem", _key_pem(merchant_key)),
            certificate=write(
                "apiclient_cert.pem", merchant_cert.public_bytes(serialization.Encoding.PEM)
            ),
            public_key=write("pub_key.pem", _public_pem(wechat_key)),
            platform_certificate=write("wechat_platform_cert.pem", platform.pem),
        )
        # WeChat's own secrets: kept only so that a directory can be reused.
        write("wechat_pub_key_private.pem", _key_pem(wechat_key))
        write("wechat_platform_key.pem", _key_pem(platform.key))
        state = {"apiv3_key": apiv3_key, "public_key_id": public_key_id}
        write(_STATE_FILE, json.dumps(state, indent=1).encode())
        return cls(
            apiv3_key=apiv3_key,
            merchant_key=merchant_key,
            merchant_cert=merchant_cert,
            public_key_id=public_key_id,
            wechat_key=wechat_key,
            platform=[platform],
            files=files,
            owns_directory=owns,
        )

    @classmethod
    def _load(cls, directory: Path) -> V3Keys:
        state = json.loads((directory / _STATE_FILE).read_text())
        cert = x509.load_pem_x509_certificate((directory / "apiclient_cert.pem").read_bytes())
        platform = PlatformKey(
            _load_key(directory / "wechat_platform_key.pem"),
            x509.load_pem_x509_certificate((directory / "wechat_platform_cert.pem").read_bytes()),
        )
        return cls(
            apiv3_key=str(state["apiv3_key"]),
            merchant_key=_load_key(directory / "apiclient_key.pem"),
            merchant_cert=cert,
            public_key_id=str(state["public_key_id"]),
            wechat_key=_load_key(directory / "wechat_pub_key_private.pem"),
            platform=[platform],
            files=V3Files(
                directory=str(directory),
                private_key=str(directory / "apiclient_key.pem"),
                certificate=str(directory / "apiclient_cert.pem"),
                public_key=str(directory / "pub_key.pem"),
                platform_certificate=str(directory / "wechat_platform_cert.pem"),
            ),
            owns_directory=False,
        )

    def remove_files(self) -> None:
        """Delete the files of a temporary directory (a given directory is kept)."""
        if not self._owns_directory:
            return
        directory = Path(self.files.directory)
        for name in _NAMES:
            (directory / name).unlink(missing_ok=True)
        with contextlib.suppress(OSError):
            directory.rmdir()


_NAMES: Final = (
    "apiclient_key.pem",
    "apiclient_cert.pem",
    "pub_key.pem",
    "wechat_pub_key_private.pem",
    "wechat_platform_key.pem",
    "wechat_platform_cert.pem",
    _STATE_FILE,
)


def _writer(directory: Path) -> Callable[[str, bytes], str]:
    def write(name: str, data: bytes) -> str:
        path = directory / name
        # Keys: readable by this user only, like any key file.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as file:
            file.write(data)
        return str(path)

    return write
