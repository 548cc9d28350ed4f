// One sub-account: suspension banner, wallet, cards and minute purchases, resources, activity.
// What a user may change follows its role; a suspended sub-account is read-only for its users.
import { api, idempotencyKey, listAll } from "../api.js";
import {
  badge, clear, confirmAction, dateTime, errorLine, field, h, loading, select, table, toast, usd, withProgress,
} from "../ui.js";
import { moveMinutesDialog, statusBadge } from "./subaccounts.js";

const SUB_ROLES = new Set(["subaccount_admin", "subaccount_member"]);

// Stripe test payment methods the local emulator understands (SPEC section 4).
const TEST_CARDS = [
  ["pm_card_visa", "Visa •••• 4242 (test card, succeeds)"],
  ["pm_card_chargeCustomerFail", "Test card that attaches, then every charge is declined"],
  ["pm_card_visa_chargeDeclined", "Test card declined when it is added"],
];

const RESOURCES = [
  { segment: "campaigns", key: "campaigns", title: "Campaigns (outbound)", toggle: ["active", "paused"] },
  { segment: "agents", key: "agents", title: "Agents (inbound)", toggle: ["active", "inactive"] },
  { segment: "automations", key: "automations", title: "Automations", toggle: ["enabled", "disabled"] },
  { segment: "phone-numbers", key: "phone_numbers", title: "Phone numbers", toggle: null },
];

/** "0.20" → 200000n micro-dollars, without floating point. */
function micros(decimal) {
  const [whole, frac = ""] = String(decimal).split(".");
  return BigInt(whole || "0") * 1000000n + BigInt((frac + "000000").slice(0, 6));
}

function centsText(microsValue) {
  const cents = (microsValue + 5000n) / 10000n; // half up to whole cents, as the API charges
  return `${cents / 100n}.${String(cents % 100n).padStart(2, "0")}`;
}

export async function subaccountView(main, id, tools) {
  const { context } = tools;
  clear(main, loading("Loading the sub-account…"));
  let sub;
  try {
    sub = await api.get(`/v1/subaccounts/${id}`);
  } catch (failure) {
    clear(main, h("p", { class: "form-error", role: "alert" }, failure.words));
    return;
  }
  const subRole = SUB_ROLES.has(context.role);
  const lockedBySuspension = subRole && sub.status === "suspended";
  const access = {
    write: !lockedBySuspension && context.role !== "subaccount_member",
    pay: !lockedBySuspension,
    move: context.isAgencyRole,
  };
  const reload = () => subaccountView(main, id, tools);
  const wallet = sub.wallet || {};
  const accessible = context.me?.accessible_subaccount_ids || [];
  clear(
    main,
    sub.banner?.suspended
      ? h("div", { class: "banner banner-suspended", role: "alert", "data-testid": "suspension-banner" },
        h("strong", {}, subRole ? "Your account is paused by your agency." : "This sub-account is suspended."),
        sub.banner.note ? h("span", { "data-testid": "suspension-note" }, ` Note: ${sub.banner.note}`) : null,
        h("span", { class: "muted small" }, ` Since ${dateTime(sub.banner.since)}. You can still sign in and view history; changes are paused.`))
      : null,
    h("div", { class: "page-head" },
      h("h1", { "data-testid": "subaccount-title" }, sub.name),
      sub.is_primary ? badge("Primary", "info") : null,
      statusBadge(sub),
      !subRole ? h("a", { href: "#/account-manager/subaccounts", class: "muted" }, "← All sub-accounts") : null,
      subRole && accessible.length > 1 ? subaccountSwitcher(accessible, id, tools) : null),
    context.role === "subaccount_member" ? h("p", { class: "notice", "data-testid": "read-only-note" }, "Read-only access: you can view everything here, add cards and buy minutes.") : null,
    h("section", { class: "card" },
      h("div", { class: "panel-head" }, h("h2", {}, "Wallet"),
        access.move ? h("button", { class: "button small", type: "button", "data-testid": "wallet-move", onclick: async () => moveMinutesDialog(await listAll("/v1/subaccounts", "subaccounts"), sub, reload) }, "Move Minutes") : null),
      h("dl", { class: "figures" },
        fig("Basic minutes", wallet.basic_minutes, "wallet-basic"),
        fig("Premium minutes", wallet.premium_minutes, "wallet-premium"),
        fig("Knowledge Pack credits", wallet.kp_credits, "wallet-kp"),
        fig("Wallet balance", usd(wallet.wallet_balance_usd), "wallet-usd"),
        fig("Price per minute", `Basic ${usd(sub.prices.basic)} · Premium ${usd(sub.prices.premium)}`, "wallet-prices"),
        fig("Next billing date", sub.next_billing_date, "wallet-next-billing"))),
    paymentsSection(sub, access, reload),
    h("div", { class: "grid-2" }, RESOURCES.map((kind) => resourceSection(sub, kind, access))),
    activitySection(sub),
  );
}

