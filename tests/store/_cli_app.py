"""The WxPay object the CLI tests point ``--app tests.store._cli_app:wxpay`` at."""

from __future__ import annotations

from typing import Any

#: Set by the test before it runs the command.
wxpay: Any = None
