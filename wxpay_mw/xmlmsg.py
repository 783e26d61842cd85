"""WeChat's flat ``<xml>`` messages: a dict to bytes and back.

Every body WeChat sends, and every body anyone sends to a notify endpoint, is parsed here
and only here, through defusedxml. A notify endpoint is unauthenticated input: in 2018 the
official Java SDK expanded external entities in notification bodies (CVE-2018-13439),
letting anyone read the merchant's API key off the disk. So before a signature is even
looked at, a DTD, an entity, an external reference, a body over the cap, bytes that are
not UTF-8, nested or repeated elements each raise :class:`~wxpay_mw.errors.XMLError`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Final
from xml.etree.ElementTree import ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from .errors import XMLError

__all__ = ["MAX_BODY_BYTES", "from_xml", "to_xml"]

#: WeChat's messages are a few KiB; 64 KiB leaves room and refuses a flood.
MAX_BODY_BYTES: Final = 64 * 1024

_DECLARED_ENCODING = re.compile(rb"""^\s*<\?xml[^>]*?encoding\s*=\s*["']([^"']+)["']""")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]*$")


# Characters XML 1.0 cannot carry at all (not even as &#...;): C0 controls but tab, LF
# and CR; lone surrogates; U+FFFE and U+FFFF.
_NOT_XML_CHAR = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _cdata(name: str, text: str) -> str:
    # Fast path for the usual value (printable ASCII, no "]]>"): nothing below can apply
    # to it, so it is wrapped as is. Everything else takes the careful path.
    if text.isascii() and text.isprintable() and "]]>" not in text:
        return "<![CDATA[" + text + "]]>"
    bad = _NOT_XML_CHAR.search(text)
    if bad:
        raise ValueError(
            f"{name}: character U+{ord(bad.group()):04X} at offset {bad.start()} cannot be "
            "carried in XML; remove it"
        )
    # "]]>" cannot appear inside one CDATA section: end it there and open another.
    # A parser turns a raw CR (and CR LF) into LF, even in CDATA, so the receiver would
    # verify a different value than was signed: a CR goes out as a character reference.
    text = text.replace("]]>", "]]]]><![CDATA[>").replace("\r", "]]>&#13;<![CDATA[")
    return "<![CDATA[" + text + "]]>"


def to_xml(params: Mapping[str, str | int | None], root: str = "xml") -> bytes:
    """WeChat's flat XML: strings in CDATA, integers plain; ``None`` values left out."""
    parts = [f"<{root}>"]
    for name, value in params.items():
        if value is None:
            continue
        # An ASCII identifier always matches _NAME; the regex decides the rest.
        if not (name.isascii() and name.isidentifier()) and not _NAME.match(name):
            raise ValueError(f"{name!r} is not a valid XML element name")
        if isinstance(value, bool):
            raise TypeError(f"{name}: a WeChat parameter cannot be a bool")
        text = str(value) if isinstance(value, int) else _cdata(name, value)
        parts.append(f"<{name}>{text}</{name}>")
    parts.append(f"</{root}>")
    return "".join(parts).encode()


def from_xml(body: bytes, *, max_bytes: int = MAX_BODY_BYTES, root: str = "xml") -> dict[str, str]:
    """Parse a flat WeChat message into ``{name: text}``; raise XMLError on anything else.

    Empty elements give ``""``. Whitespace is kept as sent, since it is signed.
    """
    if not isinstance(body, bytes | bytearray):
        raise XMLError("the body must be bytes, as received")
    if not body.strip():
        raise XMLError("the body is empty: expected WeChat's <xml> message")
    if len(body) > max_bytes:
        raise XMLError(f"the body is {len(body)} bytes, over the {max_bytes}-byte limit")
    try:
        body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise XMLError(
            f"the body is not UTF-8 (bad byte at offset {exc.start}): WeChat sends UTF-8"
        ) from None
    declared = _DECLARED_ENCODING.match(body)
    if declared and declared.group(1).lower().replace(b"_", b"-") not in (b"utf-8", b"utf8"):
        raise XMLError(
            f"the body declares encoding {declared.group(1).decode('ascii', 'replace')!r}: "
            "only UTF-8 is accepted"
        )
    try:
        element = fromstring(bytes(body), forbid_dtd=True)
    except DefusedXmlException as exc:
        raise XMLError(
            f"the body has a DTD or entity ({type(exc).__name__}); refused, never expanded"
        ) from None
    except ParseError as exc:
        raise XMLError(f"the body is not well-formed XML: {exc}") from None
    if element.tag != root:
        raise XMLError(f"the root element is <{element.tag}>, expected <{root}>")
    if element.text and element.text.strip():
        raise XMLError(f"<{root}> holds bare text; expected only child elements")
    if element.attrib:
        raise XMLError(f"<{root}> has attributes; WeChat's messages have none")
    fields: dict[str, str] = {}
    for child in element:
        name = child.tag
        # Namespaces and attributes are no part of WeChat's messages: an element such as
        # <xi:include href=...> must be refused, not carried into the fields as "" (an
        # empty value is outside the signature, so it would ride along a genuine message).
        if not isinstance(name, str) or name.startswith("{"):
            raise XMLError(f"<{name}> is namespaced; WeChat's messages have no namespaces")
        if child.attrib:
            raise XMLError(f"<{name}> has attributes; WeChat's messages have none")
        if len(child):
            raise XMLError(f"<{name}> holds nested elements; WeChat's messages are flat")
        if name in fields:
            raise XMLError(f"<{name}> appears twice; each field must appear once")
        if child.tail and child.tail.strip():
            raise XMLError(f"bare text after <{name}>; expected only elements")
        fields[name] = child.text or ""
    return fields