function fig(label, value, testid) {
  return h("div", { class: "figure" }, h("dt", {}, label), h("dd", { "data-testid": testid }, value ?? "—"));
}

function subaccountSwitcher(ids, current, tools) {
  const control = h("select", { "aria-label": "Switch sub-account" });
  listAll("/v1/subaccounts", "subaccounts").then((subs) => {
    subs.filter((s) => ids.includes(s.id)).forEach((s) => control.append(h("option", { value: s.id, selected: s.id === current }, s.name)));
  });
  control.addEventListener("change", () => tools.go(`subaccount/${control.value}`));
  return control;
}

// ------------------------------------------------------------------ payments

function paymentsSection(sub, access, reload) {
  const section = h("section", { class: "card", "data-testid": "payments" }, h("h2", {}, "Payments"), loading("Loading cards…"));
  if (!access.pay) {
    // The API refuses payment routes to a suspended sub-account's own users (423).
    return clear(section, h("h2", {}, "Payments"), h("p", { class: "muted" }, "Payments are paused while the sub-account is suspended."));
  }
  (async () => {
    let cards;
    try {
      cards = await api.get(`/v1/subaccounts/${sub.id}/payment-methods`);
    } catch (failure) {
      clear(section, h("h2", {}, "Payments"), h("p", { class: "form-error", role: "alert" }, failure.words));
      return;
    }
    const methods = cards.payment_methods || [];
    const cardActions = (card) => {
      if (!access.pay) return "";
      const remove = h("button", { class: "button small", type: "button" }, "Remove");
      remove.addEventListener("click", () => confirmAction({
        title: "Remove card", message: `Remove ${card.brand} •••• ${card.last4}?`, confirmLabel: "Remove card", danger: true, progressLabel: "Removing…",
        action: async () => {
          await api.del(`/v1/subaccounts/${sub.id}/payment-methods/${card.id}`);
          toast("Card removed.");
          reload();
        },
      }));
      const makeDefault = card.is_default ? null : h("button", { class: "button small", type: "button" }, "Make default");
      makeDefault?.addEventListener("click", async () => {
        try {
          await withProgress(makeDefault, "Saving…", () => api.post(`/v1/subaccounts/${sub.id}/payment-methods/${card.id}/default`, {}));
          reload();
        } catch (failure) {
          toast(failure.words, "error");
        }
      });
      return h("div", { class: "inline-actions" }, makeDefault, remove);
    };
    clear(
      section,
      h("h2", {}, "Payments"),
      table(
        [
          { label: "Card", cell: (c) => `${c.brand} •••• ${c.last4}` },
          { label: "Expires", cell: (c) => (c.exp_month ? `${String(c.exp_month).padStart(2, "0")}/${c.exp_year}` : "—") },
          { label: "", cell: (c) => (c.is_default ? badge("Default", "info") : "") },
          { label: "", class: "row-actions", cell: cardActions },
        ],
        methods,
        { empty: "No saved card yet.", testid: "cards-table" },
      ),
      access.pay ? h("div", { class: "grid-2" }, addCardForm(sub, reload), buyForm(sub, methods, reload)) : h("p", { class: "muted" }, "Payments are paused while the sub-account is suspended."),
    );
  })();
  return section;
}

