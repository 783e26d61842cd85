"""WeChatPayV3Client against a scripted v3 server over real HTTP."""

from __future__ import annotations

import gzip
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from wxpay_mw.config import WxPayConfig
from wxpay_mw.errors import (
    OrderClosedError,
    ResponseMismatchError,
    WeChatError,
    WeChatUnavailableError,
)
from wxpay_mw.v3 import aead
from wxpay_mw.v3.client import WeChatPayV3Client
from wxpay_mw.v3.errors import BillDigestError, V3ResponseSignatureError
from wxpay_mw.v3.settings import V3Settings

from ._fake_v3 import CERT_SERIAL, MERCHANT_SERIAL, PUB_ID, FakeV3, Reply, serve
from ._vectors import DOC

APPID, MCHID = "wxd678efh567hg6787", "1230000109"
APIV3 = "a7cde1ZJB1kG2e7VfTs3jQzaWizur8Gb"
OTHER_CERT = "D7CE59D1F522D701"


@pytest.fixture
def fake() -> Iterator[FakeV3]:
    with serve() as server:
        yield server


def make_settings(
    tmp_path: Path, *, public_key: bool = True, certs: tuple[str, ...] = ()
) -> V3Settings:
    merchant = tmp_path / "apiclient_key.pem"
    merchant.write_text(DOC["keys"]["java_merchant_key"]["private_key_pem"])
    kwargs: dict[str, str] = {}
    if public_key:
        pub = tmp_path / "pub_key.pem"
        pub.write_text(DOC["keys"]["go_test_key"]["public_key_pem"])
        kwargs = {"public_key_path": str(pub), "public_key_id": PUB_ID}
    return V3Settings(
        apiv3_key=APIV3,
        private_key_path=str(merchant),
        cert_serial=MERCHANT_SERIAL,
        platform_cert_paths=certs,
        **kwargs,
    )


def make_client(fake: FakeV3, tmp_path: Path, **kw: object) -> WeChatPayV3Client:
    config = WxPayConfig(
        appid=APPID,
        mch_id=MCHID,
        api_key="k" * 32,
        notify_url="https://shop.example/wxpay/notify",
        refund_notify_url="https://shop.example/wxpay/refund-notify",
        api_base=fake.base_url,
        read_timeout=float(kw.pop("read_timeout", 5.0)),  # type: ignore[arg-type]
    )
    interval = float(kw.pop("certificate_refresh_interval", 3600.0))  # type: ignore[arg-type]
    settings = make_settings(tmp_path, **kw)  # type: ignore[arg-type]
    return WeChatPayV3Client(config, settings, certificate_refresh_interval=interval)


def js(data: object) -> bytes:
    return json.dumps(data, ensure_ascii=False).encode()


def test_an_order_is_signed_as_sent_and_its_verified_answer_read(
    fake: FakeV3, tmp_path: Path
) -> None:
    fake.on("POST /v3/pay/transactions/jsapi", Reply(body=js({"prepay_id": "wx2014"})))
    with make_client(fake, tmp_path) as client:
        assert (
            client.jsapi_order(
                out_trade_no="o|1", total=100, description="店-糕点", openid="u1", attach="a"
            )
            == "wx2014"
        )
        params = client.request_payment("wx2014")
    [got] = fake.received
    assert got.auth_ok, "the server could not verify our Authorization"
    assert got.auth["mchid"] == MCHID
    assert got.headers["Wechatpay-Serial"] == PUB_ID
    assert got.headers["Accept"] == "application/json"
    assert got.headers["User-Agent"]
    body = json.loads(got.body)
    assert body["notify_url"] == "https://shop.example/wxpay/notify"
    assert body["amount"] == {"total": 100, "currency": "CNY"}
    assert (params["package"], params["signType"]) == ("prepay_id=wx2014", "RSA")


def test_query_close_refund_and_refund_query(fake: FakeV3, tmp_path: Path) -> None:
    tx = {"appid": APPID, "mchid": MCHID, "out_trade_no": "o|1", "trade_state": "NOTPAY"}
    fake.on("GET /v3/pay/transactions/out-trade-no/o%7C1", Reply(body=js(tx)))
    fake.on("POST /v3/pay/transactions/out-trade-no/o%7C1/close", Reply(204))
    fake.on("POST /v3/refund/domestic/refunds", Reply(body=js({"status": "PROCESSING"})))
    fake.on("GET /v3/refund/domestic/refunds/R1", Reply(body=js({"status": "SUCCESS"})))
    with make_client(fake, tmp_path) as client:
        assert client.query_order(out_trade_no="o|1") == tx
        assert client.close_order("o|1") is None
        assert client.refund(out_refund_no="R1", refund=1, total=2, out_trade_no="o|1") == {
            "status": "PROCESSING"
        }
        assert client.refund_query("R1") == {"status": "SUCCESS"}
    assert all(r.auth_ok for r in fake.received)
    assert fake.received[0].path == "/v3/pay/transactions/out-trade-no/o%7C1?mchid=1230000109"
    assert json.loads(fake.received[1].body) == {"mchid": MCHID}
    refund = json.loads(fake.received[2].body)
    assert refund["notify_url"] == "https://shop.example/wxpay/refund-notify"


