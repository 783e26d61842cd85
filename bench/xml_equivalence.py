"""from_xml's fast path against the full parser, on generated valid and hostile bodies.

``from_xml`` reads WeChat's usual flat message with a regular expression
(``wxpay_mw._xmlflat``) and leaves every other body to the defused expat parser. This
checks that the two can never disagree: for each generated body, ``from_xml`` (fast
path on) and the full path alone (the same size and UTF-8 checks, then the parser)
must give the same fields in the same order, or an XMLError with the same message.

Bodies are WeChat-like messages written in many ways (CDATA, plain, empty, split CDATA,
mixed, odd whitespace, declarations, odd roots, prefixes and suffixes), each with a
chance of one to three mutations (hostile tokens inserted, bytes replaced, ranges
deleted or duplicated, truncation). Deterministic for a given seed::

    .venv/bin/python -m bench.xml_equivalence                 # 500,000 bodies
    .venv/bin/python -m bench.xml_equivalence --bodies 20000 --seed 7

Prints the counts and exits non-zero on the first disagreement, showing the body.
"""

from __future__ import annotations

import argparse
import random
import sys
import time

from wxpay_mw import xmlmsg
from wxpay_mw._xmlflat import flat
from wxpay_mw.errors import XMLError

NAMES = [
    "appid", "mch_id", "nonce_str", "total_fee", "out_trade_no", "sign", "a", "b", "A1",
    "_x", "x-y", "a.b", "xml", "xmlns", "xmlfoo", "CDATA", "p:a", "xmlns:p", "中文", "a1_",
    "-a", ".a", "1a", "a b", "",
]  # fmt: skip
WECHAT = [
    "appid", "mch_id", "device_info", "nonce_str", "sign", "sign_type", "result_code",
    "err_code", "err_code_des", "openid", "is_subscribe", "trade_type", "bank_type",
    "total_fee", "settlement_total_fee", "fee_type", "cash_fee", "cash_fee_type",
    "coupon_fee", "coupon_count", "coupon_id_0", "transaction_id", "out_trade_no",
    "attach", "time_end", "return_code", "return_msg",
]  # fmt: skip
FRAGMENTS = [
    "", "SUCCESS", "1280", " spaced ", "腾讯-游戏", "a\tb", "line\nline", "a]b", "]]>", "]]",
    "]", "<b>", "</b>", "&amp;", "&#13;", "a&b", "\r", "\r\n", "\n", "\t", " ", "x\x85y",
    "\x7f", "\x9f", "\xa0", "\u2028", "\ufeff", "\U0001f600", "\ufdd0", "\ufffd", ">", "'",
    '"', "=", "<!--c-->", "<?pi?>", "<![CDATA[x]]>", "\x0b", "\x00", "\x1f", "\x0c", "?",
    "!", "-", "\uffff", "\ufffe",
]  # fmt: skip
SEPARATORS = ["", "", "", "\n", "\n", " ", "\t", "\n  ", "\r\n", "\r", "\xa0", "x", "\x0c"]
PREFIXES = [
    "", "", "", "", '<?xml version="1.0" encoding="UTF-8"?>', '<?xml version="1.0"?>',
    '<?xml version="1.0" encoding="UTF-8"?>\n', "<?xml version='1.0' encoding='utf-8'?>",
    '<?xml version="1.0" encoding="utf-8"?>', '<?xml version="1.0" encoding="GBK"?>',
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>', '<?xml  version="1.0"?>',
    '<?xml version="1.1"?>', "\n", " ", "\ufeff", "<!--c-->", "<!DOCTYPE xml>", "<?pi?>",
    ' <?xml version="1.0"?>',
]  # fmt: skip
ROOTS = [
    ("<xml>", "</xml>"), ("<xml>", "</xml>"), ("<xml>", "</xml>"), ("<xml>", "</xml>"),
    ("<xml >", "</xml >"), ('<xml a="1">', "</xml>"), ("<root>", "</root>"),
    ('<xml xmlns="urn:x">', "</xml>"), ('<xml xmlns:p="urn:p">', "</xml>"), ("<xml>", ""),
    ("<XML>", "</XML>"), ("<xml>", "</xm>"),
]  # fmt: skip
SUFFIXES = ["", "", "", "\n", " ", "\n\n", "<!--c-->", "x", "<a/>", "\r\n", "<?pi?>"]
TOKENS = [
    b"<", b">", b"&", b"]", b"]]>", b"<!--x-->", b"<?pi?>", b"&amp;", b"&#13;", b"&#x41;",
    b"&lt;", b"<![CDATA[", b"\r", b"\r\n", b"\n", b" ", b"\t", b"\x00", b"\x0b", b"\xc2\x85",
    b"\xc2\xa0", b"\xef\xbb\xbf", b"\xef\xbf\xbf", b"\xed\xa0\x80", b"\xff", b"\xe8\x85",
    b":", b"p:", b' a="1"', b' xmlns="u"', b' xmlns:p="u"', b"/", b"<a>", b"</a>", b"<a/>",
    b"<xml>", b"</xml>", b"<!DOCTYPE xml>", b'<!ENTITY x "y">', b"&x;", b"=", b'"', b"'",
    b"?", b"!", b"-", b'<?xml version="1.0"?>', b"<b>1</b>", b"<appid>x</appid>",
]  # fmt: skip


# What the fast path takes: WeChat's values, and the edges of the characters it allows.
CLEAN = "azAZ09_-.@|* 腾讯游戏\t\n>'\"=?!/\xa0\u2028\ufdd0\ufffd\U0001f600\U0010fffd\xff\u0100"


