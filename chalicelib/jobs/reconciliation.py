"""Every 6 hours (``reconciliation``): the ledger's cash and transfer entries against Stripe."""

from chalicelib.services.reconciliation import reconciliation_run

__all__ = ["reconciliation_run"]
