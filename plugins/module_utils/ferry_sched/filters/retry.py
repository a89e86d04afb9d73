"""RetryFilter (``nova/scheduler/filters/retry_filter.py``)."""

from __future__ import annotations

from ansible.module_utils.ferry_sched.filters._util import name_in, screened


@screened(name_in("retry_hosts"))
def retry_filter(hs, ctx):
    """RetryFilter (nova/scheduler/filters/retry_filter.py): skip hosts already tried."""
    if hs["name"] not in ctx["retry_hosts"]:
        return None
    return f"already tried (retry attempt {ctx['retry_attempt']})"
