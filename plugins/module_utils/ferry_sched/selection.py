"""Selection: the steps Nova takes before the filters, the filter run, and the choice.

* ``nova/filters.py`` (BaseFilterHandler.get_filtered_objects): filters run in the configured
  order, each over the hosts the previous one left; the run stops at the first filter that leaves
  no host.
* ``nova/scheduler/host_manager.py`` (get_filtered_hosts): ``ignore_hosts`` is stripped first,
  then a requested destination (API 2.56 ``host`` on migrate) reduces the list to that host,
  which still goes through every filter.
* ``nova/scheduler/filter_scheduler.py`` (_get_sorted_hosts): the host is a random choice among
  the best ``host_subset_size``; alternates are the next hosts in weighed order, up to
  ``max_attempts - 1``.
"""

from __future__ import annotations

from operator import itemgetter

_NAME = itemgetter("name")


def apply_filter(name: str, check, states: list, ctx: dict) -> tuple:
    """Run one check over hosts: (survivors, report entry)."""
    kept, removed = [], []
    for hs in states:
        reason = check(hs, ctx)
        if reason is None:
            kept.append(hs)
        else:
            removed.append({"host": hs["name"], "reason": reason})
    return kept, {"name": name, "removed": removed, "remaining": list(map(_NAME, kept))}


def _ignore_check(hs, ctx):
    return "in ignore_hosts" if hs["name"] in ctx["ignore_hosts"] else None


def _requested_check(hs, ctx):
    want = ctx["requested_host"]
    return None if hs["name"] == want else f"not the requested host {want}"


def _attempts_check(hs, ctx):
    return f"attempt {ctx['retry_attempt']} exceeds max_attempts {ctx['cfg']['max_attempts']}"


def _guest_fit_check(hs, ctx):
    """What the guest's own definition needs from a host (networks, emulator, machine, CPU):
    decided per host before scheduling (ferry_guestmove / ferry_guest_fit), reported here."""
    return (ctx["guest_fit"].get(hs["name"]) or None) if hs["name"] in ctx["guest_fit"] else \
        "not checked for the guest's definition"


def pre_filter_steps(request: dict, cfg: dict) -> list:
    """Steps Nova takes before the filters: retry limit (conductor's
    populate_retry), ignore_hosts, then requested destination
    (host_manager.get_filtered_hosts)."""
    steps = []
    if ((request.get("retry") or {}).get("num_attempts") or 0) > cfg["max_attempts"]:
        steps.append(("max_attempts", _attempts_check))
    if request.get("ignore_hosts"):
        steps.append(("ignore_hosts", _ignore_check))
    if request.get("requested_host"):
        steps.append(("requested_host", _requested_check))
    if request.get("guest_fit") is not None:
        steps.append(("GuestDefinitionFilter", _guest_fit_check))
    return steps


def run_filters(states: list, ctx: dict, steps: list) -> tuple:
    """Apply (name, check) steps in order; stop when no host is left."""
    entries = []
    for name, check in steps:
        if not states:
            break
        states, entry = apply_filter(name, check, states, ctx)
        entries.append(entry)
    return states, entries


def select_hosts(names: list, host_subset_size: int, max_attempts: int, rng) -> tuple:
    """Nova's _get_sorted_hosts + alternates: (chosen, alternates)."""
    if not names:
        return None, []
    chosen = rng.choice(names[:max(1, host_subset_size)])
    rest = [n for n in names if n != chosen]
    return chosen, rest[:max(0, max_attempts - 1)]
