"""What every endpoint handler of one simulator shares."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from ._calls import CallLog
from ._delivery import Deliveries
from ._faults import Faults
from ._merchant import Merchant
from ._state import State

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
