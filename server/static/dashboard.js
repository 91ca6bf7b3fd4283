// Linli admin dashboard. Logs in with a password (POST /v1/auth/login), then draws the reports of
// GET /v1/reports/{compliance,outcomes,ranking,coverage,hours,fees} with Apache ECharts, and downloads their CSV
// (same URL with format=csv). Chinese and English labels. The token lives in this tab only (sessionStorage).
// A district admin picks the community (GET /v1/communities); every report request then names it, except the
// district-wide red/black list (GET /v1/reports/district_ranking), which only they see and which is of every community.
"use strict";

const L = {
  zh: {
    title: "邻里 · 数据看板", logout: "退出", login: "登录", username: "用户名", password: "密码", signin: "登录",
    community: "社区", from: "开始", to: "结束", grid: "网格", allGrids: "全部网格", day: "敲门日期", refresh: "刷新",
    compliance: "5-20-2-2 达标率", outcomes: "工单办理", ranking: "红黑榜", coverage: "敲门行动覆盖",
    hours: "志愿服务时长（按网格）", fees: "物业费收缴率", csv: "下载 CSV",
    onSite: "5分钟到场", smallSolved: "20分钟解决", plan: "2天方案", answer: "2天答复", tickets: "工单数",
    overdue: "当前超时", resolution: "解决率", timely: "及时签收率", onTime: "按时办结率", satisfaction: "满意率",
    reopened: "重办率", sentBack: "退单率", disputes: "纠纷调处解决率", red: "红榜", black: "黑榜",
    handler: "处理人", score: "得分", volume: "工单", households: "需敲门户数", visited: "已敲门", seen: "已见面",
    missed: "未敲门", notSeen: "未见面", building: "楼", room: "室", approvedHours: "已审核小时",
    collection: "收缴率", basis: "按设备事件时间 · 完整至序号", loginFailed: "登录失败", loadFailed: "加载失败",
    district: "街道红黑榜", communityCol: "社区",
  },
  en: {
    title: "Linli · Dashboard", logout: "Log out", login: "Log in", username: "Username", password: "Password",
    signin: "Log in", community: "Community", from: "From", to: "To", grid: "Grid cell", allGrids: "All grid cells", day: "Visit day",
    refresh: "Refresh", compliance: "5-20-2-2 compliance", outcomes: "Ticket outcomes", ranking: "Red/black list",
    coverage: "Door-knock coverage", hours: "Volunteer hours by grid cell", fees: "Fee collection rate",
    csv: "Download CSV", onSite: "On site ≤5 min", smallSolved: "Solved ≤20 min", plan: "Plan ≤2 days",
    answer: "Answer ≤2 days", tickets: "Tickets", overdue: "Overdue now", resolution: "Resolution",
    timely: "Timely acceptance", onTime: "On-time completion", satisfaction: "Satisfaction", reopened: "Reopened",
    sentBack: "Sent back", disputes: "Disputes resolved", red: "Red list", black: "Black list", handler: "Handler",
    score: "Score", volume: "Tickets", households: "Households due", visited: "Visited", seen: "Seen",
    missed: "Missed", notSeen: "Not seen", building: "Bldg", room: "Room", approvedHours: "Approved hours",
    collection: "Collection rate", basis: "Device event time · complete up to seq", loginFailed: "Login failed",
    loadFailed: "Could not load", district: "District red/black list", communityCol: "Community",
  },
};
let lang = localStorage.getItem("linli.lang") || "zh";
const t = (k) => L[lang][k] || k;
const $ = (sel) => document.querySelector(sel);
const charts = {};
let last = {};
let gridList = [];
// The community a district admin is looking at ("" for everybody else: the server answers with their own).
let community = "";

function applyLang() {
  document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
  document.querySelectorAll("[data-i18n]").forEach((el) => { el.textContent = t(el.dataset.i18n); });
  $("#lang").textContent = lang === "zh" ? "English" : "中文";
  if (last.compliance) render();
}

const DISTRICT = "/v1/reports/district_ranking";
function district() { return sessionStorage.getItem("linli.role") === "district_admin"; }

