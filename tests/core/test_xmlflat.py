"""from_xml's fast path (wxpay_mw._xmlflat) answers exactly as the full parser would.

The fast path reads WeChat's usual flat message with a regular expression and leaves
every other body to the defused expat parser. Here: WeChat's own shapes take it; each
thing it must not be sure of goes to the parser; and on generated valid and hostile
bodies (hypothesis) from_xml gives the same fields in the same order, or an XMLError
with the same message, as the full path alone. ``bench/xml_equivalence.py`` runs the
same comparison over hundreds of thousands of bodies.

``WXPAY_TEST_EXAMPLES=4000`` runs a deeper search by hand.
"""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support import payment_notification
from wxpay_mw import xmlmsg
from wxpay_mw._xmlflat import flat
from wxpay_mw.errors import XMLError
from wxpay_mw.simulator import Merchant

PROPERTY = settings(
    max_examples=int(os.environ.get("WXPAY_TEST_EXAMPLES", "300")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)

Outcome = tuple[str, object]


def _outcome_of_from_xml(body: bytes) -> Outcome:
    try:
        return ("ok", list(xmlmsg.from_xml(body).items()))
    except XMLError as exc:
        return ("error", str(exc))


def _outcome_of_the_full_parser(body: bytes) -> Outcome:
    # from_xml without its fast path: the same checks of size and UTF-8, then expat.
    try:
        xmlmsg._checked(body, xmlmsg.MAX_BODY_BYTES)
        return ("ok", list(xmlmsg._parsed(bytes(body), "xml").items()))
    except XMLError as exc:
        return ("error", str(exc))


def _fast(body: bytes) -> dict[str, str] | None:
    return flat(body.decode("utf-8"))


# -- what takes the fast path ----------------------------------------------------------


def _notification() -> bytes:
    merchant = Merchant()
    return payment_notification(
        appid=merchant.appid,
        mch_id=merchant.mch_id,
        key=merchant.api_key,
        out_trade_no="ORDER1",
        total_fee=1280,
        sign_type="MD5",
    )


TAKEN = {
    "notification": _notification(),
    "to_xml": xmlmsg.to_xml({"return_code": "SUCCESS", "total_fee": 88, "body": "腾讯-游戏"}),
    "declaration": b'<?xml version="1.0" encoding="UTF-8"?>\n<xml><a>1</a></xml>\n',
    "declaration-no-encoding": b'<?xml version="1.0"?><xml><a>1</a></xml>',
    "newlines-and-indent": b"<xml>\n  <a><![CDATA[x]]></a>\n\t<b>2</b>\n</xml>",
    "empty-fields": b"<xml><a></a><b/><c><![CDATA[]]></c></xml>",
    "markup-in-cdata": b"<xml><a><![CDATA[<b>&amp;</b> > 1]]></a></xml>",
    "whitespace-in-values": b"<xml><a> 1\t2\n</a><b><![CDATA[ x ]]></b></xml>",
    "no-fields": b"<xml></xml>",
    "field-named-xml": b"<xml><xml>1</xml></xml>",
}


@pytest.mark.parametrize("body", TAKEN.values(), ids=TAKEN.keys())
def test_wechat_shapes_take_the_fast_path_with_the_parsers_answer(body: bytes) -> None:
    fields = _fast(body)
    assert fields is not None
    assert ("ok", list(fields.items())) == _outcome_of_the_full_parser(body)
    assert xmlmsg.from_xml(body) == fields


@pytest.mark.parametrize(
    "char",
    ["\xa0", "\u2028", "\ud7ff", "\ue000", "\ufdd0", "\ufffd", "\U0001fffe", "\U0010ffff"],
)
def test_edge_characters_the_fast_path_takes_read_as_the_parser_reads_them(char: str) -> None:
    body = f"<xml><a>{char}</a><b><![CDATA[{char}]]></b></xml>".encode()
    assert _fast(body) == {"a": char, "b": char}
    assert _outcome_of_the_full_parser(body) == ("ok", [("a", char), ("b", char)])


def test_the_notification_reads_as_signed() -> None:
    fields = xmlmsg.from_xml(_notification())
    assert fields["out_trade_no"] == "ORDER1" and fields["total_fee"] == "1280"
    assert list(fields)[-1] == "sign"


# -- what it leaves to the parser ------------------------------------------------------

LEFT = {
    "entity": b"<xml><a>&amp;</a></xml>",
    "char-reference": b"<xml><a>&#13;</a></xml>",
    "bare-ampersand": b"<xml><a>a&b</a></xml>",
    "doctype": b"<!DOCTYPE xml><xml><a>1</a></xml>",
    "comment": b"<xml><a>A<!--x-->B</a></xml>",
    "comment-after-root": b"<xml><a>1</a></xml><!--x-->",
    "processing-instruction": b"<xml><?pi?><a>1</a></xml>",
    "declaration-standalone": b'<?xml version="1.0" standalone="yes"?><xml><a>1</a></xml>',
    "declaration-single-quotes": b"<?xml version='1.0'?><xml><a>1</a></xml>",
    "declaration-after-space": b' <?xml version="1.0"?><xml><a>1</a></xml>',
    "attribute": b'<xml><a x="1">1</a></xml>',
    "root-attribute": b'<xml a="1"><a>1</a></xml>',
    "namespace": b'<xml xmlns:p="urn:p"><p:a>1</p:a></xml>',
    "default-namespace": b'<xml xmlns="urn:x"><a>1</a></xml>',
    "nested": b"<xml><a><b>1</b></a></xml>",
    "duplicate": b"<xml><a>1</a><a>2</a></xml>",
    "bare-text": b"<xml>hello<a>1</a></xml>",
    "text-between-fields": b"<xml><a>1</a>x<b>2</b></xml>",
    "cr-in-value": b"<xml><a>1\r\n2</a></xml>",
    "cr-between-fields": b"<xml><a>1</a>\r\n<b>2</b></xml>",
    "cr-in-cdata": b"<xml><a><![CDATA[1\r2]]></a></xml>",
    "bracket-in-value": b"<xml><a>a]b</a></xml>",
    "cdata-end-in-text": b"<xml><a>a]]>b</a></xml>",
    "split-cdata": b"<xml><a><![CDATA[a]]]]><![CDATA[>b]]></a></xml>",
    "mixed-cdata-and-text": b"<xml><a>x<![CDATA[y]]></a></xml>",
    "space-in-tag": b"<xml><a >1</a ></xml>",
    "no-break-space-between-fields": "<xml><a>1</a>\xa0<b>2</b></xml>".encode(),
    "form-feed": b"<xml><a>1\x0c</a></xml>",
    "c1-control": "<xml><a>x\x85y</a></xml>".encode(),
    "delete": b"<xml><a>x\x7fy</a></xml>",
    "byte-order-mark": "\ufeff<xml><a>1</a></xml>".encode(),
    "empty-root": b"<xml/>",
    "other-root": b"<root><a>1</a></root>",
    "truncated": b"<xml><a>1</a>",
    "name-with-digit-first": b"<xml><1a>1</1a></xml>",
    "non-ascii-name": "<xml><中>1</中></xml>".encode(),
}


@pytest.mark.parametrize("body", LEFT.values(), ids=LEFT.keys())
def test_anything_else_is_left_to_the_parser(body: bytes) -> None:
    assert _fast(body) is None
    assert _outcome_of_from_xml(body) == _outcome_of_the_full_parser(body)


def test_another_root_always_goes_to_the_parser() -> None:
    # The fast path knows only <xml>; asked for another root, the parser answers.
    with pytest.raises(XMLError, match=r"root element is <xml>, expected <root>"):
        xmlmsg.from_xml(b"<xml><a>1</a></xml>", root="root")


# -- the same answer on generated bodies -----------------------------------------------

NAMES = ["appid", "total_fee", "sign", "a", "xml", "xmlns", "a.b", "_x", "x-y", "p:a", "1a"]
FRAGMENTS = [
    "]]>", "]", "<b>", "&amp;", "&#13;", "&", "\r", "\r\n", "\n", "\t", " ", "\x85", "\xa0",
    "\u2028", "\ufeff", "\ufdd0", "\U0001f600", "<!--c-->", "<?pi?>", ">", "'", '"', "腾讯",
]  # fmt: skip
TOKENS = [
    "<", ">", "&", "]", "]]>", "<!--x-->", "<?pi?>", "&amp;", "&#x41;", "<![CDATA[", "\r",
    "\n", " ", "\t", "\x00", "\x0b", "\x85", "\xa0", "\ufeff", ":", ' a="1"', ' xmlns="u"',
    "/", "<a>", "</a>", "<a/>", "<xml>", "</xml>", "<!DOCTYPE xml>", "&x;", "<b>1</b>",
]  # fmt: skip

names = st.sampled_from(NAMES)
values = st.one_of(
    st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=12),
    st.lists(st.sampled_from(FRAGMENTS), max_size=3).map("".join),
)


