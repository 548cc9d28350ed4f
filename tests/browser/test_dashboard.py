"""The Account Manager dashboard in headless Chromium against the running local stack.

Each test makes its own agency through the public API, then acts only through the page.
"""

from __future__ import annotations

import pytest

from tests.browser.conftest import Agency, Page, Stack

pytestmark = pytest.mark.browser


def agency_name(stack: Stack, agency: Agency) -> str:
    """The primary sub-account's name (the agency's name)."""
    return stack.api.call("GET", "/v1/agency", token=agency.owner_token).json()["name"]


def test_sign_in_shows_the_account_manager(page: Page, stack: Stack) -> None:
    agency = stack.new_agency()
    agency.add_subaccount("Clinic One")

    page.open("/#/login")
    page.type("login-email", agency.owner_email)
    page.type("login-password", "not-the-password")
    page.click("login-submit")
    assert "Wrong email or password" in page.text("form-error")
    page.snap("login-refused")

    page.sign_in(agency.owner_email, agency.owner_password)
    table = page.find("subaccounts-table")
    assert "Clinic One" in table.text
    assert "1 of 50 sub-accounts used · 49 slots left" in page.text("slots")
    row = page.row("subaccount-row-Clinic One")
    assert page.text("status-badge", within=row) == "Active"
    assert page.text("wallet-balance", within=row) == "$0.00"
    page.wait_text("connect-status", "Not connected")
    assert page.text("payout-threshold") == "$100.00"
    page.snap("account-manager")


def test_move_minutes_with_review(page: Page, stack: Stack) -> None:
    agency = stack.new_agency()
    agency.add_subaccount("Clinic Move", premium="0.20")
    stack.api.grant(agency.primary_id, "premium_minutes", "100")

    page.sign_in(agency.owner_email, agency.owner_password)
    primary_row = next(row for row in page.driver.find_elements(
        "css selector", '[data-testid^="subaccount-row-"]') if "Primary" in row.text)
    assert "100.00" in primary_row.text
    page.click("row-menu", within=primary_row)
    page.click("menu-move", within=primary_row)
    page.choose("move-to", "Clinic Move")
    page.choose("move-asset", "Premium minutes")
    assert "has 100.00 Premium minutes" in page.text("move-available")
    page.type("move-amount", "20")
    page.snap("move-form")
    page.click("move-review-button")

    # The review: both prices, what is sent and what the client receives (value preserved).
    assert page.text("quote-sent") == "20.00 Premium minutes"
    assert page.text("quote-received") == "16.00 Premium minutes"
    assert page.text("quote-from-price") == "$0.16 / min"
    assert page.text("quote-to-price") == "$0.20 / min"
    assert page.text("quote-value") == "$3.20"
    page.snap("move-review")
    page.click("move-confirm")

    page.wait_text("toast", "Clinic Move received 16.00 Premium minutes")
    row = "subaccount-row-Clinic Move"
    page.wait_text("premium-minutes", "16.00", within=row)
    page.wait_text("wallet-balance", "$3.20", within=row)
    page.snap("after-move")

    # A quote goes stale when a price changes before it is confirmed: refused in words.
    page.menu("subaccount-row-Clinic Move", "menu-move")
    page.choose("move-to", f"{agency_name(stack, agency)} (primary)")
    page.choose("move-asset", "Premium minutes")
    page.type("move-amount", "5")
    page.click("move-review-button")
    # Toward the primary's lower price minutes arrive 1:1 (SPEC: a move never mints).
    assert page.text("quote-received") == "5.00 Premium minutes"
    stack.api.call("PATCH", f"/v1/subaccounts/{agency.subaccounts['Clinic Move']}",
                   token=agency.owner_token, body={"prices": {"premium": "0.25"}})
    page.click("move-confirm")
    page.wait_text("form-error", "The quote is no longer valid")
    page.snap("quote-stale")