function token() { return sessionStorage.getItem("linli.token"); }

async function api(path, params, asText) {
  const url = new URL(path, location.origin);
  for (const [k, v] of Object.entries(params || {})) if (v) url.searchParams.set(k, v);
  if (community && path.startsWith("/v1/reports/") && path !== DISTRICT) url.searchParams.set("community", community);
  const res = await fetch(url, { headers: { Authorization: "Bearer " + token() } });
  if (res.status === 401) { logout(); throw new Error(t("loginFailed")); }
  if (!res.ok) {
    let detail = res.statusText;
    try { const p = await res.json(); detail = `${p.title}: ${p.detail} (${p.code})`; } catch (_) { /* not JSON */ }
    throw new Error(detail);
  }
  return asText ? res.blob() : res.json();
}

function pct(rate) { return rate && rate.value !== null ? (rate.value * 100).toFixed(1) + "%" : "—"; }
function kpi(label, value) { return `<div class="kpi"><b>${value}</b><span>${label}</span></div>`; }
function esc(s) { return String(s).replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]); }
function short(id) { return String(id).slice(0, 8); }
function chart(id) {
  if (!charts[id]) charts[id] = echarts.init(document.getElementById(id));
  return charts[id];
}

function filters() {
  const f = new FormData($("#filters"));
  return { from: f.get("from"), to: f.get("to"), grid: f.get("grid"), day: f.get("day") };
}

async function load() {
  $("#error").textContent = "";
  const f = filters();
  const range = { from: f.from, to: f.to, grid: f.grid };
  try {
    const [compliance, outcomes, ranking, coverage, hours, fees] = await Promise.all([
      api("/v1/reports/compliance", range),
      api("/v1/reports/outcomes", range),
      api("/v1/reports/ranking", { month: f.to.slice(0, 7), grid: f.grid }),
      api("/v1/reports/coverage", { day: f.day, grid: f.grid }),
      api("/v1/reports/hours", range),
      api("/v1/reports/fees", { from: f.from.slice(0, 7), to: f.to.slice(0, 7), grid: f.grid }),
    ]);
    last = { compliance, outcomes, ranking, coverage, hours, fees };
    last.district = district() ? await api(DISTRICT, { month: f.to.slice(0, 7) }) : null;
    render();
  } catch (e) {
    $("#error").textContent = t("loadFailed") + ": " + e.message;
  } finally {
    // Which community's reports are drawn now (for the browser test to wait on).
    document.body.dataset.loaded = community;
  }
}

