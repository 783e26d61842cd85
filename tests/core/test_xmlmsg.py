"""XML: WeChat's flat messages round-trip; hostile bodies raise XMLError, never expand."""

from __future__ import annotations

import pytest

from wxpay_mw.errors import XMLError
from wxpay_mw.xmlmsg import MAX_BODY_BYTES, from_xml, to_xml


def test_to_xml_puts_text_in_cdata_and_numbers_plain() -> None:
    body = to_xml({"return_code": "SUCCESS", "total_fee": 88, "attach": None})
    assert body == (
        b"<xml><return_code><![CDATA[SUCCESS]]></return_code><total_fee>88</total_fee></xml>"
    )


def test_round_trip_keeps_unicode_markup_and_cdata_terminators() -> None:
    fields = {"body": "腾讯-游戏 <b>&amp;</b>", "attach": "a]]>b", "x": " spaced "}
    assert from_xml(to_xml(fields)) == fields


def test_from_xml_reads_plain_and_cdata_and_empty() -> None:
    body = b"<xml><a><![CDATA[x]]></a><b>5</b><c></c><d/></xml>"
    assert from_xml(body) == {"a": "x", "b": "5", "c": "", "d": ""}


def test_utf8_declaration_is_accepted() -> None:
    assert from_xml(b'<?xml version="1.0" encoding="UTF-8"?><xml><a>1</a></xml>') == {"a": "1"}


HOSTILE = {
    "external-entity-file": (
        b'<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        b"<xml><a>&x;</a></xml>"
    ),
    "external-entity-url": (
        b'<!DOCTYPE xml [<!ENTITY x SYSTEM "http://127.0.0.1:1/steal">]><xml><a>&x;</a></xml>'
    ),
    "billion-laughs": (
        b'<!DOCTYPE xml [<!ENTITY a "lol"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">'
        b'<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]><xml><a>&c;</a></xml>'
    ),
    "parameter-entity": (
        b'<!DOCTYPE xml [<!ENTITY % p SYSTEM "http://127.0.0.1:1/x.dtd"> %p;]><xml/>'
    ),
    "bare-doctype": b"<!DOCTYPE xml><xml><a>1</a></xml>",
    "external-dtd": b'<!DOCTYPE xml SYSTEM "http://127.0.0.1:1/x.dtd"><xml><a>1</a></xml>',
    "not-utf8": "<xml><body>腾讯</body></xml>".encode("gbk"),
    "declared-gbk": b'<?xml version="1.0" encoding="GBK"?><xml><a>1</a></xml>',
    "truncated": b"<xml><return_code>SUCC",
    "nested": b"<xml><a><b>1</b></a></xml>",
    "duplicated": b"<xml><total_fee>1</total_fee><total_fee>100</total_fee></xml>",
    "wrong-root": b"<root><a>1</a></root>",
    "bare-text": b"<xml>hello<a>1</a></xml>",
    "json": b'{"return_code": "SUCCESS"}',
    "empty": b"",
    "whitespace": b"   \n",
    "over-cap": b"<xml><a>" + b"x" * MAX_BODY_BYTES + b"</a></xml>",
}


@pytest.mark.parametrize("body", HOSTILE.values(), ids=HOSTILE.keys())
def test_hostile_bodies_raise_xml_error(body: bytes) -> None:
    with pytest.raises(XMLError) as info:
        from_xml(body)
    # The message must never carry expanded entity content.
    assert "root:" not in str(info.value)
    assert isinstance(info.value, ValueError)


def test_cap_is_configurable() -> None:
    with pytest.raises(XMLError, match="over the 10-byte limit"):
        from_xml(b"<xml><a>1</a></xml>", max_bytes=10)


def test_other_root_can_be_asked_for() -> None:
    assert from_xml(b"<root><a>1</a></root>", root="root") == {"a": "1"}


def test_bad_element_names_and_bools_are_refused() -> None:
    with pytest.raises(ValueError, match="element name"):
        to_xml({"a b": "x"})
    with pytest.raises(TypeError, match="bool"):
        to_xml({"a": True})