def test_suspend_shows_the_banner_to_the_client(page: Page, stack: Stack) -> None:
    agency = stack.new_agency()
    agency.add_subaccount("Clinic Late")
    client_email, client_password = agency.client_login("Clinic Late")
    note = "Invoice 30+ days overdue"

    page.sign_in(agency.owner_email, agency.owner_password)
    page.menu("subaccount-row-Clinic Late", "menu-suspend")
    page.type("suspend-note", note)
    assert page.text("suspend-counter") == f"{len(note)}/150"
    page.snap("suspend-dialog")
    page.click("suspend-confirm")
    page.wait_text("status-badge", "Suspended", within="subaccount-row-Clinic Late")
    page.snap("suspended-in-list")
    page.sign_out()

    page.sign_in(client_email, client_password)
    banner = page.wait_text("suspension-banner", "Your account is paused by your agency.")
    assert note in banner
    assert page.text("subaccount-title") == "Clinic Late"
    # Read-only while suspended: no forms to add resources or pay.
    assert "Payments are paused while the sub-account is suspended." in page.text("payments")
    assert not page.driver.find_elements("css selector", '[data-testid="buy-submit"]')
    assert not page.driver.find_elements("css selector", ".inline-form")
    page.snap("client-banner")
    page.sign_out()

    page.sign_in(agency.owner_email, agency.owner_password)
    page.menu("subaccount-row-Clinic Late", "menu-restore")
    page.click("restore-confirm")
    page.wait_text("status-badge", "Active", within="subaccount-row-Clinic Late")


def test_invite_and_accept(page: Page, stack: Stack) -> None:
    agency = stack.new_agency()
    agency.add_subaccount("Clinic Team")
    invitee = agency.email("new.member")

    page.sign_in(agency.owner_email, agency.owner_password)
    page.click("tab-users")
    page.find("users-table")
    page.click("invite-user")
    page.type("invite-email", invitee)
    page.choose("invite-role", value="subaccount_member")
    page.click("access-specific")
    page.click("access-Clinic Team")
    page.snap("invite-form")
    page.click("invite-send")
    page.wait_text("toast", f"Invitation sent to {invitee}")
    row = page.row(f"invitation-row-{invitee}")
    assert "Subaccount Member" in row.text and "Clinic Team" in row.text
    page.snap("pending")

    # Taking the same email twice is refused in words.
    page.click("invite-user")
    page.type("invite-email", invitee)
    page.click("invite-send")
    page.wait_text("form-error", "already used by a user or a pending invitation")
    page.click("modal-close")
    page.sign_out()

    token = stack.api.invitation_token(invitee)
    page.open(f"/accept-invite?token={token}")
    page.type("accept-password", "member-pass-123")
    page.type("accept-password-repeat", "member-pass-123")
    page.snap("accept-invite")
    page.click("accept-submit")
    page.wait_text("whoami", invitee)
    page.wait_text("subaccount-title", "Clinic Team")
    assert "Read-only access" in page.text("read-only-note")
    page.snap("member-landing")


def test_member_buys_minutes_and_the_owner_sees_the_profit(page: Page, stack: Stack) -> None:
    agency = stack.new_agency()
    agency.add_subaccount("Clinic Buyer", premium="0.20")
    email, password = agency.invite("buyer", "subaccount_member", ["Clinic Buyer"])

    page.sign_in(email, password)
    page.wait_text("subaccount-title", "Clinic Buyer")
    # A card declined when it is added is refused in words.
    page.choose("card-choice", value="pm_card_visa_chargeDeclined")
    page.click("card-add")
    page.wait_text("form-error", "declined")
    page.choose("card-choice", value="pm_card_visa")
    page.click("card-add")
    page.wait_text("cards-table", "4242")
    page.choose("buy-tier", value="premium")
    page.type("buy-minutes", "100")
    assert page.text("buy-estimate") == "100 × $0.20 = $20.00"
    page.snap("buy-form")
    page.click("buy-submit")
    # Credited at once (201), or a moment later when Stripe settles it (202, the page polls).
    page.wait_text("wallet-premium", "100.00", timeout=15)
    page.wait_text("wallet-usd", "$20.00")
    page.snap("after-purchase")
    page.sign_out()

    # Agency profit: 100 × (0.20 − 0.16) = 4.00.
    page.sign_in(agency.owner_email, agency.owner_password)
    page.wait_text("available-profit", "$4.00")
    page.wait_text("profit-this-period", "$4.00")
    page.snap("overview-profit")


def test_remove_subaccount_in_two_steps(page: Page, stack: Stack) -> None:
    agency = stack.new_agency()
    sid = agency.add_subaccount("Clinic Gone", basic="0.12")
    stack.api.grant(sid, "basic_minutes", "30")
    stack.api.grant(sid, "kp_credits", "5")

    page.sign_in(agency.owner_email, agency.owner_password)
    page.menu("subaccount-row-Clinic Gone", "menu-remove")
    assert page.text("remove-basic") == "30.00"
    assert "(primary)" in page.text("remove-destination")
    page.snap("remove-step-1")
    page.click("remove-next")
    assert "5 Knowledge Pack credits" in page.text("remove-kp")
    page.snap("remove-step-2")
    page.click("remove-confirm")
    page.wait_text("toast", "Clinic Gone was removed")
    page.wait(lambda d: "Clinic Gone" not in page.text("subaccounts-table"), "row still shown")
    # 30 minutes at 0.12 arrive 1:1 at the primary's lower base price 0.10 (never minted).
    primary_row = next(row for row in page.driver.find_elements(
        "css selector", '[data-testid^="subaccount-row-"]') if "Primary" in row.text)
    assert "30.00" in primary_row.text


