"""The ``wxpay-mw`` command: sign and verify WeChat Pay v2 messages, run the simulator.

``wxpay-mw sign`` prints the exact string that is signed (the key masked) and the sign, so
a wrong MD5 can be traced to the one field that differs. ``wxpay-mw verify`` checks a
saved XML message and, when its sign is wrong, shows what it expected. ``wxpay-mw
reconcile --app module:wxpay`` asks WeChat about pending orders (for cron).

Each subcommand is one function decorated with :func:`_command`: it receives its own
``argparse`` parser, adds its arguments and returns the function that runs it. Only the
chosen subcommand's function is called, so a subcommand may import heavy or optional
modules inside it (the simulator does) without slowing down or breaking the others.

Exit status: 0 success, 1 a negative answer (``verify``: the sign is wrong), 2 bad input
or another error (one line on stderr, never a traceback).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, NoReturn

from . import __version__, signing
from .errors import WxPayError
from .xmlmsg import from_xml

__all__ = ["main"]

Runner = Callable[[argparse.Namespace], int]
Setup = Callable[[argparse.ArgumentParser], Runner]

_PROG = "wxpay-mw"
# name -> (one-line help, setup); filled by @_command in definition order.
_COMMANDS: dict[str, tuple[str, Setup]] = {}


class CommandError(Exception):
    """Bad input to a subcommand: printed as one line on stderr, exit status 2."""


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors become one line instead of usage plus exit."""

    def error(self, message: str) -> NoReturn:
        raise CommandError(f"{message} (see '{self.prog} --help')")


def _command(name: str, help: str) -> Callable[[Setup], Setup]:
    """Register ``setup`` as subcommand ``name``; ``help`` is its line in ``--help``."""

    def register(setup: Setup) -> Setup:
        _COMMANDS[name] = (help, setup)
        return setup

    return register


# --- shared helpers ------------------------------------------------------------------


def _mask(key: str) -> str:
    # All stars, one per character: the length shows whether it is a 32-character API
    # key, and not a single character of the key reaches a terminal, a log or a ticket.
    return "*" * len(key)


def _key_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--key",
        help="the API key (default: $WXPAY_API_KEY; prefer the variable: "
        "a --key ends up in the shell history)",
    )
    parser.add_argument(
        "--sign-type",
        type=str.upper,
        choices=signing.SIGN_TYPES,
        help="MD5 or HMAC-SHA256",
    )


def _key(args: argparse.Namespace) -> str:
    key: str | None = args.key or os.environ.get("WXPAY_API_KEY")
    if not key:
        raise CommandError("no key: pass --key or set WXPAY_API_KEY")
    if len(key) != 32 or not key.isalnum():
        _note(
            f"the key has {len(key)} characters; WeChat's API key is 32 letters and digits "
            "(the app secret is not the API key)"
        )
    return key


def _note(text: str) -> None:
    print(f"note: {text}", file=sys.stderr)


def _signed_string(params: dict[str, str], key: str) -> str:
    return f"{signing.string_to_sign(params)}&key={_mask(key)}"


# --- subcommands ---------------------------------------------------------------------


@_command("sign", "print the exact string signed (key masked), then the sign")
def _sign(parser: argparse.ArgumentParser) -> Runner:
    parser.description = (
        "Sign name=value parameters as WeChat Pay v2 does. Prints the string that was "
        "signed, with the key masked, then the sign on the last line."
    )
    _key_argument(parser)
    parser.add_argument("params", nargs="+", metavar="name=value", help="the parameters")

    def run(args: argparse.Namespace) -> int:
        params: dict[str, str] = {}
        for item in args.params:
            name, sep, value = item.partition("=")
            if not sep or not name:
                raise CommandError(f"{item!r} is not name=value")
            if name in params:
                raise CommandError(f"{name} is given twice")
            params[name] = value
        if "sign" in params:
            _note("'sign' is never part of the string to sign; it was left out")
        empty = sorted(k for k, v in params.items() if v == "")
        if empty:
            _note(f"empty values are not signed: {', '.join(empty)}")
        key = _key(args)
        sign_type: signing.SignType = args.sign_type or signing.MD5
        print(_signed_string(params, key))
        print(signing.sign(params, key, sign_type))
        return 0

    return run