@pytest.mark.parametrize(
    ("reply", "layer"),
    [
        (Reply(body=b'{"prepay_id":"x"}', bad_signature=True), "signature"),
        (Reply(body=b'{"prepay_id":"x"}', serial=None), "signature"),
        (Reply(body=b'{"prepay_id":"x"}', timestamp=1_000_000_000), "timestamp"),
        (Reply(body=b'{"prepay_id":"x"}', serial="PUB_KEY_ID_999"), "serial"),
    ],
    ids=["bad-signature", "unsigned", "stale", "unknown-public-key-id"],
)
def test_an_answer_that_fails_verification_is_not_trusted(
    fake: FakeV3, tmp_path: Path, reply: Reply, layer: str
) -> None:
    fake.on("POST /v3/pay/transactions/jsapi", reply)
    with make_client(fake, tmp_path) as client, pytest.raises(V3ResponseSignatureError) as caught:
        client.jsapi_order(out_trade_no="o1", total=1, description="d", openid="u")
    assert caught.value.layer == layer
    assert caught.value.may_have_acted
    assert "not trusted" in str(caught.value)
    # A public-key-only merchant never downloads certificates for an unknown serial.
    assert [r.path for r in fake.received] == ["/v3/pay/transactions/jsapi"]


def test_wechat_errors_are_the_typed_errors(fake: FakeV3, tmp_path: Path) -> None:
    fake.on(
        "POST /v3/pay/transactions/jsapi",
        Reply(400, js({"code": "ORDER_CLOSED", "message": "订单已关闭"}), serial=None),
    )
    fake.on("GET /v3/refund/domestic/refunds/R1", Reply(502, b"<html>", serial=None))
    with make_client(fake, tmp_path) as client:
        with pytest.raises(OrderClosedError) as caught:
            client.jsapi_order(out_trade_no="o1", total=1, description="d", openid="u")
        assert caught.value.fields["request_id"] == "RID-42"
        with pytest.raises(WeChatUnavailableError, match="HTTP 502") as unavailable:
            client.refund_query("R1")
        assert unavailable.value.may_have_acted


def test_a_query_answer_about_another_merchant_is_refused(fake: FakeV3, tmp_path: Path) -> None:
    fake.on(
        "GET /v3/pay/transactions/id/42",
        Reply(body=js({"appid": APPID, "mchid": "999", "trade_state": "SUCCESS"})),
    )
    with make_client(fake, tmp_path) as client, pytest.raises(ResponseMismatchError, match="mchid"):
        client.query_order(transaction_id="42")


PEMS = {c["serial_no"]: c["pem"] for k in DOC["keys"].values() for c in k.get("certificates", [])}
EXPIRED = "5F1C72E2A8931B72A2E13AF8DEE92471EB397115"  # the Java SDK's test certificate


def certificates_body(*serials: str) -> bytes:
    """A /v3/certificates answer listing ``serials`` (default: CERT_SERIAL)."""
    data = []
    for serial in serials or (CERT_SERIAL,):
        sealed = aead.encrypt(APIV3, "c3rtn0nce123", "certificate", PEMS[serial].encode())
        seal = {
            "algorithm": "AEAD_AES_256_GCM",
            "nonce": "c3rtn0nce123",
            "associated_data": "certificate",
            "ciphertext": sealed,
        }
        data.append({"serial_no": serial, "encrypt_certificate": seal})
    return js({"data": data})