def _value(rng: random.Random, tricky: float) -> str:
    if rng.random() >= tricky:
        return "".join(rng.choice(CLEAN) for _ in range(rng.randint(0, 24)))
    parts = [rng.choice(FRAGMENTS) for _ in range(rng.randint(0, 3))]
    if rng.random() < 0.5:
        alphabet = rng.choice(["azAZ09_-", "0123456789", "腾讯游戏 ", "a]>&<\r\n\t "])
        parts.append("".join(rng.choice(alphabet) for _ in range(rng.randint(0, 12))))
    return "".join(rng.sample(parts, len(parts)))


def _field(rng: random.Random, name: str, value: str, kinds: int) -> str:
    kind = rng.randrange(kinds)
    if kind < 5:
        return f"<{name}><![CDATA[{value}]]></{name}>"
    if kind < 9:
        return f"<{name}>{value}</{name}>"
    if kind == 9:
        return f"<{name}/>" if rng.random() < 0.5 else f"<{name}></{name}>"
    if kind == 10:
        cut = rng.randint(0, len(value))
        return f"<{name}><![CDATA[{value[:cut]}]]><![CDATA[{value[cut:]}]]></{name}>"
    return f"<{name}>{value[:2]}<![CDATA[{value[2:]}]]></{name}>"


def _message(rng: random.Random) -> bytes:
    names = rng.sample(WECHAT, rng.randint(0, len(WECHAT)))
    if rng.random() < 0.5:
        # As WeChat writes them: real names, clean values, CDATA or plain, no frills.
        inner = rng.choice(["", "\n"]).join(_field(rng, n, _value(rng, 0.0), 10) for n in names)
        prefix = rng.choice(PREFIXES[:9]) if rng.random() < 0.2 else ""
        return f"{prefix}<xml>{inner}</xml>{rng.choice(SUFFIXES[:6])}".encode()
    # Anything else: tricky values, odd names and duplicates, odd whitespace and roots.
    tricky = rng.choice([0.0, 0.1, 0.3, 1.0])
    for _ in range(rng.randint(0, 2) if rng.random() < 0.3 else 0):
        names.insert(rng.randint(0, len(names)), rng.choice(NAMES))  # odd, or a duplicate
    if rng.random() < 0.2:
        fields = {n: _value(rng, tricky) for n in names if n and " " not in n and ":" not in n}
        try:
            return xmlmsg.to_xml(fields)
        except ValueError:
            pass
    sep = rng.choice(SEPARATORS) if rng.random() < 0.4 else rng.choice(["", "\n"])
    start, end = rng.choice(ROOTS) if rng.random() < 0.2 else ("<xml>", "</xml>")
    kinds = rng.choice([10, 12])  # 12: split and mixed CDATA too
    inner = sep.join(_field(rng, n, _value(rng, tricky), kinds) for n in names)
    prefix = rng.choice(PREFIXES) if rng.random() < 0.3 else ""
    text = prefix + start + sep + inner + sep + end + rng.choice(SUFFIXES)
    return text.encode("utf-8")


def _mutate(rng: random.Random, body: bytes) -> bytes:
    for _ in range(rng.randint(1, 3)):
        at = rng.randint(0, len(body))
        op = rng.randrange(6)
        if op <= 1:
            body = body[:at] + rng.choice(TOKENS) + body[at:]
        elif op == 2:
            body = body[:at] + body[at + rng.randint(1, 6) :]
        elif op == 3 and body:
            at = min(at, len(body) - 1)
            body = body[:at] + bytes([rng.randrange(256)]) + body[at + 1 :]
        elif op == 4:
            size = rng.randint(1, 40)
            body = body[:at] + body[at : at + size] + body[at:]
        else:
            body = body[:at]
    return body


def body(rng: random.Random) -> bytes:
    """One generated body: a message, mutated 40% of the time."""
    message = _message(rng)
    return _mutate(rng, message) if rng.random() < 0.4 else message


def outcome(parse: object, data: bytes) -> tuple[str, object]:
    """("ok", the fields in order) or ("error", the XMLError's message)."""
    try:
        fields = parse(data)  # type: ignore[operator]
    except XMLError as exc:
        return ("error", str(exc))
    return ("ok", list(fields.items()))


def full(data: bytes) -> dict[str, str]:
    """from_xml without its fast path: the same checks, then the parser."""
    xmlmsg._checked(data, xmlmsg.MAX_BODY_BYTES)
    return xmlmsg._parsed(bytes(data), "xml")


def fast_taken(data: bytes) -> bool:
    """Whether from_xml answers ``data`` on its fast path."""
    try:
        text = xmlmsg._checked(data, xmlmsg.MAX_BODY_BYTES)
    except XMLError:
        return False
    return flat(text) is not None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bodies", type=int, default=500_000)
    parser.add_argument("--seed", type=int, default=20261201)
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)
    started = time.monotonic()
    counts = {"bodies": 0, "fast path": 0, "accepted": 0, "refused": 0}
    for _ in range(args.bodies):
        data = body(rng)
        mine, theirs = outcome(xmlmsg.from_xml, data), outcome(full, data)
        if mine != theirs:
            print(f"DISAGREE on {data!r}:\n  from_xml: {mine}\n  full:     {theirs}")
            return 1
        counts["bodies"] += 1
        counts["fast path"] += fast_taken(data)
        counts["accepted" if mine[0] == "ok" else "refused"] += 1
    took = time.monotonic() - started
    print(", ".join(f"{k} {v:,}" for k, v in counts.items()) + f"; seed {args.seed}, {took:.0f} s")
    print("every body: the same fields, or an XMLError with the same message")
    return 0


if __name__ == "__main__":
    sys.exit(main())