@st.composite
def fields(draw: st.DrawFn) -> str:
    name, value = draw(names), draw(values)
    kind = draw(st.sampled_from(["cdata", "plain", "empty", "split", "mixed"]))
    if kind == "cdata":
        return f"<{name}><![CDATA[{value}]]></{name}>"
    if kind == "plain":
        return f"<{name}>{value}</{name}>"
    if kind == "empty":
        return f"<{name}/>"
    if kind == "split":
        return f"<{name}><![CDATA[{value}]]><![CDATA[{value}]]></{name}>"
    return f"<{name}>{value}<![CDATA[{value}]]></{name}>"


@st.composite
def bodies(draw: st.DrawFn) -> bytes:
    prefix = draw(
        st.sampled_from(["", '<?xml version="1.0" encoding="UTF-8"?>', '<?xml version="1.0"?>'])
    )
    separator = draw(st.sampled_from(["", "\n", " ", "\t", "\r\n", "\xa0"]))
    inner = separator.join(draw(st.lists(fields(), max_size=6)))
    suffix = draw(st.sampled_from(["", "\n", " <!--c-->", "x"]))
    text = f"{prefix}<xml>{separator}{inner}{separator}</xml>{suffix}"
    # Some bodies get a hostile token somewhere, or lose their end.
    for _ in range(draw(st.integers(0, 2))):
        at = draw(st.integers(0, len(text)))
        text = text[:at] + draw(st.sampled_from(TOKENS)) + text[at:]
    body = text.encode("utf-8")
    if draw(st.booleans()) and draw(st.booleans()):
        body = body[: draw(st.integers(0, len(body)))]
    return body


@PROPERTY
@given(body=bodies())
def test_from_xml_answers_as_the_full_parser_on_generated_bodies(body: bytes) -> None:
    assert _outcome_of_from_xml(body) == _outcome_of_the_full_parser(body)


@PROPERTY
@given(
    message=st.dictionaries(
        st.from_regex(r"\A[A-Za-z_][A-Za-z0-9_.\-]{0,15}\Z"),
        values,
        max_size=8,
    )
)
def test_what_to_xml_writes_reads_back_the_same_either_way(message: dict[str, str]) -> None:
    try:
        body = xmlmsg.to_xml(message)
    except ValueError:
        return  # a character XML cannot carry: to_xml refuses it (tested elsewhere)
    expected = ("ok", list(message.items()))
    assert _outcome_of_from_xml(body) == _outcome_of_the_full_parser(body) == expected
