// Account Manager → Subaccounts tab: the list, the per-row menu and its dialogs.
import { api, idempotencyKey, listAll } from "../api.js";
import {
  badge, clear, date, dateTime, errorLine, field, h, loading, modal, rowMenu, select, table, toast, usd, withProgress,
} from "../ui.js";

const ASSETS = [
  ["basic_minutes", "Basic minutes"],
  ["premium_minutes", "Premium minutes"],
  ["kp_credits", "Knowledge Pack credits"],
];

export function statusBadge(sub) {
  return sub.status === "suspended"
    ? badge("Suspended", "danger", { "data-testid": "status-badge" })
    : badge("Active", "ok", { "data-testid": "status-badge" });
}

export async function subaccountsTab(panel, tools) {
  const { context } = tools;
  clear(panel, loading("Loading sub-accounts…"));
  let subs;
  try {
    [subs] = await Promise.all([listAll("/v1/subaccounts", "subaccounts"), tools.refreshContext()]);
  } catch (failure) {
    clear(panel, h("p", { class: "form-error", role: "alert" }, failure.words));
    return;
  }
  subs.sort((a, b) => Number(b.is_primary) - Number(a.is_primary) || a.name.localeCompare(b.name));
  const agency = context.agency;
  const reload = () => {
    subaccountsTab(panel, tools);
    tools.refreshOverview?.();
  };
  const canMove = context.isAgencyRole;
  const slots = slotsText(agency);
  const rowActions = (sub) => {
    const items = [
      { label: "Open", testid: "menu-open", onclick: () => tools.go(`subaccount/${sub.id}`) },
      canMove && { label: "Move Minutes", testid: "menu-move", onclick: () => moveMinutesDialog(subs, sub, reload) },
      context.canManage && { label: "Edit details and prices", testid: "menu-edit", onclick: () => editDialog(sub, reload) },
      context.canManage && { label: "Manage Auto Allocation", testid: "menu-auto-allocation", onclick: () => autoAllocationDialog(sub) },
      context.canManage && !sub.is_primary && sub.status === "active" && { label: "Suspend sub-account", testid: "menu-suspend", onclick: () => suspendDialog(sub, reload) },
      context.canManage && !sub.is_primary && sub.status === "suspended" && { label: "Restore access", testid: "menu-restore", onclick: () => restoreDialog(sub, reload) },
      context.canManage && !sub.is_primary && { label: "Remove sub-account", testid: "menu-remove", danger: true, onclick: () => removeDialog(sub, reload) },
    ];
    return rowMenu(`Actions for ${sub.name}`, items, "row-menu");
  };
  clear(
    panel,
    h(
      "div",
      { class: "panel-head" },
      h("h2", {}, "Subaccounts"),
      h("span", { class: "muted", "data-testid": "slots" }, slots),
      context.canManage
        ? h("button", { class: "button primary", type: "button", "data-testid": "add-subaccount", onclick: () => addDialog(agency, subs, reload) }, "+ Add sub-account")
        : null,
    ),
    table(
      [
        {
          label: "Sub-account",
          cell: (s) => h("div", {}, h("a", { href: `#/subaccount/${s.id}`, "data-testid": "subaccount-name" }, s.name), s.is_primary ? badge("Primary", "info") : null, h("div", { class: "muted small" }, s.login_email)),
        },
        { label: "Basic minutes", class: "num", cell: (s) => h("span", { "data-testid": "basic-minutes" }, s.wallet?.basic_minutes ?? "—") },
        { label: "Premium minutes", class: "num", cell: (s) => h("span", { "data-testid": "premium-minutes" }, s.wallet?.premium_minutes ?? "—") },
        { label: "Wallet balance", class: "num", cell: (s) => h("span", { "data-testid": "wallet-balance" }, usd(s.wallet?.wallet_balance_usd)) },
        { label: "Price / min (Basic · Premium)", class: "num", cell: (s) => `${usd(s.prices.basic)} · ${usd(s.prices.premium)}` },
        { label: "Next billing", cell: (s) => date(s.next_billing_date) },
        { label: "Status", cell: statusBadge },
        { label: "", class: "row-actions", cell: rowActions },
      ],
      subs,
      { testid: "subaccounts-table", rowTestid: (s) => `subaccount-row-${s.name}` },
    ),
  );
}