def test_certificate_mode_downloads_certificates_first_and_for_a_new_serial(
    fake: FakeV3, tmp_path: Path
) -> None:
    served = iter([CERT_SERIAL, OTHER_CERT])
    fake.on(
        "GET /v3/certificates",
        lambda got: Reply(body=certificates_body(serial := next(served)), serial=serial),
    )
    answer_serial = {"now": CERT_SERIAL}
    fake.on(
        "POST /v3/pay/transactions/jsapi",
        lambda got: Reply(body=b'{"prepay_id":"p"}', serial=answer_serial["now"]),
    )
    with make_client(fake, tmp_path, public_key=False) as client:
        assert client.keys.serials == ()
        assert client.jsapi_order(out_trade_no="o1", total=1, description="d", openid="u") == "p"
        assert client.keys.serials == (CERT_SERIAL,)
        # WeChat switches to a certificate we have not seen: downloaded once, then trusted.
        answer_serial["now"] = OTHER_CERT
        assert client.jsapi_order(out_trade_no="o1", total=1, description="d", openid="u") == "p"
        assert set(client.keys.serials) == {CERT_SERIAL, OTHER_CERT}
    paths = [r.path for r in fake.received]
    assert paths == [
        "/v3/certificates",
        "/v3/pay/transactions/jsapi",
        "/v3/pay/transactions/jsapi",
        "/v3/certificates",
    ]
    assert "Wechatpay-Serial" not in fake.received[1].headers


def test_expired_certificates_in_a_download_are_not_trusted(fake: FakeV3, tmp_path: Path) -> None:
    body = certificates_body(EXPIRED, CERT_SERIAL)
    fake.on("GET /v3/certificates", Reply(body=body, serial=CERT_SERIAL))
    with make_client(fake, tmp_path, public_key=False) as client:
        assert [c.serial_no for c in client.refresh_certificates()] == [CERT_SERIAL]
        assert client.keys.serials == (CERT_SERIAL,)


def test_certificates_are_downloaded_again_after_the_interval(fake: FakeV3, tmp_path: Path) -> None:
    fake.on("GET /v3/certificates", Reply(body=certificates_body(), serial=CERT_SERIAL))
    fake.on("GET /v3/refund/domestic/refunds/R1", Reply(body=b"{}", serial=CERT_SERIAL))
    with make_client(fake, tmp_path, public_key=False, certificate_refresh_interval=0) as client:
        client.refund_query("R1")
        client.refund_query("R1")
    assert [r.path.rsplit("/", 1)[-1] for r in fake.received] == ["certificates", "R1"] * 2


