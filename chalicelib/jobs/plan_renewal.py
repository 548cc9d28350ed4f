"""Hourly (``plan-renewal``): plan-included minutes credited to each primary once per cycle."""

from chalicelib.services.plan_renewal import plan_renewal_sweep

__all__ = ["plan_renewal_sweep"]
