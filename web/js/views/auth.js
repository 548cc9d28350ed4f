// Sign in, and accept an invitation (set a password, then signed in).
import { api, saveSession } from "../api.js";
import { errorLine, field, h, withProgress } from "../ui.js";

function signedIn(answer) {
  saveSession({
    token: answer.access_token,
    user: answer.user,
    expires_at: Date.now() + (Number(answer.expires_in) || 3600) * 1000,
  });
}

export function loginView(root, { go, params }) {
  const email = h("input", { type: "email", name: "email", autocomplete: "username", required: true, "data-testid": "login-email" });
  const password = h("input", { type: "password", name: "password", autocomplete: "current-password", required: true, "data-testid": "login-password" });
  const error = errorLine();
  const submit = h("button", { class: "button primary wide", type: "submit", "data-testid": "login-submit" }, "Sign in");
  const form = h(
    "form",
    { class: "card auth-card", "data-testid": "login-form", novalidate: true },
    h("h1", {}, "Sign in"),
    h("p", { class: "muted" }, "Account Manager for your agency and its sub-accounts."),
    params.get("ended") ? h("p", { class: "notice" }, "Your session ended. Please sign in again.") : null,
    field("Email", email),
    field("Password", password),
    error.element,
    submit,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.hide();
    if (!email.value.trim() || !password.value) {
      error.show("Enter your email and password.");
      return;
    }
    try {
      await withProgress(submit, "Signing in…", async () => {
        signedIn(await api.post("/v1/auth/login", { email: email.value.trim(), password: password.value }, { auth: false }));
      });
      go("");
    } catch (failure) {
      error.show(failure);
    }
  });
  root.append(h("div", { class: "auth-page" }, form));
  email.focus();
}

export function acceptInviteView(root, { go, params }) {
  const token = params.get("token") || "";
  const password = h("input", { type: "password", name: "password", autocomplete: "new-password", minlength: 8, required: true, "data-testid": "accept-password" });
  const repeat = h("input", { type: "password", name: "password2", autocomplete: "new-password", required: true, "data-testid": "accept-password-repeat" });
  const error = errorLine();
  const submit = h("button", { class: "button primary wide", type: "submit", "data-testid": "accept-submit" }, "Set password and sign in");
  const form = h(
    "form",
    { class: "card auth-card", "data-testid": "accept-form", novalidate: true },
    h("h1", {}, "Accept your invitation"),
    h("p", { class: "muted" }, "Choose a password (at least 8 characters) to finish joining."),
    token ? null : h("p", { class: "form-error" }, "This link has no invitation token. Open the link from your invitation email."),
    field("Password", password),
    field("Repeat password", repeat),
    error.element,
    submit,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.hide();
    if (password.value.length < 8) return error.show("The password needs at least 8 characters.");
    if (password.value !== repeat.value) return error.show("The two passwords differ.");
    try {
      await withProgress(submit, "Joining…", async () => {
        signedIn(await api.post("/v1/auth/invitations/accept", { token, password: password.value }, { auth: false }));
      });
      go("");
    } catch (failure) {
      error.show(failure);
    }
  });
  root.append(h("div", { class: "auth-page" }, form));
}
