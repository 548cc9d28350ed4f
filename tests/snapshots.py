"""Snapshots of everything a refused request must leave as it was: the table, Stripe."""

from __future__ import annotations

from typing import Any

from tests.conftest import TEST_ENV


def table_items() -> dict[tuple[str, str], str]:
    """Every item of the table, as canonical JSON by (PK, SK), leaving out processed-event
    markers (the emulator delivers webhooks of earlier purchases in the background).

    Read from the moto server's memory: the server runs in this process (``tests/conftest``)
    and its backend holds exactly what a Scan returns, but a Scan of a few hundred items
    costs about 0.4 s here, and the role matrix takes two snapshots per refused cell.
    """
    import json

    from moto.backends import get_backend
    from moto.core import DEFAULT_ACCOUNT_ID

    from chalicelib.services.ports import ports

    settings = ports().settings
    table = get_backend("dynamodb")[DEFAULT_ACCOUNT_ID][settings.aws_default_region].get_table(
        settings.table_name)
    for _attempt in range(20):
        try:  # the server thread may be writing meanwhile: copy, and retry a torn read
            items = [item.to_json()["Attributes"] for item in list(table.all_items())]
            break
        except RuntimeError:
            continue
    else:
        raise AssertionError("the table kept changing while it was read")
    return {(item["PK"]["S"], item["SK"]["S"]): json.dumps(item, sort_keys=True)
            for item in items if not item["PK"]["S"].startswith("STRIPEEVT#")}


def assert_same_items(before: dict[tuple[str, str], str], after: dict[tuple[str, str], str]
                      ) -> None:
    """The table did not change (a short diff of the keys that did, when it did)."""
    changed = sorted(key for key in before.keys() | after.keys()
                     if before.get(key) != after.get(key))
    assert not changed, {"changed": changed[:10], "count": len(changed)}


def stripe_objects(emulator: str, agency_ids: tuple[str, ...]) -> dict[str, Any]:
    """What Stripe holds for these agencies: customers with their default and attached
    cards, PaymentIntents, Connect accounts; and every refund and transfer."""
    import requests

    headers = {"Authorization": f"Bearer {TEST_ENV['STRIPE_SECRET_KEY']}"}

    def every(path: str, **params: str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        while True:
            page = requests.get(f"{emulator}{path}", headers=headers, timeout=10,
                                params={"limit": "100", **params}).json()
            found += page["data"]
            if not page.get("has_more") or not page["data"]:
                return found
            params = {**params, "starting_after": page["data"][-1]["id"]}

    def ours(obj: dict[str, Any]) -> bool:
        return (obj.get("metadata") or {}).get("agency_id") in agency_ids

    customers = [c for c in every("/v1/customers") if ours(c)]
    return {
        "customers": {c["id"]: {
            "default": (c.get("invoice_settings") or {}).get("default_payment_method"),
            "cards": sorted(pm["id"] for pm in every("/v1/payment_methods", customer=c["id"],
                                                      type="card"))} for c in customers},
        "intents": {i["id"]: (i["status"], i["amount"])
                    for i in every("/v1/payment_intents") if ours(i)},
        "accounts": {a["id"]: (a.get("details_submitted"), a.get("payouts_enabled"))
                     for a in every("/v1/accounts") if ours(a)},
        "refunds": sorted(r["id"] for r in every("/v1/refunds")),
        "transfers": sorted(t["id"] for t in every("/v1/transfers")),
    }

