"""Flow tests: WxPay.handle in-process, its WeChat client talking to a real simulator.

Notifications go to a closed port (the plugin's default notify_url), so nothing is
acknowledged by itself: a test takes the body from the simulator's delivery log and
hands it to WxPay, as WeChat would.
"""

from __future__ import annotations

import json
from typing import Any

from wxpay_mw import WxPay
from wxpay_mw.sansio import Request, Response
from wxpay_mw.simulator import Simulator

PEER = "203.0.113.7"


def call(
    wxpay: WxPay,
    method: str,
    path: str,
    body: bytes = b"",
    headers: dict[str, str] | None = None,
    client_ip: str = PEER,
) -> Response:
    """One request through the sans-IO core."""
    return wxpay.handle(Request(method, path, headers or {}, body, client_ip))


def post_json(wxpay: WxPay, payload: Any, **kwargs: Any) -> Response:
    """POST {prefix}/prepay with a JSON body."""
    body = json.dumps(payload).encode()
    return call(wxpay, "POST", "/prepay", body, {"content-type": "application/json"}, **kwargs)


def answer(response: Response) -> dict[str, Any]:
    """The JSON body."""
    data: dict[str, Any] = json.loads(response.body)
    return data


def pay_params(data: dict[str, Any]) -> dict[str, str]:
    """The five wx.requestPayment parameters from a prepay answer."""
    return {k: v for k, v in data.items() if k not in ("out_trade_no", "status_token")}


def status(wxpay: WxPay, out_trade_no: str, token: str | None = None) -> Response:
    """GET {prefix}/orders/{no} with the order's status token (or ``token``)."""
    token = wxpay.status_token(out_trade_no) if token is None else token
    return call(wxpay, "GET", f"/orders/{out_trade_no}", headers={"x-wxpay-token": token})


def paid_order(wxpay: WxPay, sim: Simulator, **payload: Any) -> tuple[str, bytes]:
    """Prepay, pay at the simulator; (out_trade_no, the notification body WeChat sent)."""
    response = post_json(wxpay, {"code": sim.login(), "sku": "apple", **payload})
    assert response.status == 200, response.body
    data = answer(response)
    sim.pay(pay_params(data))
    log = sim.wait_for_notifications(
        lambda log: any(n["out_trade_no"] == data["out_trade_no"] for n in log)
    )
    body = next(n["body"] for n in log if n["out_trade_no"] == data["out_trade_no"])
    return data["out_trade_no"], body.encode()
