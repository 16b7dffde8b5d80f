// LLMProxy admin UI: plain JavaScript against the admin API, same origin, session cookie.
"use strict";

const $ = (id) => document.getElementById(id);
const state = { keys: [], spend: new Map(), confirmAction: null };

async function api(path, options = {}) {
  const response = await fetch(path, {
    credentials: "same-origin",
    headers: options.body ? { "Content-Type": "application/json" } : {},
    ...options,
  });
  let data = {};
  try { data = await response.json(); } catch (_) { /* not JSON */ }
  if (response.status === 401 && !path.startsWith("/auth/")) { showLogin(); }
  if (!response.ok || data.success === false) {
    const error = new Error(data.error || `HTTP ${response.status}`);
    error.status = response.status;
    throw error;
  }
  return data;
}

function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (name === "class") node.className = value;
    else if (name.startsWith("data-")) node.setAttribute(name, value);
    else node[name] = value;
  }
  for (const child of children) node.append(child instanceof Node ? child : document.createTextNode(child ?? ""));
  return node;
}

function when(iso) {
  if (!iso) return "—";
  const date = typeof iso === "number" ? new Date(iso) : new Date(iso);
  return date.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
}

function badge(text, kind) { return el("span", { class: `badge ${kind}` }, text); }

function statusBadge(status) {
  const kind = status < 300 ? "ok" : status < 500 ? "warn" : "bad";
  return badge(String(status), kind);
}

function number(value) { return value == null ? "—" : Number(value).toLocaleString(); }

// MARK: session

function showLogin() {
  $("app").classList.add("hidden");
  $("login").classList.remove("hidden");
  $("login-user").focus();
}

function showApp(username) {
  $("login").classList.add("hidden");
  $("app").classList.remove("hidden");
  if (username) $("whoami").textContent = username;
  loadKeys();
}

$("login-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  $("login-error").textContent = "";
  try {
    const data = await api("/auth/login", { method: "POST", body: JSON.stringify({ username: $("login-user").value, password: $("login-password").value }) });
    $("login-password").value = "";
    showApp(data.username);
  } catch (error) {
    $("login-error").textContent = error.message;
  }
});

$("logout").addEventListener("click", async () => {
  try { await api("/auth/logout", { method: "POST" }); } catch (_) { /* signed out anyway */ }
  showLogin();
});

for (const tab of document.querySelectorAll(".tab")) {
  tab.addEventListener("click", () => {
    for (const other of document.querySelectorAll(".tab")) other.classList.toggle("active", other === tab);
    for (const panel of document.querySelectorAll(".panel")) panel.classList.toggle("hidden", panel.id !== `panel-${tab.dataset.tab}`);
    if (tab.dataset.tab === "analytics") prepareAnalytics();
    if (tab.dataset.tab === "upstreams") loadUpstreams();
    if (tab.dataset.tab === "keys") loadKeys();
    if (tab.dataset.tab === "blocks") loadBlocks();
  });
}

// MARK: keys

async function loadKeys() {
  try {
    const data = await api("/api/keys");
    state.keys = data.keys;
    renderKeys();
    // Spend per key over the last 30 days (tokens and money), from the analytics summary.
    const to = Date.now() + 60000, from = to - 30 * 86400000;
    const spend = await api(`/api/analytics/summary?startDate=${from}&endDate=${to}&groupBy=key`);
    state.spend = new Map(spend.summary.map((row) => [row.group, row]));
    renderKeys();
  } catch (error) {
    if (error.status !== 401) $("create-error").textContent = error.message;
  }
}

function renderKeys() {
  const query = $("key-search").value.trim().toLowerCase();
  const body = $("keys-body");
  body.replaceChildren();
  const shown = state.keys.filter((key) => !query || [key.username, key.name || "", key.id].some((text) => text.toLowerCase().includes(query)));
  for (const key of shown) {
    const kind = key.status === "active" ? "ok" : key.status === "revoked" ? "bad" : "warn";
    const revoke = key.status === "revoked" ? "" : el("button", { class: "ghost danger-text", "data-revoke": key.id, textContent: "Revoke" });
    if (revoke) revoke.addEventListener("click", () => askRevoke(key));
    body.append(el("tr", { "data-key": key.id },
      el("td", {}, key.username), el("td", {}, key.name || "—"), el("td", {}, el("code", {}, key.keyHint)),
      el("td", { class: "small" }, limitsText(key.limits)), el("td", { class: "small", "data-spend": key.id }, spendText(state.spend.get(key.id))),
      el("td", {}, when(key.createdAt)), el("td", {}, when(key.lastUsedAt)), el("td", {}, key.expiresAt ? when(key.expiresAt) : "never"),
      el("td", {}, badge(key.status, kind)), el("td", { class: "right" }, revoke)));
  }
  $("keys-empty").classList.toggle("hidden", shown.length > 0);
}

