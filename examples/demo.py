"""``make demo``: a shop you can click through, with the simulator as its WeChat.

    python -m examples.demo [--host 127.0.0.1] [--port 8000] [--data demo-data] [--api v3]

(or ``DEMO_HOST``, ``DEMO_PORT``, ``DEMO_DATA``, ``WXPAY_API_VERSION`` in the environment;
``--port 0`` picks a free port). With ``--api v3`` (``WXPAY_API_VERSION=v3 make demo``)
the shop and the simulator speak WeChat Pay API v3; the simulator's keys are made on the
first start and kept in ``demo-data/v3-keys``.

Everything runs in this one process, offline: the Starlette shop with wxpay-mw mounted at
/wxpay, the reference order store on SQLite in ``demo-data/``, and
the WeChat simulator on a second local port. The page at / plays the mini program; it
reaches the simulator's wx.login / wx.requestPayment stand-ins through /simulator/*
on the same origin, as a real mini program reaches WeChat through the WeChat app.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import socket
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import requests
import uvicorn
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from wxpay_mw.adapters.asgi import WxPayMiddleware

from wxpay_mw import WxPay, WxPayConfig
from wxpay_mw.aclient import AsyncWeChatClient
from wxpay_mw.simulator import Simulator, run_simulator
from wxpay_mw.store import AsyncOrderStore

from .catalogue import PRODUCTS, AsyncCatalogue

STATIC = Path(__file__).with_name("static")
MERCHANT = "wxpay-mw demo shop"
# The simulator's endpoints the page may use: what wx.login and wx.requestPayment do,
# plus fault injection for the "Try a failure" panel and the logs of calls to WeChat and of
# notifications for the "Behind the scenes" panel.
SIMULATOR_PATHS = (
    "/simulator/login",
    "/simulator/pay",
    "/simulator/faults",
    "/simulator/calls",
    "/simulator/notifications",
)


def build_app(wxpay: WxPay, simulator: Simulator, catalogue: AsyncCatalogue) -> Starlette:
    """The demo shop: the page, its product list, /wxpay and the simulator proxy."""
    session = requests.Session()

    async def index(request: Request) -> FileResponse:
        return FileResponse(STATIC / "index.html")

    async def products(request: Request) -> JSONResponse:
        items = [vars(p) for p in PRODUCTS.values()]
        return JSONResponse({"merchant": MERCHANT, "products": items})

    async def simulator_proxy(request: Request) -> Response:
        body = await request.body()

        def forward() -> requests.Response:
            return session.request(
                request.method,
                simulator.base_url + request.url.path,
                params=request.url.query or None,
                data=body,
                headers={"content-type": "application/json"},
                timeout=(2, 10),
            )

        answer = await run_in_threadpool(forward)
        return Response(answer.content, answer.status_code, media_type="application/json")

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await catalogue.create_tables()
        yield
        session.close()
        if wxpay.aclient is not None:
            await wxpay.aclient.aclose()
        await catalogue.async_store.dispose()

    return Starlette(
        routes=[
            Route("/", index),
            Route("/api/products", products),
            *(
                Route(p, simulator_proxy, methods=["GET", "POST", "DELETE"])
                for p in SIMULATOR_PATHS
            ),
            Mount("/static", StaticFiles(directory=STATIC), name="static"),
        ],
        # wxpay-mw's pure ASGI middleware answers /wxpay/*; everything else passes through.
        middleware=[Middleware(WxPayMiddleware, wxpay=wxpay, prefix="/wxpay")],
        lifespan=lifespan,
    )


@contextlib.contextmanager
def demo_shop(
    port: int, data: Path, api: str = "v2"
) -> Iterator[tuple[WxPay, Simulator, AsyncCatalogue]]:
    """The simulator and a WxPay wired to it: the packaged async store, the catalogue and
    (v2) the async WeChat client, so every hook is awaited on the event loop. ``api``
    "v3": both speak WeChat Pay API v3, configured as a v3 merchant is (no v2 key)."""
    data.mkdir(parents=True, exist_ok=True)
    store = AsyncOrderStore(f"sqlite:///{data / 'orders.db'}")
    # time_factor: WeChat's notification retries (15 s, 15 s, 30 s...) run 20 times faster.
    options: dict[str, object] = {"time_factor": 0.05}
    if api == "v3":
        options.update(api="v3", v3_dir=str(data / "v3-keys"))
    with run_simulator(**options) as simulator:
        base = f"http://127.0.0.1:{port}/wxpay"
        catalogue = AsyncCatalogue(store, merchant=MERCHANT)
        aclient = None
        if api == "v3":
            env = simulator.v3_env(f"{base}/notify")
            env["WXPAY_REFUND_NOTIFY_URL"] = f"{base}/refund-notify"
            del env["WXPAY_API_KEY"]
            config = WxPayConfig.from_env(env)
        else:
            config = simulator.config(notify_url=f"{base}/notify")
            aclient = AsyncWeChatClient(config)
        with WxPay(config, store, catalogue, aclient=aclient) as wxpay:
            yield wxpay, simulator, catalogue


def main(argv: list[str] | None = None) -> None:
    """Start the demo and serve until Ctrl-C."""
    parser = argparse.ArgumentParser(prog="python -m examples.demo", description=__doc__)
    parser.add_argument("--host", default=os.environ.get("DEMO_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("DEMO_PORT", "8000")))
    parser.add_argument("--data", type=Path, default=Path(os.environ.get("DEMO_DATA", "demo-data")))
    parser.add_argument(
        "--api",
        choices=("v2", "v3"),
        default=os.environ.get("WXPAY_API_VERSION", "v2").lower() or "v2",
        help="the WeChat Pay API version (default: WXPAY_API_VERSION, else v2)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)-8s %(name)s: %(message)s")
    # Bind first: the notify_url must name the real port, and the banner must be true.
    sock = socket.socket(socket.AF_INET6 if ":" in args.host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((args.host, args.port))
    except OSError as exc:
        sock.close()
        raise SystemExit(
            f"cannot listen on {args.host}:{args.port} ({exc.strerror}): "
            "try --port 8001 or DEMO_PORT=8001"
        ) from None
    port = sock.getsockname()[1]
    with sock, demo_shop(port, args.data, args.api) as (wxpay, simulator, catalogue):
        url = f"http://{'127.0.0.1' if args.host in ('0.0.0.0', '::') else args.host}:{port}/"
        print(
            f"\n  wxpay-mw demo shop:  {url}\n"
            f"  Open it in a browser, press Buy, then Pay on WeChat's sheet.\n"
            f"  WeChat simulator:    {simulator.base_url} (offline, test merchant "
            f"{simulator.merchant.mch_id}, WeChat Pay API {args.api})\n"
            f"  Simulator console:   {simulator.base_url}/simulator/\n"
            f"  Orders database:     {args.data / 'orders.db'}\n"
            f"  Stop with Ctrl-C.\n",
            flush=True,
        )
        app = build_app(wxpay, simulator, catalogue)
        server = uvicorn.Server(uvicorn.Config(app, log_level="info"))
        server.run(sockets=[sock])


if __name__ == "__main__":
    main()
