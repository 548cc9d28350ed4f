"""Key builders for the single table: every key shape lives here.

Everything an agency owns is keyed by its agency id, so no query can wander into another
tenant. Shapes (PK / SK):

- agency                 ``AGENCY#<aid>`` / ``AGENCY``
- sub-account            ``AGENCY#<aid>`` / ``SUB#<sid>``
- sub-account pointer    ``SUBID#<sid>`` / ``SUBID``  (platform routes know only the sid)
- plan slot counter      ``AGENCY#<aid>`` / ``SLOTS``
- user                   ``AGENCY#<aid>`` / ``USER#<uid>``
- email claim            ``EMAIL#<lower email>`` / ``EMAIL``  (system-wide uniqueness)
- invitation             ``AGENCY#<aid>`` / ``INVITE#<iid>``
- invitation token       ``INVTOKEN#<sha256>`` / ``INVTOKEN``
- login throttle         ``THROTTLE#<lower email>`` / ``LOGIN``
- login throttle per IP  ``THROTTLE#IP#<source ip>`` / ``LOGIN``
- ended session          ``AGENCY#<aid>`` / ``LOGOUT#<session id>``  (TTL: the token's expiry)
- ledger balance         ``ACCT#<aid>#<account>`` / ``BAL#<asset>``
- ledger entry           ``ACCT#<aid>#<account>`` / ``ENTRY#<iso time>#<txid>#<n>``
- ledger transaction     ``TX#<aid>#<txid>`` / ``TX``
- idempotency record     ``IDEM#<aid>#<key>`` / ``IDEM``
- transfer quote         ``AGENCY#<aid>`` / ``QUOTE#<qid>``
- transfer (move)        ``AGENCY#<aid>#TRANSFERS`` / ``<iso time>#<txid>``
- call record            ``CALL#<call_id>`` / ``CALL``  (call ids are unique platform-wide)
- call hold              ``HOLD#<call_id>`` / ``HOLD``; while open, GSI1
                         ``HOLDS#<aid>#<sid>`` / ``<call_id>`` (removal finds them)
- daily counters         ``STATS#<aid>#<sid>`` / ``DAY#<yyyy-mm-dd>``
                         (GSI1 ``STATSDAY#<aid>`` / ``<yyyy-mm-dd>#<sid>``: by agency and date)
- audit event            ``AGENCY#<aid>#AUDIT`` / ``<iso time>#<eid>``
- notification           ``AGENCY#<aid>#NOTIFY`` / ``<iso time>#<nid>``
- outbox email           ``OUTBOX`` / ``<iso time>#<mid>``  (local stack only)
- resource               ``SUBRES#<aid>#<sid>`` / ``<type>#<rid>``
- payment profile        ``AGENCY#<aid>`` / ``PAYPROFILE#<sid>``  (Stripe customer)
- purchase               ``AGENCY#<aid>#PURCHASES`` / ``<pid>``
- dispute of a purchase  ``AGENCY#<aid>#PURCHASES`` / ``<pid>#DISPUTE#<dp id>``
- auto-allocation rule   ``AGENCY#<aid>`` / ``AUTOALLOC#<sid>``
- auto-recharge rule     ``AGENCY#<aid>`` / ``AUTORECHARGE#<sid>#<tier>``
- Connect account        ``AGENCY#<aid>`` / ``CONNECT``
- payout                 ``AGENCY#<aid>#PAYOUTS`` / ``<cycle date>`` (retries ``<cycle date>#<n>``)
- webhook event marker   ``STRIPEEVT#<evt id>`` / ``EVENT``
- Stripe id pointer      GSI1 ``STRIPE#<id>`` / ``STRIPE``
"""

from __future__ import annotations

import hashlib


def agency_pk(agency_id: str) -> str:
    """Partition of everything an agency owns directly."""
    return f"AGENCY#{agency_id}"


AGENCY_SK = "AGENCY"
SLOTS_SK = "SLOTS"
CONNECT_SK = "CONNECT"


def subaccount_sk(subaccount_id: str) -> str:
    """Sort key of a sub-account in its agency's partition."""
    return f"SUB#{subaccount_id}"


SUBACCOUNT_PREFIX = "SUB#"


def subaccount_pointer_pk(subaccount_id: str) -> str:
    """Pointer from a bare sub-account id to its agency (platform routes)."""
    return f"SUBID#{subaccount_id}"


