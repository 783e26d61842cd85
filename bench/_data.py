"""The typical payment notification every part of the benchmark uses (about 20 fields)."""

from __future__ import annotations

from typing import Final

from wxpay_mw import signing, xmlmsg

__all__ = ["API_KEY", "APPID", "MCH_ID", "notification", "notification_body"]

APPID: Final = "wx5157e57000000001"
MCH_ID: Final = "1900000109"
#: A fixed test key (32 letters and digits, the shape WeChat's API key has); never real.
API_KEY: Final = "b3nchK3yb3nchK3yb3nchK3yb3nchK3y"


def notification(
    out_trade_no: str = "BENCH0000000001",
    total_fee: int = 100,
    *,
    openid: str = "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o",
    key: str = API_KEY,
    appid: str = APPID,
    mch_id: str = MCH_ID,
    serial: int = 0,
) -> dict[str, str]:
    """A signed (MD5) SUCCESS notification as WeChat sends it for a mini-program order."""
    fields = {
        "appid": appid,
        "attach": "bench",
        "bank_type": "CMC",
        "cash_fee": str(total_fee),
        "device_info": "WEB",
        "fee_type": "CNY",
        "is_subscribe": "N",
        "mch_id": mch_id,
        "nonce_str": f"{serial:08d}5d2b6c2a8db53831f7eda20a",
        "openid": openid,
        "out_trade_no": out_trade_no,
        "result_code": "SUCCESS",
        "return_code": "SUCCESS",
        "return_msg": "OK",
        "sign_type": "MD5",
        "time_end": "20240903131540",
        "total_fee": str(total_fee),
        "trade_type": "JSAPI",
        "transaction_id": f"42000{serial:023d}",
    }
    fields["sign"] = signing.sign(fields, key)
    return fields


def notification_body(fields: dict[str, str]) -> bytes:
    """The notification as WeChat's XML bytes."""
    return xmlmsg.to_xml(fields)
