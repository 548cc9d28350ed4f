"""The auto-allocation sweep buys from the rule the due index returned (issue 20): two items
read per due rule, and nothing charged from a copy that no longer holds."""

from __future__ import annotations

from datetime import UTC, date, datetime

from bench.instrument import recording
from chalicelib.domain.ledger import Asset
from chalicelib.store import auto_allocation_rules as rules
from chalicelib.store.auto_allocation_rules import AutoAllocationRule
from chalicelib.store.payments import get_profile, get_purchase
from tests.billing_oracle import next_cycle_after
from tests.e2e.payments.support import (
    add_card,
    new_subaccount,
    payment_intents_for,
    run_job,
    seconds,
)
from tests.e2e.payments.test_auto_allocation import ANCHOR, at, next_run, put_rule
from tests.helpers import AgencyFixture, call, create_agency

BASE_CENTS = 100 * 10 + 300 * 16  # 100 Basic and 300 Premium minutes at base cost


def with_rule(app_client, **agency_args) -> tuple[AgencyFixture, str]:
    agency = create_agency(app_client, **agency_args)
    sid = new_subaccount(app_client, agency, subscription_start=ANCHOR)
    add_card(app_client, agency.owner_token, agency.primary_id)
    assert put_rule(app_client, agency.owner_token, sid).status == 200
    return agency, sid


def due_at(day: date) -> datetime:
    return datetime.fromisoformat(at(day).replace("Z", "+00:00")).astimezone(UTC)


def charged_cents(stripe_emulator: str, agency: AgencyFixture, at_least: int = 1
                  ) -> list[int]:
    """Amounts charged to the primary's customer (waits for ``at_least`` of them)."""
    profile = get_profile(agency.agency_id, agency.primary_id)
    assert profile is not None
    return [i["amount"] for i in payment_intents_for(stripe_emulator, profile.customer_id,
                                                     at_least=at_least)]


def rule_body(app_client, agency: AgencyFixture, sid: str) -> dict:
    answer = call(app_client, "GET", f"/v1/subaccounts/{sid}/auto-allocation",
                  token=agency.owner_token)
    assert answer.status == 200, answer.body
    return answer.body


def stored(agency: AgencyFixture, sid: str) -> AutoAllocationRule:
    rule = rules.get(agency.agency_id, sid)
    assert rule is not None
    return rule


def the_due_rule(day: date) -> AutoAllocationRule:
    from chalicelib.services.auto_allocation import due_rules

    [rule] = due_rules(due_at(day))
    return rule


def notification_types(app_client, agency: AgencyFixture) -> list[str]:
    notes = call(app_client, "GET", "/v1/notifications", token=agency.owner_token).body
    return [n["type"] for n in notes["notifications"]]


class TestNormalPath:
    def test_a_due_rule_costs_its_index_entry_and_the_payers_profile(
            self, app_client, stripe_emulator) -> None:
        from chalicelib.jobs.auto_allocation import auto_allocation_sweep

        agency, sid = with_rule(app_client)
        day = next_run()
        with recording() as seen:
            ran = auto_allocation_sweep(due_at(day))
        assert ran["succeeded"] == 1, ran
        assert seen.items_read <= 2, (seen.items_read, dict(seen.items_by_api))
        assert seconds(agency, sid, Asset.PREMIUM_MINUTES) == 300 * 60
        assert charged_cents(stripe_emulator, agency) == [BASE_CENTS]
        following = next_cycle_after(date.fromisoformat(ANCHOR), day)
        assert rule_body(app_client, agency, sid)["next_run_at"] == (
            f"{following.isoformat()}T00:00:00Z")

    def test_a_saved_rule_carries_the_payer_anchor_and_timezone(self, app_client) -> None:
        agency, sid = with_rule(app_client, timezone="America/New_York")
        rule = stored(agency, sid)
        assert (rule.primary_subaccount_id, rule.anchor, rule.timezone) == (
            agency.primary_id, ANCHOR, "America/New_York")