@_command("verify", "check the sign of a WeChat XML message; show what was expected")
def _verify(parser: argparse.ArgumentParser) -> Runner:
    parser.description = (
        "Check the sign of a WeChat Pay v2 XML message. Exit 0 if it is right; otherwise "
        "show the string that should have been signed (key masked) and exit 1. Without "
        "--sign-type, the message's sign_type decides, else the sign's length "
        "(32: MD5, 64: HMAC-SHA256)."
    )
    _key_argument(parser)
    parser.add_argument("file", metavar="FILE.xml", help="the message; '-' reads stdin")

    def run(args: argparse.Namespace) -> int:
        if args.file == "-":
            body = sys.stdin.buffer.read()
        else:
            try:
                body = Path(args.file).read_bytes()
            except OSError as exc:
                raise CommandError(f"cannot read {args.file}: {exc.strerror or exc}") from None
        fields = from_xml(body)
        key = _key(args)
        given = fields.get("sign", "")
        sign_type: signing.SignType
        if args.sign_type:
            sign_type, how = args.sign_type, "--sign-type"
        elif fields.get("sign_type"):
            sign_type, how = signing.sign_type_of(fields, signing.MD5), "the message's sign_type"
        else:
            sign_type = signing.HMAC_SHA256 if len(given) == 64 else signing.MD5
            how = "the sign's length"
        expected = signing.sign(fields, key, sign_type)
        if signing.verify(fields, key, sign_type):
            print(f"OK: the sign is right ({sign_type}, chosen by {how})")
            return 0
        print(f"BAD: the sign is wrong ({sign_type}, chosen by {how})")
        print(f"string signed: {_signed_string(fields, key)}")
        print(f"expected: {expected}")
        print(f"given:    {given or '(no sign in the message)'}")
        other: signing.SignType = signing.HMAC_SHA256 if sign_type == signing.MD5 else signing.MD5
        if given and given.upper() == expected:
            print("hint: it matches in lower case; WeChat's signs are upper-case hex")
        elif given and signing.verify(fields, key, other):
            print(f"hint: it matches {other}; the message was signed with {other}")
        return 1

    return run


@_command("simulator", "run the offline WeChat simulator (login and pay hosts)")
def _simulator(parser: argparse.ArgumentParser) -> Runner:
    # Imported here, not at the top: the simulator is a large module, and `sign` /
    # `verify` must work even where it is broken or absent.
    try:
        _cli = importlib.import_module("wxpay_mw.simulator._cli")
    except ImportError as exc:
        raise CommandError(f"the simulator is not available in this install: {exc}") from None
    parser.description = "Run the offline WeChat simulator until Ctrl-C."
    _cli.add_arguments(parser)
    run: Runner = _cli.run
    return run


@_command("reconcile", "ask WeChat about pending orders whose notification never came")
def _reconcile(parser: argparse.ArgumentParser) -> Runner:
    parser.description = (
        "Load the host's WxPay object and ask WeChat (orderquery) about every pending "
        "order placed more than --older-than seconds ago: paid ones get the paid hook "
        "(exactly once, as for a notification), closed ones the closed hook. Prints the "
        "counts as JSON; exits 1 when some orders could not be checked (run it again), "
        "so it can run from cron."
    )
    parser.add_argument(
        "--app",
        required=True,
        metavar="MODULE:ATTRIBUTE",
        help="where the host's WxPay object is, e.g. myshop.payments:wxpay (the current "
        "directory is importable)",
    )
    parser.add_argument("--older-than", type=float, default=600.0, metavar="SECONDS")
    parser.add_argument("--limit", type=int, default=100, help="at most this many orders")

    def run(args: argparse.Namespace) -> int:
        from .app import WxPay

        module_name, _, attribute = args.app.partition(":")
        if not module_name or not attribute:
            raise CommandError(f"--app {args.app!r}: expected MODULE:ATTRIBUTE")
        sys.path.insert(0, os.getcwd())
        try:
            wxpay = getattr(importlib.import_module(module_name), attribute)
        except (ImportError, AttributeError) as exc:
            raise CommandError(f"--app {args.app!r}: {exc}") from None
        if not isinstance(wxpay, WxPay):
            raise CommandError(f"--app {args.app!r} is a {type(wxpay).__name__}, not a WxPay")
        summary = wxpay.reconcile(time.time() - args.older_than, args.limit)
        print(json.dumps(summary.as_dict()))
        return 1 if summary.unavailable or summary.failed else 0

    return run


# --- the packaged order store (wxpay_mw.store) ---------------------------------------


def _db_url_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--url",
        default=os.environ.get("WXPAY_DB_URL"),
        help="the store's database, e.g. sqlite:///wxpay.db, postgresql+psycopg://u@h/db or "
        "mysql+pymysql://u:p@h/db (default: $WXPAY_DB_URL)",
    )


def _db_url(args: argparse.Namespace) -> str:
    url: str | None = args.url
    if not url:
        raise CommandError("no database: pass --url or set WXPAY_DB_URL")
    return url


