"""The compute service and its capabilities.

Nova: ``nova/scheduler/filters/compute_filter.py`` (ComputeFilter),
``compute_capabilities_filter.py`` (ComputeCapabilitiesFilter).
"""

from __future__ import annotations

import json

from ansible.module_utils.ferry_sched.extra_specs import spec_str
from ansible.module_utils.ferry_sched.host_state import COMPUTED


def compute_filter(hs, ctx):
    """ComputeFilter: the compute service must be enabled and up: here ``enabled`` and
    ``reachable`` from host facts."""
    host = hs["host"]
    if not host.get("enabled", True):
        reason = host.get("disabled_reason")
        return "disabled" + (f" ({reason})" if reason else "")
    if not host.get("reachable", True):
        return "unreachable"
    return None


def _has(hs, key):
    host = hs["host"]
    return key in COMPUTED or key in (host.get("capabilities") or {}) or key in host


def capability(hs, path):
    """Walk ``path`` from the host: a computed host value (``free_ram_mb``, ``vcpus_used``...),
    else ``capabilities``, else a top-level host fact (``arch``...). A value that is JSON text
    (such as libvirt's ``cpu_info``) is decoded before descending into it, as Nova's
    _get_capabilities does; text that is not JSON, or a missing key, gives None."""
    host = hs["host"]
    first = path[0]
    if first in COMPUTED:
        cur = hs[first]
        if isinstance(cur, float) and cur.is_integer():  # Nova's counts are integers: 0, not 0.0
            cur = int(cur)
    else:
        caps = host.get("capabilities") or {}
        cur = caps.get(first) if first in caps else host.get(first)
    for part in path[1:]:
        if isinstance(cur, str):
            try:
                cur = json.loads(cur)
            except ValueError:
                return None
        if not isinstance(cur, dict) or cur.get(part) is None:
            return None
        cur = cur[part]
    return cur


def compute_capabilities_filter(hs, ctx):
    """ComputeCapabilitiesFilter: each "capabilities:<path>" extra spec (':' walks nested dicts
    and JSON text) must be present and match under extra_specs_ops; an unscoped key is checked
    only when the host has it (a capability, a host fact, or a computed value such as
    ``free_ram_mb``, ``free_disk_mb``, ``vcpus_used``); ``hw:maxphysaddr_bits`` requires
    ``cpu_info:maxphysaddr:bits`` >= it; other scopes are ignored."""
    for key, path, req, scoped, match in ctx["capability_specs"]:
        if not scoped and not _has(hs, key):
            continue
        have = capability(hs, path)
        if have is None:
            return f"lacks capability {key} (flavor wants {spec_str(req)!r})"
        if not match(have):
            return f"{key} is {spec_str(have)!r}, flavor wants {spec_str(req)!r}"
    return None
