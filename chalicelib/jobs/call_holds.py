"""``call-holds`` (every 15 minutes): release call holds whose call never reported its usage."""

from chalicelib.services.usage import call_holds_sweep as call_hold_release

__all__ = ["call_hold_release"]
