"""A Starlette shop that takes WeChat Pay (FastAPI: the same ``mount`` call).

    python -m examples.starlette_shop          # PORT=8000, an embedded simulator

wxpay-mw serves /wxpay/prepay, /wxpay/notify, /wxpay/refund-notify and
/wxpay/orders/{out_trade_no}; the shop itself only lists its products.
"""

from __future__ import annotations

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from wxpay_mw.adapters.starlette import mount

from wxpay_mw import WxPay

from .catalogue import PRODUCTS, Catalogue
from .wechat import HOST, PORT, open_store, wechat


async def products(request: Request) -> JSONResponse:
    """The shop's own page: what the mini program can buy."""
    return JSONResponse([vars(product) for product in PRODUCTS.values()])


def create_app(wxpay: WxPay) -> Starlette:
    """The shop's routes plus wxpay-mw's, mounted at /wxpay."""
    return Starlette(routes=[Route("/products", products), mount(wxpay, "/wxpay")])


def main() -> None:
    """Serve the shop until Ctrl-C."""
    store = open_store()
    with wechat() as config, WxPay(config, store, Catalogue(store)) as wxpay:
        uvicorn.run(create_app(wxpay), host=HOST, port=PORT)


if __name__ == "__main__":
    main()
