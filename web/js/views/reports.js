// Reporting: a date range, one row per sub-account, a daily chart and a CSV download.
import { api, qs, request } from "../api.js";
import { clear, date, errorLine, field, h, loading, table, usd, withProgress } from "../ui.js";

const SVG = "http://www.w3.org/2000/svg";
const STATUSES = ["completed", "failed", "busy", "no_answer", "canceled", "other"];

// Report dates are days of the agency's timezone (GET /v1/me carries it), not the browser's.
let zone = "UTC";

function localToday() {
  try {
    // en-CA writes dates as YYYY-MM-DD.
    return new Intl.DateTimeFormat("en-CA", { timeZone: zone, year: "numeric", month: "2-digit", day: "2-digit" }).format(new Date());
  } catch {
    return new Date().toISOString().slice(0, 10);
  }
}

function daysBefore(isoDay, n) {
  const day = new Date(`${isoDay}T00:00:00Z`);
  return new Date(day.getTime() - n * 86400000).toISOString().slice(0, 10);
}

function thisMonth() {
  const today = localToday();
  return [`${today.slice(0, 8)}01`, today];
}

function lastDays(n) {
  const today = localToday();
  return [daysBefore(today, n - 1), today];
}

export function reportsView(main, { params, context }) {
  zone = context.me?.timezone || context.agency?.timezone || "UTC";
  const [defaultFrom, defaultTo] = thisMonth();
  const from = h("input", { type: "date", name: "from", value: params.get("from") || defaultFrom, "data-testid": "report-from" });
  const to = h("input", { type: "date", name: "to", value: params.get("to") || defaultTo, "data-testid": "report-to" });
  const error = errorLine();
  const apply = h("button", { class: "button primary", type: "submit", "data-testid": "report-apply" }, "Apply");
  const csv = h("button", { class: "button", type: "button", "data-testid": "report-csv" }, "Download CSV");
  const results = h("div", { "data-testid": "report-results" });
  const preset = (label, range) => h("button", { class: "button small", type: "button", onclick: () => {
    [from.value, to.value] = range();
    form.requestSubmit();
  } }, label);
  const form = h(
    "form",
    { class: "card toolbar", novalidate: true },
    field("From", from),
    field("To", to),
    h("div", { class: "presets" }, preset("This month", thisMonth), preset("Last 7 days", () => lastDays(7)), preset("Last 30 days", () => lastDays(30))),
    h("div", { class: "actions" }, apply, csv),
    error.element,
  );
  const load = async () => {
    error.hide();
    if (to.value < from.value) return error.show("The end date is before the start date.");
    clear(results, loading("Building the report…"));
    try {
      const report = await withProgress(apply, "Loading…", () => api.get(`/v1/reports/subaccounts${qs({ from: from.value, to: to.value })}`));
      renderReport(results, report, context);
    } catch (failure) {
      clear(results);
      error.show(failure);
    }
  };
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    load();
  });
  csv.addEventListener("click", async () => {
    error.hide();
    try {
      const text = await withProgress(csv, "Preparing…", () => request("GET", `/v1/reports/subaccounts${qs({ from: from.value, to: to.value })}`, { accept: "text/csv" }));
      const link = h("a", { href: URL.createObjectURL(new Blob([text], { type: "text/csv" })), download: `report-${from.value}-${to.value}.csv` });
      document.body.append(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(link.href), 10000);
    } catch (failure) {
      error.show(failure);
    }
  });
  main.append(h("h1", {}, "Reporting"), form, results);
  load();
}

function callsCell(calls) {
  const parts = STATUSES.filter((s) => calls.by_status?.[s]).map((s) => `${s.replace("_", " ")} ${calls.by_status[s]}`);
  return h("div", {}, h("strong", {}, String(calls.total)), parts.length ? h("div", { class: "muted small" }, parts.join(" · ")) : null);
}

