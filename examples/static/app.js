// The demo page plays the mini program. Each function below is what a real mini program
// does with wx.* APIs (see examples/miniprogram/pages/pay/pay.js for the real thing):
//   wx.login            -> POST /simulator/login   (the simulator stands in for WeChat)
//   wx.request prepay   -> POST /wxpay/prepay      (your server, through wxpay-mw)
//   wx.requestPayment   -> POST /simulator/pay     (the user confirms in WeChat's sheet)
//   wx.request status   -> GET  /wxpay/orders/{no} (your server: paid once WeChat's
//                          notification arrived, or once its orderquery confirmed it)
// The panel also shows your server's side, read from the simulator's logs:
//   GET /simulator/calls          your server's calls to WeChat and what WeChat answered
//   GET /simulator/notifications  WeChat's notifications and what your server answered
"use strict";

const $ = (id) => document.getElementById(id);
const state = { products: [], merchant: "", lastCode: null, order: null, params: null };
// What the panel has shown of the simulator's logs: the last call id, attempts per note.
const seen = { call: 0, attempts: {}, calls: [], notifications: [] };

// Amounts are integer fen end to end; format without floating point.
function yuan(fen) {
  return `¥${Math.floor(fen / 100)}.${String(fen % 100).padStart(2, "0")}`;
}

function step(who, text, good = true) {
  const li = document.createElement("li");
  li.innerHTML = `<span class="who"></span> <span class="${good ? "ok" : "bad"}"></span>`;
  li.firstChild.textContent = who;
  li.lastChild.textContent = text;
  $("steps").appendChild(li);
}

class ApiError extends Error {
  constructor(message, code) { super(message); this.code = code; }
}

async function call(method, url, body, headers = {}) {
  let response;
  try {
    response = await fetch(url, {
      method,
      headers: body ? { "content-type": "application/json", ...headers } : headers,
      body: body ? JSON.stringify(body) : undefined,
    });
  } catch (err) {
    throw new ApiError("The shop's server cannot be reached. Is the demo still running?", "network");
  }
  let data = {};
  try { data = await response.json(); } catch (err) { /* not JSON: handled below */ }
  if (!response.ok) {
    const code = data.error || (data.errMsg ? "requestPayment:fail" : `HTTP ${response.status}`);
    const message = data.message || data.errMsg || `The server answered HTTP ${response.status}.`;
    throw new ApiError(message, code);
  }
  return data;
}

// What the user reads for each stable error code wxpay-mw answers with.
const FRIENDLY = {
  wechat_unavailable: "WeChat Pay is not answering right now. Nothing was charged: try again in a moment.",
  invalid_code: "Your WeChat login has expired. Tap Buy again to log in afresh.",
  order_paid: "This order is already paid: you will not be charged twice.",
  order_closed: "This order was closed. Please place a new one.",
  order_rejected: "The shop could not accept this order.",
};

function showError(err) {
  // "Already paid" is good news for the user, not a failure: no red toast for it.
  const info = err.code === "order_paid";
  $("error").className = info ? "error info" : "error";
  $("error-title").textContent = info ? "Already paid" : "Payment did not go through";
  $("error-message").textContent = FRIENDLY[err.code] || err.message;
  $("error-code").textContent = err.code ? `${err.code}: ${err.message}` : "";
  $("error").hidden = false;
}

// One line for what WeChat answered a call: its codes, never the whole message.
function answered(c) {
  if (c.status === null) return `connection dropped (fault ${c.fault})`;
  if (typeof c.answer === "string") return `HTTP ${c.status}${c.fault ? ` (fault ${c.fault})` : ""}`;
  const a = c.answer;
  const parts = [a.errcode ? `errcode ${a.errcode}` : null, a.openid ? "openid ✓" : null,
    a.return_code === "FAIL" ? `FAIL ${a.return_msg || ""}` : null, a.err_code || null,
    a.prepay_id ? `prepay_id ${a.prepay_id.slice(0, 12)}…` : null,
    a.trade_state ? `trade_state ${a.trade_state}` : null];
  const text = parts.filter(Boolean).join(", ") || a.result_code || `HTTP ${c.status}`;
  return c.fault ? `${text} (fault ${c.fault})` : text;
}

function callOk(c) {
  const a = typeof c.answer === "string" ? {} : c.answer;
  return c.status === 200 && !a.errcode && a.return_code !== "FAIL" && a.result_code !== "FAIL";
}

