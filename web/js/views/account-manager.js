// Account Manager: the Monthly Overview card, then the Subaccounts / Users / Pending / Payouts tabs.
import { api } from "../api.js";
import { badge, clear, date, dateTime, errorLine, field, h, loading, modal, select, table, toast, usd, withProgress } from "../ui.js";
import { subaccountsTab } from "./subaccounts.js";
import { pendingTab, usersTab } from "./users.js";

const CONNECT_LABELS = {
  not_connected: ["Not connected", "neutral"],
  initiating: ["Initiating", "warn"],
  connected: ["Connected", "ok"],
  restricted: ["Restricted", "danger"],
};

export async function accountManagerView(main, tab, tools) {
  const { context } = tools;
  const tabs = [["subaccounts", "Subaccounts"]];
  if (context.canManage) tabs.push(["users", "Users"], ["pending", "Pending"], ["payouts", "Payouts"]);
  if (!tabs.some(([key]) => key === tab)) tab = "subaccounts";
  const overview = h("section", { class: "card overview", "data-testid": "overview-card" }, loading("Loading the Monthly Overview…"));
  const panel = h("section", { class: "tab-panel", role: "tabpanel" });
  main.append(
    h("h1", {}, "Account Manager"),
    overview,
    h(
      "div",
      { class: "tabs", role: "tablist" },
      tabs.map(([key, label]) => h("a", { href: `#/account-manager/${key}`, role: "tab", "aria-selected": String(key === tab), class: key === tab ? "tab active" : "tab", "data-testid": `tab-${key}` }, label)),
    ),
    panel,
  );
  const returned = tools.params.get("connect") === "returned";
  if (returned) history.replaceState(null, "", `#/account-manager/${tab}`); // a reload is not a return
  renderOverview(overview, tools, { poll: returned });
  if (returned) toast("Back from Stripe. The Connect status updates as soon as Stripe confirms.");
  if (tab === "users") return usersTab(panel, tools);
  if (tab === "pending") return pendingTab(panel, tools);
  if (tab === "payouts") return payoutsTab(panel, tools);
  return subaccountsTab(panel, { ...tools, refreshOverview: () => renderOverview(overview, tools) });
}

/** The Monthly Overview card: profit, available profit, threshold, next payout, Connect. */
export async function renderOverview(card, { context }, { poll = false, attempt = 0 } = {}) {
  let data;
  let connect = null;
  try {
    [data, connect] = await Promise.all([
      api.get("/v1/agency/overview"),
      context.canManage ? api.get("/v1/agency/connect") : Promise.resolve(null),
    ]);
  } catch (failure) {
    clear(card, h("h2", {}, "Monthly Overview"), h("p", { class: "form-error", role: "alert" }, failure.words));
    return;
  }
  const status = connect?.status || data.connect_status;
  const [label, kind] = CONNECT_LABELS[status] || [status, "neutral"];
  const error = errorLine();
  const connectArea = h("div", { class: "connect" }, h("span", { class: "muted" }, "Stripe Connect "), badge(label, kind, { "data-testid": "connect-status" }));
  if (context.canManage) {
    if (status === "connected") {
      connectArea.append(actionButton("See Details", "see-details", "Opening Stripe…", error, seeDetails));
    } else {
      const text = status === "not_connected" ? "Connect Stripe" : "Continue Stripe onboarding";
      connectArea.append(actionButton(text, "connect-stripe", "Contacting Stripe…", error, startOnboarding));
    }
  }
  const used = data.minutes_used_this_period || {};
  const everUsed = data.total_minutes_used || {};
  const actions = (data.action_needed || []).map((item) => h("li", { class: `action-${item.code}` }, item.message));
  const lastPayout = data.last_payout;
  const zone = data.timezone || "UTC";
  const zoneArea = h("span", { class: "muted zone" }, "Dates in ", h("strong", { "data-testid": "agency-timezone" }, zone));
  if (context.canManage) {
    zoneArea.append(" ", h("button", { class: "button small", type: "button", "data-testid": "change-timezone", onclick: () => changeTimezone(zone, card, context) }, "Change"));
  }
  clear(
    card,
    h("div", { class: "overview-head" }, h("h2", {}, "Monthly Overview"), h("span", { class: "muted" }, `${date(data.period_start)} – ${date(data.period_end)}`), zoneArea),
    h(
      "dl",
      { class: "figures" },
      figure("Agency profit this period", usd(data.profit_this_period_usd), "profit-this-period"),
      figure("Available profit", usd(data.available_profit_usd), "available-profit"),
      figure("Payout threshold", usd(data.payout_threshold_usd), "payout-threshold"),
      figure("Next payout date", data.next_payout_date ? date(data.next_payout_date) : "After Stripe is connected", "next-payout-date"),
      figure("Minutes used this period", `${used.total ?? "—"} (Basic ${used.basic ?? "—"}, Premium ${used.premium ?? "—"})`, "minutes-used"),
      figure("Minutes used, all sub-accounts, all time", `${everUsed.total ?? "—"}`, "minutes-used-total"),
      figure("Plan renewal", data.plan_renewal_date ? date(data.plan_renewal_date) : "—", "plan-renewal-date"),
      lastPayout
        ? figure("Last payout", `${usd(lastPayout.amount_usd)} · ${lastPayout.status}${lastPayout.status === "failed" ? ` (${lastPayout.failure_code || lastPayout.failure_stage})` : ""}`, "last-payout")
        : null,
    ),
    connectArea,
    error.element,
    actions.length ? h("ul", { class: "action-needed", "data-testid": "action-needed" }, actions) : null,
  );
  // Back from Stripe's onboarding: its account.updated webhook may land a moment later.
  if (poll && status !== "connected" && attempt < 8 && card.isConnected) {
    setTimeout(() => card.isConnected && renderOverview(card, { context }, { poll, attempt: attempt + 1 }), 1500);
  }
}