function slotsText(agency) {
  if (!agency) return "";
  const used = agency.slots_used ?? 0;
  if (agency.subaccount_cap === null || agency.subaccount_cap === undefined) return `${used} sub-accounts · no limit on your plan (${agency.plan})`;
  const left = Math.max(0, agency.subaccount_cap - used);
  return `${used} of ${agency.subaccount_cap} sub-accounts used · ${left} slot${left === 1 ? "" : "s"} left (${agency.plan})`;
}

// ------------------------------------------------------------------ add / edit

function today() {
  return new Date().toISOString().slice(0, 10);
}

function addDialog(agency, subs, reload) {
  const primary = subs.find((s) => s.is_primary);
  modal("Add sub-account", (body, close) => {
    const name = h("input", { name: "name", required: true, maxlength: 120, "data-testid": "add-name" });
    const email = h("input", { name: "login_email", type: "email", required: true, "data-testid": "add-email" });
    const basic = h("input", { name: "basic", inputmode: "decimal", value: primary?.prices.basic || "", "data-testid": "add-price-basic" });
    const premium = h("input", { name: "premium", inputmode: "decimal", value: primary?.prices.premium || "", "data-testid": "add-price-premium" });
    const start = h("input", { name: "subscription_start", type: "date", value: today() });
    const error = errorLine();
    const submit = h("button", { class: "button primary", type: "submit", "data-testid": "add-submit" }, "Add sub-account");
    const form = h(
      "form",
      { novalidate: true },
      h("p", { class: "muted", "data-testid": "add-slots" }, slotsText(agency)),
      field("Name", name),
      field("Login email", email, "The client's login; an invitation to set a password is sent there."),
      h("div", { class: "row" },
        field("Basic price per minute (USD)", basic, primary ? `Base cost ${usd(primary.prices.basic)}` : null),
        field("Premium price per minute (USD)", premium, primary ? `Base cost ${usd(primary.prices.premium)}` : null)),
      field("Subscription start (billing date)", start),
      error.element,
      h("div", { class: "actions" }, h("button", { class: "button", type: "button", onclick: close }, "Cancel"), submit),
    );
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      error.hide();
      try {
        await withProgress(submit, "Creating…", () =>
          api.post("/v1/subaccounts", {
            name: name.value.trim(),
            login_email: email.value.trim(),
            prices: { basic: basic.value.trim(), premium: premium.value.trim() },
            subscription_start: start.value || undefined,
          }),
        );
        close();
        toast(`Sub-account "${name.value.trim()}" created; an invitation went to ${email.value.trim()}.`);
        reload();
      } catch (failure) {
        error.show(failure);
      }
    });
    body.append(form);
  }, { testid: "add-dialog" });
}

