"""A Flask shop that takes WeChat Pay.

    python -m examples.flask_shop              # PORT=8000, an embedded simulator

``WxPayFlask.init_app`` registers wxpay-mw's blueprint at ``WXPAY_URL_PREFIX``
(default /wxpay); the shop itself only lists its products.
"""

from __future__ import annotations

from flask import Flask, jsonify
from flask.typing import ResponseReturnValue
from wxpay_mw.adapters.flask import WxPayFlask

from wxpay_mw import WxPay

from .catalogue import PRODUCTS, Catalogue
from .wechat import HOST, PORT, open_store, wechat


def create_app(wxpay: WxPay) -> Flask:
    """The Flask app with wxpay-mw's endpoints registered."""
    app = Flask(__name__)
    WxPayFlask(wxpay=wxpay).init_app(app)

    @app.get("/products")
    def products() -> ResponseReturnValue:
        return jsonify([vars(product) for product in PRODUCTS.values()])

    return app


def main() -> None:
    """Serve the shop until Ctrl-C (Flask's development server; use gunicorn in production)."""
    store = open_store()
    with wechat() as config, WxPay(config, store, Catalogue(store)) as wxpay:
        # threaded: WeChat's notification may arrive while a status poll is running.
        create_app(wxpay).run(host=HOST, port=PORT, threaded=True)


if __name__ == "__main__":
    main()