class TestStaleCopies:
    def test_a_rule_disabled_after_the_index_was_read_charges_nothing(
            self, app_client, stripe_emulator) -> None:
        from chalicelib.services.auto_allocation import process_rule

        agency, sid = with_rule(app_client)
        day = next_run()
        read = the_due_rule(day)
        assert put_rule(app_client, agency.owner_token, sid, enabled=False).status == 200
        assert process_rule(read, due_at(day)) == "skipped"
        assert seconds(agency, sid, Asset.PREMIUM_MINUTES) == 0
        assert seconds(agency, sid, Asset.BASIC_MINUTES) == 0
        assert charged_cents(stripe_emulator, agency, 0) == []
        assert rule_body(app_client, agency, sid)["enabled"] is False

    def test_a_rule_edited_after_the_index_was_read_buys_the_edit_not_the_copy(
            self, app_client, stripe_emulator) -> None:
        from chalicelib.services.auto_allocation import process_rule

        agency, sid = with_rule(app_client)
        day = next_run()
        read = the_due_rule(day)
        edited = put_rule(app_client, agency.owner_token, sid, basic_minutes=7,
                          premium_minutes=0)
        assert edited.status == 200 and edited.body["period"] == day.isoformat()
        assert process_rule(read, due_at(day)) == "succeeded"
        assert seconds(agency, sid, Asset.PREMIUM_MINUTES) == 0
        assert seconds(agency, sid, Asset.BASIC_MINUTES) == 7 * 60
        assert charged_cents(stripe_emulator, agency) == [70]

    def test_a_client_suspended_after_the_index_was_read_is_skipped_and_notified(
            self, app_client, stripe_emulator) -> None:
        from chalicelib.services.auto_allocation import process_rule

        agency, sid = with_rule(app_client)
        day = next_run()
        read = the_due_rule(day)
        suspended = call(app_client, "POST", f"/v1/subaccounts/{sid}/suspend",
                         token=agency.owner_token, body={})
        assert suspended.status == 200, suspended.body
        assert process_rule(read, due_at(day)) == "skipped"
        assert seconds(agency, sid, Asset.PREMIUM_MINUTES) == 0
        assert charged_cents(stripe_emulator, agency, 0) == []
        assert "auto_allocation_skipped" in notification_types(app_client, agency)
        # The period is skipped, not retried: due again on the next cycle date.
        following = next_cycle_after(date.fromisoformat(ANCHOR), day)
        assert stored(agency, sid).next_run_at == f"{following.isoformat()}T00:00:00Z"
        assert run_job(app_client, "auto-allocation", at(day, 6))["processed"] == 0

    def test_a_removed_clients_rule_is_deleted(self, app_client, stripe_emulator) -> None:
        agency, sid = with_rule(app_client)
        removed = call(app_client, "POST", f"/v1/subaccounts/{sid}/removal",
                       token=agency.owner_token,
                       body={"minutes_destination_id": agency.primary_id})
        assert removed.status in (200, 201), removed.body
        ran = run_job(app_client, "auto-allocation", at(next_run()))
        assert (ran["processed"], ran["skipped"]) == (1, 1), ran
        assert rules.get(agency.agency_id, sid) is None
        assert charged_cents(stripe_emulator, agency, 0) == []

    def test_a_changed_anchor_sets_the_next_cycle_and_is_copied(
            self, app_client, stripe_emulator) -> None:
        agency, sid = with_rule(app_client)
        day = next_run()
        moved = call(app_client, "PATCH", f"/v1/subaccounts/{sid}", token=agency.owner_token,
                     body={"subscription_start": "2026-02-20"})
        assert moved.status == 200, moved.body
        ran = run_job(app_client, "auto-allocation", at(day))
        assert ran["succeeded"] == 1, ran
        assert charged_cents(stripe_emulator, agency) == [BASE_CENTS]
        following = next_cycle_after(date(2026, 2, 20), day)
        rule = stored(agency, sid)
        assert rule.next_run_at == f"{following.isoformat()}T00:00:00Z"
        assert rule.anchor == "2026-02-20"

    def test_a_changed_timezone_is_the_purchases_and_is_copied(
            self, app_client, stripe_emulator) -> None:
        from chalicelib.services.auto_allocation import purchase_id_of

        agency, sid = with_rule(app_client, timezone="America/New_York")
        day = next_run()
        changed = call(app_client, "PATCH", "/v1/agency", token=agency.owner_token,
                       body={"timezone": "Europe/Paris"})
        assert changed.status == 200, changed.body
        assert run_job(app_client, "auto-allocation", at(day))["succeeded"] == 1
        purchase = get_purchase(agency.agency_id, purchase_id_of(sid, day.isoformat(), 0))
        assert purchase is not None and purchase.status == "succeeded"
        assert purchase.timezone == "Europe/Paris"
        assert stored(agency, sid).timezone == "Europe/Paris"


class TestRulesSavedBeforeTheCopies:
    def test_a_rule_without_copies_is_bought_and_backfilled(
            self, app_client, stripe_emulator) -> None:
        agency, sid = with_rule(app_client)
        stored(agency, sid).update(actions=[  # as saved before the copies existed
            AutoAllocationRule.primary_subaccount_id.remove(),
            AutoAllocationRule.anchor.remove(), AutoAllocationRule.timezone.remove()])
        old = stored(agency, sid)
        assert (old.primary_subaccount_id, old.anchor, old.timezone) == (None, None, None)
        day = next_run()
        assert run_job(app_client, "auto-allocation", at(day))["succeeded"] == 1
        assert seconds(agency, sid, Asset.PREMIUM_MINUTES) == 300 * 60
        assert charged_cents(stripe_emulator, agency) == [BASE_CENTS]
        rule = stored(agency, sid)
        assert (rule.primary_subaccount_id, rule.anchor, rule.timezone) == (
            agency.primary_id, ANCHOR, "UTC")
        following = next_cycle_after(date.fromisoformat(ANCHOR), day)
        assert rule.next_run_at == f"{following.isoformat()}T00:00:00Z"
