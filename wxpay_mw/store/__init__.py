"""The packaged order store: every storage hook of wxpay-mw on SQLAlchemy 2 Core.

SQLite (``sqlite:///wxpay.db``, the default), PostgreSQL (``postgresql+psycopg://``,
extra ``postgres``) and MySQL/MariaDB (``mysql+pymysql://``, extra ``mysql``)::

    from wxpay_mw import WxPay, WxPayConfig
    from wxpay_mw.store import OrderStore

    store = OrderStore("sqlite:///wxpay.db").create_all()
    wxpay = WxPay(WxPayConfig.from_env(), store, MyShop())

``MyShop`` implements ``wxpay_create_order`` (pricing) and ``wxpay_fulfil_order`` (the
reaction to a payment, run exactly once per order in the paid transaction). Create the
tables with ``wxpay-mw db upgrade --url URL``. ``AsyncOrderStore`` is the same store
with ``async def`` hooks on SQLAlchemy's asyncio engine (extra ``async``). See
docs/store.md.
"""

from __future__ import annotations

from .schema import SchemaError, current_version, make_engine, upgrade
from .sync import DEFAULT_URL, OrderStore
from .tables import NOTIFICATIONS, ORDERS, REFUNDS, SCHEMA_VERSION, metadata

__all__ = [
    "DEFAULT_URL",
    "NOTIFICATIONS",
    "ORDERS",
    "REFUNDS",
    "SCHEMA_VERSION",
    "AsyncOrderStore",
    "OrderStore",
    "SchemaError",
    "current_version",
    "make_async_engine",
    "make_engine",
    "metadata",
    "upgrade",
]


def __getattr__(name: str) -> object:
    # The async store needs SQLAlchemy's asyncio extra (greenlet): imported on first use.
    if name in ("AsyncOrderStore", "make_async_engine"):
        from . import aio

        return getattr(aio, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