def test_a_failed_periodic_download_keeps_the_certificates_held(
    fake: FakeV3, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    fake.on("GET /v3/certificates", Reply(503, b"busy", serial=None))
    fake.on("GET /v3/refund/domestic/refunds/R1", Reply(body=b'{"a":1}', serial=CERT_SERIAL))
    pem = tmp_path / "wechatpay.pem"
    pem.write_text(
        next(
            c["pem"]
            for c in DOC["keys"]["go_test_key"]["certificates"]
            if c["serial_no"] == CERT_SERIAL
        )
    )
    client = make_client(fake, tmp_path, public_key=False, certs=(str(pem),))
    with client, caplog.at_level("WARNING", logger="wxpay_mw.v3.client"):
        assert client.refund_query("R1") == {"a": 1}
        assert client.refund_query("R1") == {"a": 1}
    assert "not refreshed" in caplog.text and "HTTP 503" in caplog.text
    # Refreshed once, not before every call.
    assert [r.path.rsplit("/", 1)[-1] for r in fake.received] == ["certificates", "R1", "R1"]


def test_an_unknown_serial_that_stays_unknown_is_refused(fake: FakeV3, tmp_path: Path) -> None:
    fake.on("GET /v3/certificates", Reply(body=certificates_body(), serial=CERT_SERIAL))
    fake.on("GET /v3/refund/domestic/refunds/R1", Reply(body=b"{}", serial="0123456789ABCDEF"))
    client = make_client(fake, tmp_path, public_key=False)
    with client, pytest.raises(V3ResponseSignatureError) as caught:
        client.refund_query("R1")
    assert caught.value.layer == "serial"
    assert [r.path.rsplit("/", 1)[-1] for r in fake.received] == [
        "certificates",
        "R1",
        "certificates",
    ]


def test_downloaded_certificates_must_sign_their_own_answer(fake: FakeV3, tmp_path: Path) -> None:
    fake.on(
        "GET /v3/certificates",
        Reply(body=certificates_body(), serial=CERT_SERIAL, bad_signature=True),
    )
    with make_client(fake, tmp_path, public_key=False) as client:
        with pytest.raises(V3ResponseSignatureError):
            client.refresh_certificates()
        assert client.keys.serials == ()


def test_certificates_sealed_with_another_key_are_refused(fake: FakeV3, tmp_path: Path) -> None:
    body = certificates_body().replace(b'"certificate"', b'"certificat3"')
    fake.on("GET /v3/certificates", Reply(body=body, serial=CERT_SERIAL))
    with make_client(fake, tmp_path, public_key=False) as client:
        with pytest.raises(V3ResponseSignatureError, match="authentication failed") as caught:
            client.refresh_certificates()
        assert caught.value.layer == "decrypt"


def test_a_merchant_without_certificates_gets_wechats_hint(fake: FakeV3, tmp_path: Path) -> None:
    fake.on(
        "GET /v3/certificates",
        Reply(404, js({"code": "RESOURCE_NOT_EXISTS", "message": "无可用的平台证书"}), serial=None),
    )
    client = make_client(fake, tmp_path, public_key=False)
    with client, pytest.raises(WeChatError, match="WXPAY_PUBLIC_KEY_ID"):
        client.refresh_certificates()


BILL = "交易时间,公众账号ID\n`2024-05-01 10:00:00,`wx1\n".encode()


@pytest.mark.parametrize(("gzipped", "digest_ok"), [(False, True), (True, True), (False, False)])
def test_the_bill_is_downloaded_and_its_sha1_checked(
    fake: FakeV3, tmp_path: Path, gzipped: bool, digest_ok: bool
) -> None:
    digest = hashlib.sha1(BILL if digest_ok else b"other").hexdigest()
    fake.on(
        "GET /v3/bill/tradebill",
        lambda got: Reply(
            body=js(
                {
                    "hash_type": "SHA1",
                    "hash_value": digest,
                    "download_url": f"{fake.base_url}/v3/billdownload/file?token=t0k",
                }
            )
        ),
    )
    payload = gzip.compress(BILL) if gzipped else BILL
    fake.on(
        "GET /v3/billdownload/file", Reply(body=payload, serial=None, content_type="text/plain")
    )
    with make_client(fake, tmp_path) as client:
        if digest_ok:
            assert client.download_bill("2024-05-01") == BILL
        else:
            with pytest.raises(BillDigestError):
                client.download_bill("2024-05-01")
    assert [r.path for r in fake.received] == [
        "/v3/bill/tradebill?bill_date=2024-05-01&bill_type=ALL",
        "/v3/billdownload/file?token=t0k",
    ]
    assert all(r.auth_ok for r in fake.received)


def test_an_answer_that_never_comes_may_have_acted(fake: FakeV3, tmp_path: Path) -> None:
    fake.on("POST /v3/refund/domestic/refunds", Reply(hold=True))
    client = make_client(fake, tmp_path, read_timeout=0.3)
    with client, pytest.raises(WeChatUnavailableError) as caught:
        client.refund(out_refund_no="R1", refund=1, total=1, transaction_id="42")
    assert caught.value.may_have_acted


def test_a_closed_port_sent_nothing(tmp_path: Path) -> None:
    with serve() as gone:
        base = gone.base_url
    fake = FakeV3(base_url=base)
    with make_client(fake, tmp_path) as client, pytest.raises(WeChatUnavailableError) as caught:
        client.refund_query("R1")
    assert not caught.value.may_have_acted


def test_notifications_through_the_client_and_repr(fake: FakeV3, tmp_path: Path) -> None:
    vector = next(v for v in DOC["vectors"] if v["name"] == "notify-transaction-success")
    client = make_client(fake, tmp_path, public_key=False)
    with client:
        # The vector is signed under certificate D7CE59D1F522D701, which this client
        # does not hold yet, and is old: both refusals come before any decryption.
        with pytest.raises(Exception, match="Wechatpay-Timestamp"):
            client.parse_notification(vector["input"]["headers"], vector["input"]["body"].encode())
        assert "apiv3" not in repr(client).lower() and MCHID in repr(client)


def test_bad_arguments_are_refused_before_sending(tmp_path: Path) -> None:
    fake = FakeV3(base_url="http://127.0.0.1:9")
    settings = make_settings(tmp_path)
    config = WxPayConfig(
        appid=APPID, mch_id=MCHID, api_key="k" * 32, notify_url="https://x.example/n"
    )
    with pytest.raises(ValueError, match="pool_maxsize"):
        WeChatPayV3Client(config, settings, pool_maxsize=0)
    with pytest.raises(ValueError, match="connect_retries"):
        WeChatPayV3Client(config, settings, connect_retries=-1)
    with make_client(fake, tmp_path) as client, pytest.raises(ValueError, match="total"):
        client.jsapi_order(out_trade_no="o1", total=0, description="d", openid="u")


def test_the_refresh_interval_is_checked(tmp_path: Path) -> None:
    config = WxPayConfig(
        appid=APPID, mch_id=MCHID, api_key="k" * 32, notify_url="https://x.example/n"
    )
    for bad in (-1, True, "1"):
        with pytest.raises(ValueError, match="certificate_refresh_interval"):
            WeChatPayV3Client(config, make_settings(tmp_path), certificate_refresh_interval=bad)  # type: ignore[arg-type]
