"""V3Settings: the merchant's API v3 credentials, loaded and checked once at start-up.

A wrong APIv3 key, an unreadable private key or a public key without its id fails when
the app starts, with a :class:`~wxpay_mw.errors.ConfigError` that names the ``WXPAY_*``
setting, rather than as a ``401 SIGN_ERROR`` or an undecryptable notification later. The
APIv3 key and the private key never appear in ``repr``, ``str`` or any message.

WeChat's verification keys: the WeChat Pay public key (``WXPAY_PUBLIC_KEY_PATH`` and
``WXPAY_PUBLIC_KEY_ID``), platform certificates (``WXPAY_PLATFORM_CERT_PATHS``, or
downloaded from ``/v3/certificates`` by the client), or both during a migration.
"""

from __future__ import annotations

import datetime as _dt
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from cryptography.hazmat.primitives.asymmetric import rsa

from .._logsafe import masked_repr
from ..errors import ConfigError
from .keys import (
    PlatformCertificate,
    VerifierKeys,
    load_certificate,
    load_private_key,
    load_public_key,
    read_pem,
)

__all__ = ["DEFAULT_CLOCK_WINDOW", "V3_ENV_NAMES", "V3Settings"]

#: Seconds a signed message's timestamp may differ from our clock (wechatpay-go's bound).
DEFAULT_CLOCK_WINDOW: Final = 300

# Environment variable -> argument name. Names are part of the public contract.
V3_ENV_NAMES: Final[dict[str, str]] = {
    "WXPAY_APIV3_KEY": "apiv3_key",
    "WXPAY_PRIVATE_KEY_PATH": "private_key_path",
    "WXPAY_CERT_SERIAL": "cert_serial",
    "WXPAY_PUBLIC_KEY_PATH": "public_key_path",
    "WXPAY_PUBLIC_KEY_ID": "public_key_id",
    "WXPAY_PLATFORM_CERT_PATHS": "platform_cert_paths",
    "WXPAY_CLOCK_WINDOW": "clock_window",
}
_SETTING: Final = {arg: env for env, arg in V3_ENV_NAMES.items()}
_SECRETS: Final = frozenset({"apiv3_key", "private_key"})
# A certificate serial: hex, as the merchant platform shows it (8 to 40 digits).
_SERIAL: Final = re.compile(r"^[0-9A-Fa-f]{8,40}\Z")


