"""The fast path of :func:`wxpay_mw.xmlmsg.from_xml`: WeChat's usual flat message.

WeChat's messages are one ``<xml>`` holding plain or CDATA fields, nothing else. For a
body of exactly that shape, the fields are read with two regular expressions (about
2.5x faster than the expat parse). The shape is kept narrow on purpose: anything the
full parser could read differently, or refuse, does not match, and then :func:`flat`
returns None and the caller runs the full, defused parser, which alone decides. So
the fast path never refuses and never accepts on its own; it only answers, sooner, the
bodies whose answer is certain. Not matched (so left to the full parser):

* an entity or character reference (``&``), a DTD, comment or processing instruction
  (``<!`` other than CDATA, ``<?`` other than the exact XML declaration);
* attributes, namespaces (``:``), nesting, text beside the fields, a second CDATA
  section or a mix of CDATA and plain text in one field;
* a CR anywhere (parsers turn CR and CR LF into LF), ``]`` in a value (``]]>``), any
  C0 or C1 control but tab and LF, U+FFFE and U+FFFF, a byte-order mark;
* whitespace other than space, tab and LF between fields, or inside a tag;
* a field that appears twice (the full parser names it in its error).

The body has already been checked for size and UTF-8 (that is shared with the full
path); :mod:`tests.core.test_xmlflat` and ``bench/xml_equivalence.py`` compare both
paths on generated valid and hostile bodies.
"""

from __future__ import annotations

import re
from typing import Final

__all__ = ["flat"]

_SPACE = r"[ \t\n]*+"
_NAME = r"[A-Za-z_][A-Za-z0-9_.\-]*+"
# The characters a value may hold on this path: every XML character but markup (<, &),
# "]" (so that no "]]>" needs thought), CR, C0/C1 controls and U+FFFE/U+FFFF. A parser
# gives such text back unchanged.
_PLAIN = r"[^<&\]\r\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ufffe\uffff]*+"
_CDATA = r"[^\]\r\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ufffe\uffff]*+"
_DECLARATION = r'<\?xml version="1\.0"(?: encoding="UTF-8")?\?>'

# The whole body, for the shape only: fields are read by _FIELDS afterwards. Every
# quantifier is possessive, so a body that does not match fails in linear time.
_MESSAGE: Final = re.compile(
    rf"(?:{_DECLARATION})?{_SPACE}<xml>"
    rf"(?:{_SPACE}<(?P<n>{_NAME})(?:/>|>(?:<!\[CDATA\[{_CDATA}\]\]>|{_PLAIN})</(?P=n)>))*+"
    rf"{_SPACE}</xml>{_SPACE}"
)
_FIELDS: Final = re.compile(rf"<({_NAME})(?:/>|>(?:<!\[CDATA\[({_CDATA})\]\]>|({_PLAIN}))</\1>)")
_ROOT: Final = "<xml>"


def flat(text: str) -> dict[str, str] | None:
    """The fields of ``text`` if it is a plain flat ``<xml>`` message, else None.

    ``text`` is the body decoded from UTF-8. None means "not sure": parse it in full.
    """
    if _MESSAGE.fullmatch(text) is None:
        return None
    # The shape matched, so the fields follow the root's start tag, one after another.
    found = _FIELDS.findall(text, text.index(_ROOT) + len(_ROOT))
    fields = {name: cdata or plain for name, cdata, plain in found}
    return fields if len(fields) == len(found) else None
