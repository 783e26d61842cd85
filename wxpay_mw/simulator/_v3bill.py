"""``GET /v3/bill/tradebill``, the bill download, and ``GET /v3/certificates``.

The bill is v2's file (``_bill.py``); v3 answers its application with a
``download_url`` valid five minutes and the SHA-1 of the (uncompressed) file, and
serves the file itself unsigned (wechatpay-v3.md section 9). ``/v3/certificates`` lists
the platform certificates sealed with the APIv3 key (associated data ``certificate``);
a merchant in public-key mode has none, and WeChat answers 404 RESOURCE_NOT_EXISTS.
"""

from __future__ import annotations

import gzip
import hashlib
import secrets
import time
from typing import Any, Final

from cryptography.hazmat.primitives import serialization

from ..signing import MD5
from ..v3.aead import ALGORITHM, encrypt
from ..v3.calls import BILL_TYPES
from ..xmlmsg import from_xml
from ._bill import downloadbill
from ._context import Context
from ._v3wire import V3Call, V3Wechat, error, signed
from ._wire import Answer, Call

__all__ = ["BILL_URL_SECONDS", "DOWNLOAD_PATH", "certificates", "download", "tradebill"]

#: How long a download_url works.
BILL_URL_SECONDS: Final = 300.0
DOWNLOAD_PATH: Final = "/v3/billdownload/file"
# v2's bill failure -> v3's (status, code, message).
_FAILURES: Final = {
    "No Bill Exist": (400, "NO_STATEMENT_EXIST", "要下载的账单文件不存在"),
    "Bill Creating": (400, "STATEMENT_CREATING", "账单生成中，请稍后再试"),
}


def tradebill(ctx: Context, v3: V3Wechat, call: V3Call) -> Answer:
    """Apply for a day's bill: ``{hash_type, hash_value, download_url}``."""
    day = call.query.get("bill_date", "")
    bill_type = call.query.get("bill_type") or "ALL"
    if len(day) != 10 or day[4] != "-" or day[7] != "-":
        return error(v3, call.serial, 400, "PARAM_ERROR", "bill_date参数格式错误，应为YYYY-MM-DD")
    if bill_type not in BILL_TYPES:
        return error(v3, call.serial, 400, "PARAM_ERROR", "bill_type参数错误")
    v2 = {"bill_date": day.replace("-", ""), "bill_type": bill_type}
    made = downloadbill(ctx, Call(v2, ctx.merchant, "", MD5, False))
    if made.content_type.startswith("text/xml"):
        message = from_xml(made.body).get("return_msg", "")
        status, code, text = _FAILURES.get(message, (400, "PARAM_ERROR", "bill_date参数错误"))
        return error(v3, call.serial, status, code, text)
    content = made.body
    if call.query.get("tar_type") == "GZIP":
        content = gzip.compress(content)
    token = secrets.token_urlsafe(24)
    with v3.lock:
        now = time.time()
        # Forget expired links, so a long run does not keep every bill.
        for old in [t for t, (_, until) in v3.bills.items() if until <= now]:
            del v3.bills[old]
        v3.bills[token] = (content, now + BILL_URL_SECONDS)
    answer = {
        "hash_type": "SHA1",
        "hash_value": hashlib.sha1(made.body).hexdigest(),
        "download_url": f"{call.base_url}{DOWNLOAD_PATH}?token={token}",
    }
    return signed(v3, call.serial, 200, answer)


def download(v3: V3Wechat, call: V3Call) -> Answer:
    """The file behind a download_url (signed request, unsigned answer)."""
    token = call.query.get("token", "")
    with v3.lock:
        content, until = v3.bills.get(token, (b"", 0.0))
    if until <= time.time():
        return error(v3, call.serial, 400, "INVALID_REQUEST", "下载链接已过期或无效，请重新申请")
    kind = "application/x-gzip" if content[:2] == b"\x1f\x8b" else "text/plain; charset=utf-8"
    return Answer(200, content, kind)


def certificates(v3: V3Wechat, call: V3Call) -> Answer:
    """The platform certificates, each sealed with the APIv3 key."""
    with v3.lock:
        mode = v3.mode
    if mode == "public_key":
        return error(
            v3,
            call.serial,
            404,
            "RESOURCE_NOT_EXISTS",
            "无可用的平台证书，请在商户平台-API安全申请使用微信支付公钥。",
        )
    data: list[dict[str, Any]] = []
    for item in v3.keys.platform:
        nonce = secrets.token_hex(6)
        pem = item.certificate.public_bytes(serialization.Encoding.PEM)
        data.append(
            {
                "serial_no": item.serial_no,
                "effective_time": item.certificate.not_valid_before_utc.isoformat(),
                "expire_time": item.certificate.not_valid_after_utc.isoformat(),
                "encrypt_certificate": {
                    "algorithm": ALGORITHM,
                    "nonce": nonce,
                    "associated_data": "certificate",
                    "ciphertext": encrypt(v3.keys.apiv3_key, nonce, "certificate", pem),
                },
            }
        )
    return signed(v3, call.serial, 200, {"data": data})
