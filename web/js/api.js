// The dashboard's only way to the backend: the public HTTP routes of SPEC section 3.
import { API_BASE_URL } from "../config.js";

const SESSION_KEY = "account-manager.session";

// Error codes of the API, said in words. Anything not listed shows the API's own message.
const IN_WORDS = {
  card_declined: "The card was declined. Try another card or contact the card issuer.",
  expired_card: "The card has expired. Add another card.",
  no_payment_method: "There is no saved card to charge. Add a card first.",
  plan_limit_reached:
    "Your plan's sub-account limit is reached. Remove a sub-account or move to a larger plan.",
  quote_stale:
    "The quote is no longer valid: a price or a balance changed, or it was already used. Review the move again.",
  quote_expired: "The quote expired (quotes last 10 minutes). Review the move again.",
  quote_not_found: "The quote no longer exists. Review the move again.",
  insufficient_balance: "The source account does not have that many minutes.",
  email_taken: "This email address is already used by a user or a pending invitation.",
  invalid_credentials: "Wrong email or password.",
  invitation_not_found:
    "This invitation link is not valid: it may have been resent, revoked or already used.",
  invitation_expired: "This invitation has expired. Ask your agency to resend it.",
  subaccount_suspended: "This sub-account is suspended by your agency; changes are paused.",
  owner_protected: "The agency owner cannot be changed or removed here.",
  connect_not_connected: "Connect Stripe first.",
  unauthenticated: "Your session has ended. Please sign in again.",
  forbidden: "Your role does not allow this action.",
  too_many_requests: "Too many attempts. Wait a moment and try again.",
  payment_provider_unavailable: "The payment provider is not answering. Try again in a moment.",
  purchase_not_settled: "The payment is still being processed. The balance updates when it settles.",
  internal_error: "Something went wrong on our side. Try again; if it persists, contact support.",
};

/** An error answer of the API (or no answer at all), with a sentence for people. */
export class ApiError extends Error {
  constructor(status, code, message, details) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details || {};
  }

  /** What the page shows. */
  get words() {
    const base = IN_WORDS[this.code] || this.message || "The request failed.";
    const problems = Array.isArray(this.details.errors)
      ? this.details.errors.map((e) => `${e.field}: ${e.problem}`).join("; ")
      : "";
    const decline = this.details.decline_code ? ` (${String(this.details.decline_code).replaceAll("_", " ")})` : "";
    return problems ? `${base} (${problems})` : base + decline;
  }
}

export function session() {
  try {
    return JSON.parse(sessionStorage.getItem(SESSION_KEY) || "null");
  } catch {
    return null;
  }
}

export function saveSession(value) {
  if (value) sessionStorage.setItem(SESSION_KEY, JSON.stringify(value));
  else sessionStorage.removeItem(SESSION_KEY);
}

let onUnauthenticated = () => {};
export function whenSignedOut(callback) {
  onUnauthenticated = callback;
}

/** A random key for money POSTs, so a retried click never moves money twice. */
export function idempotencyKey() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return "web-" + Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * One request. Returns the decoded JSON body (or text for CSV, or null for 204).
 * Throws ApiError with the SPEC error envelope's code, message and details.
 */
export async function request(method, path, { body, idempotency, accept, auth = true } = {}) {
  const headers = { Accept: accept || "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const current = session();
  if (auth && current?.token) headers.Authorization = `Bearer ${current.token}`;
  if (idempotency) headers["Idempotency-Key"] = idempotency;
  let response;
  try {
    response = await fetch(API_BASE_URL + path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    throw new ApiError(0, "unreachable", `Cannot reach the API at ${API_BASE_URL}. Is it running?`);
  }
  if (response.status === 204) return null;
  const type = response.headers.get("Content-Type") || "";
  const payload = type.includes("json") ? await response.json().catch(() => null) : await response.text();
  if (response.ok) return payload;
  const error = payload && typeof payload === "object" && payload.error ? payload.error : {};
  const failure = new ApiError(
    response.status,
    error.code || `http_${response.status}`,
    error.message || `The API answered ${response.status}.`,
    error.details,
  );
  if (response.status === 401 && auth && current?.token) {
    saveSession(null);
    onUnauthenticated(failure);
  }
  return Promise.reject(failure);
}

export const api = {
  get: (path, options) => request("GET", path, options),
  post: (path, body, options) => request("POST", path, { ...options, body: body ?? {} }),
  put: (path, body, options) => request("PUT", path, { ...options, body }),
  patch: (path, body, options) => request("PATCH", path, { ...options, body }),
  del: (path, options) => request("DELETE", path, options),
};

/** Query string from an object (undefined values left out). */
export function qs(params) {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== "") search.set(key, value);
  }
  const text = search.toString();
  return text ? `?${text}` : "";
}

/** Every page of a paginated list route (`limit` + opaque `cursor`), capped for safety. */
export async function listAll(path, key, { limit = 100, maxPages = 20 } = {}) {
  const items = [];
  let cursor;
  for (let page = 0; page < maxPages; page += 1) {
    const sep = path.includes("?") ? "&" : "?";
    const answer = await api.get(`${path}${sep}limit=${limit}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`);
    items.push(...(answer[key] || []));
    cursor = answer.next_cursor;
    if (!cursor) break;
  }
  return items;
}

export { API_BASE_URL };