// Add to the panel what the simulator saw since last time: your server's calls to WeChat,
// and WeChat's notifications about order ``no`` with your server's answers.
async function showServerSide(no) {
  try {
    const [{ calls }, { notifications }] = await Promise.all([
      call("GET", `/simulator/calls?since=${seen.call}`), call("GET", "/simulator/notifications")]);
    for (const c of calls) {
      seen.call = Math.max(seen.call, c.id);
      seen.calls.push(c);
      step(`server → WeChat ${c.path}`, `→ ${answered(c)}`, callOk(c));
    }
    seen.notifications = notifications;
    for (const n of notifications) {
      if (n.out_trade_no !== no) continue;
      for (const a of n.attempts.slice(seen.attempts[n.id] || 0)) {
        const what = a.acknowledged ? "your server answered SUCCESS"
          : `${a.error ? "no answer" : `HTTP ${a.status}`}: not acknowledged, WeChat will retry`;
        step(`WeChat → server: ${n.kind} notification`, `→ ${what}`, a.acknowledged);
      }
      seen.attempts[n.id] = n.attempts.length;
    }
  } catch (err) { /* the panel is a view: never let it break the purchase */ }
}

// Which came first for order ``no``: WeChat's acknowledged notification, or your server's
// orderquery that saw it paid.
function confirmedBy(no) {
  const queried = seen.calls.filter((c) => c.path.endsWith("/pay/orderquery")
    && typeof c.request !== "string" && c.request.out_trade_no === no
    && typeof c.answer !== "string" && c.answer.trade_state === "SUCCESS").map((c) => c.time);
  const notified = seen.notifications.filter((n) => n.out_trade_no === no && n.kind === "payment")
    .flatMap((n) => n.attempts.filter((a) => a.acknowledged).map((a) => a.time));
  const query = queried.length ? Math.min(...queried) : Infinity;
  const note = notified.length ? Math.min(...notified) : Infinity;
  if (query < note) return "orderquery (before WeChat's notification arrived)";
  if (note < Infinity) return "WeChat's signed notification";
  return "—";
}

function hideError() { $("error").hidden = true; }

function show(screen) {
  $("shop").hidden = screen !== "shop";
  $("order").hidden = screen !== "order";
}

async function loadProducts() {
  const data = await call("GET", "/api/products");
  state.products = data.products;
  state.merchant = data.merchant;
  $("shop-name").textContent = data.merchant;
  const list = $("products");
  list.replaceChildren();
  for (const p of data.products) {
    const li = document.createElement("li");
    li.className = "product";
    li.dataset.testid = `product-${p.id}`;
    li.innerHTML = `<div class="badge" aria-hidden="true"></div><div class="info"><div class="name"></div>
      <div class="price"></div></div><button class="primary" type="button">Buy</button>`;
    const badge = li.querySelector(".badge");
    badge.textContent = p.name.charAt(0);
    badge.style.background = p.tint;
    li.querySelector(".name").textContent = p.name;
    li.querySelector(".price").textContent = yuan(p.price);
    const button = li.querySelector("button");
    button.id = `buy-${p.id}`;
    button.dataset.testid = `buy-${p.id}`;
    button.addEventListener("click", () => buy({ product_id: p.id }, button));
    list.appendChild(li);
  }
}

// wx.login: a fresh, single-use code (unless the failure toggle replays the last one).
async function wxLogin() {
  if ($("fault-expired-code").checked && state.lastCode) {
    step("wx.login", `(replaying used code ${state.lastCode.slice(0, 8)}…)`, false);
    return state.lastCode;
  }
  const { code } = await call("POST", "/simulator/login", {});
  state.lastCode = code;
  step("wx.login", `→ code ${code.slice(0, 8)}…`);
  return code;
}

async function buy(what, button) {
  hideError();
  if (button) button.disabled = true;
  try {
    const code = await wxLogin();
    const params = await call("POST", "/wxpay/prepay", { code, ...what });
    await showServerSide(params.out_trade_no);
    step("POST /wxpay/prepay", `→ ${params.package.slice(0, 24)}…, signType ${params.signType}`);
    state.params = params;
    const product = state.products.find((p) => p.id === what.product_id);
    state.order = {
      out_trade_no: params.out_trade_no,
      status_token: params.status_token,  // only its holder may see the order's status
      total_fee: product ? product.price : state.order.total_fee,
    };
    $("sheet-merchant").textContent = state.merchant;
    $("sheet-amount").textContent = yuan(state.order.total_fee);
    $("sheet").hidden = false;
    $("confirm-pay").focus({ preventScroll: true });
  } catch (err) {
    await showServerSide(null);
    step("POST /wxpay/prepay", `✗ ${err.code}`, false);
    showError(err);
  } finally {
    if (button) button.disabled = false;
  }
}

