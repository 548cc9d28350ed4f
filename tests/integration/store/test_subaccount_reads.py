"""The sub-account reads of ``store.accounts`` that the access checks use."""

from __future__ import annotations

from chalicelib.store import accounts, keys
from chalicelib.store.accounts import Subaccount
from chalicelib.store.payments import PaymentProfile
from tests.integration.store.identity_support import NOW, make_agency, new_id


def secondary(agency_id: str, *, status: str = "active") -> str:
    sid = new_id("sub")
    Subaccount(keys.agency_pk(agency_id), keys.subaccount_sk(sid), agency_id=agency_id,
               subaccount_id=sid, name="Client", price_basic=150_000, price_premium=200_000,
               subscription_start="2026-01-15", status=status, created_at=NOW).save()
    return sid


class TestSubaccountsById:
    def test_only_the_agencys_own_come_back_by_id_whatever_their_status(self,
                                                                        table: None) -> None:
        agency, _ = make_agency()
        other, _ = make_agency()
        live, removed = secondary(agency.agency_id), secondary(agency.agency_id,
                                                               status="removed")
        theirs = secondary(other.agency_id)
        found = accounts.subaccounts_by_id(agency.agency_id, [live, removed, theirs, "sub_x"])
        assert set(found) == {live, removed}
        assert found[removed].status == "removed"


class TestSubaccountWithPaymentProfile:
    def test_the_profile_comes_with_the_subaccount_by_its_sort_key(self, table: None) -> None:
        agency, _ = make_agency()
        sid = secondary(agency.agency_id)
        sub, extra = accounts.subaccount_with_payment_profile(agency.agency_id, sid)
        assert sub is not None and sub.subaccount_id == sid
        assert extra == {}
        PaymentProfile(keys.agency_pk(agency.agency_id), keys.payment_profile_sk(sid),
                       agency_id=agency.agency_id, subaccount_id=sid, customer_id="cus_1",
                       created_at=NOW).save()
        sub, extra = accounts.subaccount_with_payment_profile(agency.agency_id, sid)
        profile = extra[keys.payment_profile_sk(sid)]
        assert isinstance(profile, PaymentProfile) and profile.customer_id == "cus_1"

    def test_another_agencys_subaccount_is_none(self, table: None) -> None:
        agency, _ = make_agency()
        other, _ = make_agency()
        sub, extra = accounts.subaccount_with_payment_profile(
            other.agency_id, secondary(agency.agency_id))
        assert (sub, extra) == (None, {})