def user_sk(user_id: str) -> str:
    """Sort key of a user in its agency's partition."""
    return f"USER#{user_id}"


USER_PREFIX = "USER#"


def ended_session_sk(session_id: str) -> str:
    """Sort key of a logged-out session (its token's ``jti``) in its agency's partition: read
    with the user and the agency in the session check's one BatchGetItem."""
    return f"LOGOUT#{session_id}"


def email_pk(email: str) -> str:
    """System-wide claim on an email (users, pending invitations, sub-account logins)."""
    return f"EMAIL#{email.strip().lower()}"


def invitation_sk(invitation_id: str) -> str:
    """Sort key of an invitation in its agency's partition."""
    return f"INVITE#{invitation_id}"


INVITATION_PREFIX = "INVITE#"


def invitation_token_pk(token_hash: str) -> str:
    """Lookup of an invitation by the SHA-256 of its token (the token itself is never stored)."""
    return f"INVTOKEN#{token_hash}"


def ip_throttle_pk(source_ip: str) -> str:
    """Failed sign-ins from one source IP (any email)."""
    return f"THROTTLE#IP#{source_ip}"


def throttle_pk(email: str) -> str:
    """Failed-login counter of one email."""
    return f"THROTTLE#{email.strip().lower()}"


def account_pk(agency_id: str, account: str) -> str:
    """Partition of one ledger account (its balances and entries)."""
    return f"ACCT#{agency_id}#{account}"


def balance_sk(asset: str) -> str:
    """Balance row of one asset in a ledger account."""
    return f"BAL#{asset}"


BALANCE_PREFIX = "BAL#"
ENTRY_PREFIX = "ENTRY#"


def entry_sk(at_iso: str, transaction_id: str, index: int) -> str:
    """Ledger entry: sorted by time so activity ranges are one query."""
    return f"ENTRY#{at_iso}#{transaction_id}#{index:03d}"


def transaction_pk(agency_id: str, transaction_id: str) -> str:
    """Ledger transaction record; its existence is the idempotency marker."""
    return f"TX#{agency_id}#{transaction_id}"


def idempotency_pk(agency_id: str, key: str) -> str:
    """Stored answer of a money POST for an Idempotency-Key."""
    return f"IDEM#{agency_id}#{key}"


def quote_sk(quote_id: str) -> str:
    """A move-minutes quote."""
    return f"QUOTE#{quote_id}"


def transfers_pk(agency_id: str) -> str:
    """Partition of an agency's confirmed minute moves, newest last."""
    return f"AGENCY#{agency_id}#TRANSFERS"


def call_pk(call_id: str) -> str:
    """A call record. Not under the agency: a call id is unique platform-wide, so no other
    agency (nor another sub-account) can ever record or debit under the same id."""
    return f"CALL#{call_id}"


def stats_pk(agency_id: str, subaccount_id: str) -> str:
    """Daily counters of one sub-account."""
    return f"STATS#{agency_id}#{subaccount_id}"


def stats_sk(day_iso: str) -> str:
    """Daily counter row of one date (``YYYY-MM-DD``)."""
    return f"DAY#{day_iso}"


def stats_by_day_pk(agency_id: str) -> str:
    """GSI1 partition of every daily counter row of an agency (reports over all of them)."""
    return f"STATSDAY#{agency_id}"


def stats_by_day_sk(day_iso: str, subaccount_id: str) -> str:
    """GSI1 sort key of a daily counter row: the date first, so a range is one key range."""
    return f"{day_iso}#{subaccount_id}"


def audit_pk(agency_id: str) -> str:
    """Audit log of an agency."""
    return f"AGENCY#{agency_id}#AUDIT"


def notifications_pk(agency_id: str) -> str:
    """Notifications of an agency."""
    return f"AGENCY#{agency_id}#NOTIFY"


OUTBOX_PK = "OUTBOX"


def resource_pk(agency_id: str, subaccount_id: str) -> str:
    """Campaigns, agents, automations and phone numbers of a sub-account."""
    return f"SUBRES#{agency_id}#{subaccount_id}"


def resource_sk(resource_type: str, resource_id: str) -> str:
    """One resource, grouped by type."""
    return f"{resource_type}#{resource_id}"


def phone_claim_sk(number: str) -> str:
    """In the agency partition: which sub-account holds an E.164 number."""
    return f"PHONE#{number}"


