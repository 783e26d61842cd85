"""Core operations per second, single thread: wxpay-mw against wechatpy on the same inputs.

wechatpy's own notify path (``WeChatPay.parse_payment_result``) is what it is compared
with: ``xmltodict.parse(body)["xml"]``, pop ``sign``, ``calculate_signature`` of the rest
and ``!=``. Its request path signs with ``calculate_signature`` (or
``calculate_signature_hmac``) and serialises with ``dict_to_xml(data, sign)`` encoded to
UTF-8. Those are the functions timed here, called exactly as wechatpy calls them.

Each repetition times every operation of both libraries back to back (the order of the
two alternates), so a noisy neighbour slows both alike; the ratio is taken per
repetition and its median reported.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from wxpay_mw import signing, xmlmsg

from ._data import API_KEY, notification, notification_body
from ._report import Figure, Section, median

__all__ = ["run"]

Op = Callable[[], object]


def _ops() -> list[tuple[str, Op, Op]]:
    import xmltodict
    from wechatpy.pay.utils import calculate_signature, calculate_signature_hmac, dict_to_xml

    key = API_KEY
    signed = notification()
    unsigned = {k: v for k, v in signed.items() if k != "sign"}
    body = notification_body(signed)
    # Both sides must agree before either is timed, or the comparison is meaningless.
    assert calculate_signature(unsigned, key) == signing.sign(unsigned, key)
    assert calculate_signature_hmac(unsigned, key) == signing.sign(unsigned, key, "HMAC-SHA256")
    assert dict(xmltodict.parse(body)["xml"]) == xmlmsg.from_xml(body) == signed

    def wechatpy_verify() -> bool:
        data = dict(signed)  # parse_payment_result pops from its freshly parsed dict
        sign = data.pop("sign", None)
        return sign == calculate_signature(data, key)

    def wechatpy_notify() -> bool:
        data = xmltodict.parse(body)["xml"]
        sign = data.pop("sign", None)
        return sign == calculate_signature(data, key)

    def ours_notify() -> bool:
        return signing.verify(xmlmsg.from_xml(body), key)

    return [
        (
            "sign MD5",
            lambda: signing.sign(unsigned, key),
            lambda: calculate_signature(unsigned, key),
        ),
        (
            "sign HMAC-SHA256",
            lambda: signing.sign(unsigned, key, "HMAC-SHA256"),
            lambda: calculate_signature_hmac(unsigned, key),
        ),
        ("verify MD5", lambda: signing.verify(signed, key), wechatpy_verify),
        (
            "to_xml",
            lambda: xmlmsg.to_xml(signed),
            lambda: dict_to_xml(unsigned, signed["sign"]).encode("utf-8"),
        ),
        ("from_xml", lambda: xmlmsg.from_xml(body), lambda: xmltodict.parse(body)["xml"]),
        ("parse + verify (whole notify check)", ours_notify, wechatpy_notify),
    ]


def _rate(fn: Op, seconds: float) -> float:
    """Calls per second of ``fn``, timed over a batch sized to last about ``seconds``."""
    n = 64
    while True:
        start = time.perf_counter()
        for _ in range(n):
            fn()
        elapsed = time.perf_counter() - start
        if elapsed >= seconds / 4 or n >= 1 << 22:
            break
        n *= 4
    if elapsed < seconds:
        extra = max(1, int(n * (seconds - elapsed) / elapsed))
        start = time.perf_counter()
        for _ in range(extra):
            fn()
        return extra / (time.perf_counter() - start)
    return n / elapsed


def run(quick: bool = False) -> Section:
    """Time each operation for both libraries; the bar is ours >= wechatpy's."""
    reps = 3 if quick else 9
    batch = 0.05 if quick else 0.15
    section = Section(
        key="core",
        title="Core operations (single thread) vs wechatpy",
        method=(
            "A typical mini-program payment notification (19 fields + sign, MD5). Each "
            f"operation timed over batches of ~{batch * 1000:.0f} ms, {reps} repetitions, "
            "wxpay-mw and wechatpy interleaved (alternating who goes first); medians of "
            "ops/s and the median of the per-repetition ratios. wechatpy is called exactly "
            "as its own notify path (parse_payment_result) and request path (_request) do."
        ),
    )
    import wechatpy

    section.notes.append(
        f"wechatpy {wechatpy.__version__}; ours = wxpay_mw.signing / wxpay_mw.xmlmsg "
        "(from_xml goes through defusedxml with every security check on; wechatpy's "
        "xmltodict path has none of those checks)."
    )
    ops = _ops()
    ours: dict[str, list[float]] = {name: [] for name, _, _ in ops}
    theirs: dict[str, list[float]] = {name: [] for name, _, _ in ops}
    ratios: dict[str, list[float]] = {name: [] for name, _, _ in ops}
    for rep in range(reps):
        for name, mine, other in ops:
            if rep % 2:
                b = _rate(other, batch)
                a = _rate(mine, batch)
            else:
                a = _rate(mine, batch)
                b = _rate(other, batch)
            ours[name].append(a)
            theirs[name].append(b)
            ratios[name].append(a / b)
    for name, _, _ in ops:
        ratio = median(ratios[name])
        section.figures.append(
            Figure(
                name=f"{name}: ops/s wxpay-mw vs wechatpy",
                value=f"{median(ours[name]):,.0f} vs {median(theirs[name]):,.0f} (x{ratio:.2f})",
                bar="ratio >= 1.00",
                ok=ratio >= 1.0,
                note=f"ratios min {min(ratios[name]):.2f} max {max(ratios[name]):.2f}",
            )
        )
    return section