function editDialog(sub, reload) {
  modal(`Edit ${sub.name}`, (body, close) => {
    const name = h("input", { name: "name", value: sub.name, maxlength: 120 });
    const email = h("input", { name: "login_email", type: "email", value: sub.login_email || "", disabled: sub.is_primary });
    const basic = h("input", { name: "basic", value: sub.prices.basic, inputmode: "decimal", disabled: sub.is_primary });
    const premium = h("input", { name: "premium", value: sub.prices.premium, inputmode: "decimal", disabled: sub.is_primary });
    const error = errorLine();
    const submit = h("button", { class: "button primary", type: "submit" }, "Save");
    const form = h(
      "form",
      { novalidate: true },
      field("Name", name),
      field("Login email", email),
      h("div", { class: "row" }, field("Basic price per minute (USD)", basic), field("Premium price per minute (USD)", premium)),
      sub.is_primary ? h("p", { class: "muted" }, "The primary account pays the base cost; its prices and login are fixed.") : h("p", { class: "muted" }, "A price change makes open move quotes stale."),
      error.element,
      h("div", { class: "actions" }, h("button", { class: "button", type: "button", onclick: close }, "Cancel"), submit),
    );
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      error.hide();
      const changes = {};
      if (name.value.trim() !== sub.name) changes.name = name.value.trim();
      if (!sub.is_primary) {
        if (email.value.trim() !== (sub.login_email || "")) changes.login_email = email.value.trim();
        const prices = {};
        if (basic.value.trim() !== sub.prices.basic) prices.basic = basic.value.trim();
        if (premium.value.trim() !== sub.prices.premium) prices.premium = premium.value.trim();
        if (Object.keys(prices).length) changes.prices = prices;
      }
      if (!Object.keys(changes).length) return close();
      try {
        await withProgress(submit, "Saving…", () => api.patch(`/v1/subaccounts/${sub.id}`, changes));
        close();
        toast("Saved.");
        reload();
      } catch (failure) {
        error.show(failure);
      }
    });
    body.append(form);
  }, { testid: "edit-dialog" });
}

// ------------------------------------------------------------------ move minutes