@_command("db", "create or upgrade the packaged order store's tables")
def _db(parser: argparse.ArgumentParser) -> Runner:
    parser.description = (
        "Create the tables of wxpay_mw.store, or upgrade them to this wxpay-mw's schema "
        "version. Safe to run on every deploy and from several machines at once."
    )
    parser.add_argument("action", choices=["upgrade", "version"])
    _db_url_argument(parser)

    def run(args: argparse.Namespace) -> int:
        try:
            from .store import SCHEMA_VERSION, current_version, make_engine, upgrade
        except ImportError as exc:
            raise CommandError(f"{exc}: install wxpay-mw[store]") from None
        engine = make_engine(_db_url(args))
        try:
            if args.action == "version":
                with engine.connect() as connection:
                    found = current_version(connection)
                print(json.dumps({"version": found, "package_version": SCHEMA_VERSION}))
                return 0 if found == SCHEMA_VERSION else 1
            before, after = upgrade(engine)
        finally:
            engine.dispose()
        print(json.dumps({"version_before": before, "version": after}))
        return 0

    return run


# --- money operations and the store's records ------------------------------------------


def _app_argument(parser: argparse.ArgumentParser, required: bool = True) -> None:
    parser.add_argument(
        "--app",
        required=required,
        metavar="MODULE:ATTRIBUTE",
        help="where the host's WxPay object is, e.g. myshop.payments:wxpay (the current "
        "directory is importable)",
    )


def _load_app(spec: str) -> Any:
    from .app import WxPay

    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise CommandError(f"--app {spec!r}: expected MODULE:ATTRIBUTE")
    sys.path.insert(0, os.getcwd())
    try:
        wxpay = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as exc:
        raise CommandError(f"--app {spec!r}: {exc}") from None
    if not isinstance(wxpay, WxPay):
        raise CommandError(f"--app {spec!r} is a {type(wxpay).__name__}, not a WxPay")
    return wxpay


@contextlib.contextmanager
def _store_of(args: argparse.Namespace) -> Iterator[Any]:
    """The OrderStore registered with --app's WxPay, else one on --url (then disposed)."""
    try:
        from .store import OrderStore
    except ImportError as exc:
        raise CommandError(f"{exc}: install wxpay-mw[store]") from None
    if args.app:
        for plugin in _load_app(args.app).plugin_manager.get_plugins():
            if isinstance(plugin, OrderStore):
                yield plugin
                return
        if not args.url:
            raise CommandError(f"--app {args.app!r} has no OrderStore: pass --url")
    store = OrderStore(_db_url(args))
    try:
        yield store
    finally:
        store.dispose()


def _print_json(data: Any) -> None:
    print(json.dumps(data, ensure_ascii=False, indent=2, default=_plain))


def _plain(value: Any) -> Any:
    # Orders, refunds and bills are dataclasses.
    from dataclasses import asdict, is_dataclass

    if is_dataclass(value) and not isinstance(value, type):
        return asdict(value)
    raise TypeError(f"{type(value).__name__} is not JSON")


@_command("refund", "refund (part of) a paid order; idempotent on --out-refund-no")
def _refund(parser: argparse.ArgumentParser) -> Runner:
    parser.description = (
        "Ask WeChat to refund --fee fen of a paid order, recorded in the store first. "
        "Prints the refund as JSON. If it fails with action 'retry', run the same command "
        "again with the same --out-refund-no: WeChat refunds one number only once."
    )
    _app_argument(parser)
    parser.add_argument("out_trade_no")
    parser.add_argument("--fee", type=int, required=True, help="the amount in fen")
    parser.add_argument("--reason", help="refund_desc, shown to the user (80 characters)")
    parser.add_argument("--out-refund-no", help="default: a new one (printed)")

    def run(args: argparse.Namespace) -> int:
        from .errors import RefundFailedError

        wxpay = _load_app(args.app)
        try:
            made = wxpay.refund(
                args.out_trade_no, args.fee, reason=args.reason, out_refund_no=args.out_refund_no
            )
        except RefundFailedError as exc:
            _print_json(
                {
                    "error": str(exc),
                    "action": exc.action,
                    "code": exc.code,
                    "out_refund_no": exc.out_refund_no,
                }
            )
            return 1
        _print_json(made)
        return 0

    return run


