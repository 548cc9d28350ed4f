// Small DOM helpers. API data only ever reaches the page as text (never innerHTML).

/** h("div", {class: "x", onclick: fn, "data-testid": "y"}, child, ...) */
export function h(tag, attrs = {}, ...children) {
  const element = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") {
      element.addEventListener(key.slice(2), value);
    } else if (key === "class") {
      element.className = value;
    } else if (key === "text") {
      element.textContent = value;
    } else if (key === "value") {
      element.value = value;
    } else if (key === "checked" || key === "disabled" || key === "selected") {
      element[key] = Boolean(value);
    } else {
      element.setAttribute(key, value === true ? "" : String(value));
    }
  }
  append(element, children);
  return element;
}

function append(element, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

export function clear(element, ...children) {
  element.replaceChildren();
  append(element, children);
  return element;
}

// ------------------------------------------------------------------ formatting

export const usd = (value) => (value === null || value === undefined ? "—" : `$${value}`);
export const minutes = (value) => (value === null || value === undefined ? "—" : String(value));

export function date(value) {
  if (!value) return "—";
  return String(value).slice(0, 10);
}

export function dateTime(value) {
  if (!value) return "—";
  const moment = new Date(value);
  return Number.isNaN(moment.getTime()) ? String(value) : moment.toLocaleString();
}

export const ROLE_NAMES = {
  agency_owner: "Agency Owner",
  agency_admin: "Agency Admin",
  agency_member: "Agency Member",
  subaccount_admin: "Subaccount Admin",
  subaccount_member: "Subaccount Member",
};

export const TIER_NAMES = { basic: "Basic", premium: "Premium" };

export function badge(text, kind = "neutral", attrs = {}) {
  return h("span", { class: `badge badge-${kind}`, ...attrs }, text);
}

// ------------------------------------------------------------------ feedback

/** A transient message at the top of the page. */
export function toast(message, kind = "ok") {
  const region = document.getElementById("toasts");
  const note = h("div", { class: `toast toast-${kind}`, role: kind === "error" ? "alert" : "status", "data-testid": "toast" }, message);
  region.append(note);
  setTimeout(() => note.remove(), kind === "error" ? 9000 : 5000);
}

/** An inline error line that a form owns. */
export function errorLine() {
  const line = h("p", { class: "form-error", role: "alert", "data-testid": "form-error", hidden: true });
  return {
    element: line,
    show(error) {
      line.textContent = typeof error === "string" ? error : error?.words || error?.message || "Something went wrong.";
      line.hidden = false;
    },
    hide() {
      line.hidden = true;
      line.textContent = "";
    },
  };
}

/**
 * Run a long action with visible progress: the button is disabled and says what is happening,
 * a spinner shows, and the previous label comes back afterwards.
 */
export async function withProgress(button, label, action) {
  const previous = Array.from(button.childNodes);
  button.disabled = true;
  button.setAttribute("aria-busy", "true");
  button.replaceChildren(h("span", { class: "spinner", "aria-hidden": "true" }), ` ${label}`);
  try {
    return await action();
  } finally {
    button.disabled = false;
    button.removeAttribute("aria-busy");
    button.replaceChildren(...previous);
  }
}

export function loading(text = "Loading…") {
  return h("div", { class: "loading", "data-testid": "loading" }, h("span", { class: "spinner" }), ` ${text}`);
}

// ------------------------------------------------------------------ modal dialogs

/**
 * Open a modal. `render(body, close)` fills it; returns { close, body, root }.
 * Escape and the close button dismiss it.
 */
const openModals = new Set();

/** Close every open dialog (the router calls this when the screen changes). */
export function closeModals() {
  for (const close of [...openModals]) close();
}

export function modal(title, render, { testid = "modal", wide = false } = {}) {
  const body = h("div", { class: "modal-body" });
  const heading = h("h2", { id: `${testid}-title` }, title);
  const root = h(
    "div",
    { class: "modal-backdrop", "data-testid": `${testid}` },
    h(
      "div",
      { class: `modal${wide ? " modal-wide" : ""}`, role: "dialog", "aria-modal": "true", "aria-labelledby": `${testid}-title` },
      h("header", { class: "modal-head" }, heading, h("button", { class: "icon-button", "aria-label": "Close", onclick: () => close(), type: "button", "data-testid": "modal-close" }, "×")),
      body,
    ),
  );
  const onKey = (event) => {
    if (event.key === "Escape") close();
  };
  function close() {
    openModals.delete(close);
    document.removeEventListener("keydown", onKey);
    root.remove();
  }
  openModals.add(close);
  document.addEventListener("keydown", onKey);
  document.body.append(root);
  render(body, close, heading);
  const first = body.querySelector("input, select, textarea, button");
  if (first) first.focus();
  return { close, body, root };
}

/** Ask for confirmation; resolves after `action` succeeded (errors stay in the dialog). */
export function confirmAction({ title, message, confirmLabel, danger = false, progressLabel = "Working…", action, testid = "confirm" }) {
  return modal(title, (body, close) => {
    const error = errorLine();
    const confirmButton = h("button", { class: danger ? "button danger" : "button primary", type: "button", "data-testid": `${testid}-confirm` }, confirmLabel);
    confirmButton.addEventListener("click", async () => {
      error.hide();
      try {
        await withProgress(confirmButton, progressLabel, action);
        close();
      } catch (failure) {
        error.show(failure);
      }
    });
    body.append(
      h("p", {}, message),
      error.element,
      h("div", { class: "actions" }, h("button", { class: "button", type: "button", onclick: close }, "Cancel"), confirmButton),
    );
  }, { testid });
}

// ------------------------------------------------------------------ forms

/** A labelled field. */
export function field(label, control, hint) {
  const id = control.id || `f-${Math.random().toString(36).slice(2, 9)}`;
  control.id = id;
  return h("div", { class: "field" }, h("label", { for: id }, label), control, hint ? h("small", { class: "hint" }, hint) : null);
}

export function select(name, options, attrs = {}) {
  return h(
    "select",
    { name, ...attrs },
    options.map(([value, label, extra = {}]) => h("option", { value, ...extra }, label)),
  );
}

/** A "⋯" menu button with items [{label, onclick, danger, testid}] (falsy items skipped). */
export function rowMenu(label, items, testid) {
  const list = h("div", { class: "menu-list", role: "menu", hidden: true });
  const toggle = h("button", { class: "icon-button menu-toggle", type: "button", "aria-haspopup": "menu", "aria-label": label, "data-testid": testid }, "⋯");
  const hide = () => {
    list.hidden = true;
    document.removeEventListener("click", outside, true);
    window.removeEventListener("scroll", hide, true);
  };
  const outside = (event) => {
    if (!list.contains(event.target) && event.target !== toggle) hide();
  };
  toggle.addEventListener("click", () => {
    const opening = list.hidden;
    document.querySelectorAll(".menu-list").forEach((other) => (other.hidden = true));
    list.hidden = !opening;
    if (!opening) return hide();
    // Fixed to the viewport, so that a scrolling table never clips the menu.
    const box = toggle.getBoundingClientRect();
    list.style.right = `${Math.max(8, window.innerWidth - box.right)}px`;
    list.style.top = `${box.bottom + 4}px`;
    const below = window.innerHeight - box.bottom;
    if (below < list.offsetHeight + 12) list.style.top = `${Math.max(8, box.top - list.offsetHeight - 4)}px`;
    document.addEventListener("click", outside, true);
    window.addEventListener("scroll", hide, true);
  });
  for (const item of items.filter(Boolean)) {
    list.append(
      h("button", {
        type: "button",
        role: "menuitem",
        class: item.danger ? "menu-item danger" : "menu-item",
        "data-testid": item.testid,
        onclick: () => {
          hide();
          item.onclick();
        },
      }, item.label),
    );
  }
  return h("div", { class: "menu" }, toggle, list);
}

/** A table from column definitions [{label, cell: row => node|string, class}]. */
export function table(columns, rows, { empty = "Nothing here yet.", testid, rowTestid } = {}) {
  if (!rows.length) return h("p", { class: "empty", "data-testid": testid ? `${testid}-empty` : undefined }, empty);
  return h(
    "div",
    { class: "table-wrap" },
    h(
      "table",
      { "data-testid": testid },
      h("thead", {}, h("tr", {}, columns.map((c) => h("th", { class: c.class, scope: "col" }, c.label)))),
      h(
        "tbody",
        {},
        rows.map((row) => h("tr", { "data-testid": rowTestid ? rowTestid(row) : undefined }, columns.map((c) => h("td", { class: c.class, "data-label": c.label }, c.cell(row))))),
      ),
    ),
  );
}