function limitsText(limits) {
  const parts = [];
  if (limits.requestsPerMinute) parts.push(`${number(limits.requestsPerMinute)} req/min`);
  if (limits.tokensPerMinute) parts.push(`${number(limits.tokensPerMinute)} tok/min`);
  if (limits.concurrency) parts.push(`${number(limits.concurrency)} in flight`);
  const period = limits.budgetPeriod && limits.budgetPeriod !== "total" ? ` per ${limits.budgetPeriod}` : "";
  if (limits.tokenBudget) parts.push(`${number(limits.tokenBudget)} tokens${period}`);
  if (limits.costBudget) parts.push(`${money(limits.costBudget)}${period}`);
  if (limits.models) parts.push(`models: ${limits.models.join(", ")}`);
  return parts.length ? parts.join(" · ") : "none";
}

function money(value) {
  if (value == null) return "—";
  const amount = Number(value);
  return `$${amount.toFixed(amount === 0 || amount >= 1 ? 2 : amount >= 0.01 ? 4 : 6)}`;
}

function spendText(row) { return row ? `${number(row.totalTokens)} tokens · ${money(row.costUsd)}` : "—"; }

$("key-search").addEventListener("input", renderKeys);

$("create-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  $("create-error").textContent = "";
  const body = { username: $("create-user").value.trim() };
  if ($("create-name").value.trim()) body.name = $("create-name").value.trim();
  if ($("create-expires").value) body.expiresIn = $("create-expires").value;
  const models = $("create-models").value.split(",").map((text) => text.trim()).filter(Boolean);
  if (models.length) body.models = models;
  const limits = {};
  for (const [id, name] of [["create-rpm", "requestsPerMinute"], ["create-tpm", "tokensPerMinute"], ["create-concurrency", "concurrency"], ["create-token-budget", "tokenBudget"]]) {
    if ($(id).value) limits[name] = Number.parseInt($(id).value, 10);
  }
  if ($("create-cost-budget").value) limits.costBudget = Number($("create-cost-budget").value);
  if ($("create-budget-period").value && (limits.tokenBudget || limits.costBudget)) limits.budgetPeriod = $("create-budget-period").value;
  if (Object.keys(limits).length) body.limits = limits;
  try {
    const data = await api("/api/keys", { method: "POST", body: JSON.stringify(body) });
    $("new-key-value").textContent = data.key.key;
    $("new-key").classList.remove("hidden");
    $("copy-key").textContent = "Copy";
    $("create-form").reset();
    for (const id of ["create-rpm", "create-tpm", "create-concurrency", "create-token-budget", "create-cost-budget", "create-budget-period"]) $(id).value = "";
    loadKeys();
  } catch (error) {
    $("create-error").textContent = error.message;
  }
});

$("copy-key").addEventListener("click", async () => {
  const text = $("new-key-value").textContent;
  try {
    await navigator.clipboard.writeText(text);
  } catch (_) {
    const range = document.createRange();
    range.selectNodeContents($("new-key-value"));
    window.getSelection().removeAllRanges();
    window.getSelection().addRange(range);
    document.execCommand("copy");
  }
  $("copy-key").textContent = "Copied";
});

function askRevoke(key) {
  $("confirm-text").textContent = `${key.username}'s key ${key.name ? `“${key.name}” ` : ""}(${key.keyHint}) stops working at once, everywhere. This cannot be undone.`;
  state.confirmAction = async () => {
    try {
      await api(`/api/keys/${encodeURIComponent(key.id)}`, { method: "DELETE" });
    } catch (error) {
      $("create-error").textContent = error.message;
    }
    loadKeys();
  };
  $("confirm").classList.remove("hidden");
  $("confirm-ok").focus();
}

$("confirm-cancel").addEventListener("click", () => { $("confirm").classList.add("hidden"); state.confirmAction = null; });
$("confirm-ok").addEventListener("click", async () => {
  $("confirm").classList.add("hidden");
  const action = state.confirmAction;
  state.confirmAction = null;
  if (action) await action();
});

