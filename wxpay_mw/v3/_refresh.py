"""When the v3 client downloads platform certificates again.

Certificates last five years and WeChat issues the next one before the old expires, so
a merchant in certificate mode must pick new ones up without a restart: the client
downloads ``/v3/certificates`` when an answer names a serial it does not know (then
refuses if it is still unknown), and every ``interval`` seconds before a call. A failed
periodic download is logged, not raised: the certificates held are still good, and a
payment must not fail because a refresh did.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from ..errors import WxPayError
from .keys import PlatformCertificate, VerifierKeys

__all__ = ["CertificateRefresher"]

_LOG = logging.getLogger("wxpay_mw.v3.client")


class CertificateRefresher:
    """Decides when to call ``fetch`` (which downloads and installs certificates).

    Thread-safe: concurrent callers wait for one download instead of starting several.
    ``interval`` of 0 downloads before every call.
    """

    def __init__(
        self,
        keys: VerifierKeys,
        fetch: Callable[[], list[PlatformCertificate]],
        *,
        interval: float,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if isinstance(interval, bool) or not isinstance(interval, int | float) or interval < 0:
            raise ValueError("certificate_refresh_interval must be a number of seconds >= 0")
        self._keys = keys
        self._fetch = fetch
        self._interval = interval
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._last: float | None = None

    @property
    def in_use(self) -> bool:
        """True when certificates verify answers: no public key, or certificates held
        beside it (a migration). A public-key-only merchant may have none to download."""
        return self._keys.public_key_id is None or bool(self._keys.certificates)

    def before_call(self) -> None:
        """Download when the last download is older than the interval (or never was)."""
        if not self.in_use:
            return
        with self._lock:
            last = self._last
            if last is not None and self._monotonic() - last < self._interval:
                return
            try:
                self._fetch()
            except WxPayError as exc:
                _LOG.warning("platform certificates not refreshed, keeping those held: %s", exc)
            # A failure waits a whole interval too: WeChat is not asked on every call.
            self._last = self._monotonic()

    def for_unknown_serial(self, serial: str) -> bool:
        """Download once for a serial no key is held for; True if it is now known."""
        if not self.in_use:
            return False
        with self._lock:
            if self._keys.key_for(serial) is None:
                self._fetch()
                self._last = self._monotonic()
        return self._keys.key_for(serial) is not None