export function moveMinutesDialog(subs, preset, reload) {
  modal("Move Minutes", (body, close) => {
    const options = subs.map((s) => [s.id, `${s.name}${s.is_primary ? " (primary)" : ""}`]);
    const from = select("from", options, { "data-testid": "move-from" });
    const to = select("to", options, { "data-testid": "move-to" });
    from.value = preset?.id || subs[0]?.id;
    const other = subs.find((s) => s.id !== from.value);
    to.value = other?.id || subs[0]?.id;
    const asset = select("asset", ASSETS, { "data-testid": "move-asset" });
    const amount = h("input", { name: "amount", inputmode: "decimal", placeholder: "e.g. 100", "data-testid": "move-amount" });
    const available = h("small", { class: "hint", "data-testid": "move-available" });
    const error = errorLine();
    const review = h("div", { class: "review", hidden: true, "data-testid": "move-review" });
    const reviewButton = h("button", { class: "button primary", type: "submit", "data-testid": "move-review-button" }, "Review");
    const formPart = h("div", {},
      h("div", { class: "row" }, field("From", from), field("To", to)),
      h("div", { class: "row" }, field("What", asset), field("Amount", amount)),
      available,
    );
    const showAvailable = () => {
      const source = subs.find((s) => s.id === from.value);
      const w = source?.wallet || {};
      const have = { basic_minutes: `${w.basic_minutes} Basic minutes`, premium_minutes: `${w.premium_minutes} Premium minutes`, kp_credits: `${w.kp_credits} KP credits` }[asset.value];
      available.textContent = source ? `${source.name} has ${have}.` : "";
    };
    [from, asset].forEach((control) => control.addEventListener("change", showAvailable));
    showAvailable();
    const form = h("form", { novalidate: true }, formPart, error.element, h("div", { class: "actions", "data-testid": "move-form-actions" }, h("button", { class: "button", type: "button", onclick: close }, "Cancel"), reviewButton));
    const backToForm = () => {
      review.hidden = true;
      form.hidden = false;
    };
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      error.hide();
      if (from.value === to.value) return error.show("Choose two different sub-accounts.");
      if (!amount.value.trim()) return error.show("Enter an amount.");
      try {
        const quote = await withProgress(reviewButton, "Quoting…", () =>
          api.post("/v1/transfers/quotes", { from_subaccount_id: from.value, to_subaccount_id: to.value, asset: asset.value, amount: amount.value.trim() }, { idempotency: idempotencyKey() }),
        );
        showReview(quote);
      } catch (failure) {
        error.show(failure);
      }
    });
    const showReview = (quote) => {
      const fromSub = subs.find((s) => s.id === quote.from_subaccount_id);
      const toSub = subs.find((s) => s.id === quote.to_subaccount_id);
      const unit = ASSETS.find(([key]) => key === quote.asset)?.[1] || quote.asset;
      const reviewError = errorLine();
      const confirm = h("button", { class: "button primary", type: "button", "data-testid": "move-confirm" }, "Confirm");
      confirm.addEventListener("click", async () => {
        reviewError.hide();
        try {
          await withProgress(confirm, "Moving…", () => api.post("/v1/transfers", { quote_id: quote.quote_id }, { idempotency: idempotencyKey() }));
          close();
          toast(`Moved: ${toSub?.name} received ${quote.amount_received} ${unit}.`);
          reload();
        } catch (failure) {
          reviewError.show(failure);
          if (["quote_stale", "quote_expired", "quote_not_found"].includes(failure.code)) {
            confirm.disabled = true;
            setTimeout(() => {
              backToForm();
              error.show(failure);
            }, 1500);
          }
        }
      });
      clear(
        review,
        h("h3", {}, "Review the move"),
        h(
          "dl",
          { class: "figures" },
          h("div", { class: "figure" }, h("dt", {}, `Sent from ${fromSub?.name}`), h("dd", { "data-testid": "quote-sent" }, `${quote.amount_sent} ${unit}`)),
          h("div", { class: "figure" }, h("dt", {}, `${toSub?.name} receives`), h("dd", { "data-testid": "quote-received" }, `${quote.amount_received} ${unit}`)),
          quote.from_price !== null ? h("div", { class: "figure" }, h("dt", {}, `Price at ${fromSub?.name}`), h("dd", { "data-testid": "quote-from-price" }, `${usd(quote.from_price)} / min`)) : null,
          quote.to_price !== null ? h("div", { class: "figure" }, h("dt", {}, `Price at ${toSub?.name}`), h("dd", { "data-testid": "quote-to-price" }, `${usd(quote.to_price)} / min`)) : null,
          h("div", { class: "figure" }, h("dt", {}, "Value"), h("dd", { "data-testid": "quote-value" }, usd(quote.value_usd))),
        ),
        quote.from_price !== null && quote.from_price !== quote.to_price
          ? h("p", { class: "notice" }, "The two accounts have different prices, so the amount received differs from the amount sent (the USD value is preserved).")
          : null,
        h("p", { class: "muted small" }, `This quote is valid until ${dateTime(quote.expires_at)}.`),
        reviewError.element,
        h("div", { class: "actions" }, h("button", { class: "button", type: "button", onclick: backToForm, "data-testid": "move-back" }, "Back"), confirm),
      );
      form.hidden = true;
      review.hidden = false;
      confirm.focus();
    };
    body.append(form, review);
  }, { testid: "move-dialog" });
}

// ------------------------------------------------------------------ suspend / restore

function suspendDialog(sub, reload) {
  modal(`Suspend ${sub.name}`, (body, close) => {
    const note = h("textarea", { name: "note", maxlength: 150, rows: 3, placeholder: "e.g. Invoice 30+ days overdue", "data-testid": "suspend-note" });
    const counter = h("small", { class: "hint counter", "data-testid": "suspend-counter" }, "0/150");
    note.addEventListener("input", () => {
      counter.textContent = `${note.value.length}/150`;
    });
    const error = errorLine();
    const submit = h("button", { class: "button danger", type: "button", "data-testid": "suspend-confirm" }, "Suspend sub-account");
    submit.addEventListener("click", async () => {
      error.hide();
      try {
        await withProgress(submit, "Suspending…", () => api.post(`/v1/subaccounts/${sub.id}/suspend`, { note: note.value.trim() || null }));
        close();
        toast(`${sub.name} is suspended.`);
        reload();
      } catch (failure) {
        error.show(failure);
      }
    });
    body.append(
      h("p", {}, "Every call and change in this sub-account pauses at once: outbound campaigns pause, inbound agents go inactive, automations stop. Its users can still sign in and read their history."),
      field("Note shown to the client (optional)", note),
      counter,
      error.element,
      h("div", { class: "actions" }, h("button", { class: "button", type: "button", onclick: close }, "Cancel"), submit),
    );
  }, { testid: "suspend-dialog" });
}

