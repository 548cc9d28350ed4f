// The dashboard shell: session, who is signed in, navigation and the hash router.
import { api, saveSession, session, whenSignedOut } from "./api.js";
import { clear, closeModals, h, loading, ROLE_NAMES } from "./ui.js";
import { acceptInviteView, loginView } from "./views/auth.js";
import { accountManagerView } from "./views/account-manager.js";
import { subaccountView } from "./views/subaccount.js";
import { reportsView } from "./views/reports.js";

const AGENCY_ROLES = new Set(["agency_owner", "agency_admin", "agency_member"]);

// Links that the API sends out point at real paths: the invitation email
// (`/accept-invite?token=…`) and Stripe's onboarding return (`/settings/connect?…`).
function adoptPathLinks() {
  const path = location.pathname.replace(/\/+$/, "");
  if (path.endsWith("/accept-invite")) {
    history.replaceState(null, "", `${path.slice(0, -"/accept-invite".length) || ""}/#/accept-invite${location.search}`);
  } else if (path.endsWith("/settings/connect")) {
    history.replaceState(null, "", `${path.slice(0, -"/settings/connect".length) || ""}/#/account-manager/subaccounts?connect=returned`);
  }
}

function parseHash() {
  const raw = location.hash.replace(/^#\/?/, "");
  const [path, query = ""] = raw.split("?");
  return { parts: path.split("/").filter(Boolean), params: new URLSearchParams(query) };
}

export function go(path) {
  const target = `#/${path}`;
  if (location.hash === target) route();
  else location.hash = target;
}

/** Who is signed in, with what reach (loaded once per sign-in, refreshed on demand). */
const context = {
  me: null,
  agency: null,
  get role() {
    return this.me?.role;
  },
  get isAgencyRole() {
    return AGENCY_ROLES.has(this.role);
  },
  get canManage() {
    return this.role === "agency_owner" || this.role === "agency_admin";
  },
  async load(force = false) {
    if (this.me && !force) return;
    const [me, agency] = await Promise.all([api.get("/v1/me"), api.get("/v1/agency").catch(() => null)]);
    this.me = me;
    this.agency = agency;
  },
  reset() {
    this.me = null;
    this.agency = null;
  },
};

async function signOut() {
  // End this session on the server too (a copied token stops working), then forget it here.
  // Best effort: a 401 (already ended) or an unreachable API still signs out locally.
  await api.post("/v1/auth/logout").catch(() => {});
  saveSession(null);
  context.reset();
  go("login");
}

whenSignedOut(() => {
  context.reset();
  go("login?ended=1");
});

function navigation(active) {
  const items = [];
  if (context.isAgencyRole) items.push(["account-manager/subaccounts", "Account Manager", "account-manager"]);
  else items.push(["", "My sub-account", "subaccount"]);
  items.push(["reports", "Reporting", "reports"]);
  const user = session()?.user;
  return h(
    "header",
    { class: "topbar" },
    // Sub-account roles get 403 on /v1/agency: /v1/me carries the agency name for them.
    h("a", { class: "brand", href: "#/" }, context.agency?.name || context.me?.agency?.name || "Account Manager"),
    h(
      "nav",
      { "aria-label": "Main" },
      items.map(([path, label, key]) => h("a", { href: `#/${path}`, class: active === key ? "active" : "", "data-testid": `nav-${key}` }, label)),
    ),
    h(
      "div",
      { class: "whoami" },
      h("span", { "data-testid": "whoami" }, user?.email || ""),
      h("span", { class: "muted" }, ROLE_NAMES[context.role] || ""),
      h("a", { href: "/docs", target: "_blank", rel: "noopener", "data-testid": "nav-api-reference" }, "API reference"),
      h("button", { class: "button small", type: "button", onclick: signOut, "data-testid": "sign-out" }, "Sign out"),
    ),
  );
}

function landing() {
  if (context.isAgencyRole) return "account-manager/subaccounts";
  const ids = context.me?.accessible_subaccount_ids || [];
  return ids.length ? `subaccount/${ids[0]}` : "reports";
}

async function route() {
  const app = document.getElementById("app");
  closeModals();
  const { parts, params } = parseHash();
  const [head, ...rest] = parts;
  if (head === "accept-invite") return acceptInviteView(clear(app), { go, params });
  if (head === "login" || !session()?.token) {
    context.reset();
    return loginView(clear(app), { go, params });
  }
  clear(app, loading());
  try {
    await context.load();
  } catch (failure) {
    if (failure.status === 401) return; // whenSignedOut already sent us to the login page
    clear(app, h("div", { class: "card form-error", role: "alert" }, failure.words || String(failure)));
    return;
  }
  if (!head) return go(landing());
  const main = h("main", { class: "page" });
  const key = head === "subaccount" ? (context.isAgencyRole ? "account-manager" : "subaccount") : head;
  clear(app, navigation(key), main);
  const tools = { go, params, context, refreshContext: () => context.load(true) };
  if (head === "account-manager" && context.isAgencyRole) return accountManagerView(main, rest[0] || "subaccounts", tools);
  if (head === "subaccount" && rest[0]) return subaccountView(main, rest[0], tools);
  if (head === "reports") return reportsView(main, tools);
  return go(landing());
}

adoptPathLinks();
window.addEventListener("hashchange", route);
route();