def test_reporting_table_chart_and_csv(page: Page, stack: Stack) -> None:
    agency = stack.new_agency()
    sid = agency.add_subaccount("Clinic Calls")
    stack.api.grant(sid, "basic_minutes", "50")
    from datetime import UTC, datetime

    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    stack.api.call("POST", "/v1/platform/usage", platform=True, body={"records": [
        {"call_id": f"call-{agency.n}-{i}", "subaccount_id": sid, "tier": "basic",
         "duration_seconds": 120, "direction": "outbound", "status": status, "started_at": now}
        for i, status in enumerate(("completed", "completed", "failed"))]})

    page.sign_in(agency.owner_email, agency.owner_password)
    page.click("nav-reports")
    row = page.row("report-row-Clinic Calls")
    assert "6.00" in row.text  # 3 calls × 2 minutes
    assert "completed 2 · failed 1" in row.text
    chart = page.find("daily-chart")
    assert chart.find_elements("css selector", "rect.bar-basic")
    page.snap("reporting")
    page.click("report-csv")
    csv_files = page.wait(lambda d: [f for f in d.downloads.glob("report-*.csv")],
                          "the CSV never downloaded")
    text = csv_files[0].read_text(encoding="utf-8")
    assert "Clinic Calls" in text and text.count("\n") >= 3  # header + primary + client


def test_owner_sets_the_agency_timezone_from_the_overview(page: Page, stack: Stack) -> None:
    agency = stack.new_agency()
    page.sign_in(agency.owner_email, agency.owner_password)
    page.wait_text("agency-timezone", "UTC")
    page.click("change-timezone")
    page.choose("timezone-select", value="Asia/Tokyo")
    page.click("timezone-save")
    page.wait_text("agency-timezone", "Asia/Tokyo")
    stored = stack.api.call("GET", "/v1/agency", token=agency.owner_token)
    assert stored.json()["timezone"] == "Asia/Tokyo"
    page.click("nav-reports")
    page.wait_text("report-results", "Dates in Asia/Tokyo")


def test_connect_stripe_see_details_and_a_failed_payout(page: Page, stack: Stack) -> None:
    agency = stack.new_agency()
    sid = agency.add_subaccount("Clinic Profit", premium="0.20")
    api, token = stack.api, agency.owner_token
    api.call("POST", f"/v1/subaccounts/{sid}/payment-methods", token=token,
             body={"payment_method": "pm_card_visa"})
    # 2,500 Premium minutes at 0.20 over a 0.16 base: exactly the USD 100 payout threshold.
    api.call("POST", f"/v1/subaccounts/{sid}/purchases", token=token,
             body={"tier": "premium", "minutes": 2500}, idempotency_key=f"buy-{agency.n}")

    page.sign_in(agency.owner_email, agency.owner_password)
    page.wait_text("available-profit", "$100.00")
    assert page.text("connect-status") == "Not connected"
    page.click("connect-stripe")
    page.wait(lambda d: "/connect/onboarding/" in d.current_url, "never reached Stripe")
    page.snap("stripe-onboarding")
    page.driver.find_element("link text", "Leave without finishing").click()
    page.wait_text("connect-status", "Initiating")
    page.snap("connect-initiating")

    page.click("connect-stripe")
    page.wait(lambda d: "/connect/onboarding/" in d.current_url, "never reached Stripe again")
    page.driver.find_element("css selector", "button[type=submit]").click()
    page.wait_text("connect-status", "Connected", timeout=15)
    page.snap("connect-connected")

    page.click("see-details")
    page.wait(lambda d: len(d.window_handles) == 2, "See Details opened no tab")
    page.driver.switch_to.window(page.driver.window_handles[1])
    page.wait(lambda d: "Express dashboard" in d.page_source, "not the Express dashboard")
    page.driver.close()
    page.driver.switch_to.window(page.driver.window_handles[0])

    # The payout sweep pays on the next payout date; the bank then refuses the payout.
    overview = api.call("GET", "/v1/agency/overview", token=token).json()
    api.call("POST", "/v1/platform/jobs/payout-sweep/runs", platform=True,
             body={"as_of": f"{overview['next_payout_date']}T12:00:00Z"})
    account_id = api.call("GET", "/v1/agency/connect", token=token).json()["account_id"]
    import requests

    requests.post(f"{stack.stripe_url}/v1/test_helpers/accounts/{account_id}/fail_payout",
                  data={"failure_code": "account_closed"},
                  headers={"Authorization": "Bearer sk_test_local"}, timeout=10)
    page.wait(lambda d: api.call("GET", "/v1/agency/payouts", token=token).json()["payouts"][0]
              ["status"] == "failed", "payout never failed")

    page.open("/#/account-manager/payouts")
    row = page.wait_text("payout-failed", "account_closed")
    assert "Failed at bank" in row and "fix the bank details" in row
    page.wait_text("action-needed", "update your bank details")
    page.snap("payouts-failed")


