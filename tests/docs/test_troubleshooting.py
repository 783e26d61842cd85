"""Every message the README's troubleshooting table quotes is one the code really produces.

Each message is produced here by the real code path (the simulator over HTTP, the client,
the config, the parser, the flow), and every quoted span of the table that reads like a
message (it has a space in it) must be found among them, so the table cannot drift.
"""

from __future__ import annotations

import logging
import re

import pytest

from tests.docs.snippets import section
from tests.support import MemoryStore, payment_notification
from wxpay_mw import Order, WeChatClient, WxPay, WxPayConfig, signing, xmlmsg
from wxpay_mw.errors import WxPayError
from wxpay_mw.flow import client_error
from wxpay_mw.simulator import Simulator

TABLE = section("README.md", "## Troubleshooting", "To see the exact string")
# A span with a space is a message; a call such as `Order(total_fee=...)` is code.
QUOTED = sorted(
    span
    for span in set(re.findall(r"`([^`]+)`", TABLE.split("|---|---|", 1)[1]))
    if " " in span and not re.fullmatch(r"[\w.]+\(.*\)", span)
)


def raised(call: object) -> str:
    with pytest.raises((WxPayError, ValueError)) as info:
        call()  # type: ignore[operator]
    return str(info.value)


def place(client: WeChatClient, sim: Simulator, out_trade_no: str) -> dict[str, str]:
    """unifiedorder for a real user of the simulator's mini program."""
    openid = client.code2session(sim.login()).openid
    return client.unified_order(
        out_trade_no=out_trade_no,
        total_fee=1,
        body="shop-tea",
        openid=openid,
        spbill_create_ip="1.2.3.4",
    )


def produced(sim: Simulator, config: WxPayConfig, caplog: pytest.LogCaptureFixture) -> list[str]:
    """The texts the code produces for each pitfall in the table."""
    texts: list[str] = []
    with WeChatClient(config) as client:
        prepay_id = place(client, sim, "TS1")["prepay_id"]
        key = config.api_key
        params = signing.request_payment_params(appid=config.appid, key=key, prepay_id=prepay_id)
        hand_made = {**params, "timestamp": params["timeStamp"]}
        del hand_made["timeStamp"]
        texts.append(sim.pay(hand_made, check=False)["errMsg"])
        by_hand = {k: v for k, v in params.items() if k != "paySign"}
        wrong_case = {"appid": config.appid, **by_hand}
        by_hand["paySign"] = signing.sign(wrong_case, config.api_key, "MD5")
        texts.append(sim.pay(by_hand, check=False)["errMsg"])
        texts.append(sim.pay({**params, "package": prepay_id}, check=False)["errMsg"])
        texts.append(
            raised(
                lambda: signing.request_payment_params(
                    appid=config.appid, key=config.api_key, prepay_id=f"prepay_id={prepay_id}"
                )
            )
        )
        texts.append(raised(lambda: client.code2session("never-issued")))
        with WeChatClient(config.with_changes(api_key="0" * 32)) as wrong_key:
            # The login goes through the right client; only the order is signed wrongly.
            openid = client.code2session(sim.login()).openid
            texts.append(
                raised(
                    lambda: wrong_key.unified_order(
                        out_trade_no="TS2",
                        total_fee=1,
                        body="shop-tea",
                        openid=openid,
                        spbill_create_ip="1.2.3.4",
                    )
                )
            )
    fee: object = 9.8 * 100
    texts.append(raised(lambda: Order(out_trade_no="TS3", total_fee=fee, body="x")))  # type: ignore[arg-type]
    texts.append(raised(lambda: config.with_changes(api_key="the-app-secret")))
    texts.append(raised(lambda: config.with_changes(sign_type="SHA256")))
    texts.append(raised(lambda: config.with_changes(notify_url="https://shop.example/n?x=1")))
    gbk = "<xml><attach>测试</attach></xml>".encode("gbk")
    texts.append(raised(lambda: xmlmsg.from_xml(gbk)))
    declared = b'<?xml version="1.0" encoding="GBK"?><xml><attach>t</attach></xml>'
    texts.append(raised(lambda: xmlmsg.from_xml(declared)))
    from wxpay_mw.errors import WeChatUnavailableError

    texts.append(client_error(WeChatUnavailableError("down"))[1]["message"])
    # A notification signed with another type than its order's.
    store = MemoryStore()
    store.put(Order(out_trade_no="TS4", total_fee=1, body="x", sign_type="MD5"))
    body = payment_notification(
        appid=config.appid,
        mch_id=config.mch_id,
        key=config.api_key,
        out_trade_no="TS4",
        total_fee=1,
        sign_type="HMAC-SHA256",
        declare_sign_type=True,
    )
    caplog.set_level(logging.WARNING, logger="wxpay_mw.flow")
    with WxPay(config, store) as wxpay:
        texts.append(wxpay.notify(body).decode())
    texts += [r.getMessage() for r in caplog.records]
    return texts


def test_the_table_quotes_messages() -> None:
    assert len(QUOTED) >= 15


def test_every_quoted_message_is_produced(
    wxpay_simulator: Simulator, wxpay_config: WxPayConfig, caplog: pytest.LogCaptureFixture
) -> None:
    texts = "\n".join(produced(wxpay_simulator, wxpay_config, caplog))
    missing = [quote for quote in QUOTED if quote not in texts]
    assert not missing, f"quoted in the README, produced by nothing:\n{missing}\n\n{texts}"
