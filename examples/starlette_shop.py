"""A Starlette shop that takes WeChat Pay, async end to end (FastAPI: the same ``mount``).

    python -m examples.starlette_shop          # PORT=8000, an embedded simulator

wxpay-mw serves /wxpay/prepay, /wxpay/notify, /wxpay/refund-notify and
/wxpay/orders/{out_trade_no}; the shop itself only lists its products. Every hook is
``async def`` (the packaged AsyncOrderStore on SQLAlchemy's asyncio engine, and the
catalogue), and WeChat is called with AsyncWeChatClient: no request waits on a thread.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from wxpay_mw.adapters.starlette import mount

from wxpay_mw import WxPay
from wxpay_mw.aclient import AsyncWeChatClient
from wxpay_mw.store import AsyncOrderStore

from .catalogue import PRODUCTS, AsyncCatalogue
from .wechat import HOST, PORT, database_url, wechat


async def products(request: Request) -> JSONResponse:
    """The shop's own page: what the mini program can buy."""
    return JSONResponse([vars(product) for product in PRODUCTS.values()])


def create_app(wxpay: WxPay, store: AsyncOrderStore, catalogue: AsyncCatalogue) -> Starlette:
    """The shop's routes plus wxpay-mw's, mounted at /wxpay."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await catalogue.create_tables()  # or `wxpay-mw db upgrade --url ...` on deploy
        yield
        if wxpay.aclient is not None:
            await wxpay.aclient.aclose()
        await store.dispose()

    return Starlette(
        routes=[Route("/products", products), mount(wxpay, "/wxpay")], lifespan=lifespan
    )


def main() -> None:
    """Serve the shop until Ctrl-C."""
    store = AsyncOrderStore(database_url())
    catalogue = AsyncCatalogue(store)
    with wechat() as config:
        aclient = AsyncWeChatClient(config)
        with WxPay(config, store, catalogue, aclient=aclient) as wxpay:
            uvicorn.run(create_app(wxpay, store, catalogue), host=HOST, port=PORT)


if __name__ == "__main__":
    main()
