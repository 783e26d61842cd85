"""What every endpoint handler of one simulator shares."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ._calls import CallLog
from ._delivery import Deliveries
from ._faults import Faults
from ._merchant import Merchant
from ._state import State

if TYPE_CHECKING:
    from ._v3wire import V3Wechat

__all__ = ["Context"]


@dataclass
class Context:
    """One simulator's merchant, memory, notification deliveries and faults."""

    merchant: Merchant
    state: State
    deliveries: Deliveries
    faults: Faults
    #: Set when the simulator stops: sleeping handlers and deliveries wake and give up.
    stopping: threading.Event
    #: Multiplies WeChat's delays (notification retries, refund settling).
    time_factor: float
    #: The calls the host made to the WeChat endpoints (``GET /simulator/calls``).
    calls: CallLog = field(default_factory=CallLog)
    #: The v3 side (keys, signing mode) when the simulator speaks API v3, else None.
    v3: V3Wechat | None = None
