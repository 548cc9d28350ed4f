// Account Manager → Users and Pending tabs: users with roles, invitations, role changes.
import { api, listAll } from "../api.js";
import {
  badge, clear, confirmAction, date, errorLine, field, h, loading, modal, ROLE_NAMES, rowMenu, select, table, toast, withProgress,
} from "../ui.js";

const ASSIGNABLE = ["agency_admin", "agency_member", "subaccount_admin", "subaccount_member"];
const ROLE_HELP = {
  agency_admin: "Full access except transferring ownership.",
  agency_member: "Uses the primary account; full access to the sub-accounts granted below.",
  subaccount_admin: "Full access inside the sub-accounts chosen below.",
  subaccount_member: "Read-only inside the sub-accounts chosen below; can add cards and buy minutes.",
};

function accessText(entry, names) {
  if (entry.role === "agency_owner" || entry.role === "agency_admin") return "Whole agency";
  if (entry.subaccount_access === "all") return "All sub-accounts";
  const listed = (entry.subaccount_ids || []).map((id) => names.get(id) || id);
  return listed.length ? listed.join(", ") : "No sub-accounts";
}

async function secondaryNames() {
  const subs = await listAll("/v1/subaccounts", "subaccounts");
  return subs.filter((s) => !s.is_primary);
}

function inviteButton(secondaries, reload) {
  return h("button", { class: "button primary", type: "button", "data-testid": "invite-user", onclick: () => inviteDialog(secondaries, reload) }, "+ Invite User");
}

// Both tabs load their list with the sub-account names; a failure is shown in the panel.
async function loadTab(panel, label, path, key) {
  clear(panel, loading(label));
  try {
    const [items, secondaries] = await Promise.all([listAll(path, key), secondaryNames()]);
    return { items, secondaries, names: new Map(secondaries.map((s) => [s.id, s.name])) };
  } catch (failure) {
    clear(panel, h("p", { class: "form-error", role: "alert" }, failure.words));
    return null;
  }
}

export async function usersTab(panel, tools) {
  const loaded = await loadTab(panel, "Loading users…", "/v1/users", "users");
  if (!loaded) return;
  const { items: users, secondaries, names } = loaded;
  const reload = () => usersTab(panel, tools);
  const myId = tools.context.me?.user?.id;
  const actions = (user) => {
    if (user.role === "agency_owner" || user.id === myId) return "";
    return rowMenu(`Actions for ${user.email}`, [
      { label: "Change role", testid: "menu-change-role", onclick: () => roleDialog(user, secondaries, reload) },
      {
        label: "Remove user",
        testid: "menu-remove-user",
        danger: true,
        onclick: () => confirmAction({
          title: "Remove user",
          message: `${user.email} loses access at once.`,
          confirmLabel: "Remove user",
          danger: true,
          progressLabel: "Removing…",
          testid: "remove-user",
          action: async () => {
            await api.del(`/v1/users/${user.id}`);
            toast(`${user.email} was removed.`);
            reload();
          },
        }),
      },
    ], "user-menu");
  };
  clear(
    panel,
    h("div", { class: "panel-head" }, h("h2", {}, "Users"), h("span", { class: "muted" }, "No limit on users or roles."), inviteButton(secondaries, () => tools.go("account-manager/pending"))),
    table(
      [
        { label: "User", cell: (u) => h("div", {}, h("strong", {}, u.name || u.email), u.name ? h("div", { class: "muted small" }, u.email) : null) },
        { label: "Role", cell: (u) => badge(ROLE_NAMES[u.role] || u.role, u.role === "agency_owner" ? "info" : "neutral", { "data-testid": "user-role" }) },
        { label: "Access", cell: (u) => accessText(u, names) },
        { label: "Joined", cell: (u) => date(u.created_at) },
        { label: "", class: "row-actions", cell: actions },
      ],
      users,
      { testid: "users-table", rowTestid: (u) => `user-row-${u.email}` },
    ),
  );
}

export async function pendingTab(panel, tools) {
  const loaded = await loadTab(panel, "Loading invitations…", "/v1/invitations", "invitations");
  if (!loaded) return;
  const { items: invitations, secondaries, names } = loaded;
  const reload = () => pendingTab(panel, tools);
  const actions = (invitation) => {
    const resend = h("button", { class: "button small", type: "button", "data-testid": "resend" }, "Resend");
    resend.addEventListener("click", async () => {
      try {
        await withProgress(resend, "Sending…", () => api.post(`/v1/invitations/${invitation.id}/resend`, {}));
        toast(`A new link went to ${invitation.email}; the old one no longer works.`);
        reload();
      } catch (failure) {
        toast(failure.words, "error");
      }
    });
    const revoke = h("button", { class: "button small danger", type: "button", "data-testid": "revoke" }, "Revoke");
    revoke.addEventListener("click", () => confirmAction({
      title: "Revoke invitation",
      message: `The link sent to ${invitation.email} stops working.`,
      confirmLabel: "Revoke",
      danger: true,
      progressLabel: "Revoking…",
      testid: "revoke",
      action: async () => {
        await api.del(`/v1/invitations/${invitation.id}`);
        toast("Invitation revoked.");
        reload();
      },
    }));
    return h("div", { class: "inline-actions" }, resend, revoke);
  };
  clear(
    panel,
    h("div", { class: "panel-head" }, h("h2", {}, "Pending invitations"), h("span", { class: "muted" }, "Links are valid for 7 days."), inviteButton(secondaries, reload)),
    table(
      [
        { label: "Email", cell: (i) => i.email },
        { label: "Role", cell: (i) => ROLE_NAMES[i.role] || i.role },
        { label: "Access", cell: (i) => accessText(i, names) },
        { label: "Status", cell: (i) => (i.status === "expired" ? badge("Expired", "warn") : badge("Pending", "neutral")) },
        { label: "Expires", cell: (i) => date(i.expires_at) },
        { label: "", class: "row-actions", cell: actions },
      ],
      invitations,
      { empty: "No pending invitations.", testid: "pending-table", rowTestid: (i) => `invitation-row-${i.email}` },
    ),
  );
}

