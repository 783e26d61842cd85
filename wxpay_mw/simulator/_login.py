"""The login host: wx.login codes and GET /sns/jscode2session.

Codes are single use (40163 when reused) and live five minutes (40029 once expired, and
for any code never issued). Each test user has a stable openid (see
:func:`~wxpay_mw.simulator._state.stable_openid`); the session_key is new on every login.
Like WeChat, the answer is JSON sent as ``text/plain``.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Final

from ._context import Context
from ._state import CODE_TTL, LoginCode, new_code, new_session_key, stable_openid
from ._wire import Answer, Request, json_answer

__all__ = ["DEFAULT_USER", "issue_code", "jscode2session", "login_error"]

#: The test user logged in when no openid or user is named.
DEFAULT_USER: Final = "default"


def login_error(errcode: int, errmsg: str) -> Answer:
    """A jscode2session error as WeChat sends it: HTTP 200, errcode, and an errmsg that
    ends with a request id (``"invalid code, rid: 6571a3c2-1f0e4b2a-3d9c8e7f"``, issue 13,
    item 12; older answers said ``hints: [ req_id: ... ]``, WxJava #458)."""
    rid = "-".join(secrets.token_hex(4) for _ in range(3))
    return json_answer(200, {"errcode": errcode, "errmsg": f"{errmsg}, rid: {rid}"}, "text/plain")


_error = login_error


def issue_code(ctx: Context, *, openid: str | None = None, user: str | None = None) -> str:
    """A fresh wx.login code for ``openid``, or for test user ``user`` (default user)."""
    if openid is not None and (not openid or len(openid) > 128 or not openid.isprintable()):
        raise ValueError("openid: expected 1 to 128 printable characters")
    if openid is None:
        openid = stable_openid(ctx.merchant.appid, user or DEFAULT_USER)
    unionid = None
    if ctx.merchant.issue_unionid:
        digest = hashlib.sha256(f"unionid:{openid}".encode()).hexdigest()
        unionid = "oUn" + digest[:25]
    code = new_code()
    with ctx.state.lock:
        ctx.state.known_openids.add(openid)
        ctx.state.codes[code] = LoginCode(openid, unionid, ctx.state.now())
    return code


def jscode2session(ctx: Context, request: Request) -> Answer:
    """Exchange a code for ``{openid, session_key[, unionid]}`` as WeChat does."""
    query = request.query
    merchant = ctx.merchant
    if query.get("appid") != merchant.appid:
        return _error(40013, "invalid appid")
    secret = query.get("secret", "").encode()
    if not secret or not hmac.compare_digest(secret, merchant.app_secret.encode()):
        return _error(40125, "invalid appsecret")
    if query.get("grant_type") != "authorization_code":
        return _error(40002, "invalid grant_type")
    if not query.get("js_code"):
        return _error(41008, "missing code")
    with ctx.state.lock:
        code = ctx.state.codes.get(query["js_code"])
        if code is None or ctx.state.now() - code.issued > CODE_TTL:
            return _error(40029, "invalid code")
        if code.used:
            return _error(40163, "code been used")
        code.used = True
    answer = {"openid": code.openid, "session_key": new_session_key()}
    if code.unionid:
        answer["unionid"] = code.unionid
    return json_answer(200, answer, "text/plain")
