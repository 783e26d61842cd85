"""``wxpay-mw simulator``: run the offline WeChat until Ctrl-C; ``... trigger`` an event.

``wxpay_mw/cli.py`` registers the subcommand with :func:`add_arguments` and :func:`run`.
The merchant comes from the same ``WXPAY_*`` settings as the app (WXPAY_APPID,
WXPAY_MCH_ID, WXPAY_API_KEY, WXPAY_APP_SECRET, WXPAY_REFUND_NOTIFY_URL); without them a
fresh test merchant is made and its settings printed, to paste into the app's environment.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import signal
import sys
import threading
from collections.abc import Mapping
from typing import Final, TextIO

from ..errors import ConfigError
from ._merchant import Merchant
from ._v3cli import add_v3_arguments, print_v3_banner, v3_options

__all__ = ["add_arguments", "merchant_from_env", "run"]

_MERCHANT_VARS = ("WXPAY_APPID", "WXPAY_MCH_ID", "WXPAY_API_KEY")
_EXAMPLE_NOTIFY_URL: Final = "http://127.0.0.1:8000/wxpay/notify"


_STABLE: Final = (
    "The merchant: export your app's WXPAY_APPID, WXPAY_MCH_ID, WXPAY_API_KEY and "
    "WXPAY_APP_SECRET before starting it, and the simulator is that merchant, the same on "
    "every run (a stable merchant: your app's settings never change). Without them each "
    "run makes a new test merchant and prints its settings. The start-up banner lists "
    "every setting your app needs; the console is at /simulator/. See docs/simulator.md."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``simulator`` subcommand's options (and ``trigger``) to ``parser``."""
    from ._trigger import add_trigger

    parser.epilog = _STABLE
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (127.0.0.1)")
    parser.add_argument("--port", type=int, default=8700, help="port to bind; 0: any free port")
    parser.add_argument(
        "--time-factor",
        type=float,
        default=1.0,
        help="scale WeChat's delays (notification retries, refund settling): 0.01 is 100x faster",
    )
    parser.add_argument(
        "--duplicate",
        action="store_true",
        help="send every notification twice at once, as WeChat's several servers do",
    )
    add_v3_arguments(parser)
    commands = parser.add_subparsers(dest="simulator_command", metavar="[trigger]")
    add_trigger(commands)


def merchant_from_env(environ: Mapping[str, str]) -> tuple[Merchant, bool]:
    """(Merchant, from_env): the WXPAY_* merchant, or a fresh test merchant.

    Raises ConfigError when the settings are partial or invalid.
    """
    present = [name for name in _MERCHANT_VARS if environ.get(name)]
    if not present:
        return Merchant(), False
    if len(present) != len(_MERCHANT_VARS):
        missing = next(name for name in _MERCHANT_VARS if name not in present)
        raise ConfigError(
            missing, "is not set (set all of WXPAY_APPID, WXPAY_MCH_ID, WXPAY_API_KEY)"
        )
    merchant = Merchant(
        appid=environ["WXPAY_APPID"].strip(),
        mch_id=environ["WXPAY_MCH_ID"].strip(),
        api_key=environ["WXPAY_API_KEY"].strip(),
        refund_notify_url=environ.get("WXPAY_REFUND_NOTIFY_URL") or None,
    )
    if environ.get("WXPAY_APP_SECRET"):
        merchant = dataclasses.replace(merchant, app_secret=environ["WXPAY_APP_SECRET"].strip())
    return merchant, True


def _print_banner(
    out: TextIO,
    base_url: str,
    merchant: Merchant,
    from_env: bool,
    environ: Mapping[str, str] | None = None,
) -> None:
    environ = os.environ if environ is None else environ
    notify_url = environ.get("WXPAY_NOTIFY_URL") or _EXAMPLE_NOTIFY_URL
    print(f"WeChat simulator running at {base_url}  (Ctrl-C to stop)", file=out)
    print(f"Console: {base_url}/simulator/  (orders, notifications, faults)", file=out)
    if from_env:
        print(
            f"Merchant from the environment: appid {merchant.appid}, mch_id {merchant.mch_id}",
            file=out,
        )
        print("Your app's settings (the secrets are yours, as exported):", file=out)
    else:
        # A throwaway test merchant: its key must be shown, or no app could talk to it.
        print("A test merchant, new each run (export these to keep it: see --help).", file=out)
        print("Your app's settings:", file=out)
    print(f"  WXPAY_APPID={merchant.appid}", file=out)
    print(f"  WXPAY_MCH_ID={merchant.mch_id}", file=out)
    if from_env:
        print("  WXPAY_API_KEY=(as exported)", file=out)
        if environ.get("WXPAY_APP_SECRET"):
            print("  WXPAY_APP_SECRET=(as exported)", file=out)
        else:
            print(
                "  WXPAY_APP_SECRET is not set: logins (jscode2session) will be refused", file=out
            )
    else:
        print(f"  WXPAY_API_KEY={merchant.api_key}", file=out)
        print(f"  WXPAY_APP_SECRET={merchant.app_secret}", file=out)
    print(f"  WXPAY_API_BASE={base_url}", file=out)
    print(f"  WXPAY_LOGIN_BASE={base_url}", file=out)
    print(f"  WXPAY_NOTIFY_URL={notify_url}", file=out)
    if merchant.refund_notify_url:
        print(f"  WXPAY_REFUND_NOTIFY_URL={merchant.refund_notify_url}", file=out)
    else:
        print(f"  WXPAY_REFUND_NOTIFY_URL={notify_url.rsplit('/', 1)[0]}/refund-notify", file=out)
    if not environ.get("WXPAY_NOTIFY_URL"):
        print(
            "  (WXPAY_NOTIFY_URL: your app's notify endpoint, which this simulator must reach; "
            "the value above is an example)",
            file=out,
        )
    print(f"Control endpoints: {base_url}/simulator/ (see docs/simulator.md)", file=out)
    out.flush()


def run(args: argparse.Namespace, *, stop: threading.Event | None = None) -> int:
    """Run the simulator until Ctrl-C (or ``stop`` is set); the exit status."""
    from ._server import Simulator

    if getattr(args, "simulator_command", None) == "trigger":
        from ._trigger import trigger

        return trigger(args)

    try:
        merchant, from_env = merchant_from_env(os.environ)
    except ConfigError as exc:
        print(f"wxpay-mw simulator: {exc}", file=sys.stderr)
        return 2
    if not args.time_factor > 0:
        print("wxpay-mw simulator: --time-factor must be positive", file=sys.stderr)
        return 2
    stop = stop or threading.Event()
    try:
        simulator = Simulator(
            merchant,
            host=args.host,
            port=args.port,
            time_factor=args.time_factor,
            duplicate=args.duplicate,
            **v3_options(args),
        ).start()
    except OSError as exc:
        print(
            f"wxpay-mw simulator: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr
        )
        return 1
    previous = None
    if threading.current_thread() is threading.main_thread():
        # SIGTERM (docker stop, systemd) stops as cleanly as Ctrl-C.
        previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        _print_banner(sys.stdout, simulator.base_url, merchant, from_env)
        if simulator.api == "v3":
            print_v3_banner(sys.stdout, simulator)
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        simulator.stop()
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    return 0
