// learnloop dashboard: plain JavaScript, no dependencies. Reads /v1/analytics/* and
// /v1/proposals with the API key kept in this tab's sessionStorage.
"use strict";

const KEY = "learnloop.apiKey";
const $ = (id) => document.getElementById(id);
const SVG = "http://www.w3.org/2000/svg";
const COLORS = ["#2f6fde", "#1b9e77", "#d95f02", "#7570b3"];

function apiKey() { return sessionStorage.getItem(KEY); }

async function api(path, options = {}) {
  const headers = { Authorization: "Bearer " + apiKey() };
  if (options.body) headers["Content-Type"] = "application/json";
  const response = await fetch(path, { ...options, headers });
  if (response.status === 401) { signOut("That API key was refused; sign in again."); }
  // A body that is not JSON (a proxy's error page) leaves the status text as the message.
  const data = response.status === 204 ? null : await response.json().catch(() => null);
  if (!response.ok) {
    const message = data && data.error ? data.error.message : response.statusText;
    const error = new Error(message); error.status = response.status; throw error;
  }
  return data;
}

// A style is given as an object and set through node.style: the page's Content-Security-Policy
// (style-src 'self') refuses style attributes, but not styles set from a script of its own.
function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (name === "style") Object.assign(node.style, value); else node.setAttribute(name, value);
  }
  for (const child of children) node.append(child);
  return node;
}

function svg(tag, attrs = {}) {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, value);
  return node;
}

const pct = (v) => (v === null || v === undefined ? "–" : (100 * v).toFixed(1) + "%");
const num = (v) => (v === null || v === undefined ? "–" : Number(v).toLocaleString("en"));
const ms = (v) => (v === null || v === undefined ? "–" :
  v >= 1000 ? (v / 1000).toFixed(1) + " s" : Math.round(v) + " ms");

// --- sign in ---------------------------------------------------------------------------

function signOut(message) {
  sessionStorage.removeItem(KEY);
  $("board").hidden = true; $("signout").hidden = true; $("signin").hidden = false;
  $("signin-error").textContent = message || "";
}

async function signIn(event) {
  event.preventDefault();
  sessionStorage.setItem(KEY, $("key").value.trim());
  try {
    await api("/v1/analytics/refresh", { method: "POST" });
  } catch (error) {
    signOut(error.status === 401 ? "That API key was refused." : error.message);
    return;
  }
  $("key").value = "";
  show();
}

function show() {
  $("signin").hidden = true; $("board").hidden = false; $("signout").hidden = false;
  load();
}

// --- loading ---------------------------------------------------------------------------

function query() {
  const params = new URLSearchParams();
  if ($("since").value) params.set("since", $("since").value);
  if ($("until").value) params.set("until", $("until").value);
  return params.toString();
}

// Each panel loads and draws on its own: one that fails shows its error in its place, and
// the others still render.
const PANELS = [
  { name: "metrics", nodes: ["kpis", "chart-volume", "chart-rates"],
    path: (q, period) => `/v1/analytics/metrics?period=${period}&${q}`,
    draw: (metrics) => { drawKpis(metrics); drawOverTime(metrics); } },
  { name: "funnel", nodes: ["funnel"], path: (q) => `/v1/analytics/funnel?${q}`, draw: drawFunnel },
  { name: "referrers", nodes: ["referrers"], path: (q) => `/v1/analytics/funnel/referrers?limit=10&${q}`,
    draw: drawReferrers },
  { name: "strategies", nodes: ["strategies"], path: (q) => `/v1/analytics/strategies?${q}`,
    draw: drawStrategies },
  { name: "items", nodes: ["items-top", "items-bottom"],
    path: (q) => `/v1/analytics/items?min_shown=1&${q}`,
    draw: (items) => { drawItems($("items-top"), items.top); drawItems($("items-bottom"), items.bottom); } },
  { name: "experiments", nodes: ["experiments"], path: (q) => `/v1/analytics/experiments?${q}`,
    draw: drawExperiments },
  { name: "tools", nodes: ["tools"], path: (q) => `/v1/analytics/tools?min_runs=1&${q}`, draw: drawTools },
  { name: "playbooks", nodes: ["playbooks"], path: (q) => `/v1/analytics/playbooks?${q}`,
    draw: drawPlaybooks },
  { name: "policies", nodes: ["policies"], path: (q) => `/v1/analytics/policies?${q}`,
    draw: drawPolicies },
  { name: "switches", nodes: ["switches"], path: () => "/v1/learning/switches?limit=20",
    draw: drawSwitches },
  { name: "entities", nodes: ["entities"], path: () => `/v1/entities/top?days=${entityDays()}&limit=15`,
    draw: drawEntities },
];