// MARK: analytics

function isoDay(date) { return date.toISOString().slice(0, 10); }

function prepareAnalytics() {
  if (!$("analytics-from").value) {
    const today = new Date();
    $("analytics-to").value = isoDay(today);
    $("analytics-from").value = isoDay(new Date(today.getTime() - 6 * 86400000));
  }
  const select = $("analytics-key");
  const chosen = select.value;
  select.replaceChildren(el("option", { value: "" }, "all keys"));
  for (const key of state.keys) select.append(el("option", { value: key.id }, `${key.username}${key.name ? ` — ${key.name}` : ""} (${key.keyHint})`));
  select.value = chosen;
  loadAnalytics();
}

function rangeQuery() {
  const from = new Date(`${$("analytics-from").value}T00:00:00`).getTime();
  const to = new Date(`${$("analytics-to").value}T00:00:00`).getTime() + 86400000;
  const params = new URLSearchParams({ startDate: String(from), endDate: String(to) });
  if ($("analytics-key").value) params.set("keyId", $("analytics-key").value);
  return params;
}

async function loadAnalytics() {
  $("analytics-error").textContent = "";
  const params = rangeQuery();
  $("analytics-csv").href = `/api/analytics/export.csv?${params}`;
  try {
    const byDay = await api(`/api/analytics/summary?${params}&groupBy=day`);
    const keyId = params.get("keyId") || "all";
    params.delete("keyId");
    const records = await api(`/api/analytics/${encodeURIComponent(keyId)}?${params}&limit=200`);
    renderSummary(byDay.totals);
    renderChart(byDay.summary, Number(params.get("startDate")), Number(params.get("endDate")));
    renderRecords(records.records);
  } catch (error) {
    $("analytics-error").textContent = error.message;
  }
}

$("analytics-form").addEventListener("submit", (event) => { event.preventDefault(); loadAnalytics(); });

function renderSummary(totals) {
  $("stat-requests").textContent = number(totals.requests);
  $("stat-failures").textContent = number(totals.failures);
  $("stat-tokens").textContent = number(totals.totalTokens);
  $("stat-tokens-split").textContent = `${number(totals.promptTokens)} in · ${number(totals.completionTokens)} out`;
  $("stat-latency").textContent = totals.p50Ms == null ? "—" : `${Math.round(totals.p50Ms)} / ${Math.round(totals.p95Ms)} ms`;
  $("stat-cost").textContent = money(totals.costUsd);
}

function renderChart(days, from, to) {
  const counts = new Map(days.map((day) => [day.group, day]));
  const series = [];
  for (let time = from; time < to; time += 86400000) {
    const day = new Date(time).toISOString().slice(0, 10);
    const entry = counts.get(day);
    series.push({ day, requests: entry ? entry.requests : 0, failures: entry ? entry.failures : 0 });
  }
  const width = 720, height = 180, gap = 4;
  const max = Math.max(1, ...series.map((point) => point.requests));
  const bar = Math.max(2, (width - gap * series.length) / Math.max(1, series.length));
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", `0 0 ${width} ${height + 24}`);
  svg.setAttribute("class", "chart-svg");
  series.forEach((point, index) => {
    const x = index * (bar + gap);
    const h = (point.requests / max) * height;
    const rect = document.createElementNS(ns, "rect");
    rect.setAttribute("x", x); rect.setAttribute("y", height - h); rect.setAttribute("width", bar); rect.setAttribute("height", Math.max(h, point.requests ? 1 : 0));
    rect.setAttribute("class", "bar");
    const title = document.createElementNS(ns, "title");
    title.textContent = `${point.day}: ${point.requests} requests, ${point.failures} failed`;
    rect.append(title);
    svg.append(rect);
    if (point.failures) {
      const fh = (point.failures / max) * height;
      const fail = document.createElementNS(ns, "rect");
      fail.setAttribute("x", x); fail.setAttribute("y", height - fh); fail.setAttribute("width", bar); fail.setAttribute("height", fh);
      fail.setAttribute("class", "bar-fail");
      svg.append(fail);
    }
    if (series.length <= 14 || index % Math.ceil(series.length / 14) === 0) {
      const label = document.createElementNS(ns, "text");
      label.setAttribute("x", x + bar / 2); label.setAttribute("y", height + 16); label.setAttribute("class", "axis");
      label.textContent = point.day.slice(5);
      svg.append(label);
    }
  });
  $("chart").replaceChildren(svg);
}

