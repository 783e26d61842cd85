"""The v3 options of ``wxpay-mw simulator`` and what its banner prints in v3 mode."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any, Final, TextIO

if TYPE_CHECKING:
    from ._server import Simulator

__all__ = ["add_v3_arguments", "print_v3_banner", "v3_options"]

_SIGNS_WITH: Final = {
    "public_key": "the WeChat Pay public key",
    "certificate": "platform certificates",
    "both": "the public key and platform certificates (a migration)",
}
_V3_VARS: Final = (
    "WXPAY_API_VERSION",
    "WXPAY_APIV3_KEY",
    "WXPAY_PRIVATE_KEY_PATH",
    "WXPAY_CERT_SERIAL",
    "WXPAY_PUBLIC_KEY_PATH",
    "WXPAY_PUBLIC_KEY_ID",
    "WXPAY_PLATFORM_CERT_PATHS",
)


def add_v3_arguments(parser: argparse.ArgumentParser) -> None:
    """``--api``, ``--v3-mode`` and ``--v3-dir``."""
    parser.add_argument(
        "--api",
        choices=("v2", "v3"),
        default="v2",
        help="v3: also speak WeChat Pay API v3 (JSON, RSA signatures), with keys made at start",
    )
    parser.add_argument(
        "--v3-mode",
        choices=("public_key", "certificate", "both"),
        default="public_key",
        help="how WeChat signs in v3: the WeChat Pay public key (PUB_KEY_ID_...), platform "
        "certificates from /v3/certificates, or both (a migration); default public_key",
    )
    parser.add_argument(
        "--v3-dir",
        default=None,
        help="keep the v3 keys in this directory: made on the first start, reused after, "
        "so the app's settings stay valid (default: new keys each run)",
    )


def v3_options(args: argparse.Namespace) -> dict[str, Any]:
    """The Simulator keyword arguments of the v3 options."""
    return {"api": args.api, "v3_mode": args.v3_mode, "v3_dir": args.v3_dir}


def print_v3_banner(out: TextIO, simulator: Simulator) -> None:
    """The v3 settings a host needs, to paste into its environment."""
    print(f"API v3: WeChat signs with {_SIGNS_WITH[simulator.v3_mode]}", file=out)
    print("v3 settings for the app:", file=out)
    env = simulator.v3_env()
    for name in _V3_VARS:
        if name in env:
            print(f"  {name}={env[name]}", file=out)
    if "WXPAY_PUBLIC_KEY_ID" not in env:
        print(
            "  (no public key: the app downloads the certificates from /v3/certificates)", file=out
        )
    print(
        f"v3 control: {simulator.base_url}/simulator/v3/{{keys,probe}} "
        "(switch serials, send a signature probe)",
        file=out,
    )
    out.flush()