// The days from the "From" date to today (the entities panel counts back from now).
function entityDays() {
  if (!$("since").value) return 30;
  const days = Math.ceil((Date.now() - Date.parse($("since").value)) / 86400000);
  return Math.min(Math.max(days, 1), 3650);
}

function panelError(node, name, error) {
  const tag = node.tagName === "TABLE" ? "caption" : "p";
  node.replaceChildren(el(tag, { class: "error", role: "alert", "data-panel-error": name },
    `${name} could not be loaded: ${error.message}`));
}

async function load() {
  $("status").textContent = "loading…";
  const q = query();
  const period = $("period").value;
  const results = await Promise.allSettled(PANELS.map((panel) => api(panel.path(q, period))));
  const failed = [];
  PANELS.forEach((panel, n) => {
    try {
      if (results[n].status === "rejected") throw results[n].reason;
      panel.draw(results[n].value);
    } catch (error) {
      failed.push(panel.name);
      for (const id of panel.nodes) panelError($(id), panel.name, error);
    }
  });
  const metrics = results[0].status === "fulfilled" ? results[0].value : null;
  const shown = metrics ? `${metrics.since} to ${metrics.until}` : "";
  $("status").textContent = [shown, failed.length ? `(failed: ${failed.join(", ")})` : ""].filter(Boolean).join(" ");
  loadReview();
}

// --- drawing ---------------------------------------------------------------------------

function drawKpis(metrics) {
  const r = metrics.totals.rates, c = metrics.totals.counts;
  const tiles = [
    ["impressions", num(c.impressions)],
    ["recommendation rate", pct(r.recommendation_rate)],
    ["click-through rate", pct(r.click_through_rate)],
    ["success rate", pct(r.success_rate)],
    ["first-choice accuracy", pct(r.first_choice_accuracy)],
    ["mean reciprocal rank", r.mean_reciprocal_rank === null ? "–" : r.mean_reciprocal_rank.toFixed(3)],
    ["time to decision", ms(r.mean_time_to_decision_ms)],
    ["abandon rate", pct(r.abandon_rate)],
    ["clicks per impression", r.clicks_per_impression === null ? "–" : r.clicks_per_impression.toFixed(2)],
    ["helpfulness", pct(metrics.helpfulness_rate)],
  ];
  $("kpis").replaceChildren(...tiles.map(([k, v]) =>
    el("div", { class: "kpi", "data-kpi": k }, el("div", { class: "v" }, v), el("div", { class: "k" }, k))));
}

function drawOverTime(metrics) {
  const labels = metrics.series.map((p) => p.period);
  lineChart($("chart-volume"), labels, [
    { name: "impressions", values: metrics.series.map((p) => p.counts.impressions) },
    { name: "clicked", values: metrics.series.map((p) => p.counts.clicked) },
    { name: "succeeded", values: metrics.series.map((p) => p.counts.succeeded) },
  ]);
  lineChart($("chart-rates"), labels, [
    { name: "click-through rate", values: metrics.series.map((p) => p.rates.click_through_rate) },
    { name: "success rate", values: metrics.series.map((p) => p.rates.success_rate) },
    { name: "first-choice accuracy", values: metrics.series.map((p) => p.rates.first_choice_accuracy) },
  ], { max: 1, format: pct });
}

