"""WeChat's calls without I/O: the request to send, and what its answer means.

Both clients (``client.WeChatClient`` over requests, ``aclient.AsyncWeChatClient`` over
aiohttp) run every call as *build -> send -> judge*. Building (argument checks, signing,
URLs) and judging (status, body, return_code, sign, appid / mch_id, err_code) are
written once, here for login and the sandbox key and in ``_paycalls`` for the Pay API;
a client only sends an :class:`HttpRequest` and hands back the status and body.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final, Literal

from . import signing
from ._answers import LOGIN_CLASSES, check_result, check_return, summary
from ._checks import text
from ._transport import bad_status, garbled
from .config import WxPayConfig
from .errors import (
    ConfigError,
    ResponseMismatchError,
    ResponseSignatureError,
    WeChatError,
    XMLError,
)
from .xmlmsg import from_xml, to_xml

__all__ = [
    "LOGIN_PATH",
    "HttpRequest",
    "LoginSession",
    "Param",
    "client_options",
    "describe",
    "judge_login",
    "judge_signkey",
    "login",
    "parse",
    "signkey",
    "xml_post",
]

# Both clients log under this name, so a host's logging setup sees one client either way.
_LOG = logging.getLogger("wxpay_mw.client")

LOGIN_PATH: Final = "/sns/jscode2session"
_GETSIGNKEY: Final = "/sandboxnew/pay/getsignkey"
_XML_HEADERS: Final = {"Content-Type": "text/xml; charset=utf-8"}

Param = str | int | None


@dataclass(frozen=True)
class LoginSession:
    """What jscode2session returns for a wx.login code.

    ``session_key`` decrypts the user's wx data; it must stay on the server, so it is
    left out of ``repr``. ``unionid`` is set only when the mini program is bound to an
    Open Platform account.
    """

    openid: str
    session_key: str = field(repr=False)
    unionid: str | None = None


@dataclass(frozen=True)
class HttpRequest:
    """One HTTP request, ready to send as it is.

    ``secret`` is True when the URL (``query``) holds the app secret: the sending
    library's exception, whose text names the URL, must then never be chained to ours.
    """

    endpoint: str
    method: Literal["GET", "POST"]
    url: str
    body: bytes = b""
    query: Mapping[str, str] | None = field(default=None, repr=False)
    headers: Mapping[str, str] = field(default_factory=dict)
    cert: tuple[str, str] | None = None
    secret: bool = False
    note: str = ""

    def log_sent(self) -> None:
        _LOG.debug("-> %s %s %s", self.method, self.endpoint, self.note)

    def log_received(self, status: int, content: bytes) -> None:
        _LOG.debug("<- %s HTTP %s, %d bytes", self.endpoint, status, len(content))


def client_options(
    pool_size: object, connect_retries: object, *, pool_name: str = "pool_maxsize"
) -> None:
    """Refuse pool and retry options no client can work with."""
    if isinstance(pool_size, bool) or not isinstance(pool_size, int) or pool_size < 1:
        raise ValueError(f"{pool_name} must be a positive int")
    if (
        isinstance(connect_retries, bool)
        or not isinstance(connect_retries, int)
        or connect_retries < 0
    ):
        raise ValueError("connect_retries must be an int >= 0")


def describe(client: object, config: WxPayConfig) -> str:
    """A client's repr: ids and settings, never a key."""
    c = config
    return (
        f"{type(client).__name__}(appid={c.appid!r}, mch_id={c.mch_id!r}, "
        f"api_base={c.api_base!r}, sign_type={c.sign_type!r}, sandbox={c.sandbox!r})"
    )


def xml_post(
    endpoint: str, url: str, params: Mapping[str, Param], cert: tuple[str, str] | None = None
) -> HttpRequest:
    """A POST of ``params`` (already signed) as WeChat's XML."""
    return HttpRequest(
        endpoint,
        "POST",
        url,
        body=to_xml(params),
        headers=_XML_HEADERS,
        cert=cert,
        note=summary(params),
    )


