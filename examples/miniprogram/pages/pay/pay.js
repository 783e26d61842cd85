// Checkout: wx.login -> POST {prefix}/prepay -> wx.requestPayment -> poll the order.
//
// Two rules this page follows:
// - it never sends a price: only what is bought (product_id). The server sets the amount.
// - "requestPayment:ok" is not proof of payment: the order is paid when the server says
//   so (after WeChat's signed notification, or wxpay-mw's orderquery).
const { SERVER, PREFIX } = getApp().globalData;

function request(method, path, data, header = {}) {
  return new Promise((resolve, reject) => {
    wx.request({
      url: SERVER + PREFIX + path,
      method,
      data,
      header: { "content-type": "application/json", ...header },
      success: (res) =>
        res.statusCode === 200
          ? resolve(res.data)
          : reject({ code: (res.data && res.data.error) || `HTTP ${res.statusCode}`,
                     message: (res.data && res.data.message) || "the server refused" }),
      fail: (err) => reject({ code: "network", message: err.errMsg }),
    });
  });
}

function login() {
  return new Promise((resolve, reject) =>
    wx.login({ success: (res) => resolve(res.code), fail: reject }));
}

function requestPayment(params) {
  // Exactly the five parameters, with WeChat's casing; appId is signed but not passed.
  return new Promise((resolve, reject) =>
    wx.requestPayment({
      timeStamp: params.timeStamp,
      nonceStr: params.nonceStr,
      package: params.package,
      signType: params.signType,
      paySign: params.paySign,
      success: resolve,
      fail: reject, // errMsg "requestPayment:fail cancel" when the user closes the sheet
    }));
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function yuan(fen) {
  return `¥${Math.floor(fen / 100)}.${String(fen % 100).padStart(2, "0")}`;
}

Page({
  data: { productId: "tea", status: "", amount: "", transactionId: "", error: "", busy: false },

  onLoad(query) {
    if (query.product_id) this.setData({ productId: query.product_id });
  },

  async pay() {
    this.setData({ busy: true, error: "", status: "" });
    try {
      // A code is single-use and valid 5 minutes: get a fresh one for every prepay.
      const code = await login();
      const params = await request("POST", "/prepay", { code, product_id: this.data.productId });
      try {
        await requestPayment(params);
      } catch (err) {
        if (err.errMsg === "requestPayment:fail cancel") {
          this.setData({ status: "Payment cancelled" });
          return;
        }
        throw { code: "requestPayment", message: err.errMsg };
      }
      this.setData({ status: "Waiting for WeChat…" });
      // Only the holder of the order's status token may see its status.
      await this.pollUntilPaid(params.out_trade_no, params.status_token);
    } catch (err) {
      this.setData({ error: err.message || String(err), status: "" });
    } finally {
      this.setData({ busy: false });
    }
  },

  async pollUntilPaid(outTradeNo, statusToken) {
    for (let attempt = 0; attempt < 30; attempt += 1) {
      const order = await request("GET", `/orders/${outTradeNo}`, undefined,
                                  { "X-WxPay-Token": statusToken });
      if (order.status !== "pending") {
        this.setData({
          status: order.status === "paid" ? "Paid" : `Order ${order.status}`,
          amount: yuan(order.total_fee),
          transactionId: order.transaction_id || "",
        });
        return;
      }
      await sleep(1000);
    }
    this.setData({ status: "Not confirmed yet: we will let you know" });
  },
});
