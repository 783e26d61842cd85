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
    with pytest.raises(ValueError, match="element name"):
        to_xml({"a-b\n": "x"})  # "$" would have let the newline through
    with pytest.raises(TypeError, match="bool"):
        to_xml({"a": True})


COMMENTS = {
    "in-a-value": b"<xml><a>A<!--x-->B</a></xml>",
    "empty-in-a-value": b"<xml><total_fee>12<!---->80</total_fee></xml>",
    "between-fields": b"<xml><a>1</a><!-- c --><b>2</b></xml>",
    "before-the-root": b"<!-- c --><xml><a>1</a></xml>",
    "after-the-root": b"<xml><a>1</a></xml><!-- c -->",
    "after-the-declaration": b'<?xml version="1.0"?><!--c--><xml><a>1</a></xml>',
}
INSTRUCTIONS = {
    "in-a-value": b"<xml><a>x<?pi z?>y</a></xml>",
    "between-fields": b"<xml><a>1</a><?pi?><b/></xml>",
    "stylesheet": b'<?xml-stylesheet href="http://127.0.0.1:1/x.xsl"?><xml><a>1</a></xml>',
    "after-the-declaration": b'<?xml version="1.0"?><?pi x?><xml><a>1</a></xml>',
    "after-the-root": b"<xml><a>1</a></xml><?pi?>",
}


@pytest.mark.parametrize("body", COMMENTS.values(), ids=COMMENTS.keys())
def test_comments_are_refused_not_skipped(body: bytes) -> None:
    # "A<!--x-->B" used to read as "AB": a comment is refused like a DTD.
    with pytest.raises(XMLError, match=r"holds an XML comment .*refused, not skipped"):
        from_xml(body)


@pytest.mark.parametrize("body", INSTRUCTIONS.values(), ids=INSTRUCTIONS.keys())
def test_processing_instructions_are_refused_not_skipped(body: bytes) -> None:
    with pytest.raises(XMLError, match=r"holds a processing instruction .*declaration is allowed"):
        from_xml(body)


def test_the_error_says_where_the_comment_is() -> None:
    # Counted as expat counts in its own messages: lines from 1, columns from 0.
    with pytest.raises(XMLError, match=r"\(line 2, column 8\)"):
        from_xml(b"<xml>\n<a>1</a><!--x--></xml>")


@pytest.mark.parametrize(
    "declaration",
    [
        b'<?xml version="1.0" encoding="UTF-8"?>',
        b'<?xml version="1.0" encoding="utf-8"?>\n',
        b"<?xml version='1.0'?>",
        b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>',
    ],
)
def test_an_xml_declaration_is_still_accepted(declaration: bytes) -> None:
    assert from_xml(declaration + b"<xml><a>1</a><b><![CDATA[<!--x-->]]></b></xml>") == {
        "a": "1",
        "b": "<!--x-->",
    }


def test_an_unused_namespace_declaration_is_ignored_a_used_one_refused() -> None:
    assert from_xml(b'<xml xmlns:p="urn:p" xmlns=""><a>1</a></xml>') == {"a": "1"}
    with pytest.raises(XMLError, match=r"<\{urn:p\}a> is namespaced"):
        from_xml(b'<xml xmlns:p="urn:p"><p:a>1</p:a></xml>')
    with pytest.raises(XMLError, match=r"root element is <\{urn:d\}xml>"):
        from_xml(b'<xml xmlns="urn:d"><a>1</a></xml>')
    with pytest.raises(XMLError, match="has attributes"):
        from_xml(b'<xml><a xml:lang="en">1</a></xml>')
    with pytest.raises(XMLError, match="not well-formed XML: unbound prefix"):
        from_xml(b"<xml><p:a>1</p:a></xml>")


@pytest.mark.parametrize("uri", ["a}b", "a b", "a\tb"])
def test_odd_namespace_names_are_refused(uri: str) -> None:
    with pytest.raises(XMLError, match="not well-formed XML"):
        from_xml(f'<xml><a xmlns:s="{uri}">1</a></xml>'.encode())


def test_the_first_problem_in_document_order_is_reported() -> None:
    with pytest.raises(XMLError, match="<a> has attributes"):
        from_xml(b'<xml><a x="1">1</a><b><c/></b><b/></xml>')
    with pytest.raises(XMLError, match="<b> holds nested elements"):
        from_xml(b"<xml><a>1</a><b><c/></b><a/></xml>")
    with pytest.raises(XMLError, match="<a> appears twice"):
        from_xml(b"<xml><a>1</a><a>2</a>text</xml>")
    with pytest.raises(XMLError, match="bare text after <b>"):
        from_xml(b"<xml><a>1</a>\n<b>2</b>text<a/></xml>")
    # Well-formedness comes first: a truncated body is reported as such.
    with pytest.raises(XMLError, match="not well-formed"):
        from_xml(b"<xml><a><b>1</b></a>")


def test_blank_text_between_fields_is_allowed_and_values_keep_their_whitespace() -> None:
    body = b"<xml>\n  <a> 1 </a>\r\n  <b><![CDATA[\t]]></b>\n</xml>\n"
    assert from_xml(body) == {"a": " 1 ", "b": "\t"}


def test_the_parser_is_guarded_by_defusedxml() -> None:
    from defusedxml.expatreader import DefusedExpatParser

    from wxpay_mw.xmlmsg import _defused_expat

    parser = _defused_expat()
    assert parser.StartDoctypeDeclHandler.__func__ is (
        DefusedExpatParser.defused_start_doctype_decl
    )
    assert parser.EntityDeclHandler.__func__ is DefusedExpatParser.defused_entity_decl
    assert parser.ExternalEntityRefHandler.__func__ is (
        DefusedExpatParser.defused_external_entity_ref_handler
    )