function lineChart(container, labels, series, options = {}) {
  const W = 640, H = 200, L = 44, B = 22, T = 8, R = 8;
  const values = series.flatMap((s) => s.values).filter((v) => v !== null);
  const max = options.max || Math.max(1, ...values);
  const format = options.format || num;
  const x = (i) => L + (labels.length < 2 ? (W - L - R) / 2 : (i * (W - L - R)) / (labels.length - 1));
  const y = (v) => T + (1 - v / max) * (H - T - B);
  const chart = svg("svg", { viewBox: `0 0 ${W} ${H}`, role: "img" });
  chart.append(svg("line", { class: "axis", x1: L, y1: H - B, x2: W - R, y2: H - B }));
  for (const v of [0, max / 2, max]) {
    const label = svg("text", { x: 2, y: y(v) + 3 }); label.textContent = format(v); chart.append(label);
    chart.append(svg("line", { class: "axis", x1: L, y1: y(v), x2: W - R, y2: y(v) }));
  }
  const step = Math.max(1, Math.ceil(labels.length / 8));
  labels.forEach((text, i) => {
    if (i % step) return;
    const label = svg("text", { x: x(i) - 14, y: H - 6 }); label.textContent = text.slice(5); chart.append(label);
  });
  let points = 0;
  series.forEach((s, n) => {
    const color = COLORS[n % COLORS.length];
    const coords = s.values.map((v, i) => (v === null ? null : [x(i), y(v)])).filter(Boolean);
    if (coords.length > 1) {
      chart.append(svg("polyline", { points: coords.map((p) => p.join(",")).join(" "),
        fill: "none", stroke: color, "stroke-width": 2 }));
    }
    s.values.forEach((v, i) => {
      if (v === null) return;
      const dot = svg("circle", { cx: x(i), cy: y(v), r: 3, fill: color, "data-value": v,
        "data-series": s.name, "data-label": labels[i] });
      const tip = svg("title"); tip.textContent = `${s.name} ${labels[i]}: ${format(v)}`;
      dot.append(tip); chart.append(dot); points += 1;
    });
  });
  const legend = el("div", { class: "legend" }, ...series.map((s, n) =>
    el("span", {}, el("i", { style: { background: COLORS[n % COLORS.length] } }), s.name)));
  container.replaceChildren(values.length ? chart : el("p", { class: "empty" }, "no data in this range"), legend);
  container.dataset.points = String(points);
}

function bars(container, rows) {
  const max = Math.max(1, ...rows.map((r) => r.value));
  container.replaceChildren(...rows.map((r) => el("div", { class: "row", "data-step": r.label, "data-value": r.value },
    el("span", {}, r.label),
    el("div", { class: "bar", style: { width: `${(100 * r.value) / max}%` } }),
    el("span", { class: "n" }, `${num(r.value)} ${r.note || ""}`))));
}

function drawFunnel(funnel) {
  bars($("funnel"), [{ label: "shown", value: funnel.shown }, ...funnel.steps.map((s) => ({
    label: s.step, value: s.impressions,
    note: `(${pct(s.conversion_from_previous)}${s.mean_ms_from_previous === null ? "" : ", " + ms(s.mean_ms_from_previous)})`,
  }))]);
}

function drawReferrers(found) {
  table($("referrers"), ["referrer", "impressions", "viewed", "clicked", "executed", "succeeded"],
    found.referrers.map((r) => [r.referrer || "(none)", num(r.impressions),
      ...r.steps.map((s) => `${num(s.impressions)} (${pct(s.conversion_from_previous)})`)]));
}

function drawStrategies(strategies) {
  bars($("strategies"), strategies.map((s) => ({ label: s.strategy, value: s.impressions, note: `(${pct(s.share)})` })));
}