function restoreDialog(sub, reload) {
  modal(`Restore access to ${sub.name}`, (body, close) => {
    const error = errorLine();
    const submit = h("button", { class: "button primary", type: "button", "data-testid": "restore-confirm" }, "Restore access");
    submit.addEventListener("click", async () => {
      error.hide();
      try {
        await withProgress(submit, "Restoring…", () => api.post(`/v1/subaccounts/${sub.id}/restore`, {}));
        close();
        toast(`${sub.name} is active again.`);
        reload();
      } catch (failure) {
        error.show(failure);
      }
    });
    body.append(
      h("p", {}, "Everything the suspension paused is switched back on."),
      sub.banner?.note ? h("p", { class: "muted" }, `Suspension note: ${sub.banner.note}`) : null,
      error.element,
      h("div", { class: "actions" }, h("button", { class: "button", type: "button", onclick: close }, "Cancel"), submit),
    );
  }, { testid: "restore-dialog" });
}

// ------------------------------------------------------------------ two-step removal

function removeDialog(sub, reload) {
  modal(`Remove ${sub.name}`, async (body, close, heading) => {
    body.append(loading("Checking balances…"));
    let preview;
    try {
      preview = await api.get(`/v1/subaccounts/${sub.id}/removal`);
    } catch (failure) {
      clear(body, h("p", { class: "form-error", role: "alert" }, failure.words));
      return;
    }
    const destinations = preview.eligible_destinations || [];
    const destination = select("destination", destinations.map((d) => [d.id, `${d.name}${d.is_primary ? " (primary)" : ""}`]), { "data-testid": "remove-destination" });
    const receive = h("p", { class: "muted small", "data-testid": "remove-receive" });
    const showReceive = () => {
      const chosen = destinations.find((d) => d.id === destination.value);
      if (!chosen?.would_receive) return (receive.textContent = "");
      const r = chosen.would_receive;
      receive.textContent = `${chosen.name} receives ${(r.basic_seconds / 60).toFixed(2)} Basic and ${(r.premium_seconds / 60).toFixed(2)} Premium minutes (converted at its prices).`;
    };
    destination.addEventListener("change", showReceive);
    showReceive();
    const stepOne = () => {
      heading.textContent = `Remove ${sub.name} — 1 of 2: Minutes`;
      const next = h("button", { class: "button primary", type: "button", "data-testid": "remove-next" }, "Next");
      next.addEventListener("click", stepTwo);
      clear(
        body,
        h("dl", { class: "figures" },
          h("div", { class: "figure" }, h("dt", {}, "Basic minutes"), h("dd", { "data-testid": "remove-basic" }, preview.basic_minutes)),
          h("div", { class: "figure" }, h("dt", {}, "Premium minutes"), h("dd", { "data-testid": "remove-premium" }, preview.premium_minutes))),
        field("Transfer the minutes to", destination),
        receive,
        h("div", { class: "actions" }, h("button", { class: "button", type: "button", onclick: close }, "Cancel"), next),
      );
    };
    const stepTwo = () => {
      heading.textContent = `Remove ${sub.name} — 2 of 2: Knowledge Packs`;
      const error = errorLine();
      const submit = h("button", { class: "button danger", type: "button", "data-testid": "remove-confirm" }, "Transfer and remove");
      submit.addEventListener("click", async () => {
        error.hide();
        try {
          await withProgress(submit, "Removing…", () =>
            api.post(`/v1/subaccounts/${sub.id}/removal`, { minutes_destination_id: destination.value }, { idempotency: idempotencyKey() }),
          );
          close();
          toast(`${sub.name} was removed; a plan slot is free again.`);
          reload();
        } catch (failure) {
          error.show(failure);
        }
      });
      const numbers = preview.phone_numbers || [];
      const automations = preview.automations || [];
      clear(
        body,
        h("p", { "data-testid": "remove-kp" }, preview.kp_credits > 0
          ? `${preview.kp_credits} Knowledge Pack credits will be transferred back to the primary account automatically.`
          : "There are no Knowledge Pack credits to transfer."),
        numbers.length ? h("p", {}, `Phone numbers released: ${numbers.map((n) => n.number || n.name).join(", ")}.`) : null,
        automations.length ? h("p", {}, `Automations that stop working: ${automations.map((a) => a.name).join(", ")}.`) : null,
        h("p", { class: "muted" }, "The sub-account's history stays in the ledger. This cannot be undone."),
        error.element,
        h("div", { class: "actions" }, h("button", { class: "button", type: "button", onclick: stepOne }, "Back"), submit),
      );
    };
    stepOne();
  }, { testid: "remove-dialog" });
}