def test_add_subaccount_up_to_the_plan_limit_and_auto_allocation(page: Page, stack: Stack) -> None:
    agency = stack.new_agency(plan="agency_lite")  # 10 sub-accounts
    for n in range(9):
        agency.add_subaccount(f"Clinic {n:02d}")

    page.sign_in(agency.owner_email, agency.owner_password)
    page.wait_text("slots", "9 of 10 sub-accounts used · 1 slot left")
    page.click("add-subaccount")
    assert "1 slot left" in page.text("add-slots")
    page.type("add-name", "Clinic Ten")
    page.type("add-email", agency.email("ten"))
    page.type("add-price-basic", "0.15")
    page.type("add-price-premium", "0.22")
    page.snap("add-subaccount")
    page.click("add-submit")
    page.wait_text("toast", 'Sub-account "Clinic Ten" created')
    page.wait_text("slots", "10 of 10 sub-accounts used · 0 slots left")

    page.click("add-subaccount")
    page.type("add-name", "Clinic Eleven")
    page.type("add-email", agency.email("eleven"))
    page.click("add-submit")
    page.wait_text("form-error", "Your plan's sub-account limit is reached")
    page.snap("plan-limit")
    page.click("modal-close")

    page.menu("subaccount-row-Clinic Ten", "menu-auto-allocation")
    page.type("alloc-premium", "200")
    page.click("alloc-save")
    page.wait_text("toast", "Auto allocation saved.")
    page.menu("subaccount-row-Clinic Ten", "menu-auto-allocation")
    assert page.find("alloc-premium").get_attribute("value") == "200"
    assert "active" in page.text("alloc-status")
    page.snap("auto-allocation")


def test_users_tab_change_role_resend_revoke_remove(page: Page, stack: Stack) -> None:
    agency = stack.new_agency()
    agency.add_subaccount("Clinic Staff")
    member_email, _ = agency.invite("helper", "agency_member", ["Clinic Staff"])
    pending_email = agency.email("pending")
    stack.api.call("POST", "/v1/invitations", token=agency.owner_token, body={
        "email": pending_email, "role": "subaccount_admin", "subaccount_access": "all"})
    first_token = stack.api.invitation_token(pending_email)

    page.sign_in(agency.owner_email, agency.owner_password)
    page.click("tab-users")
    row = f"user-row-{member_email}"
    assert page.text("user-role", within=row) == "Agency Member"
    assert "Agency Owner" in page.text(f"user-row-{agency.owner_email}")
    page.click("user-menu", within=row)
    page.click("menu-change-role", within=row)
    page.choose("invite-role", value="agency_admin")
    page.click("role-save")
    page.wait_text("user-role", "Agency Admin", within=row)
    page.snap("role-changed")

    page.click("user-menu", within=row)
    page.click("menu-remove-user", within=row)
    page.click("remove-user-confirm")
    page.wait(lambda d: member_email not in page.text("users-table"), "user still listed")

    page.click("tab-pending")
    invitation = f"invitation-row-{pending_email}"
    page.click("resend", within=invitation)
    page.wait_text("toast", "the old one no longer works")
    assert stack.api.invitation_token(pending_email) != first_token
    page.click("revoke", within=invitation)
    page.click("revoke-confirm")
    page.wait(lambda d: pending_email not in page.text("pending-table"), "still pending")
    # The sub-account's own login invitation is still there.
    assert "client-clinic-staff@" in page.text("pending-table")
    page.snap("pending-empty")