function table(node, head, rows) {
  const numeric = (i) => i > 0;
  node.replaceChildren(
    el("thead", {}, el("tr", {}, ...head.map((h, i) => el("th", numeric(i) ? { class: "n" } : {}, h)))),
    el("tbody", {}, ...(rows.length ? rows : [[el("span", { class: "empty" }, "nothing yet")]]).map((row) =>
      el("tr", {}, ...row.map((cell, i) => el("td", numeric(i) ? { class: "n" } : {}, cell))))));
}

function drawItems(node, items) {
  table(node, ["item", "shown", "clicked", "CTR", "success"], items.map((i) =>
    [`${i.title} (${i.kind}${i.status === "active" ? "" : ", " + i.status})`, num(i.shown), num(i.clicked),
     pct(i.click_through_rate), pct(i.success_rate)]));
}

function drawExperiments(experiments) {
  const rows = experiments.flatMap((e) => e.variants.map((v) => [
    `${e.experiment} / ${v.variant}${v.variant === e.control ? " (control)" : ""}`, num(v.impressions),
    pct(v.click_through_rate), pct(v.success_rate),
    v.lift_vs_control === null ? "–" : (v.lift_vs_control >= 0 ? "+" : "") + pct(v.lift_vs_control),
    v.p_value === null ? "–" : v.p_value.toFixed(3)]));
  table($("experiments"), ["experiment / variant", "impressions", "CTR", "success", "lift", "p"], rows);
}

function drawPolicies(policies) {
  table($("policies"), ["policy", "impressions", "CTR", "success", "first choice", "MRR"],
    policies.map((p) => [p.policy, num(p.impressions), pct(p.click_through_rate), pct(p.success_rate),
      pct(p.first_choice_accuracy), p.mean_reciprocal_rank === null ? "–" : p.mean_reciprocal_rank.toFixed(3)]));
}

// Automatic policy switches and rollbacks, each with the evidence it was made on.
function drawSwitches(switches) {
  const interval = (e) => `${e.value.toFixed(3)} [${e.low.toFixed(3)}, ${e.high.toFixed(3)}]`;
  const evidence = (s) => {
    const e = s.evidence;
    if (s.action === "rollback") {
      return `live ${interval(e.live_since)} on ${num(e.live_since.impressions)} impressions, ` +
        `below ${e.live_before.low.toFixed(3)}`;
    }
    const o = e.offline;
    return `DR ${interval(o.estimates.dr)}, difference ${interval(o.difference)}, ` +
      `support ${pct(o.support)}, ESS ${o.effective_sample_size.toFixed(0)}`;
  };
  table($("switches"), ["when", "action", "from → to", "impressions", "evidence"],
    switches.map((s) => [s.created_at.slice(0, 16).replace("T", " "), s.action,
      `${s.from_policy} → ${s.to_policy}`,
      num(s.action === "rollback" ? s.evidence.live_since.impressions : s.evidence.offline.impressions),
      evidence(s)]));
}

function drawTools(report) {
  table($("tools"), ["tool", "executions", "success", "mean", "p95", "first use", "last use"],
    report.tools.map((t) => [
      t.tool + (report.top.includes(t.tool) ? " ▲" : report.low.includes(t.tool) ? " ▼" : ""),
      num(t.executions), pct(t.success_rate), ms(t.mean_duration_ms), ms(t.p95_duration_ms),
      t.first_used_at.slice(0, 10), t.last_used_at.slice(0, 10)]));
}

function drawPlaybooks(report) {
  table($("playbooks"), ["playbook", "segment", "reports", "success", "days to outcome", "metric changes"],
    report.playbooks.map((p) => [
      p.playbook + (report.best_by_segment[p.segment] === p.playbook ? " ★" : ""), p.segment || "–",
      num(p.reports), pct(p.success_rate),
      p.mean_days_to_outcome === null ? "–" : p.mean_days_to_outcome.toFixed(1),
      p.metrics.map((m) => `${m.metric} ${m.mean_before}→${m.mean_after}`).join("; ") || "–"]));
}