def payment_profile_sk(subaccount_id: str) -> str:
    """The Stripe customer of a sub-account."""
    return f"PAYPROFILE#{subaccount_id}"


def purchases_pk(agency_id: str) -> str:
    """Purchases of an agency."""
    return f"AGENCY#{agency_id}#PURCHASES"


def dispute_sk(purchase_id: str, dispute_id: str) -> str:
    """A Stripe dispute of a purchase, next to the purchase (never a hot or global key)."""
    return f"{purchase_id}#DISPUTE#{dispute_id}"


def auto_allocation_sk(subaccount_id: str) -> str:
    """Monthly auto-allocation rule of a sub-account."""
    return f"AUTOALLOC#{subaccount_id}"


def auto_recharge_sk(subaccount_id: str, tier: str) -> str:
    """Auto-recharge rule of a sub-account and tier."""
    return f"AUTORECHARGE#{subaccount_id}#{tier}"


def payouts_pk(agency_id: str) -> str:
    """Payouts of an agency: one per cycle date, plus any retry of its failed transfer."""
    return f"AGENCY#{agency_id}#PAYOUTS"


def payout_sk(cycle_date_iso: str, attempt: int = 1) -> str:
    """One transfer attempt of a cycle's payout: the first is the cycle date alone (sorts
    before its retries ``<cycle date>#<n>``, and all before the next cycle date)."""
    return cycle_date_iso if attempt <= 1 else f"{cycle_date_iso}#{attempt}"


def webhook_event_pk(event_id: str) -> str:
    """Marker that a Stripe event was processed (written with its effect)."""
    return f"STRIPEEVT#{event_id}"


def stripe_lookup_pk(stripe_id: str) -> str:
    """GSI1 key to find our item from a Stripe object id."""
    return f"STRIPE#{stripe_id}"


#: Partitions of each job's due index. Every agency writes these keys, so one partition per
#: job would take the whole platform's writes (a hot partition): an agency's items go to one
#: of ``DUE_SHARDS`` partitions by a hash of its id, and a sweep reads all of them.
DUE_SHARDS = 16


def due_shard(agency_id: str) -> int:
    """The due-index shard of an agency (stable: a hash, not Python's salted ``hash``)."""
    return int.from_bytes(hashlib.sha256(agency_id.encode()).digest()[:4], "big") % DUE_SHARDS


def due_pk(job: str, agency_id: str) -> str:
    """GSI2 partition of an agency's items a job must look at (``DUE#<job>#<shard>``)."""
    return f"DUE#{job}#{due_shard(agency_id):02d}"


def due_pks(job: str) -> list[str]:
    """Every GSI2 partition of a job (what a sweep reads)."""
    return [f"DUE#{job}#{shard:02d}" for shard in range(DUE_SHARDS)]


def due_sk(due_at_iso: str, item_id: str) -> str:
    """GSI2 sort key: due time first so a sweep reads ``<= as_of`` only."""
    return f"{due_at_iso}#{item_id}"


#: Payout schedule of an agency: ``AGENCY#<aid>`` / ``PAYOUTSCHED`` (GSI2 ``DUE#payout-sweep``).
PAYOUT_SCHEDULE_SK = "PAYOUTSCHED"


#: Plan renewal schedule of an agency (plans with included minutes): ``AGENCY#<aid>`` /
#: ``PLANRENEWAL`` (GSI2 ``DUE#plan-renewal``).
PLAN_RENEWAL_SK = "PLANRENEWAL"


#: Reconciliation reports (written only when the ledger and Stripe disagree):
#: ``RECONCILIATION`` / ``<as_of iso>#<run id>``.
RECONCILIATION_PK = "RECONCILIATION"


def call_hold_pk(call_id: str) -> str:
    """A call hold: seconds reserved at authorization, settled by the call's usage record.
    Platform-wide like the call record it precedes."""
    return f"HOLD#{call_id}"


def open_holds_pk(agency_id: str, subaccount_id: str) -> str:
    """GSI1 partition of a sub-account's open call holds (set while ``held`` only)."""
    return f"HOLDS#{agency_id}#{subaccount_id}"


def timeline_sk(at_iso: str, item_id: str) -> str:
    """Sort key of an item in a time-ordered partition (audit, notifications, outbox,
    transfers): the sortable time first, then the id so that equal times stay distinct."""
    return f"{at_iso}#{item_id}"