function renderReport(results, report, context) {
  const rows = report.subaccounts || [];
  const showProfit = context.isAgencyRole;
  const columns = [
    { label: "Sub-account", cell: (r) => r.name || r.subaccount_id },
    { label: "Minutes used (Basic)", class: "num", cell: (r) => r.minutes_used.basic },
    { label: "Minutes used (Premium)", class: "num", cell: (r) => r.minutes_used.premium },
    { label: "Calls by status", cell: (r) => callsCell(r.calls) },
    { label: "Spent", class: "num", cell: (r) => usd(r.spent_usd) },
    { label: "Purchases", class: "num", cell: (r) => usd(r.purchases_usd) },
    { label: "Wallet balance", class: "num", cell: (r) => usd(r.wallet_balance_usd) },
    showProfit && { label: "Profit", class: "num", cell: (r) => h("span", { "data-testid": "report-profit" }, usd(r.profit_usd)) },
    { label: "Next billing", cell: (r) => date(r.next_billing_date) },
  ].filter(Boolean);
  const totals = report.totals;
  const chartSelect = h("select", { "aria-label": "Chart for", "data-testid": "chart-select" },
    h("option", { value: "" }, "All sub-accounts"),
    rows.map((r) => h("option", { value: r.subaccount_id }, r.name || r.subaccount_id)));
  const chartArea = h("div", { class: "chart", "data-testid": "daily-chart" });
  const drawChart = () => {
    const picked = chartSelect.value ? rows.filter((r) => r.subaccount_id === chartSelect.value) : rows;
    clear(chartArea, dailyChart(sumDaily(picked)));
  };
  chartSelect.addEventListener("change", drawChart);
  clear(
    results,
    h("section", { class: "card" },
      h("div", { class: "panel-head" }, h("h2", {}, `Sub-accounts, ${date(report.from)} – ${date(report.to)}`), h("span", { class: "muted" }, `Dates in ${report.timezone || "UTC"}`)),
      table(columns, rows, { empty: "No sub-accounts in reach.", testid: "report-table", rowTestid: (r) => `report-row-${r.name}` }),
      totals
        ? h("p", { class: "totals", "data-testid": "report-totals" },
          `Totals: ${totals.minutes_used.basic} Basic + ${totals.minutes_used.premium} Premium minutes · ${totals.calls.total} calls · spent ${usd(totals.spent_usd)} · purchases ${usd(totals.purchases_usd)} · wallets ${usd(totals.wallet_balance_usd)}${showProfit ? ` · profit ${usd(totals.profit_usd)}` : ""}`)
        : null),
    h("section", { class: "card" }, h("div", { class: "panel-head" }, h("h2", {}, "Daily minutes used"), chartSelect), chartArea),
  );
  drawChart();
}

/** Per day: seconds used per tier and calls, summed over the chosen rows (integers only). */
function sumDaily(rows) {
  const days = new Map();
  for (const row of rows) {
    for (const day of row.daily || []) {
      const entry = days.get(day.date) || { date: day.date, basic: 0, premium: 0, calls: 0 };
      entry.basic += day.seconds_used?.basic || 0;
      entry.premium += day.seconds_used?.premium || 0;
      entry.calls += day.calls || 0;
      days.set(day.date, entry);
    }
  }
  return [...days.values()].sort((a, b) => (a.date < b.date ? -1 : 1));
}

function svg(tag, attrs, ...children) {
  const element = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs)) element.setAttribute(key, String(value));
  for (const child of children) element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  return element;
}

/** A stacked bar chart (Basic + Premium minutes per day), drawn as SVG. */
function dailyChart(days) {
  if (!days.length) return h("p", { class: "empty" }, "No days in range.");
  const width = 720;
  const height = 220;
  const pad = { left: 48, right: 8, top: 10, bottom: 28 };
  const maxSeconds = Math.max(60, ...days.map((d) => d.basic + d.premium));
  const plotW = width - pad.left - pad.right;
  const plotH = height - pad.top - pad.bottom;
  const barW = Math.max(2, plotW / days.length - 2);
  const scale = (seconds) => (seconds / maxSeconds) * plotH;
  const chart = svg("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": "Daily minutes used, Basic and Premium" });
  const topMinutes = Math.ceil(maxSeconds / 60);
  chart.append(
    svg("line", { x1: pad.left, y1: pad.top + plotH, x2: width - pad.right, y2: pad.top + plotH, class: "axis" }),
    svg("text", { x: pad.left - 6, y: pad.top + 10, "text-anchor": "end", class: "tick" }, `${topMinutes}`),
    svg("text", { x: pad.left - 6, y: pad.top + plotH, "text-anchor": "end", class: "tick" }, "0"),
  );
  const labelEvery = Math.ceil(days.length / 8);
  days.forEach((day, index) => {
    const x = pad.left + index * (plotW / days.length) + 1;
    const basicH = scale(day.basic);
    const premiumH = scale(day.premium);
    const title = `${day.date}: ${(day.basic / 60).toFixed(2)} Basic, ${(day.premium / 60).toFixed(2)} Premium minutes, ${day.calls} calls`;
    chart.append(
      svg("rect", { x, y: pad.top + plotH - basicH, width: barW, height: basicH, class: "bar-basic" }, svg("title", {}, title)),
      svg("rect", { x, y: pad.top + plotH - basicH - premiumH, width: barW, height: premiumH, class: "bar-premium" }, svg("title", {}, title)),
    );
    if (index % labelEvery === 0) chart.append(svg("text", { x: x + barW / 2, y: height - 8, "text-anchor": "middle", class: "tick" }, day.date.slice(5)));
  });
  return h("div", {}, chart, h("p", { class: "legend" }, h("span", { class: "swatch swatch-basic" }), " Basic ", h("span", { class: "swatch swatch-premium" }), " Premium (minutes per day; hover a bar for details)"));
}