function render() {
  const { compliance: c, outcomes: o, ranking: r, coverage: v, hours: h, fees: fe } = last;
  $("#basis").textContent = `${t("basis")} ${c.basis.complete_up_to_seq}`;

  $("#k-compliance").innerHTML = kpi(t("tickets"), c.overall.tickets) + kpi(t("onSite"), pct(c.overall.on_site.met))
    + kpi(t("smallSolved"), pct(c.overall.small_solved.met)) + kpi(t("plan"), pct(c.overall.complex_plan.met))
    + kpi(t("answer"), pct(c.overall.complex_answer.met)) + kpi(t("overdue"), c.overdue.length);
  const days = c.by_day.map((d) => d.key);
  const series = (key, name) => ({ name, type: "line", data: c.by_day.map((d) => d[key].met.value === null ? null : +(d[key].met.value * 100).toFixed(1)) });
  chart("c-compliance").setOption({
    animation: false, tooltip: { trigger: "axis" }, legend: { top: 0 },
    xAxis: { type: "category", data: days }, yAxis: { type: "value", max: 100, axisLabel: { formatter: "{value}%" } },
    series: [series("on_site", t("onSite")), series("small_solved", t("smallSolved")), series("complex_plan", t("plan"))],
  }, true);

  const rt = o.rates;
  $("#k-outcomes").innerHTML = kpi(t("tickets"), o.tickets) + kpi(t("resolution"), pct(rt.resolution))
    + kpi(t("timely"), pct(rt.timely_acceptance)) + kpi(t("onTime"), pct(rt.on_time_completion))
    + kpi(t("satisfaction"), pct(rt.satisfaction)) + kpi(t("reopened"), pct(rt.reopened))
    + kpi(t("sentBack"), pct(rt.sent_back)) + kpi(t("disputes"), pct(o.disputes));

  const list = (id, caption, people) => {
    $(id).innerHTML = `<caption>${caption}</caption><tr><th>#</th><th>${t("handler")}</th><th>${t("volume")}</th><th>${t("score")}</th></tr>`
      + people.map((p, i) => `<tr><td>${i + 1}</td><td title="${esc(p.handler)}">${esc(p.name || short(p.handler))}</td><td>${p.volume}</td><td>${p.score.toFixed(3)}</td></tr>`).join("");
  };
  list("#t-red", t("red"), r.red);
  list("#t-black", t("black"), r.black);
  $("#p-district").hidden = !last.district;
  if (last.district) {
    const dlist = (id, caption, people) => {
      $(id).innerHTML = `<caption>${caption}</caption><tr><th>#</th><th>${t("communityCol")}</th><th>${t("handler")}</th><th>${t("volume")}</th><th>${t("score")}</th></tr>`
        + people.map((p, i) => `<tr><td>${i + 1}</td><td>${esc(p.community_name)}</td><td title="${esc(p.handler)}">${esc(short(p.handler))}</td><td>${p.volume}</td><td>${p.score.toFixed(3)}</td></tr>`).join("");
    };
    dlist("#t-district-red", t("red"), last.district.red);
    dlist("#t-district-black", t("black"), last.district.black);
  }

  const counts = { missed: 0, not_seen: 0, seen: 0 };
  v.rows.forEach((row) => { counts[row.outcome] += 1; });
  $("#k-coverage").innerHTML = kpi(t("households"), v.households) + kpi(t("visited"), pct(v.visited)) + kpi(t("seen"), pct(v.seen));
  chart("c-coverage").setOption({
    animation: false, tooltip: {}, legend: { top: 0 },
    series: [{ type: "pie", radius: ["35%", "65%"], top: 20, label: { formatter: "{b}: {c}" },
      data: [{ name: t("seen"), value: counts.seen }, { name: t("notSeen"), value: counts.not_seen }, { name: t("missed"), value: counts.missed }] }],
  }, true);
  const missed = v.rows.filter((row) => row.outcome !== "seen").slice(0, 10);
  $("#t-missed").innerHTML = `<tr><th></th><th>${t("building")}</th><th>${t("room")}</th></tr>`
    + missed.map((row) => `<tr><td>${t(row.outcome === "missed" ? "missed" : "notSeen")}</td><td>${esc(row.building)}</td><td>${esc(row.room)}</td></tr>`).join("");

  const gridNames = Object.fromEntries(gridList.map((g) => [g.id, g.name]));
  const byGrid = Object.entries(h.approved_by_grid);
  chart("c-hours").setOption({
    animation: false, tooltip: {},
    xAxis: { type: "category", data: byGrid.map(([g]) => gridNames[g] || short(g)) }, yAxis: { type: "value" },
    series: [{ name: t("approvedHours"), type: "bar", label: { show: true, position: "top" }, data: byGrid.map(([, m]) => +(m / 60).toFixed(1)) }],
  }, true);

  const community = fe.rows.filter((row) => row.level === "community");
  chart("c-fees").setOption({
    animation: false, tooltip: { trigger: "axis" },
    xAxis: { type: "category", data: community.map((row) => `${row.key} ${row.period}`) },
    yAxis: { type: "value", max: 100, axisLabel: { formatter: "{value}%" } },
    series: [{ name: t("collection"), type: "bar", label: { show: true, position: "top", formatter: "{c}%" },
      data: community.map((row) => row.rate.value === null ? null : +(row.rate.value * 100).toFixed(1)) }],
  }, true);
}

