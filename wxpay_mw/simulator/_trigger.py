"""``wxpay-mw simulator trigger EVENT``: send one genuine notification to a host's URL.

Like ``stripe trigger``: a host exercises its notify endpoint without a payment sheet.
The message is the one WeChat sends, signed (payments) or encrypted (refunds' req_info)
with the merchant's API key from the ``WXPAY_*`` settings, so the host verifies it as it
would a real one. Prints what was sent and what the host answered; exit status 0 when
the host acknowledged it (HTTP 200 and ``return_code=SUCCESS``), 1 when it did not.
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
import time
from collections.abc import Mapping
from typing import Final, TextIO

import requests

from .. import signing
from ..errors import ConfigError, WxPayError, XMLError
from ..xmlmsg import from_xml, to_xml
from ._merchant import Merchant
from ._state import beijing, new_refund_id, new_transaction_id, stable_openid

__all__ = ["EVENTS", "add_trigger", "trigger"]

#: event -> (kind, what it sends). Refund events carry WeChat's refund_status.
EVENTS: Final[dict[str, str]] = {
    "payment": "a paid order (result_code SUCCESS)",
    "payment.coupon": "a paid order, part of it paid by a coupon (cash_fee < total_fee)",
    "refund": "a refund that succeeded (refund_status SUCCESS)",
    "refund.closed": "a refund that was closed (refund_status REFUNDCLOSE)",
    "refund.change": "a refund that went to another account (refund_status CHANGE)",
}
_REFUND_STATUS: Final = {
    "refund": "SUCCESS",
    "refund.closed": "REFUNDCLOSE",
    "refund.change": "CHANGE",
}


class TriggerError(Exception):
    """Bad input: printed as one line, exit status 2."""


def add_trigger(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add the ``trigger`` subcommand to the simulator's subcommands."""
    lines = "\n".join(f"  {name:15} {what}" for name, what in EVENTS.items())
    parser = commands.add_parser(
        "trigger",
        help="send one genuine, signed notification to your app's notify URL",
        description=(
            "Send the notification WeChat would send for EVENT to your app, signed with the "
            "merchant's API key from WXPAY_APPID, WXPAY_MCH_ID and WXPAY_API_KEY. Prints "
            "what was sent and what your app answered; exits 1 unless it answered SUCCESS."
        ),
        epilog=f"events:\n{lines}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("event", choices=list(EVENTS), metavar="EVENT", help="see below")
    parser.add_argument(
        "--url",
        help="where to POST it (default: $WXPAY_NOTIFY_URL, or $WXPAY_REFUND_NOTIFY_URL "
        "for refund events)",
    )
    parser.add_argument(
        "--out-trade-no",
        help="the order it is about: one your app has pending (default: a new number "
        "your app does not know)",
    )
    parser.add_argument("--total-fee", type=int, default=1, help="the order's amount in fen (1)")
    parser.add_argument(
        "--refund-fee", type=int, help="refund events: the amount refunded (default: all)"
    )
    parser.add_argument("--out-refund-no", help="refund events: the refund's number")
    parser.add_argument("--transaction-id", help="WeChat's order number (default: a new one)")
    parser.add_argument("--openid", help="the payer (default: the simulator's default user)")
    parser.add_argument(
        "--sign-type",
        type=str.upper,
        choices=signing.SIGN_TYPES,
        help="payment events: MD5 or HMAC-SHA256 (default: $WXPAY_SIGN_TYPE or MD5)",
    )
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds to wait (10)")


def _merchant(environ: Mapping[str, str]) -> Merchant:
    from ._cli import merchant_from_env

    merchant, from_env = merchant_from_env(environ)
    if not from_env:
        raise TriggerError(
            "no merchant: export your app's WXPAY_APPID, WXPAY_MCH_ID and WXPAY_API_KEY, "
            "so the notification is signed with the key your app verifies"
        )
    return merchant


def _payment(args: argparse.Namespace, merchant: Merchant, environ: Mapping[str, str]) -> bytes:
    now = time.time()
    fields: dict[str, str | int | None] = {
        "return_code": "SUCCESS",
        "appid": merchant.appid,
        "mch_id": merchant.mch_id,
        "nonce_str": signing.make_nonce(),
        "result_code": "SUCCESS",
        "openid": args.openid or stable_openid(merchant.appid, "default"),
        "is_subscribe": "N",
        "trade_type": "JSAPI",
        "bank_type": "OTHERS",
        "total_fee": args.total_fee,
        "fee_type": "CNY",
        "cash_fee": args.total_fee,
        "transaction_id": args.transaction_id or new_transaction_id(now),
        "out_trade_no": args.out_trade_no,
        "time_end": beijing(now),
    }
    if args.event == "payment.coupon":
        if args.total_fee < 2:
            raise TriggerError("payment.coupon: --total-fee must be at least 2 fen")
        coupon = args.total_fee // 2
        fields.update(
            cash_fee=args.total_fee - coupon,
            coupon_fee=coupon,
            coupon_count=1,
            coupon_fee_0=coupon,
            coupon_id_0="2000000000" + f"{secrets.randbelow(10**10):010d}",
            coupon_type_0="CASH",
        )
    sign_type = args.sign_type or environ.get("WXPAY_SIGN_TYPE", "").upper() or signing.MD5
    if sign_type not in signing.SIGN_TYPES:
        raise TriggerError(f"WXPAY_SIGN_TYPE {sign_type!r}: expected MD5 or HMAC-SHA256")
    # Like WeChat's, signed with the merchant's sign type but without a sign_type field.
    fields["sign"] = signing.sign(fields, merchant.api_key, sign_type)
    return to_xml(fields)


def _refund(args: argparse.Namespace, merchant: Merchant) -> tuple[bytes, dict[str, str | int]]:
    from ..refundcrypto import encrypt_req_info

    now = time.time()
    refund_fee = args.refund_fee if args.refund_fee is not None else args.total_fee
    if not 0 < refund_fee <= args.total_fee:
        raise TriggerError("--refund-fee must be between 1 and --total-fee")
    status = _REFUND_STATUS[args.event]
    secret: dict[str, str | int] = {
        "transaction_id": args.transaction_id or new_transaction_id(now),
        "out_trade_no": args.out_trade_no,
        "refund_id": new_refund_id(now),
        "out_refund_no": args.out_refund_no or "R" + secrets.token_hex(8),
        "total_fee": args.total_fee,
        "settlement_total_fee": args.total_fee,
        "refund_fee": refund_fee,
        "settlement_refund_fee": refund_fee if status == "SUCCESS" else 0,
        "refund_status": status,
        "refund_recv_accout": "支付用户零钱",
        "refund_account": "REFUND_SOURCE_UNSETTLED_FUNDS",
        "refund_request_source": "API",
    }
    if status == "SUCCESS":
        secret["success_time"] = beijing(now, "%Y-%m-%d %H:%M:%S")
    body = to_xml(
        {
            "return_code": "SUCCESS",
            "appid": merchant.appid,
            "mch_id": merchant.mch_id,
            "nonce_str": signing.make_nonce(),
            "req_info": encrypt_req_info(secret, merchant.api_key),
        }
    )
    return body, secret


def trigger(
    args: argparse.Namespace,
    environ: Mapping[str, str] | None = None,
    out: TextIO | None = None,
) -> int:
    """Send the event; the exit status (0: acknowledged, 1: not, 2: bad input)."""
    environ = os.environ if environ is None else environ
    out = out or sys.stdout
    try:
        return _trigger(args, environ, out)
    except (TriggerError, ConfigError, WxPayError) as exc:
        print(f"wxpay-mw simulator trigger: {exc}", file=sys.stderr)
        return 2


def _trigger(args: argparse.Namespace, environ: Mapping[str, str], out: TextIO) -> int:
    merchant = _merchant(environ)
    refund = args.event.startswith("refund")
    setting = "WXPAY_REFUND_NOTIFY_URL" if refund else "WXPAY_NOTIFY_URL"
    url = args.url or environ.get(setting)
    if not url:
        raise TriggerError(f"no URL: pass --url or set {setting}")
    if args.total_fee < 1:
        raise TriggerError("--total-fee must be a positive number of fen")
    if not args.out_trade_no:
        args.out_trade_no = "TRIGGER" + secrets.token_hex(8)
        print(
            f"note: order {args.out_trade_no} is new to your app; pass --out-trade-no "
            "(and its --total-fee) of a pending order to see it change",
            file=out,
        )
    if refund:
        body, secret = _refund(args, merchant)
    else:
        body = _payment(args, merchant, environ)
    print(f"POST {url}", file=out)
    print(body.decode(), file=out)
    if refund:
        shown = " ".join(f"{k}={v}" for k, v in secret.items())
        print(f"req_info (encrypted with the API key) carries: {shown}", file=out)
    try:
        response = requests.post(
            url,
            data=body,
            headers={"Content-Type": "text/xml; charset=utf-8"},
            timeout=args.timeout,
            allow_redirects=False,
        )
    except requests.RequestException as exc:
        print(f"your app did not answer: {type(exc).__name__}: {exc}", file=out)
        return 1
    print(f"your app answered HTTP {response.status_code}:", file=out)
    print(response.text[:2000], file=out)
    try:
        acknowledged = from_xml(response.content).get("return_code") == "SUCCESS"
    except XMLError:
        acknowledged = False
    acknowledged = acknowledged and response.status_code == 200
    if acknowledged:
        print("acknowledged: WeChat would stop sending it", file=out)
        return 0
    print(
        "NOT acknowledged: WeChat would send it again (15 s, 15 s, 30 s, 3 min... up to "
        "16 times); an app acknowledges with HTTP 200 and <return_code>SUCCESS</return_code>",
        file=out,
    )
    return 1
