"""The pooled ``requests.Session`` of the v3 client, with the v2 client's retry rule."""

from __future__ import annotations

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

__all__ = ["pooled_session"]


def pooled_session(pool_maxsize: int, connect_retries: int) -> requests.Session:
    """A session holding up to ``pool_maxsize`` connections per host, which repeats only
    connections that could not be opened, at most ``connect_retries`` times."""
    if isinstance(pool_maxsize, bool) or not isinstance(pool_maxsize, int) or pool_maxsize < 1:
        raise ValueError("pool_maxsize must be a positive int")
    if (
        isinstance(connect_retries, bool)
        or not isinstance(connect_retries, int)
        or connect_retries < 0
    ):
        raise ValueError("connect_retries must be an int >= 0")
    # As in the v2 client: connect errors only (nothing was sent); never a read
    # retry, never a retry on status.
    retry = Retry(
        total=None,
        connect=connect_retries,
        read=False,
        redirect=0,
        status=0,
        other=0,
        backoff_factor=0.1,
        respect_retry_after_header=False,
        raise_on_status=False,
        raise_on_redirect=False,
    )
    adapter = HTTPAdapter(pool_connections=4, pool_maxsize=pool_maxsize, max_retries=retry)
    session = requests.Session()
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session
