"""Properties of signing and XML, checked on generated messages (hypothesis).

The hand-written vectors in tests/core pin WeChat's exact bytes; these check the rules
hold for *any* message: what to_xml writes, from_xml reads back unchanged; what sign
signs, verify accepts; and a message changed in any single byte is refused (it fails
parsing or verification): no change makes a different message verify.

``WXPAY_TEST_EXAMPLES=4000`` runs a deeper search by hand.
"""

from __future__ import annotations

import os
from typing import cast

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wxpay_mw import signing
from wxpay_mw.errors import XMLError
from wxpay_mw.signing import SIGN_TYPES, SignType
from wxpay_mw.xmlmsg import from_xml, to_xml

# CI has two cores: enough examples to find a broken rule, few enough to stay quick.
PROPERTY = settings(
    max_examples=int(os.environ.get("WXPAY_TEST_EXAMPLES", "150")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)

# The element names to_xml accepts (and WeChat uses: ASCII letters, digits, _ . -).
names = st.from_regex(r"\A[A-Za-z_][A-Za-z0-9_.\-]{0,15}\Z")

# XML 1.0 Char: tab, LF, CR, U+0020..U+D7FF, U+E000..U+FFFD, U+10000..U+10FFFF. Anything
# else cannot be carried by an XML document at all.
xml_chars = st.characters(
    codec="utf-8",
    exclude_categories=["Cs"],
    exclude_characters="".join(map(chr, [*range(0x09), 0x0B, 0x0C, *range(0x0E, 0x20)]))
    + "\ufffe\uffff",
)
texts = st.text(xml_chars, max_size=40)
# Values WeChat-like enough to hit the interesting cases often: CDATA terminators,
# markup, line ends, spaces, Chinese.
tricky = st.sampled_from(["]]>", "<a>", "&amp;", "\r\n", "\r", " ", "腾讯-游戏", "]]", "&#13;"])
values = st.one_of(texts, st.lists(st.one_of(tricky, texts), max_size=5).map("".join))

messages = st.dictionaries(
    names.filter(lambda n: n not in ("sign", "sign_type")), values, min_size=1, max_size=8
)
sign_types = st.sampled_from(SIGN_TYPES)
api_keys = st.from_regex(r"\A[0-9A-Za-z]{32}\Z")


def _signed(fields: dict[str, str], key: str, sign_type: SignType) -> dict[str, str]:
    return {**fields, "sign": signing.sign(fields, key, sign_type)}


def _accepted(body: bytes, key: str, sign_type: SignType) -> dict[str, str] | None:
    """The fields of ``body`` if a notify endpoint would accept them as signed, else None."""
    try:
        fields = from_xml(body)
    except XMLError:
        return None
    return fields if signing.verify(fields, key, sign_type) else None


@PROPERTY
@given(fields=messages)
def test_to_xml_then_from_xml_gives_back_every_field(fields: dict[str, str]) -> None:
    assert from_xml(to_xml(fields)) == fields


@PROPERTY
@given(fields=messages, key=api_keys, sign_type=sign_types)
def test_sign_then_verify_holds_for_both_sign_types(
    fields: dict[str, str], key: str, sign_type: SignType
) -> None:
    signed = _signed(fields, key, sign_type)
    assert signing.verify(signed, key, sign_type)
    # ...and survives the trip through WeChat's XML, as a notification does.
    assert signing.verify(from_xml(to_xml(signed)), key, sign_type)


@PROPERTY
@given(fields=messages, key=api_keys, sign_type=sign_types)
def test_a_sign_of_the_other_type_never_verifies(
    fields: dict[str, str], key: str, sign_type: SignType
) -> None:
    other = cast(SignType, "HMAC-SHA256" if sign_type == "MD5" else "MD5")
    assert not signing.verify(_signed(fields, key, other), key, sign_type)


@PROPERTY
@given(fields=messages, key=api_keys, other_key=api_keys, sign_type=sign_types)
def test_a_sign_made_with_another_key_never_verifies(
    fields: dict[str, str], key: str, other_key: str, sign_type: SignType
) -> None:
    if other_key != key:
        assert not signing.verify(_signed(fields, other_key, sign_type), key, sign_type)


@PROPERTY
@given(fields=messages, key=api_keys, sign_type=sign_types, data=st.data())
def test_any_single_byte_change_to_the_signed_xml_is_refused(
    fields: dict[str, str], key: str, sign_type: SignType, data: st.DataObject
) -> None:
    signed = _signed(fields, key, sign_type)
    body = to_xml(signed)
    at = data.draw(st.integers(0, len(body) - 1), label="offset")
    new = data.draw(st.integers(0, 255).filter(lambda b: b != body[at]), label="byte")
    changed = body[:at] + bytes([new]) + body[at + 1 :]
    accepted = _accepted(changed, key, sign_type)
    # XML itself reads a CR in text as a LF, so that one change gives back the very
    # message that was signed; no change may make a *different* message verify.
    assert accepted is None or (accepted == signed and body[at] == 0x0A and new == 0x0D)


def test_the_one_single_byte_change_xml_ignores_gives_back_the_signed_message() -> None:
    key = "0123456789abcdefghijABCDEFGHIJ01"
    signed = _signed({"attach": "line 1\nline 2"}, key, "MD5")
    body = to_xml(signed).replace(b"\n", b"\r")
    assert _accepted(body, key, "MD5") == signed


def _change_one_byte(text: str, at: int, new: int) -> str | None:
    raw = text.encode()
    raw = raw[:at] + bytes([new]) + raw[at + 1 :]
    try:
        return raw.decode()
    except UnicodeDecodeError:
        return None  # not text any more: no XML message could carry it


@PROPERTY
@given(fields=messages, key=api_keys, sign_type=sign_types, data=st.data())
def test_any_single_byte_change_to_a_signed_value_or_name_fails_verification(
    fields: dict[str, str], key: str, sign_type: SignType, data: st.DataObject
) -> None:
    signed = _signed(fields, key, sign_type)
    # Empty values are outside the signature by WeChat's rule, so neither they nor the
    # names that carry them are protected; every other name and value is.
    targets = [(k, part) for k, v in signed.items() if v for part in ("name", "value")]
    name, part = data.draw(st.sampled_from(targets), label="target")
    original = name if part == "name" else signed[name]
    at = data.draw(st.integers(0, len(original.encode()) - 1), label="offset")
    new = data.draw(st.integers(0, 255).filter(lambda b: b != original.encode()[at]), label="byte")
    changed_text = _change_one_byte(original, at, new)
    if changed_text is None:
        return
    changed = dict(signed)
    if part == "value":
        changed[name] = changed_text
    else:
        del changed[name]
        changed[changed_text] = signed[name]
    assert not signing.verify(changed, key, sign_type)


@pytest.mark.parametrize("text", ["a\rb", "a\r\nb", "\r", "x]]>\ry"], ids=repr)
def test_carriage_returns_survive_the_xml_trip(text: str) -> None:
    # XML turns a raw CR (and CR LF) into LF on parsing; a value signed with a CR would
    # then never verify on the other side. to_xml writes CR as a character reference.
    assert from_xml(to_xml({"attach": text})) == {"attach": text}


@pytest.mark.parametrize("char", ["\x00", "\x01", "\x0b", "\x1f", "\ufffe", "\ud800"], ids=repr)
def test_to_xml_refuses_characters_xml_cannot_carry(char: str) -> None:
    # Better a clear error naming the field than a body WeChat answers XML_FORMAT_ERROR.
    with pytest.raises(ValueError, match="attach"):
        to_xml({"attach": f"a{char}b"})