// ------------------------------------------------------------------ auto-allocation

function autoAllocationDialog(sub) {
  modal(`Monthly Auto Allocation — ${sub.name}`, async (body, close) => {
    body.append(loading());
    let rule = null;
    try {
      rule = await api.get(`/v1/subaccounts/${sub.id}/auto-allocation`);
    } catch (failure) {
      if (failure.status !== 404) {
        clear(body, h("p", { class: "form-error", role: "alert" }, failure.words));
        return;
      }
    }
    const basic = h("input", { name: "basic_minutes", inputmode: "numeric", value: rule?.basic_minutes ?? "0", "data-testid": "alloc-basic" });
    const premium = h("input", { name: "premium_minutes", inputmode: "numeric", value: rule?.premium_minutes ?? "0", "data-testid": "alloc-premium" });
    const enabled = h("input", { type: "checkbox", name: "enabled", checked: rule ? rule.enabled : true });
    const error = errorLine();
    const save = h("button", { class: "button primary", type: "submit", "data-testid": "alloc-save" }, "Save");
    const remove = rule ? h("button", { class: "button danger", type: "button" }, "Delete rule") : null;
    remove?.addEventListener("click", async () => {
      error.hide();
      try {
        await withProgress(remove, "Deleting…", () => api.del(`/v1/subaccounts/${sub.id}/auto-allocation`));
        close();
        toast("Auto allocation deleted.");
      } catch (failure) {
        error.show(failure);
      }
    });
    const form = h(
      "form",
      { novalidate: true },
      h("p", { class: "muted" }, `Bought every month on this sub-account's billing date (next: ${date(sub.next_billing_date)}) and charged to the primary account's default card at base cost. It does not use your plan's included minutes.`),
      rule
        ? h("p", { "data-testid": "alloc-status" }, "Status: ", badge(rule.status, rule.status === "active" ? "ok" : "warn"),
          rule.next_run_at ? ` · next run ${date(rule.next_run_at)}` : "",
          rule.paused_reason ? ` · paused: ${rule.paused_reason}` : "",
          rule.last_failure_code ? ` · last failure: ${rule.last_failure_code}` : "")
        : h("p", { class: "muted" }, "No rule yet."),
      h("div", { class: "row" }, field("Basic minutes per month", basic), field("Premium minutes per month", premium)),
      h("label", { class: "check" }, enabled, " Enabled"),
      error.element,
      h("div", { class: "actions" }, remove, h("button", { class: "button", type: "button", onclick: close }, "Cancel"), save),
    );
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      error.hide();
      try {
        await withProgress(save, "Saving…", () => api.put(`/v1/subaccounts/${sub.id}/auto-allocation`, { basic_minutes: basic.value.trim() || "0", premium_minutes: premium.value.trim() || "0", enabled: enabled.checked }));
        close();
        toast("Auto allocation saved.");
      } catch (failure) {
        error.show(failure);
      }
    });
    clear(body, form);
  }, { testid: "allocation-dialog" });
}