// wx.requestPayment: only the five parameters prepay returned (appId is not one of them).
async function requestPayment() {
  const { timeStamp, nonceStr, package: pkg, signType, paySign } = state.params;
  $("confirm-pay").disabled = true;
  try {
    await call("POST", "/simulator/pay", { timeStamp, nonceStr, package: pkg, signType, paySign });
    step("wx.requestPayment", "→ requestPayment:ok (not yet proof of payment)");
    $("sheet").hidden = true;
    await pollUntilPaid(state.order.out_trade_no);
  } catch (err) {
    $("sheet").hidden = true;
    step("wx.requestPayment", `✗ ${err.message}`, false);
    showError(err);
  } finally {
    $("confirm-pay").disabled = false;
  }
}

function cancelPayment() {
  $("sheet").hidden = true;
  step("wx.requestPayment", "→ requestPayment:fail cancel", false);
}

// Only the server's word counts: it is paid once WeChat's signed notification arrived
// (or wxpay-mw's orderquery confirmed it).
async function pollUntilPaid(no) {
  show("order");
  $("status").textContent = "Waiting for WeChat…";
  $("status-icon").className = "status-icon";
  $("paid-amount").textContent = yuan(state.order.total_fee);
  $("out-trade-no").textContent = no;
  $("transaction-id").textContent = "—";
  $("confirmed-by").textContent = "—";
  $("pay-again").hidden = true;
  for (let attempt = 0; attempt < 60; attempt += 1) {
    const order = await call("GET", `/wxpay/orders/${encodeURIComponent(no)}`, undefined, {
      "X-WxPay-Token": state.order.status_token,
    });
    if (order.status !== "pending") {
      await showServerSide(no);
      step(`GET /wxpay/orders/${no.slice(0, 10)}…`, `→ ${order.status}`, order.status === "paid");
      $("status").textContent = order.status === "paid" ? "Paid" : `Order ${order.status}`;
      $("status-icon").className = `status-icon ${order.status === "paid" ? "paid" : "failed"}`;
      $("paid-amount").textContent = yuan(order.total_fee);
      $("transaction-id").textContent = order.transaction_id || "—";
      $("confirmed-by").textContent = confirmedBy(no);
      // A paid order cannot be paid again: the button is for orders still open.
      $("pay-again").hidden = order.status === "paid" || order.status === "refunded";
      followNotification(no);
      return;
    }
    await showServerSide(no);
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  $("status-icon").className = "status-icon failed";
  $("status").textContent = "No confirmation yet";
  throw new ApiError("WeChat has not confirmed the payment yet. The order stays open; check again later.", "pending");
}

// Keep showing WeChat's notification when it arrives after the order showed paid (by
// orderquery, or before the simulator had logged your server's answer), and what
// confirmed the payment once the logs tell.
async function followNotification(no) {
  for (let attempt = 0; attempt < 20; attempt += 1) {
    const note = seen.notifications.find((n) => n.out_trade_no === no && n.kind === "payment");
    if (note && note.acknowledged && seen.attempts[note.id] === note.attempts.length) return;
    await new Promise((resolve) => setTimeout(resolve, 500));
    await showServerSide(no);
    $("confirmed-by").textContent = confirmedBy(no);
  }
}

async function setWeChatDown(down) {
  if (down) {
    await call("POST", "/simulator/faults", { endpoint: "/pay/unifiedorder", kind: "http_500" });
    step("simulator", "unifiedorder now answers HTTP 500", false);
  } else {
    await call("DELETE", "/simulator/faults");
    step("simulator", "WeChat Pay is back");
  }
}

document.addEventListener("DOMContentLoaded", () => {
  $("confirm-pay").addEventListener("click", requestPayment);
  $("cancel-pay").addEventListener("click", cancelPayment);
  $("error-close").addEventListener("click", hideError);
  $("back-to-shop").addEventListener("click", () => { hideError(); show("shop"); });
  $("pay-again").addEventListener("click", (e) =>
    buy({ out_trade_no: state.order.out_trade_no }, e.currentTarget));
  $("fault-wechat-down").addEventListener("change", (e) =>
    setWeChatDown(e.currentTarget.checked).catch(showError));
  loadProducts().catch(showError);
});
