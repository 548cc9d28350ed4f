"""The transfers repository: confirmed moves of minutes or credits between sub-accounts."""

from __future__ import annotations

from datetime import datetime

from pynamodb.attributes import UnicodeAttribute

from chalicelib.store import keys
from chalicelib.store.base import IntegerAttribute, TableItem, UTCDateTimeText, sortable_time
from chalicelib.store.pagination import decode_cursor, encode_cursor
from chalicelib.store.transact import Op, save


class MoveRecord(TableItem, discriminator="MoveRecord"):
    """PK: ``AGENCY#<aid>#TRANSFERS`` / SK: ``<iso time>#<txid>``. A confirmed move."""

    agency_id = UnicodeAttribute()
    transfer_id = UnicodeAttribute()
    quote_id = UnicodeAttribute()
    from_subaccount_id = UnicodeAttribute()
    to_subaccount_id = UnicodeAttribute()
    asset = UnicodeAttribute()
    amount_sent = IntegerAttribute()
    amount_received = IntegerAttribute()
    from_price = IntegerAttribute(null=True)
    to_price = IntegerAttribute(null=True)
    value_micros = IntegerAttribute(default=0)
    created_by = UnicodeAttribute()
    created_at = UTCDateTimeText()


def new(*, agency_id: str, transfer_id: str, quote_id: str, from_subaccount_id: str,
        to_subaccount_id: str, asset: str, amount_sent: int, amount_received: int,
        from_price: int | None, to_price: int | None, value_micros: int, created_by: str,
        created_at: datetime) -> MoveRecord:
    """An unsaved move record (written by ``record`` in the move's transaction)."""
    return MoveRecord(
        keys.transfers_pk(agency_id), keys.timeline_sk(sortable_time(created_at), transfer_id),
        agency_id=agency_id, transfer_id=transfer_id, quote_id=quote_id,
        from_subaccount_id=from_subaccount_id, to_subaccount_id=to_subaccount_id,
        asset=asset, amount_sent=amount_sent, amount_received=amount_received,
        from_price=from_price, to_price=to_price, value_micros=value_micros,
        created_by=created_by, created_at=created_at,
    )


def record(move: MoveRecord) -> Op:
    """Write the move record."""
    return save(move)


def newest_first(agency_id: str, *, limit: int, cursor: str | None
                 ) -> tuple[list[MoveRecord], str | None]:
    """One page of the agency's moves, newest first, and the cursor of the next page."""
    pk = keys.transfers_pk(agency_id)
    query = MoveRecord.query(pk, scan_index_forward=False, limit=limit,
                             last_evaluated_key=decode_cursor(cursor, pk))
    moves = list(query)
    return moves, encode_cursor(query.last_evaluated_key)