/** Owner/admin: the agency's timezone (reports and this card count days in it). */
function changeTimezone(current, card, context) {
  let zones = [];
  try {
    zones = Intl.supportedValuesOf("timeZone");
  } catch {
    zones = [];
  }
  if (!zones.includes("UTC")) zones = ["UTC", ...zones];
  if (!zones.includes(current)) zones = [current, ...zones];
  modal("Agency timezone", (body, close) => {
    const picker = select("timezone", zones.map((zone) => [zone, zone]), { "data-testid": "timezone-select" });
    picker.value = current;
    const error = errorLine();
    const save = h("button", { class: "button primary", type: "button", "data-testid": "timezone-save" }, "Save");
    save.addEventListener("click", async () => {
      error.hide();
      try {
        await withProgress(save, "Saving…", () => api.patch("/v1/agency", { timezone: picker.value }));
        close();
        await context.load(true); // /v1/me carries the zone the reports use
        toast(`Reports now count days in ${picker.value}. Days already counted keep their dates.`);
        renderOverview(card, { context });
      } catch (failure) {
        error.show(failure);
      }
    });
    body.append(
      field("Timezone", picker, "Report dates and the billing period are days of this timezone, from now on."),
      error.element,
      h("div", { class: "actions" }, h("button", { class: "button", type: "button", onclick: close }, "Cancel"), save),
    );
  }, { testid: "timezone-modal" });
}

function figure(label, value, testid) {
  return h("div", { class: "figure" }, h("dt", {}, label), h("dd", { "data-testid": testid }, value));
}

function actionButton(label, testid, progress, error, action) {
  const button = h("button", { class: "button primary small", type: "button", "data-testid": testid }, label);
  button.addEventListener("click", async () => {
    error.hide();
    try {
      await withProgress(button, progress, action);
    } catch (failure) {
      error.show(failure);
    }
  });
  return button;
}

async function startOnboarding() {
  // Stripe's hosted onboarding; it returns to /settings/connect, which this app routes back here.
  const { url } = await api.post("/v1/agency/connect/onboarding", {});
  location.assign(url);
}

async function seeDetails() {
  // Opened before the request so that the browser treats it as a user action (no popup block).
  const tab = window.open("", "_blank");
  try {
    const { url } = await api.post("/v1/agency/connect/dashboard-link", {});
    if (tab) {
      tab.opener = null;
      tab.location.href = url;
    } else {
      location.assign(url);
    }
  } catch (failure) {
    if (tab) tab.close();
    throw failure;
  }
}

async function payoutsTab(panel, { context }) {
  clear(panel, loading());
  let payouts;
  try {
    payouts = (await api.get("/v1/agency/payouts?limit=50")).payouts || [];
  } catch (failure) {
    clear(panel, h("p", { class: "form-error", role: "alert" }, failure.words));
    return;
  }
  const statusBadge = (p) => {
    if (p.status === "failed") return badge(`Failed${p.failure_stage ? ` at ${p.failure_stage}` : ""}`, "danger");
    if (p.status === "paid") return badge("Paid", "ok");
    return badge("In transit", "warn");
  };
  clear(
    panel,
    h("div", { class: "panel-head" }, h("h2", {}, "Payouts"), h("span", { class: "muted" }, `Paid by Stripe Connect once available profit reaches the threshold (${context.agency?.name || "agency"}).`)),
    table(
      [
        { label: "Cycle date", cell: (p) => date(p.cycle_date) },
        { label: "Amount", cell: (p) => usd(p.amount_usd), class: "num" },
        { label: "Status", cell: statusBadge },
        { label: "Failure", cell: (p) => (p.status === "failed" ? h("strong", { class: "danger-text" }, `${p.failure_code || "unknown"} — ${p.failure_stage === "bank" ? "your bank refused it; fix the bank details in Stripe" : "the transfer failed; it is retried at the next sweep"}`) : "—") },
        { label: "Created", cell: (p) => dateTime(p.created_at) },
      ],
      payouts,
      { empty: "No payouts yet. They start once the available profit reaches the threshold and Stripe is connected.", testid: "payouts-table", rowTestid: (p) => `payout-${p.status}` },
    ),
  );
}