def parse(endpoint: str, status: int, content: bytes) -> dict[str, str]:
    """The fields of an XML answer; a non-200 status or broken XML is unavailable."""
    if status != 200:
        raise bad_status(status, endpoint)
    try:
        fields = from_xml(content)
    except XMLError as exc:
        raise garbled(endpoint, str(exc)) from None
    _LOG.debug("<- %s %s", endpoint, summary(fields))
    return fields


# --- the sandbox key -----------------------------------------------------------------


def signkey(config: WxPayConfig) -> HttpRequest:
    """``/sandboxnew/pay/getsignkey``, signed with the production API key (MD5)."""
    params: dict[str, Param] = {"mch_id": config.mch_id, "nonce_str": signing.make_nonce()}
    params["sign"] = signing.sign(params, config.api_key, signing.MD5)
    return xml_post(_GETSIGNKEY, config.api_base + _GETSIGNKEY, params)


def judge_signkey(config: WxPayConfig, status: int, content: bytes) -> str:
    """The sandbox key from getsignkey's answer."""
    fields = parse(_GETSIGNKEY, status, content)
    check_return(_GETSIGNKEY, fields)
    # WeChat's documented answer carries no sign; one that does must be right.
    if "sign" in fields and not signing.verify(fields, config.api_key, signing.MD5):
        raise ResponseSignatureError(_GETSIGNKEY)
    if fields.get("mch_id", config.mch_id) != config.mch_id:
        raise ResponseMismatchError("mch_id", endpoint=_GETSIGNKEY)
    check_result(_GETSIGNKEY, fields)
    key = fields.get("sandbox_signkey", "")
    if not key:
        raise garbled(_GETSIGNKEY, "no sandbox_signkey in a SUCCESS answer")
    _LOG.debug("%s: sandbox key received", _GETSIGNKEY)
    return key


# --- login ---------------------------------------------------------------------------


def login(config: WxPayConfig, code: str) -> HttpRequest:
    """jscode2session for ``code``; its query string holds the app secret."""
    secret = config.app_secret
    if not secret:
        raise ConfigError(
            "WXPAY_APP_SECRET",
            "is needed to turn wx.login codes into openids: set the mini program's AppSecret",
        )
    query = {
        "appid": config.appid,
        "secret": secret,
        "js_code": text("code", code),
        "grant_type": "authorization_code",
    }
    return HttpRequest(
        LOGIN_PATH,
        "GET",
        config.login_base + LOGIN_PATH,
        query=query,
        secret=True,
        note=f"appid={config.appid}",
    )


def judge_login(status: int, content: bytes) -> LoginSession:
    """The LoginSession in jscode2session's JSON answer, or its errcode's exception."""
    endpoint = LOGIN_PATH
    if status != 200:
        raise bad_status(status, endpoint)
    try:
        data = json.loads(content)
    except ValueError:
        # WeChat sends JSON as text/plain; only the body decides.
        raise garbled(endpoint, "the body is not JSON") from None
    if not isinstance(data, dict):
        raise garbled(endpoint, "the body is not a JSON object")
    errcode = data.get("errcode", 0)
    if errcode not in (0, "0", None):
        code_text = str(errcode)
        errmsg = str(data.get("errmsg", ""))
        _LOG.debug("<- %s errcode=%s", endpoint, code_text)
        cls = LOGIN_CLASSES.get(code_text, WeChatError)
        raise cls(
            code_text,
            errmsg,
            endpoint=endpoint,
            fields={"errcode": code_text, "errmsg": errmsg},
        )
    openid, session_key = data.get("openid"), data.get("session_key")
    if not isinstance(openid, str) or not openid:
        raise garbled(endpoint, "no openid in the answer")
    if not isinstance(session_key, str) or not session_key:
        raise garbled(endpoint, "no session_key in the answer")
    unionid = data.get("unionid")
    return LoginSession(
        openid=openid,
        session_key=session_key,
        unionid=unionid if isinstance(unionid, str) and unionid else None,
    )