function addCardForm(sub, reload) {
  const choice = select("test_card", [...TEST_CARDS, ["other", "Another Stripe payment method id…"]], { "data-testid": "card-choice" });
  const other = h("input", { name: "payment_method", placeholder: "pm_…", hidden: true, "data-testid": "card-pm" });
  choice.addEventListener("change", () => {
    other.hidden = choice.value !== "other";
  });
  const error = errorLine();
  const submit = h("button", { class: "button", type: "submit", "data-testid": "card-add" }, "Add card");
  const form = h("form", { class: "subcard", novalidate: true }, h("h3", {}, "Add a card"),
    field("Card", choice, "Cards are Stripe payment methods; in test mode use Stripe's test cards."), other, error.element, h("div", { class: "actions" }, submit));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.hide();
    const pm = choice.value === "other" ? other.value.trim() : choice.value;
    if (!pm) return error.show("Enter a payment method id (pm_…).");
    try {
      await withProgress(submit, "Saving card with Stripe…", () => api.post(`/v1/subaccounts/${sub.id}/payment-methods`, { payment_method: pm }));
      toast("Card saved.");
      reload();
    } catch (failure) {
      error.show(failure);
    }
  });
  return form;
}

function buyForm(sub, methods, reload) {
  const tier = select("tier", [["premium", "Premium minutes"], ["basic", "Basic minutes"]], { "data-testid": "buy-tier" });
  const amount = h("input", { name: "minutes", inputmode: "numeric", placeholder: "e.g. 100", "data-testid": "buy-minutes" });
  const card = select("payment_method_id", [["", "Default card"], ...methods.map((m) => [m.id, `${m.brand} •••• ${m.last4}`])], { "data-testid": "buy-card" });
  const estimate = h("small", { class: "hint", "data-testid": "buy-estimate" });
  const showEstimate = () => {
    const n = amount.value.trim();
    if (!/^\d+$/.test(n)) return (estimate.textContent = `Price: ${usd(sub.prices[tier.value])} per minute. Whole minutes only.`);
    estimate.textContent = `${n} × ${usd(sub.prices[tier.value])} = $${centsText(BigInt(n) * micros(sub.prices[tier.value]))}`;
  };
  [tier, amount].forEach((control) => control.addEventListener("input", showEstimate));
  tier.addEventListener("change", showEstimate);
  showEstimate();
  const error = errorLine();
  const result = h("p", { class: "result", "data-testid": "buy-result", hidden: true });
  const submit = h("button", { class: "button primary", type: "submit", "data-testid": "buy-submit", disabled: !methods.length }, "Buy minutes");
  const form = h("form", { class: "subcard", novalidate: true }, h("h3", {}, "Buy minutes"),
    methods.length ? null : h("p", { class: "muted" }, "Add a card first."),
    h("div", { class: "row" }, field("Tier", tier), field("Minutes", amount)), estimate, field("Pay with", card), error.element, result, h("div", { class: "actions" }, submit));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.hide();
    result.hidden = true;
    if (!/^\d+$/.test(amount.value.trim()) || amount.value.trim() === "0") return error.show("Enter a whole number of minutes.");
    const key = idempotencyKey();
    try {
      const purchase = await withProgress(submit, "Charging the card…", () =>
        api.post(`/v1/subaccounts/${sub.id}/purchases`, { tier: tier.value, minutes: amount.value.trim(), payment_method_id: card.value || undefined }, { idempotency: key }));
      if (purchase.status === "succeeded") {
        toast(`Bought ${purchase.minutes} ${tier.value} minutes for ${usd(purchase.amount_usd)}.`);
        reload();
      } else {
        result.hidden = false;
        result.textContent = `Payment ${purchase.status}: the minutes are credited as soon as Stripe confirms the charge…`;
        waitForCredit(sub, reload);
      }
    } catch (failure) {
      error.show(failure);
    }
  });
  return form;
}

/** After a 202 (Stripe still settling): watch the wallet, refresh the page once it moves. */
async function waitForCredit(sub, reload, attempts = 10) {
  const before = sub.wallet || {};
  for (let n = 0; n < attempts; n += 1) {
    await new Promise((resolve) => setTimeout(resolve, 2000));
    try {
      const now = await api.get(`/v1/subaccounts/${sub.id}/wallet`);
      if (now.basic_seconds !== before.basic_seconds || now.premium_seconds !== before.premium_seconds) return reload();
    } catch {
      return;
    }
  }
}