@_command("orders", "list the store's orders, or show one with its refunds")
def _orders(parser: argparse.ArgumentParser) -> Runner:
    parser.description = "Read the packaged store's orders (wxpay_mw.store)."
    parser.add_argument("action", choices=["list", "show"])
    parser.add_argument("out_trade_no", nargs="?", help="for show")
    parser.add_argument("--status", choices=["pending", "paid", "closed", "refunded"])
    parser.add_argument("--limit", type=int, default=50)
    _app_argument(parser, required=False)
    _db_url_argument(parser)

    def run(args: argparse.Namespace) -> int:
        with _store_of(args) as store:
            return show(args, store)

    def show(args: argparse.Namespace, store: Any) -> int:
        if args.action == "list":
            _print_json(store.orders(status=args.status, limit=args.limit))
            return 0
        if not args.out_trade_no:
            raise CommandError("orders show needs an out_trade_no")
        order = store.get(args.out_trade_no)
        if order is None:
            raise CommandError(f"no order {args.out_trade_no!r} in the store")
        _print_json({"order": order, "refunds": store.refunds(args.out_trade_no)})
        return 0

    return run


@_command("notifications", "list logged notifications, or replay one through verification")
def _notifications(parser: argparse.ArgumentParser) -> Runner:
    parser.description = (
        "List the packaged store's notification log, or replay one logged notification "
        "through --app's WxPay: it is verified again exactly as when it arrived, so "
        "nothing unverified is ever applied. Replay exits 1 unless it is answered SUCCESS."
    )
    parser.add_argument("action", choices=["list", "replay"])
    parser.add_argument("id", nargs="?", type=int, help="for replay")
    parser.add_argument("--kind", choices=["payment", "payment_failed", "refund", "rejected"])
    parser.add_argument("--limit", type=int, default=100)
    _app_argument(parser, required=False)
    _db_url_argument(parser)

    def run(args: argparse.Namespace) -> int:
        with _store_of(args) as store:
            return act(args, store)

    def act(args: argparse.Namespace, store: Any) -> int:
        if args.action == "list":
            _print_json(store.notifications(kind=args.kind, limit=args.limit))
            return 0
        if args.id is None or not args.app:
            raise CommandError("notifications replay needs an id and --app")
        logged = store.notification(args.id)
        if logged is None:
            raise CommandError(f"no notification {args.id} in the log")
        if logged["truncated"]:
            raise CommandError(f"notification {args.id} was cut when logged: it cannot be replayed")
        fields = logged["fields"]
        if logged["kind"] == "refund":
            raise CommandError(
                f"notification {args.id} is an accepted refund: only its decrypted content "
                "was kept, which proves nothing, so it cannot be verified again (it was applied)"
            )
        from .xmlmsg import to_xml

        wxpay = _load_app(args.app)
        body = to_xml(fields)
        answer = wxpay.refund_notify(body) if "req_info" in fields else wxpay.notify(body)
        code = from_xml(answer).get("return_code", "")
        print(
            json.dumps(
                {"id": args.id, "answer": code, "message": from_xml(answer).get("return_msg", "")},
                ensure_ascii=False,
            )
        )
        return 0 if code == "SUCCESS" else 1

    return run


@_command("bill", "download and parse a day's bill")
def _bill(parser: argparse.ArgumentParser) -> Runner:
    parser.description = (
        "Download the merchant's bill of --date (yyyyMMdd; bills exist from 10:00 the next "
        "day) and print it as JSON: header, rows, summary. Amounts are in yuan."
    )
    _app_argument(parser)
    parser.add_argument("--date", required=True, metavar="YYYYMMDD")
    parser.add_argument("--type", default="ALL", choices=["ALL", "SUCCESS", "REFUND"])

    def run(args: argparse.Namespace) -> int:
        _print_json(_load_app(args.app).download_bill(args.date, args.type))
        return 0

    return run


# --- entry point ---------------------------------------------------------------------


def _chosen(argv: Sequence[str]) -> str | None:
    # The top level has only -h and --version, so the first word is the subcommand.
    return next((a for a in argv if not a.startswith("-")), None)


def _parser(argv: Sequence[str]) -> argparse.ArgumentParser:
    parser = _Parser(
        prog=_PROG,
        description="WeChat Mini Program payments (WeChat Pay v2): tools for developers.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(metavar="COMMAND", dest="command", required=True)
    chosen = _chosen(argv)
    for name, (help, setup) in _COMMANDS.items():
        sub = commands.add_parser(name, help=help, description=help)
        if name == chosen:
            sub.set_defaults(run=setup(sub))
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run ``wxpay-mw`` with ``argv`` (default: the command line); the exit status."""
    args_list = sys.argv[1:] if argv is None else list(argv)
    try:
        try:
            args = _parser(args_list).parse_args(args_list)
        except SystemExit as exc:  # --help and --version
            return exc.code if isinstance(exc.code, int) else 0
        run: Runner | None = getattr(args, "run", None)
        if run is None:
            raise CommandError("choose a command (see 'wxpay-mw --help')")
        return run(args)
    except (CommandError, WxPayError, ValueError) as exc:
        print(f"{_PROG}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
