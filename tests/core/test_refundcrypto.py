"""req_info: the vectors from wechatpy's tests and our own, and forgeries refused."""

from __future__ import annotations

import pytest

from wxpay_mw.errors import SignatureError
from wxpay_mw.refundcrypto import decrypt_req_info, encrypt_req_info

# Constructed vector from wechatpay-v2.md section 10, round-tripped with openssl there.
KEY = "192006250b4c09247ec02edce69f6a2d"
REQ_INFO = (
    "WBzGpzQuNpcFxIlFjUUD9O1INQe1sr+wMG6wUR3vMtLc2oYUq/rZkvAzKWesMRgtDXXTmvwp6zzYLUD7V6zTHJ/VAbo"
    "SB9P5YlRpsR9C7OjtHmdKaOfdNRsENuLsrufm6NTNo8J68Rlma1meV/He63zclJ9PUmK8v5LA1IWB/CqwPzkUPquYEP"
    "55QX+YNFu32Y4/ZiZXz/w8Z0apdn6a0Ra1fj+Eorgndx3fNxf3KAYa3LPgsjvZgxaeYyrhV05Ki0uJgmjUl7S6uezaO"
    "ezhVRMNRJgLjnYd0+qvUwEgKGsnkRtd/G0RSPRrV6QZDDLESQ0zU3hlCkgrJ3W05mxTEQ=="
)
PLAIN = {
    "out_refund_no": "R001",
    "out_trade_no": "20150806125346",
    "refund_fee": "88",
    "refund_status": "SUCCESS",
    "total_fee": "88",
}


def test_decrypts_the_documented_vector() -> None:
    assert decrypt_req_info(REQ_INFO, KEY) == PLAIN


def test_encrypt_reproduces_the_documented_vector() -> None:
    assert encrypt_req_info(PLAIN, KEY) == REQ_INFO


@pytest.mark.parametrize(
    ("req_info", "key"),
    [
        (REQ_INFO, "0" * 32),
        ("not base64!", KEY),
        ("", KEY),
        ("QUJD", KEY),
        (REQ_INFO[:-24] + "==", KEY),
    ],
    ids=["other-key", "not-base64", "empty", "not-whole-blocks", "truncated"],
)
def test_forged_or_foreign_req_info_is_refused(req_info: str, key: str) -> None:
    with pytest.raises(SignatureError):
        decrypt_req_info(req_info, key)
