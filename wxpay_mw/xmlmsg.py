"""WeChat's flat ``<xml>`` messages: a dict to bytes and back.

Every body WeChat sends, and every body anyone sends to a notify endpoint, is parsed here
and only here, through defusedxml. A notify endpoint is unauthenticated input: in 2018 the
official Java SDK expanded external entities in notification bodies (CVE-2018-13439),
letting anyone read the merchant's API key off the disk. So before a signature is even
looked at, a DTD, an entity, an external reference, a comment, a processing instruction
(the XML declaration is allowed), a body over the cap, bytes that are not UTF-8, nested or
repeated elements each raise :class:`~wxpay_mw.errors.XMLError`.

The parser is pyexpat as defusedxml's SAX driver sets it up (DTDs, entity declarations
and external references raise); the flat message is read off it directly, with the same
results and messages as the defusedxml ElementTree parse this replaced, at about half
the cost (that one is the pure-Python ElementTree). One difference: a namespace name
holding whitespace is refused even where the namespace is never used.

WeChat's usual shape (one ``<xml>`` of plain or CDATA fields) is read first by
:mod:`wxpay_mw._xmlflat`, in under half the time; it answers only bodies it is sure of,
with the parser's exact answer, and leaves everything else to the parser.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final
from xml.parsers.expat import ExpatError

from defusedxml import DefusedXmlException
from defusedxml.expatreader import DefusedExpatParser

from ._xmlflat import flat
from .errors import XMLError

__all__ = ["MAX_BODY_BYTES", "from_xml", "to_xml"]

#: WeChat's messages are a few KiB; 64 KiB leaves room and refuses a flood.
MAX_BODY_BYTES: Final = 64 * 1024

_DECLARED_ENCODING = re.compile(rb"""^\s*<\?xml[^>]*?encoding\s*=\s*["']([^"']+)["']""")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]*\Z")


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


def _defused_expat() -> Any:
    """A fresh pyexpat parser set up by defusedxml, namespace processing on.

    defusedxml's SAX driver (``DefusedExpatParser``) creates the parser and installs its
    own handlers for a DOCTYPE, an entity declaration and an external reference, each of
    which raises a ``DefusedXmlException``. Only the content callbacks are replaced
    afterwards (by :func:`_read`), straight on the parser: SAX's per-event objects cost
    more than the whole parse, and ElementTree under defusedxml is the pure-Python one.
    """
    reader = DefusedExpatParser(
        namespaceHandling=1, forbid_dtd=True, forbid_entities=True, forbid_external=True
    )
    reader.reset()
    parser = reader._parser  # type: ignore[attr-defined]
    # The parser holds the reader's handlers; the reader must not hold the parser back,
    # or each parse leaves a reference cycle for the garbage collector.
    reader._parser = None  # type: ignore[attr-defined]
    # "uri local" names, like ElementTree's "{uri}local" (the prefix is not wanted).
    parser.namespace_prefixes = False
    parser.buffer_text = True
    return parser


def _check_defused() -> None:
    # Fail at import, not silently, if defusedxml ever stops guarding the parser this way.
    parser = _defused_expat()
    for guard in (
        "StartDoctypeDeclHandler",
        "EntityDeclHandler",
        "UnparsedEntityDeclHandler",
        "ExternalEntityRefHandler",
    ):
        if getattr(parser, guard, None) is None:
            raise ImportError(f"defusedxml no longer sets pyexpat's {guard}: wxpay_mw refuses")


_check_defused()


class _Document:
    """What the checks need to know of a parsed body, read the way ElementTree reads it.

    ``texts`` holds the root's text (what comes before its first child, or all of it
    when it has none), then each child's text and tail in turn: ``[root, text0, tail0,
    text1, tail1, ...]``. ``attributes`` and ``nested`` hold the positions of the
    children that have attributes or elements inside.
    """

    __slots__ = ("attributes", "names", "nested", "root", "root_attributes", "texts")

    def __init__(self) -> None:
        self.root = ""
        self.root_attributes = False
        self.names: list[str] = []
        self.texts: list[str] = []
        self.attributes: set[int] = set()
        self.nested: set[int] = set()


class _OddNamespace(Exception):
    """Raised out of the parse for a namespace name ElementTree could not carry."""


class _Unwanted(Exception):
    """Raised out of the parse for a comment or processing instruction: its message."""


def _read(body: bytes) -> _Document:
    """Parse ``body`` (well-formed or ExpatError, defused or DefusedXmlException).

    Nothing is judged here but comments and processing instructions (_Unwanted, at the
    first one): from_xml checks the document once it is known to be well-formed, in the
    order ElementTree's tree was checked before.
    """
    parser = _defused_expat()
    doc = _Document()
    names, texts = doc.names, doc.texts
    data: list[str] = []
    depth = 0

    def start(name: str, attributes: dict[str, str]) -> None:
        nonlocal depth
        depth += 1
        if depth == 2:
            # The root's text before the first child, else the previous child's tail.
            texts.append("".join(data))
            names.append(name)
            if attributes:
                doc.attributes.add(len(names) - 1)
        elif depth == 1:
            doc.root = name
            doc.root_attributes = bool(attributes)
        elif depth == 3:
            doc.nested.add(len(names) - 1)
        data.clear()

    def end(name: str) -> None:
        nonlocal depth
        if depth <= 2:
            # A child's text; at the root's end, the last child's tail (or the root's
            # text when it has no child).
            texts.append("".join(data))
        depth -= 1
        data.clear()

    def namespace(prefix: str | None, uri: str | None) -> None:
        # This parser cannot carry a namespace name holding a space (expat refuses it);
        # ElementTree's could not carry one holding "}". Refuse both, so that nothing
        # ElementTree refused gets through here.
        if uri and "}" in uri:
            raise _OddNamespace(
                f"a namespace name holds '}}': line {parser.CurrentLineNumber}, "
                f"column {parser.CurrentColumnNumber}"
            )

    def comment(text: str) -> None:
        # A comment splits a value in two and is dropped by every parser ("A<!--x-->B"
        # reads as "AB"), so what one reader of the body sees is not what another does.
        # WeChat never sends one: refused like a DTD, not skipped.
        raise _Unwanted(
            f"the body holds an XML comment (line {parser.CurrentLineNumber}, column "
            f"{parser.CurrentColumnNumber}); WeChat's messages have none: refused, not skipped"
        )

    def instruction(target: str, data: str) -> None:
        # The XML declaration is no processing instruction (expat reports it apart).
        raise _Unwanted(
            f"the body holds a processing instruction (line {parser.CurrentLineNumber}, "
            f"column {parser.CurrentColumnNumber}); WeChat's messages have none (only the "
            "<?xml ...?> declaration is allowed): refused, not skipped"
        )

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.StartNamespaceDeclHandler = namespace
    parser.CommentHandler = comment
    parser.ProcessingInstructionHandler = instruction
    parser.CharacterDataHandler = data.append
    try:
        parser.Parse(body, True)
    except _OddNamespace as exc:
        raise ExpatError(str(exc)) from None
    finally:
        # These handlers refer to the parser, which refers to them: break the cycles, so
        # that the parser goes when the call ends, not at the next garbage collection.
        parser.StartNamespaceDeclHandler = None
        parser.CommentHandler = None
        parser.ProcessingInstructionHandler = None
    return doc


def _tag(name: str) -> str:
    # Names come as "uri local" for namespaced elements: shown as ElementTree shows them.
    uri, _, local = name.rpartition(" ")
    return f"{{{uri}}}{local}" if uri else local


def from_xml(body: bytes, *, max_bytes: int = MAX_BODY_BYTES, root: str = "xml") -> dict[str, str]:
    """Parse a flat WeChat message into ``{name: text}``; raise XMLError on anything else.

    Empty elements give ``""``. Whitespace is kept as sent, since it is signed.
    """
    text = _checked(body, max_bytes)
    # WeChat's usual shape is read off a regular expression; for anything else (or
    # anything it is not sure of) the full parser decides, with the same result.
    if root == "xml" and (fields := flat(text)) is not None:
        return fields
    return _parsed(bytes(body), root)


def _checked(body: bytes, max_bytes: int) -> str:
    """``body`` decoded, once it is known to be bytes, non-blank, under the cap, UTF-8."""
    if not isinstance(body, bytes | bytearray):
        raise XMLError("the body must be bytes, as received")
    if not body.strip():
        raise XMLError("the body is empty: expected WeChat's <xml> message")
    if len(body) > max_bytes:
        raise XMLError(f"the body is {len(body)} bytes, over the {max_bytes}-byte limit")
    try:
        text = body.decode("utf-8")
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
    return text


def _parsed(body: bytes, root: str) -> dict[str, str]:
    """The full parse of a checked body, and every check on what it holds."""
    try:
        doc = _read(body)
    except DefusedXmlException as exc:
        raise XMLError(
            f"the body has a DTD or entity ({type(exc).__name__}); refused, never expanded"
        ) from None
    except ExpatError as exc:
        raise XMLError(f"the body is not well-formed XML: {exc}") from None
    except _Unwanted as exc:
        raise XMLError(str(exc)) from None
    if doc.root != root:
        raise XMLError(f"the root element is <{_tag(doc.root)}>, expected <{root}>")
    if doc.texts[0].strip():
        raise XMLError(f"<{root}> holds bare text; expected only child elements")
    if doc.root_attributes:
        raise XMLError(f"<{root}> has attributes; WeChat's messages have none")
    names = doc.names
    fields = dict(zip(names, doc.texts[1::2], strict=True))
    # No plain name holds a space (a namespaced one does: "uri local"), and the tails
    # joined are blank only when each one is: then no check below can fail.
    if (
        len(fields) == len(names)
        and not doc.attributes
        and not doc.nested
        and " " not in "".join(names)
        and not "".join(doc.texts[2::2]).strip()
    ):
        return fields
    raise _refusal(doc)


def _refusal(doc: _Document) -> XMLError:
    """The error for the first child, in document order, that is not a plain field."""
    seen: set[str] = set()
    for i, name in enumerate(doc.names):
        # Namespaces and attributes are no part of WeChat's messages: an element such as
        # <xi:include href=...> must be refused, not carried into the fields as "" (an
        # empty value is outside the signature, so it would ride along a genuine message).
        if " " in name:
            return XMLError(f"<{_tag(name)}> is namespaced; WeChat's messages have no namespaces")
        if i in doc.attributes:
            return XMLError(f"<{name}> has attributes; WeChat's messages have none")
        if i in doc.nested:
            return XMLError(f"<{name}> holds nested elements; WeChat's messages are flat")
        if name in seen:
            return XMLError(f"<{name}> appears twice; each field must appear once")
        if doc.texts[2 + 2 * i].strip():
            return XMLError(f"bare text after <{name}>; expected only elements")
        seen.add(name)
    return XMLError("the body is not a flat WeChat message")  # pragma: no cover