// ------------------------------------------------------------------ resources

function resourceSection(sub, kind, access) {
  const section = h("section", { class: "card", "data-testid": `resources-${kind.segment}` }, h("h2", {}, kind.title), loading());
  const render = async () => {
    let items;
    try {
      items = (await api.get(`/v1/subaccounts/${sub.id}/${kind.segment}?limit=100`))[kind.key] || [];
    } catch (failure) {
      clear(section, h("h2", {}, kind.title), h("p", { class: "form-error", role: "alert" }, failure.words));
      return;
    }
    const actions = (item) => {
      if (!access.write) return "";
      const buttons = [];
      if (kind.toggle) {
        const next = item.status === kind.toggle[0] ? kind.toggle[1] : kind.toggle[0];
        const flip = h("button", { class: "button small", type: "button" }, next === kind.toggle[0] ? "Turn on" : "Turn off");
        flip.addEventListener("click", async () => {
          try {
            await withProgress(flip, "Saving…", () => api.patch(`/v1/subaccounts/${sub.id}/${kind.segment}/${item.id}`, { status: next }));
            render();
          } catch (failure) {
            toast(failure.words, "error");
          }
        });
        buttons.push(flip);
      }
      const remove = h("button", { class: "button small danger", type: "button" }, "Delete");
      remove.addEventListener("click", async () => {
        try {
          await withProgress(remove, "Deleting…", () => api.del(`/v1/subaccounts/${sub.id}/${kind.segment}/${item.id}`));
          render();
        } catch (failure) {
          toast(failure.words, "error");
        }
      });
      buttons.push(remove);
      return h("div", { class: "inline-actions" }, buttons);
    };
    const statusKind = (status) => (["active", "enabled"].includes(status) ? "ok" : "warn");
    let addForm = null;
    if (access.write) {
      const isNumber = kind.segment === "phone-numbers";
      const input = h("input", { name: isNumber ? "number" : "name", placeholder: isNumber ? "+14155550123" : "Name", "aria-label": isNumber ? "Phone number" : "Name" });
      const error = errorLine();
      const add = h("button", { class: "button small", type: "submit" }, "Add");
      addForm = h("form", { class: "inline-form", novalidate: true }, input, add, error.element);
      addForm.addEventListener("submit", async (event) => {
        event.preventDefault();
        error.hide();
        try {
          await withProgress(add, "Adding…", () => api.post(`/v1/subaccounts/${sub.id}/${kind.segment}`, isNumber ? { number: input.value.trim() } : { name: input.value.trim() }));
          render();
        } catch (failure) {
          error.show(failure);
        }
      });
    }
    clear(
      section,
      h("h2", {}, kind.title),
      table(
        [
          { label: "Name", cell: (i) => i.number || i.name },
          { label: "Status", cell: (i) => badge(i.status, statusKind(i.status)) },
          { label: "", class: "row-actions", cell: actions },
        ],
        items,
        { empty: "None yet." },
      ),
      addForm,
    );
  };
  render();
  return section;
}

// ------------------------------------------------------------------ activity

function activitySection(sub) {
  const section = h("section", { class: "card" }, h("h2", {}, "Recent activity"), loading());
  api.get(`/v1/subaccounts/${sub.id}/activity?limit=20`).then(
    (answer) => clear(section, h("h2", {}, "Recent activity"), table(
      [
        { label: "When", cell: (e) => dateTime(e.created_at) },
        { label: "What", cell: (e) => e.memo || e.code },
        { label: "Asset", cell: (e) => e.asset.replaceAll("_", " ") },
        { label: "Amount", class: "num", cell: (e) => e.amount },
      ],
      answer.entries || [],
      { empty: "No activity yet." },
    )),
    (failure) => clear(section, h("h2", {}, "Recent activity"), h("p", { class: "muted" }, failure.words)),
  );
  return section;
}
