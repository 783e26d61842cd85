// The simulator's console. Everything it shows comes from hosts (order descriptions,
// notify URLs, what the host answered) and is hostile: it is only ever put in the page
// as text (el() below), never as HTML.
"use strict";

const $ = (id) => document.getElementById(id);
let info = null;

// An element with attributes and children; strings become text nodes.
function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (name === "onclick") node.addEventListener("click", value);
    else if (name === "testid") node.dataset.testid = value;
    else node.setAttribute(name, value);
  }
  for (const child of children) {
    if (child === null || child === undefined) continue;
    node.append(typeof child === "string" || typeof child === "number" ? String(child) : child);
  }
  return node;
}

async function api(method, path, body) {
  const response = await fetch(`/simulator/${path}`, {
    method,
    headers: body ? { "content-type": "application/json" } : {},
    body: body ? JSON.stringify(body) : undefined,
  });
  let data = {};
  try { data = await response.json(); } catch (err) { /* not JSON */ }
  if (!response.ok) throw new Error(data.error || data.errMsg || `HTTP ${response.status}`);
  return data;
}

function say(text, good = true) {
  $("message").textContent = text;
  $("message").className = good ? "" : "bad";
}

async function act(what, run) {
  try {
    const text = await run();
    say(`${what}: ${text}`);
  } catch (err) {
    say(`${what} failed: ${err.message}`, false);
  }
  await refresh();
}

const clock = (epoch) => new Date(epoch * 1000).toLocaleTimeString();

function orderRow(order) {
  const no = order.out_trade_no;
  const path = `orders/${encodeURIComponent(no)}`;
  const actions = el("td");
  if (order.state === "NOTPAY") {
    actions.append(
      el("button", { class: "go", testid: `pay-${no}`, onclick: () => act(`Pay ${no}`, async () =>
        (await api("POST", `${path}/pay`, { outcome: "ok" })).errMsg) }, "Pay"),
      el("button", { class: "stop", testid: `fail-${no}`, onclick: () => act(`Fail ${no}`, async () =>
        (await api("POST", `${path}/pay`, { outcome: "fail" })).errMsg) }, "Fail"),
    );
  }
  if ((order.state === "SUCCESS" || order.state === "REFUND") && order.refunded_fee < order.total_fee) {
    actions.append(el("button", { testid: `refund-${no}`, onclick: () => act(`Refund ${no}`, async () => {
      const { refund } = await api("POST", `${path}/refund`, {});
      return `${refund.out_refund_no} accepted (${refund.refund_fee} fen)`;
    }) }, "Refund"));
  }
  const refunds = el("td", { class: "mono" });
  for (const r of order.refunds) refunds.append(el("div", {}, `${r.out_refund_no}: ${r.refund_fee} ${r.status}`));
  return el("tr", { testid: `order-${no}` },
    el("td", { class: "mono" }, no, order.sandbox ? " (sandbox)" : ""),
    el("td", {}, order.body),
    el("td", {}, order.total_fee),
    el("td", { testid: `state-${no}` }, order.state),
    el("td", { class: "mono" }, order.transaction_id || "—"),
    refunds,
    actions);
}

function notificationCard(note) {
  const status = note.acknowledged ? ["ok", "acknowledged"]
    : note.finished ? ["bad", "given up"] : ["wait", "retrying"];
  const attempts = el("ol", { class: "attempts" });
  for (const a of note.attempts) {
    const result = a.error ? `no answer: ${a.error}` : `HTTP ${a.status}`;
    attempts.append(el("li", { testid: "attempt" },
      el("span", { class: a.acknowledged ? "ok" : "bad" }, `${clock(a.time)} ${result}`),
      a.manual ? " (redelivered by hand)" : "",
      a.answer ? el("code", { class: "answer mono" }, a.answer) : null));
  }
  return el("li", { testid: `notification-${note.id}` },
    el("strong", {}, `#${note.id} ${note.kind}`), " for ",
    el("span", { class: "mono" }, note.out_refund_no || note.out_trade_no), " to ",
    el("span", { class: "mono" }, note.url), " ",
    el("span", { class: status[0], testid: "delivery" }, status[1]),
    attempts,
    el("button", { testid: `redeliver-${note.id}`, onclick: () => act(`Redeliver #${note.id}`, async () => {
      const { notification } = await api("POST", `notifications/${note.id}/redeliver`);
      const last = notification.attempts[notification.attempts.length - 1];
      return last.acknowledged ? "the host answered SUCCESS" : "the host did not acknowledge it";
    }) }, "Redeliver now"));
}

function summary(fields) {
  if (typeof fields === "string") return fields;
  const names = ["return_code", "result_code", "err_code", "err_code_des", "return_msg",
    "trade_state", "prepay_id", "errcode", "errmsg", "openid", "out_trade_no", "out_refund_no"];
  return names.filter((n) => fields[n]).map((n) => `${n}=${fields[n]}`).join(" ");
}

function callRow(call) {
  const subject = typeof call.request === "string" ? "" : (call.request.out_trade_no || "");
  return el("tr", { testid: "call" },
    el("td", {}, clock(call.time)),
    el("td", { class: "mono" }, `${call.method} ${call.path} ${subject}`),
    el("td", { class: "bad" }, call.fault || ""),
    el("td", { class: "mono" }, call.status === null ? "(connection dropped)"
      : `${call.status} ${summary(call.answer)}`));
}

function fill(id, nodes, emptyId) {
  $(id).replaceChildren(...nodes);
  if (emptyId) $(emptyId).hidden = nodes.length > 0;
}

async function refresh() {
  try {
    const [orders, notes, faults, calls] = await Promise.all([
      api("GET", "orders"), api("GET", "notifications"), api("GET", "faults"), api("GET", "calls")]);
    fill("orders", orders.orders.map(orderRow), "no-orders");
    $("orders-more").textContent = orders.total > orders.orders.length
      ? `The newest ${orders.orders.length} of ${orders.total} orders.` : "";
    fill("notifications", notes.notifications.slice(-100).reverse().map(notificationCard), "no-notifications");
    fill("faults", faults.faults.map((f) => el("li", { testid: "fault" },
      `${f.kind} on ${f.endpoint}`, f.seconds ? `, ${f.seconds} s` : "",
      f.count === null ? ", every request" : `, next ${f.count} request(s)`)));
    fill("calls", calls.calls.slice(-50).reverse().map(callRow));
  } catch (err) {
    say(`The simulator does not answer: ${err.message}`, false);
  }
}

async function start() {
  info = await api("GET", "info");
  $("merchant").textContent = `appid ${info.appid} · mch_id ${info.mch_id}`;
  $("fault-endpoint").replaceChildren(...["*", ...info.wechat_paths].map((p) => el("option", { value: p }, p)));
  $("fault-kind").replaceChildren(...info.fault_kinds.map((k) => el("option", { value: k }, k)));
  $("fault-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const fault = { endpoint: $("fault-endpoint").value, kind: $("fault-kind").value };
    if ($("fault-seconds").value) fault.seconds = Number($("fault-seconds").value);
    if ($("fault-count").value) fault.count = Number($("fault-count").value);
    act(`Fault ${fault.kind} on ${fault.endpoint}`, async () => {
      await api("POST", "faults", fault);
      return "switched on";
    });
  });
  $("clear-faults").addEventListener("click", () => act("Faults", async () => {
    await api("DELETE", "faults");
    return "cleared";
  }));
  await refresh();
  setInterval(refresh, 1000);
}

document.addEventListener("DOMContentLoaded", () => start().catch((err) => say(err.message, false)));
