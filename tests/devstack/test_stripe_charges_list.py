"""Listing charges through the real stripe client filters like Stripe (reconciliation lists
the charges of a period with ``created[gte]`` and ``created[lt]``)."""

from __future__ import annotations

import time

import stripe


def _charges(client: stripe.StripeClient, count: int) -> tuple[str, list[str]]:
    """A customer and ``count`` succeeded charges of it (their PaymentIntents' charges)."""
    customer = client.v1.customers.create(params={"email": "lister@example.com"})
    method = client.v1.payment_methods.attach("pm_card_visa", params={"customer": customer.id})
    charges = []
    for n in range(count):
        intent = client.v1.payment_intents.create(params={
            "amount": 500 + n, "currency": "usd", "customer": customer.id,
            "payment_method": method.id, "confirm": True, "off_session": True})
        charges.append(str(intent.latest_charge))
    return customer.id, charges


class TestChargesList:
    def test_the_created_bounds_select_the_period(self, client: stripe.StripeClient) -> None:
        now = int(time.time())
        customer, made = _charges(client, 3)
        period = {"gte": now - 60, "lt": now + 60}
        listed = client.v1.charges.list(params={"customer": customer, "created": period,
                                                "limit": 100})
        assert sorted(charge.id for charge in listed.data) == sorted(made)
        later = client.v1.charges.list(params={"customer": customer,
                                               "created": {"gte": now + 60, "lt": now + 120}})
        assert later.data == []
        earlier = client.v1.charges.list(params={"customer": customer,
                                                 "created": {"gte": now - 120,
                                                             "lte": now - 61}})
        assert earlier.data == []

    def test_pages_newest_first_and_filters_by_payment_intent(
            self, client: stripe.StripeClient) -> None:
        now = int(time.time())
        customer, made = _charges(client, 3)
        params = {"customer": customer, "created": {"gte": now - 60}, "limit": 2}
        first = client.v1.charges.list(params=params)
        assert first.has_more is True and len(first.data) == 2
        rest = client.v1.charges.list(params={**params, "starting_after": first.data[-1].id})
        assert rest.has_more is False
        page = [*first.data, *rest.data]
        assert sorted(charge.id for charge in page) == sorted(made)
        created = [charge.created for charge in page]
        assert created == sorted(created, reverse=True)
        one = client.v1.charges.retrieve(made[1])
        by_intent = client.v1.charges.list(params={"payment_intent": one.payment_intent})
        assert [charge.id for charge in by_intent.data] == [made[1]]
