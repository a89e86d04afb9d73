"""RetryFilter (``nova/scheduler/filters/retry_filter.py``)."""

from __future__ import annotations


def retry_filter(hs, ctx):
    """RetryFilter (nova/scheduler/filters/retry_filter.py): skip hosts already tried."""
    if hs["name"] not in ctx["retry_hosts"]:
        return None
    return f"already tried (retry attempt {ctx['retry_attempt']})"