function renderRecords(records) {
  const body = $("records-body");
  body.replaceChildren();
  for (const record of records) {
    const duration = record.durationMs != null ? `${record.durationMs} ms` : "—";
    body.append(el("tr", { "data-request": record.requestId },
      el("td", {}, when(record.startTime)), el("td", {}, record.username || "—"), el("td", {}, record.model || "—"),
      el("td", {}, record.upstream || "—"), el("td", {}, statusBadge(record.status), record.stream ? badge("stream", "info") : ""),
      el("td", {}, duration), el("td", {}, record.ttfbMs != null ? `${Math.round(record.ttfbMs)} ms` : "—"),
      el("td", {}, number(record.totalTokens))));
  }
  $("records-empty").classList.toggle("hidden", records.length > 0);
}

// MARK: upstreams

async function loadUpstreams() {
  try {
    const data = await api("/api/upstreams");
    const body = $("upstreams-body");
    body.replaceChildren();
    for (const upstream of data.upstreams) {
      const errors = upstream.endpoints.map((endpoint) => endpoint.last_error).filter(Boolean);
      const healthy = upstream.endpoints.filter((endpoint) => endpoint.healthy).length;
      body.append(el("tr", {},
        el("td", {}, upstream.name), el("td", {}, upstream.type), el("td", {}, el("code", {}, upstream.base_url)),
        el("td", {}, badge(upstream.healthy ? "healthy" : "down", upstream.healthy ? "ok" : "bad")),
        el("td", {}, breaker(upstream.endpoints)),
        el("td", {}, latency(upstream.endpoints)),
        el("td", {}, number(upstream.models)), el("td", {}, `${healthy}/${upstream.endpoints.length} up`),
        el("td", { class: "small" }, errors[0] || upstream.models_error || "—")));
    }
  } catch (error) {
    /* shown by the 401 handler or left empty */
  }
}

/** The circuit breakers of an upstream's endpoints: the worst state, with the wait left. */
function breaker(endpoints) {
  const open = endpoints.filter((endpoint) => endpoint.breaker === "open");
  const probing = endpoints.filter((endpoint) => endpoint.breaker === "half_open");
  if (open.length) {
    const wait = Math.max(...open.map((endpoint) => endpoint.breaker_retry_in_s || 0));
    return badge(`open ${open.length}/${endpoints.length}, ${Math.ceil(wait)} s`, "bad");
  }
  if (probing.length) return badge(`half-open ${probing.length}/${endpoints.length}`, "warn");
  const cooling = endpoints.filter((endpoint) => endpoint.cooling_down_s);
  if (cooling.length) return badge(`cooling down ${cooling.length}/${endpoints.length}`, "warn");
  return badge("closed", "ok");
}

function latency(endpoints) {
  const values = endpoints.map((endpoint) => endpoint.latency_ms).filter((value) => value != null);
  if (!values.length) return "—";
  return `${Math.round(values.reduce((a, b) => a + b, 0) / values.length)} ms`;
}

$("upstreams-refresh").addEventListener("click", loadUpstreams);

// MARK: blocks

async function loadBlocks() {
  $("blocks-error").textContent = "";
  try {
    const data = await api("/api/blocks");
    const body = $("blocks-body");
    body.replaceChildren();
    for (const block of data.blocks) {
      const lift = el("button", { class: "ghost danger-text", "data-lift": block.address, textContent: "Lift" });
      lift.addEventListener("click", async () => {
        try {
          await api(`/api/blocks/${encodeURIComponent(block.address)}`, { method: "DELETE" });
        } catch (error) {
          $("blocks-error").textContent = error.message;
        }
        loadBlocks();
      });
      body.append(el("tr", { "data-block": block.address },
        el("td", {}, el("code", {}, block.address)), el("td", {}, block.reason), el("td", {}, when(block.createdAt)),
        el("td", {}, when(block.expiresAt)), el("td", {}, String(block.strikes + 1)), el("td", { class: "right" }, lift)));
    }
    $("blocks-empty").classList.toggle("hidden", data.blocks.length > 0);
  } catch (error) {
    if (error.status !== 401) $("blocks-error").textContent = error.message;
  }
}

$("blocks-refresh").addEventListener("click", loadBlocks);

// MARK: start

(async () => {
  try {
    await api("/api/keys");
    showApp("");
  } catch (_) {
    showLogin();
  }
})();
