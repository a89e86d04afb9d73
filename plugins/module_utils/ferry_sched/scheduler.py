"""One scheduling decision: ``schedule()``, ferry's public entry (``ferry_scheduler.schedule``)."""

from __future__ import annotations

import gc
import random

from ansible.module_utils.ferry_sched.config import resolve_config
from ansible.module_utils.ferry_sched.filters import FILTERS
from ansible.module_utils.ferry_sched.host_state import host_state
from ansible.module_utils.ferry_sched.report import format_report, host_settings_report, weights_report
from ansible.module_utils.ferry_sched.request import build_context
from ansible.module_utils.ferry_sched.selection import pre_filter_steps, run_filters, select_hosts
from ansible.module_utils.ferry_sched.weights import weigh_hosts


def schedule(hosts: list, request: dict, config: dict | None = None) -> dict:
    """One scheduling decision.

    Returns {"host": name or None, "alternates": [names],
    "report": {"filters": [...], "weights": [...], ...}, "report_text": str}.
    Raises ValueError for an unknown filter or weigher in the config.
    """
    cfg = resolve_config(config)
    # no reference cycles are made here: the cyclic collector would only walk the caller's host
    # facts (tens of thousands of dicts for 10,000 hosts) again and again
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _schedule(hosts, request, cfg)
    finally:
        if collecting:
            gc.enable()


def _schedule(hosts, request, cfg):
    cache = {}  # aggregate settings shared by hosts in the same aggregates, for this request
    states = [host_state(h, cfg, cache) for h in hosts or ()]
    ctx = build_context(request, states, cfg)
    steps = pre_filter_steps(request, cfg) + [(n, FILTERS[n]) for n in cfg["enabled_filters"]]
    survivors, filter_entries = run_filters(states, ctx, steps)
    ranked, totals, per = weigh_hosts(survivors, ctx, cfg["weighers"])
    rng = random.Random(cfg["seed"])
    host, alternates = select_hosts([hs["name"] for hs in ranked], cfg["host_subset_size"],
                                    cfg["max_attempts"], rng)
    report = {
        "instance": request.get("instance"),
        "flavor": _flavor_summary(request.get("flavor") or {}),
        "availability_zone": request.get("availability_zone"),
        "hosts_considered": len(states),
        "filters": filter_entries,
        "weights": weights_report(ranked, totals, per, cfg["report_weights_limit"]),
        "ignored_config_keys": cfg["ignored_keys"],
    }
    chosen = [hs for hs in ranked if hs["name"] == host or hs["name"] in alternates]
    report["host_settings"] = host_settings_report(chosen)
    result = {"host": host, "alternates": alternates, "report": report}
    result["report_text"] = format_report(result)
    return result


def _flavor_summary(flavor):
    keys = ("name", "vcpus", "memory_mb", "disk_gb")
    return {k: flavor.get(k) for k in keys}