@dataclass(frozen=True, repr=False)
class V3Settings:
    """The merchant's WeChat Pay API v3 credentials.

    ``apiv3_key``: the 32-byte APIv3 key (AES-256-GCM only; not the v2 API key).
    ``private_key_path`` / ``cert_serial``: ``apiclient_key.pem`` and the serial number of
    its certificate, which sign every request. ``public_key_path`` / ``public_key_id``:
    WeChat Pay's public key and its ``PUB_KEY_ID_...``. ``platform_cert_paths``: platform
    certificates on disk. With neither, the client downloads the certificates.
    ``clock_window``: how many seconds a signed message's timestamp may be off.

    Keys are loaded on construction: ``private_key`` and ``verifier_keys`` are ready to use.
    """

    apiv3_key: str = field(repr=False)
    private_key_path: str
    cert_serial: str
    public_key_path: str | None = None
    public_key_id: str | None = None
    platform_cert_paths: tuple[str, ...] = ()
    clock_window: int = DEFAULT_CLOCK_WINDOW
    private_key: rsa.RSAPrivateKey = field(init=False, repr=False, compare=False)
    verifier_keys: VerifierKeys = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        key = self.apiv3_key
        if not isinstance(key, str) or not key:
            raise ConfigError("WXPAY_APIV3_KEY", "is not set: the 32-byte APIv3 key is needed")
        # Never echo the value: it is the secret. Its length is not.
        size = len(key.encode())
        if size != 32:
            raise ConfigError(
                "WXPAY_APIV3_KEY",
                f"is {size} bytes; the APIv3 key is exactly 32 (merchant platform, API security, "
                "APIv3 key). It is neither the v2 API key nor a certificate serial",
            )
        if not isinstance(self.cert_serial, str) or not _SERIAL.match(self.cert_serial):
            raise ConfigError(
                "WXPAY_CERT_SERIAL",
                "expected the hex serial number of the merchant API certificate "
                "(apiclient_cert.pem), e.g. from `openssl x509 -noout -serial`",
            )
        if not isinstance(self.private_key_path, str) or not self.private_key_path:
            raise ConfigError("WXPAY_PRIVATE_KEY_PATH", "is not set: the path of apiclient_key.pem")
        private = load_private_key(read_pem(self.private_key_path, "WXPAY_PRIVATE_KEY_PATH"))
        if isinstance(self.clock_window, bool) or not isinstance(self.clock_window, int):
            raise ConfigError("WXPAY_CLOCK_WINDOW", "expected a whole number of seconds")
        if not 0 < self.clock_window <= 3600:
            raise ConfigError("WXPAY_CLOCK_WINDOW", "expected 1 to 3600 seconds (default 300)")
        public = None
        if self.public_key_path:
            public = load_public_key(read_pem(self.public_key_path, "WXPAY_PUBLIC_KEY_PATH"))
        certs: list[PlatformCertificate] = []
        for path in self.platform_cert_paths:
            cert = load_certificate(read_pem(path, "WXPAY_PLATFORM_CERT_PATHS"))
            if cert.not_after < _dt.datetime.now(_dt.UTC):
                raise ConfigError(
                    "WXPAY_PLATFORM_CERT_PATHS",
                    f"certificate {cert.serial_no} in {path!r} expired on "
                    f"{cert.not_after:%Y-%m-%d}: remove it (the client downloads current ones)",
                )
            certs.append(cert)
        if public is not None and public.public_numbers() == private.public_key().public_numbers():
            raise ConfigError(
                "WXPAY_PUBLIC_KEY_PATH",
                "is the merchant's own public key: it wants WeChat Pay's public key (pub_key.pem)",
            )
        verifier = VerifierKeys(
            public_key=public, public_key_id=self.public_key_id or None, certificates=certs
        )
        object.__setattr__(self, "platform_cert_paths", tuple(self.platform_cert_paths))
        object.__setattr__(self, "private_key", private)
        object.__setattr__(self, "verifier_keys", verifier)

    def __repr__(self) -> str:
        return masked_repr(self, _SECRETS)

    __str__ = __repr__

    @property
    def apiv3_key_bytes(self) -> bytes:
        """The APIv3 key as the AES-256 key bytes."""
        return self.apiv3_key.encode()

    @property
    def uses_public_key(self) -> bool:
        """True when WeChat Pay's public key is configured (answers are then asked for
        under it, with the request header ``Wechatpay-Serial``)."""
        return self.public_key_id is not None and self.public_key_path is not None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> V3Settings:
        """Build from ``WXPAY_*`` environment variables; ``overrides`` win over them."""
        env = os.environ if environ is None else environ
        kwargs: dict[str, Any] = {}
        for env_name, arg in V3_ENV_NAMES.items():
            raw = env.get(env_name)
            if raw is None:
                continue
            # The APIv3 key is taken as given: a space may be part of it.
            value = raw if arg == "apiv3_key" else raw.strip()
            kwargs[arg] = _parse_env(env_name, arg, value)
        kwargs.update(overrides)
        for required in ("apiv3_key", "private_key_path", "cert_serial"):
            if kwargs.get(required) in (None, ""):
                raise ConfigError(_SETTING[required], "is not set")
        return cls(**kwargs)


def _parse_env(env_name: str, arg: str, raw: str) -> Any:
    if arg == "clock_window":
        try:
            return int(raw)
        except ValueError:
            raise ConfigError(env_name, f"{raw!r} is not a whole number of seconds") from None
    if arg == "platform_cert_paths":
        return tuple(p for p in (s.strip() for s in raw.split(os.pathsep)) if p)
    if raw == "" and arg in ("public_key_path", "public_key_id"):
        return None
    return raw
