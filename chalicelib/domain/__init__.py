"""Pure business rules: money, pricing, plans, roles, billing cycles. No I/O here."""
