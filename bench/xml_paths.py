"""from_xml with and without its fast path, single thread, on WeChat's usual bodies.

"Without" is from_xml's full path alone (the same size and UTF-8 checks, then the
defused expat parse and its checks): what every body cost before the fast path, and
what every body the fast path is not sure of still costs. Each repetition times both
back to back (alternating who goes first); medians of the per-call times and of the
per-repetition ratios, as in core_ops.py::

    .venv/bin/python -m bench.xml_paths            # 11 repetitions
    .venv/bin/python -m bench.xml_paths --reps 21
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable

from wxpay_mw import xmlmsg
from wxpay_mw._xmlflat import flat

from ._data import notification, notification_body
from ._report import median
from .core_ops import _rate


def _full(body: bytes) -> dict[str, str]:
    xmlmsg._checked(body, xmlmsg.MAX_BODY_BYTES)
    return xmlmsg._parsed(body, "xml")


def _bodies() -> dict[str, bytes]:
    body = notification_body(notification())
    answer = xmlmsg.to_xml(
        {
            "return_code": "SUCCESS",
            "return_msg": "OK",
            "appid": "wx5157e57000000001",
            "mch_id": "1900000109",
            "nonce_str": "5d2b6c2a8db53831f7eda20af46e531c",
            "sign": "7921E432F65EB8ED0CE9755F0E86D72F",
            "result_code": "SUCCESS",
            "prepay_id": "wx201410272009395522657a690389285100",
            "trade_type": "JSAPI",
        }
    )
    # WeChat's documented examples put each field on its own line.
    lines = b'<?xml version="1.0" encoding="UTF-8"?>\n' + re.sub(rb"(</\w+>|<xml>)", rb"\1\n", body)
    return {
        "notification (20 fields, CDATA)": body,
        "notification, declaration and one field a line": lines,
        "unifiedorder answer (9 fields)": answer,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=11)
    parser.add_argument("--batch", type=float, default=0.15, help="seconds per timing")
    args = parser.parse_args(argv)
    for name, body in _bodies().items():
        assert xmlmsg.from_xml(body) == _full(body)  # the same answer, or nothing to time
        assert flat(body.decode()) is not None, f"{name}: not on the fast path"
        fast: Callable[[], object] = lambda body=body: xmlmsg.from_xml(body)  # noqa: E731
        full: Callable[[], object] = lambda body=body: _full(body)  # noqa: E731
        with_us: list[float] = []
        without_us: list[float] = []
        for rep in range(args.reps):
            pair = [(fast, with_us), (full, without_us)]
            for fn, times in pair if rep % 2 == 0 else reversed(pair):
                times.append(1e6 / _rate(fn, args.batch))
        ratios = [b / a for a, b in zip(with_us, without_us, strict=True)]
        print(
            f"{name}: from_xml {median(with_us):.1f} us, full parser {median(without_us):.1f}"
            f" us, x{median(ratios):.2f} faster (ratios {min(ratios):.2f}-{max(ratios):.2f},"
            f" {args.reps} interleaved repetitions)"
        )


if __name__ == "__main__":
    main()
