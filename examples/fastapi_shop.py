"""A FastAPI shop that takes WeChat Pay, async end to end, documented in its OpenAPI schema.

    python -m examples.fastapi_shop          # PORT=8000, an embedded simulator

wxpay-mw's APIRouter serves /wxpay/prepay and /wxpay/orders/{out_trade_no} (both in
/docs, with their models and error codes) and the notify endpoints (left out of the
schema). Every hook is ``async def``: the packaged AsyncOrderStore on SQLAlchemy's
asyncio engine (aiosqlite, or psycopg / aiomysql by DATABASE_URL) and the catalogue; WeChat
is called with AsyncWeChatClient. Nothing waits on a thread.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import uvicorn
from fastapi import FastAPI
from wxpay_mw.adapters.fastapi import router

from wxpay_mw import WxPay
from wxpay_mw.aclient import AsyncWeChatClient
from wxpay_mw.store import AsyncOrderStore

from .catalogue import PRODUCTS, AsyncCatalogue
from .wechat import HOST, PORT, database_url, wechat


def create_app(wxpay: WxPay, catalogue: AsyncCatalogue) -> FastAPI:
    """The shop's own route plus wxpay-mw's router, under /wxpay."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await catalogue.create_tables()  # or `wxpay-mw db upgrade --url ...` on deploy
        yield
        if wxpay.aclient is not None:
            await wxpay.aclient.aclose()
        await catalogue.async_store.dispose()

    app = FastAPI(title="wxpay-mw example shop", lifespan=lifespan)

    @app.get("/products")
    async def products() -> list[dict[str, object]]:
        """What the mini program can buy."""
        return [vars(product) for product in PRODUCTS.values()]

    app.include_router(router(wxpay))
    return app


def main() -> None:
    """Serve the shop until Ctrl-C."""
    store = AsyncOrderStore(database_url())
    catalogue = AsyncCatalogue(store)
    with wechat() as config:
        aclient = AsyncWeChatClient(config)
        with WxPay(config, store, catalogue, aclient=aclient) as wxpay:
            uvicorn.run(create_app(wxpay, catalogue), host=HOST, port=PORT)


if __name__ == "__main__":
    main()
