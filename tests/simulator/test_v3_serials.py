"""How the v3 simulator signs: public key, certificates, both (a migration), switched mid-run."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from wxpay_mw.simulator import Simulator
from wxpay_mw.v3 import V3ResponseSignatureError, calls, parse_notification

from ._v3help import all_keys, client, number, openid, place_and_pay, receiving


@pytest.fixture
def both() -> Iterator[Simulator]:
    with Simulator(api="v3", v3_mode="both", time_factor=0.001) as simulator:
        yield simulator


@pytest.fixture
def certs() -> Iterator[Simulator]:
    with Simulator(api="v3", v3_mode="certificate", time_factor=0.001) as simulator:
        yield simulator


def _serial_of_answer(sim: Simulator, with_public_key: bool) -> str:
    settings = sim.v3_settings()
    req = calls.query_order(sim.merchant.mch_id, out_trade_no="NOT-THERE-1")
    headers = req.headers(
        settings.private_key,
        mchid=sim.merchant.mch_id,
        serial_no=settings.cert_serial,
        wechatpay_serial=sim.v3_keys.public_key_id if with_public_key else None,
    )
    answer = requests.get(req.url(sim.base_url), headers=headers, timeout=10)
    return answer.headers["Wechatpay-Serial"]


def test_in_a_migration_the_merchant_chooses_the_key_of_answers(both: Simulator) -> None:
    cert_serial = both.v3_keys.signing_certificate.serial_no
    assert _serial_of_answer(both, with_public_key=True) == both.v3_keys.public_key_id
    assert _serial_of_answer(both, with_public_key=False) == cert_serial


def test_in_a_migration_notifications_come_under_both_keys(both: Simulator) -> None:
    settings = both.v3_settings()
    assert settings.public_key_id and settings.platform_cert_paths  # a migrating merchant
    with receiving() as host, client(both, host.url) as c:
        place_and_pay(both, c)
        place_and_pay(both, c)
        both.wait_for_notifications(2)
        # The client's own keys (public key + the certificate kept) verify both.
        notes = [c.parse_notification(h.headers, h.body) for h in host.hits]
        serials = {h.headers["Wechatpay-Serial"] for h in host.hits}
    assert serials == {both.v3_keys.public_key_id, both.v3_keys.signing_certificate.serial_no}
    assert {n.event_type for n in notes} == {"TRANSACTION.SUCCESS"}


def test_a_new_platform_certificate_is_picked_up_by_the_client(certs: Simulator) -> None:
    with client(certs) as c:
        no, _ = place_and_pay(certs, c)
        first = certs.v3_keys.signing_certificate.serial_no
        assert [x.serial_no for x in c.keys.certificates] == [first]
        state = certs.switch_v3(new_certificate=True)
        second = state["signing_serial"]
        assert second != first and state["certificates"] == [first, second]
        # The answer names a serial the client does not hold: it downloads, then trusts.
        assert c.query_order(out_trade_no=no)["trade_state"] == "SUCCESS"
        assert set(c.keys.serials) == {first, second}
        certs.switch_v3(drop_old_certificates=True)
        assert [x.serial_no for x in c.refresh_certificates()] == [second]


def test_a_certificate_mode_notification_after_a_switch(certs: Simulator) -> None:
    with receiving() as host, client(certs, host.url) as c:
        place_and_pay(certs, c)
        certs.switch_v3(new_certificate=True)
        place_and_pay(certs, c)
        certs.wait_for_notifications(2)
        serials = [h.headers["Wechatpay-Serial"] for h in host.hits]
        for hit in host.hits:
            parse_notification(hit.headers, hit.body, all_keys(certs), certs.v3_keys.apiv3_key)
    assert serials[0] != serials[1]
    assert serials[1] == certs.v3_keys.signing_certificate.serial_no


def test_switching_mode_over_http_and_a_reset_returns(both: Simulator) -> None:
    url = both.base_url + "/simulator/v3/keys"
    assert requests.get(url, timeout=10).json()["mode"] == "both"
    state = requests.post(url, json={"mode": "public_key"}, timeout=10).json()
    assert state["mode"] == "public_key"
    assert state["signing_serial"] == both.v3_keys.public_key_id
    # Certificates retired: every answer is under the public key, whatever is asked.
    assert _serial_of_answer(both, with_public_key=False) == both.v3_keys.public_key_id
    bad = requests.post(url, json={"mode": "sm2"}, timeout=10)
    assert bad.status_code == 400 and "mode" in bad.json()["error"]
    requests.post(both.base_url + "/simulator/reset", timeout=10)
    assert requests.get(url, timeout=10).json()["mode"] == "both"


def test_a_public_key_client_refuses_answers_once_wechat_signs_with_a_certificate() -> None:
    with Simulator(api="v3", time_factor=0.001) as sim, client(sim) as c:
        no = number()
        c.jsapi_order(out_trade_no=no, total=101, description="A", openid=openid(sim))
        sim.switch_v3(mode="certificate")
        with pytest.raises(V3ResponseSignatureError):
            c.query_order(out_trade_no=no)


def test_a_probe_over_http(both: Simulator) -> None:
    with receiving(lambda hit: (401, b'{"code":"FAIL"}')) as host, client(both, host.url) as c:
        no, _ = place_and_pay(both, c)
        both.wait_for_notifications(lambda log: len(log) == 1)
        answer = requests.post(
            both.base_url + "/simulator/v3/probe", json={"out_trade_no": no}, timeout=10
        )
        assert answer.status_code == 200
        probe_id = answer.json()["id"]
        both.wait_for_notifications(
            lambda log: any(n["id"] == probe_id and n["finished"] for n in log)
        )
        entry = next(n for n in both.notifications() if n["id"] == probe_id)
    assert entry["kind"] == "probe" and len(entry["attempts"]) == 1
    unknown = requests.post(
        both.base_url + "/simulator/v3/probe", json={"out_trade_no": "NOPE-1"}, timeout=10
    )
    assert unknown.status_code == 400