// The entities mentioned most in messages and transcripts, with the record each links to.
function drawEntities(counts) {
  const linked = (c) => c.item_id ? `item ${c.item_id}` : (c.account_id || "–");
  table($("entities"), ["entity", "label", "linked to", "mentions", "conversations", "last seen"],
    counts.map((c) => [c.value, c.label, linked(c), num(c.mentions), num(c.conversations),
      c.last_seen.slice(0, 16).replace("T", " ")]));
}

// --- the learning queue review -----------------------------------------------------------

async function loadReview() {
  let proposals, failed, current;
  try {
    [proposals, failed, current] = await Promise.all([
      api("/v1/proposals?status=pending&limit=20"),
      api("/v1/proposals?status=failed&limit=20").catch(() => []),  // those that could not apply
      api("/v1/keys/current").catch(() => ({ scopes: [] })),
    ]);
  } catch (error) {
    $("review-card").hidden = error.status === 404;
    if (error.status !== 404) $("review").textContent = "error: " + error.message;
    return;
  }
  $("review-card").hidden = false;
  const list = [...failed, ...(Array.isArray(proposals) ? proposals : proposals.proposals || proposals.items || [])];
  if (!list.length) { $("review").replaceChildren(el("p", { class: "empty" }, "nothing waiting for review")); return; }
  const canReview = current.scopes.includes("write");
  const cards = list.map((p) => proposalCard(p, canReview));
  if (!canReview) {  // a read-only key (the demo's link carries one) sees the queue only
    cards.unshift(el("p", { class: "empty", "data-read-only": "" },
      "this key is read-only: sign in with a key that has the write scope to review"));
  }
  $("review").replaceChildren(...cards);
}

function proposalCard(p, canReview) {
  const body = el("textarea", { "aria-label": "proposed text" }); body.value = p.body;
  const title = el("input", { "aria-label": "proposed title", value: p.title });
  const note = el("p", { class: "error" });
  const act = (label, run) => {
    const button = el("button", { type: "button", "data-action": label }, label);
    button.disabled = !canReview;
    button.addEventListener("click", async () => {
      try { await run(); await loadReview(); } catch (error) { note.textContent = error.message; }
    });
    return button;
  };
  const reviewer = "dashboard";
  return el("div", { class: "proposal", "data-proposal": p.proposal_id },
    el("div", {}, el("strong", {}, `#${p.proposal_id} ${p.kind}`), ` from ${p.source}, confidence ${p.confidence}`),
    p.apply_error ? el("p", { class: "error", "data-apply-error": "" }, `could not be applied: ${p.apply_error}`) : "",
    title, body, el("div", { class: "empty" }, p.rationale || ""),
    el("div", { class: "actions" },
      act("save", () => api(`/v1/proposals/${p.proposal_id}`, { method: "PATCH",
        body: JSON.stringify({ reviewer, title: title.value, body: body.value }) })),
      act("approve", () => api(`/v1/proposals/${p.proposal_id}/approve`, { method: "POST",
        body: JSON.stringify({ reviewer }) })),
      act("reject", () => api(`/v1/proposals/${p.proposal_id}/reject`, { method: "POST",
        body: JSON.stringify({ reviewer }) }))),
    note);
}

// --- start ---------------------------------------------------------------------------------

$("signin").addEventListener("submit", signIn);
$("signout").addEventListener("click", () => signOut());
$("reload").addEventListener("click", load);
$("period").addEventListener("change", load);
const fromUrl = new URLSearchParams(location.hash.slice(1)).get("key");
if (fromUrl) {  // learnloop demo prints a link with the key after '#': never sent to a server
  sessionStorage.setItem(KEY, fromUrl);
  history.replaceState(null, "", location.pathname);
}
if (apiKey()) show();