/** Role select plus All / Specific sub-account access (hidden for Agency Admin). */
function roleAndAccess(secondaries, initial = {}) {
  const role = select("role", ASSIGNABLE.map((r) => [r, ROLE_NAMES[r]]), { "data-testid": "invite-role" });
  role.value = ASSIGNABLE.includes(initial.role) ? initial.role : "subaccount_admin";
  const help = h("small", { class: "hint" });
  const allRadio = h("input", { type: "radio", name: "access", value: "all", "data-testid": "access-all" });
  const specificRadio = h("input", { type: "radio", name: "access", value: "specific", "data-testid": "access-specific" });
  const chosen = new Set(initial.subaccount_ids || []);
  const boxes = secondaries.map((s) => h("label", { class: "check" }, h("input", { type: "checkbox", value: s.id, checked: chosen.has(s.id), "data-testid": `access-${s.name}` }), ` ${s.name}`));
  const list = h("div", { class: "checklist" }, boxes.length ? boxes : h("p", { class: "muted" }, "No client sub-accounts yet."));
  const accessBlock = h("fieldset", { class: "access" }, h("legend", {}, "Sub-account access"),
    h("label", { class: "check" }, allRadio, " All sub-accounts"),
    h("label", { class: "check" }, specificRadio, " Specific sub-accounts"),
    list);
  (initial.subaccount_access === "specific" ? specificRadio : allRadio).checked = true;
  const refresh = () => {
    help.textContent = ROLE_HELP[role.value];
    accessBlock.hidden = role.value === "agency_admin";
    list.hidden = !specificRadio.checked;
  };
  [role, allRadio, specificRadio].forEach((control) => control.addEventListener("change", refresh));
  refresh();
  return {
    elements: [field("Role", role), help, accessBlock],
    value() {
      if (role.value === "agency_admin") return { role: role.value };
      if (allRadio.checked) return { role: role.value, subaccount_access: "all", subaccount_ids: [] };
      const ids = boxes.map((label) => label.querySelector("input")).filter((box) => box.checked).map((box) => box.value);
      return { role: role.value, subaccount_access: "specific", subaccount_ids: ids };
    },
  };
}

function inviteDialog(secondaries, afterInvite) {
  modal("Invite User", (body, close) => {
    const email = h("input", { name: "email", type: "email", required: true, "data-testid": "invite-email" });
    const roleAccess = roleAndAccess(secondaries);
    const error = errorLine();
    const submit = h("button", { class: "button primary", type: "submit", "data-testid": "invite-send" }, "Send invite");
    const form = h("form", { novalidate: true }, field("Email", email), ...roleAccess.elements, error.element,
      h("div", { class: "actions" }, h("button", { class: "button", type: "button", onclick: close }, "Cancel"), submit));
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      error.hide();
      const choice = roleAccess.value();
      if (choice.subaccount_access === "specific" && !choice.subaccount_ids.length) return error.show("Choose at least one sub-account, or All.");
      try {
        await withProgress(submit, "Sending…", () => api.post("/v1/invitations", { email: email.value.trim(), ...choice }));
        close();
        toast(`Invitation sent to ${email.value.trim()} (valid 7 days).`);
        afterInvite();
      } catch (failure) {
        error.show(failure);
      }
    });
    body.append(form);
  }, { testid: "invite-dialog" });
}

function roleDialog(user, secondaries, reload) {
  modal(`Change role — ${user.email}`, (body, close) => {
    const roleAccess = roleAndAccess(secondaries, user);
    const error = errorLine();
    const submit = h("button", { class: "button primary", type: "submit", "data-testid": "role-save" }, "Save");
    const form = h("form", { novalidate: true }, ...roleAccess.elements, error.element,
      h("div", { class: "actions" }, h("button", { class: "button", type: "button", onclick: close }, "Cancel"), submit));
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      error.hide();
      const choice = roleAccess.value();
      if (choice.subaccount_access === "specific" && !choice.subaccount_ids.length) return error.show("Choose at least one sub-account, or All.");
      try {
        await withProgress(submit, "Saving…", () => api.patch(`/v1/users/${user.id}`, choice));
        close();
        toast(`${user.email} is now ${ROLE_NAMES[choice.role]}.`);
        reload();
      } catch (failure) {
        error.show(failure);
      }
    });
    body.append(form);
  }, { testid: "role-dialog" });
}