async function downloadCsv(report) {
  const f = filters();
  const params = {
    compliance: { from: f.from, to: f.to, grid: f.grid }, outcomes: { from: f.from, to: f.to, grid: f.grid },
    ranking: { month: f.to.slice(0, 7), grid: f.grid }, coverage: { day: f.day, grid: f.grid },
    hours: { from: f.from, to: f.to, grid: f.grid }, fees: { from: f.from.slice(0, 7), to: f.to.slice(0, 7), grid: f.grid },
    district_ranking: { month: f.to.slice(0, 7) },
  }[report];
  try {
    const blob = await api("/v1/reports/" + report, { ...params, format: "csv" }, true);
    const a = document.createElement("a");
    a.href = URL.createObjectURL(blob);
    a.download = `linli-${report}.csv`;
    document.body.appendChild(a);
    a.click();
    a.remove();
  } catch (e) {
    $("#error").textContent = t("loadFailed") + ": " + e.message;
  }
}

async function start() {
  $("#login-panel").hidden = true;
  $("#dashboard").hidden = false;
  $("#logout").hidden = false;
  try {
    if (sessionStorage.getItem("linli.role") === "district_admin") {
      const communities = await api("/v1/communities");
      const pick = $("#filters select[name=community]");
      pick.innerHTML = communities.map((c) => `<option value="${esc(c.id)}">${esc(c.name)}</option>`).join("");
      community = communities.length ? String(communities[0].id) : "";
      $("#community-pick").hidden = false;
      pick.onchange = async () => { community = pick.value; await grids(); await load(); };
    }
    await grids();
  } catch (e) {
    $("#error").textContent = t("loadFailed") + ": " + e.message;
  }
  await load();
  document.body.dataset.ready = "true";
}

// The grid cells of the community in view, as the grid filter's options.
async function grids() {
  gridList = await api("/v1/reports/grids");
  const sel = $("#filters select[name=grid]");
  sel.querySelectorAll("option:not([value=''])").forEach((o) => o.remove());
  for (const g of gridList) sel.insertAdjacentHTML("beforeend", `<option value="${esc(g.id)}">${esc(g.name)}</option>`);
}

function logout() {
  sessionStorage.removeItem("linli.token");
  sessionStorage.removeItem("linli.role");
  community = "";
  $("#dashboard").hidden = true;
  $("#logout").hidden = true;
  $("#login-panel").hidden = false;
}

// Calendar days are the community's (the offset the server's reports use), not the browser's: an admin whose
// computer is set to another zone still sees "today" as the community has it. Found by the browser test, which
// failed from 16:00 to 24:00 UTC on a machine set to UTC.
const utcOffsetMinutes = Number(document.querySelector('meta[name="linli-utc-offset-minutes"]')?.content);
function isoDay(d) {
  const offset = Number.isFinite(utcOffsetMinutes) ? utcOffsetMinutes : -d.getTimezoneOffset();
  return new Date(d.getTime() + offset * 60000).toISOString().slice(0, 10);
}

document.addEventListener("DOMContentLoaded", () => {
  const today = new Date();
  const f = $("#filters");
  const params = new URLSearchParams(location.search);
  f.from.value = params.get("from") || isoDay(new Date(today.getTime() - 29 * 86400000));
  f.to.value = params.get("to") || isoDay(today);
  f.day.value = params.get("day") || isoDay(today);
  applyLang();
  $("#lang").addEventListener("click", () => { lang = lang === "zh" ? "en" : "zh"; localStorage.setItem("linli.lang", lang); applyLang(); });
  $("#logout").addEventListener("click", logout);
  $("#filters").addEventListener("submit", (e) => { e.preventDefault(); load(); });
  document.querySelectorAll("button.csv").forEach((b) => b.addEventListener("click", () => downloadCsv(b.dataset.report)));
  window.addEventListener("resize", () => Object.values(charts).forEach((c) => c.resize()));
  $("#login").addEventListener("submit", async (e) => {
    e.preventDefault();
    $("#login-error").textContent = "";
    const body = Object.fromEntries(new FormData(e.target));
    const res = await fetch("/v1/auth/login", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
    if (!res.ok) { $("#login-error").textContent = t("loginFailed"); return; }
    const tokens = await res.json();
    sessionStorage.setItem("linli.token", tokens.access_token);
    sessionStorage.setItem("linli.role", tokens.role);
    start();
  });
  if (token()) start();
});
