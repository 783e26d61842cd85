"""The wxpay-mw command, run in-process through main() with captured output."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path
from typing import Any

import pytest

from wxpay_mw import signing
from wxpay_mw.cli import main
from wxpay_mw.xmlmsg import to_xml

KEY = "192006250b4c09247ec02edce69f6a2d"
MASKED = "*" * 32
OFFICIAL = ["appid=wxd930ea5d5a258f4f", "mch_id=10000100", "device_info=1000", "body=test"]
OFFICIAL += ["nonce_str=ibuaiVcKdpRxkhJA"]
OFFICIAL_STRING = (
    "appid=wxd930ea5d5a258f4f&body=test&device_info=1000&mch_id=10000100&nonce_str=ibuaiVcKdpRxkhJA"
)
VECTORS: list[dict[str, Any]] = json.loads(
    (Path(__file__).parents[1] / "data" / "sign-vectors.json").read_text("utf-8")
)


@pytest.fixture(autouse=True)
def _no_env_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WXPAY_API_KEY", raising=False)


def _one_line_error(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("wxpay-mw: error: ")
    assert "Traceback" not in err
    return lines[0]


# --- sign ----------------------------------------------------------------------------


def test_sign_prints_the_masked_string_then_the_sign(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sign", "--key", KEY, *OFFICIAL]) == 0
    out, err = capsys.readouterr()
    assert out.splitlines() == [
        f"{OFFICIAL_STRING}&key={MASKED}",
        "9A0A8659F005D6984697E2CA0A9CF3B7",
    ]
    assert KEY not in out + err
    assert err == ""


def test_sign_hmac_sha256(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sign", "--key", KEY, "--sign-type", "hmac-sha256", *OFFICIAL]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[-1] == (
        "6A9AE1657590FD6257D693A078E1C3E4BB6BA4DC30B23E0EE2496E54170DACD6"
    )


def test_sign_takes_the_key_from_the_environment(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WXPAY_API_KEY", KEY)
    assert main(["sign", *OFFICIAL]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "9A0A8659F005D6984697E2CA0A9CF3B7"


@pytest.mark.parametrize("vector", VECTORS, ids=[v["name"] for v in VECTORS])
def test_sign_matches_every_vector(
    capsys: pytest.CaptureFixture[str], vector: dict[str, Any]
) -> None:
    pairs = [f"{k}={v}" for k, v in vector["params"].items()]
    code = main(["sign", "--key", vector["key"], "--sign-type", vector["sign_type"], *pairs])
    assert code == 0
    out = capsys.readouterr().out
    signed, sign = out.rstrip("\n").rsplit("\n", 1)
    assert sign == vector["sign"]
    assert signed == vector["string_to_sign"].replace(vector["key"], "*" * len(vector["key"]))


def test_sign_notes_what_it_leaves_out(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sign", "--key", KEY, "a=1", "attach=", "sign=XYZ", "b=x=y"]) == 0
    out, err = capsys.readouterr()
    assert out.splitlines()[0] == f"a=1&b=x=y&key={MASKED}"
    assert "empty values are not signed: attach" in err
    assert "'sign' is never part" in err


def test_sign_warns_about_a_key_that_is_not_an_api_key(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["sign", "--key", "short", "a=1"]) == 0
    out, err = capsys.readouterr()
    assert out.splitlines()[0] == "a=1&key=*****"
    assert "5 characters" in err and "short" not in out + err.replace("5 characters", "")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        pytest.param(["sign", "a=1"], "no key", id="no-key"),
        pytest.param(["sign", "--key", KEY, "novalue"], "not name=value", id="not-a-pair"),
        pytest.param(["sign", "--key", KEY, "=1"], "not name=value", id="no-name"),
        pytest.param(["sign", "--key", KEY, "a=1", "a=2"], "twice", id="duplicate"),
        pytest.param(["sign", "--key", KEY, "--sign-type", "SHA1", "a=1"], "SHA1", id="type"),
        pytest.param(["sign", "--key", KEY], "required", id="no-params"),
        pytest.param([], "required", id="no-command"),
        pytest.param(["frobnicate"], "frobnicate", id="unknown-command"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert message in _one_line_error(err)
    assert out == ""


def test_help_and_version_exit_0(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert "sign" in out and "verify" in out and "simulator" in out
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.startswith("wxpay-mw ")
    assert main(["sign", "--help"]) == 0
    assert "WXPAY_API_KEY" in capsys.readouterr().out


# --- verify --------------------------------------------------------------------------


def _message(sign_type: signing.SignType = "MD5", **changes: str) -> dict[str, str]:
    fields = {
        "return_code": "SUCCESS",
        "appid": "wxd930ea5d5a258f4f",
        "mch_id": "10000100",
        "out_trade_no": "T1",
        "total_fee": "100",
        "nonce_str": "n",
    }
    fields["sign"] = signing.sign(fields, KEY, sign_type)
    fields.update(changes)
    return fields


def _write(tmp_path: Path, fields: dict[str, str]) -> str:
    path = tmp_path / "message.xml"
    path.write_bytes(to_xml(fields))
    return str(path)


def test_verify_a_right_sign(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["verify", "--key", KEY, _write(tmp_path, _message())]) == 0
    out = capsys.readouterr().out
    assert out.startswith("OK") and "MD5" in out and "length" in out


def test_verify_a_wrong_sign_shows_the_expected_string(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fields = _message(total_fee="1")  # changed after signing
    expected = signing.sign(fields, KEY)

    assert main(["verify", "--key", KEY, _write(tmp_path, fields)]) == 1

    out, err = capsys.readouterr()
    assert out.startswith("BAD")
    assert (
        "string signed: appid=wxd930ea5d5a258f4f&mch_id=10000100&nonce_str=n&out_trade_no=T1"
        f"&return_code=SUCCESS&total_fee=1&key={MASKED}"
    ) in out
    assert f"expected: {expected}" in out
    assert f"given:    {fields['sign']}" in out
    assert KEY not in out + err


def test_verify_reads_stdin(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(to_xml(_message()))))
    monkeypatch.setenv("WXPAY_API_KEY", KEY)
    assert main(["verify", "-"]) == 0
    assert capsys.readouterr().out.startswith("OK")


def test_verify_picks_hmac_from_the_sign_length(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # HMAC notifications usually carry no sign_type: the 64-character sign tells.
    assert main(["verify", "--key", KEY, _write(tmp_path, _message("HMAC-SHA256"))]) == 0
    assert "HMAC-SHA256, chosen by the sign's length" in capsys.readouterr().out


def test_verify_follows_a_declared_sign_type(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fields = {"a": "1", "sign_type": "HMAC-SHA256"}
    fields["sign"] = signing.sign(fields, KEY, "HMAC-SHA256")
    assert main(["verify", "--key", KEY, _write(tmp_path, fields)]) == 0
    assert "chosen by the message's sign_type" in capsys.readouterr().out


def test_verify_with_an_explicit_wrong_type_hints_the_right_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _write(tmp_path, _message("MD5"))
    assert main(["verify", "--key", KEY, "--sign-type", "HMAC-SHA256", path]) == 1
    assert "hint: it matches MD5" in capsys.readouterr().out


def test_verify_hints_a_lower_case_sign(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fields = _message()
    fields["sign"] = fields["sign"].lower()
    assert main(["verify", "--key", KEY, _write(tmp_path, fields)]) == 1
    assert "lower case" in capsys.readouterr().out


def test_verify_a_message_without_sign(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fields = _message()
    del fields["sign"]
    assert main(["verify", "--key", KEY, _write(tmp_path, fields)]) == 1
    out = capsys.readouterr().out
    assert "(no sign in the message)" in out and f"&key={MASKED}" in out


@pytest.mark.parametrize(
    ("body", "message"),
    [
        pytest.param(b'<!DOCTYPE x [<!ENTITY e "x">]><xml><a>&e;</a></xml>', "DTD", id="dtd"),
        pytest.param(b"<xml><a>1</a>", "well-formed", id="truncated"),
        pytest.param(b"", "empty", id="empty"),
        pytest.param(to_xml({"a": "1", "sign": "X", "sign_type": "SHA1"}), "SHA1", id="type"),
    ],
)
def test_verify_bad_input_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], body: bytes, message: str
) -> None:
    path = tmp_path / "m.xml"
    path.write_bytes(body)
    assert main(["verify", "--key", KEY, str(path)]) == 2
    assert message in _one_line_error(capsys.readouterr().err)


def test_verify_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["verify", "--key", KEY, str(tmp_path / "nope.xml")]) == 2
    assert "cannot read" in _one_line_error(capsys.readouterr().err)


# --- simulator -----------------------------------------------------------------------


def test_simulator_takes_its_arguments_from_the_simulator_module(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["simulator", "--help"]) == 0
    assert "--port" in capsys.readouterr().out


def test_sign_works_when_the_simulator_cannot_be_imported(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # None in sys.modules makes the import fail, as in an install without the simulator.
    monkeypatch.setitem(sys.modules, "wxpay_mw.simulator._cli", None)
    assert main(["sign", "--key", KEY, *OFFICIAL]) == 0
    capsys.readouterr()
    assert main(["simulator", "--help"]) == 2
    assert "simulator is not available" in _one_line_error(capsys.readouterr().err)


# --- reconcile -----------------------------------------------------------------------

NO_PENDING_APP = """
from tests.support import MemoryStore
from wxpay_mw import WxPay, WxPayConfig


class NoPendingOrders(MemoryStore):
    wxpay_pending_orders = None  # the host never wrote it


config = WxPayConfig(
    appid="wx0000000000000001", mch_id="1900000001", api_key="k" * 32,
    notify_url="https://shop.example/wxpay/notify",
)
wxpay = WxPay(config, NoPendingOrders())
"""


def test_reconcile_without_the_pending_orders_hook_fails_instead_of_counting_zero(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "no_pending_app.py").write_text(NO_PENDING_APP, "utf-8")
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(Path(__file__).parents[2]))
    try:
        assert main(["reconcile", "--app", "no_pending_app:wxpay"]) == 2
    finally:
        sys.modules.pop("no_pending_app", None)
    captured = capsys.readouterr()
    assert captured.out == ""  # no zero counts that would look healthy to cron
    line = _one_line_error(captured.err)
    assert "reconciliation needs the wxpay_pending_orders hook" in line
