"""Which list the cursors of a request belong to (SPEC section 3: a cursor of another list
is refused). The route decorator binds each request to its route; the signing itself is
the store's (``store.pagination``)."""

from __future__ import annotations

from chalicelib.store.pagination import bound_to

__all__ = ["bound_to"]
