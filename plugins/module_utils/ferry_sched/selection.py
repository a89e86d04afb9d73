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

from itertools import compress, repeat
from operator import itemgetter

from ansible.module_utils.ferry_sched.filters._util import name_in, screened

_NAME = itemgetter("name")
_SETTINGS = itemgetter("settings")


def apply_filter(name: str, check, states: list, ctx: dict) -> tuple:
    """Run one check over hosts: (survivors, report entry).

    A check with a screen (filters._util.screened) is called only for the hosts its screen
    flags: the others pass. A check marked per_settings is called once per distinct settings."""
    kept, _, entry = _apply(name, check, states, list(map(_NAME, states)), ctx)
    return kept, entry


def _apply(name, check, states, names, ctx):
    """apply_filter over ``states`` and their ``names`` (carried along by run_filters, so that each
    filter's list of remaining hosts is sliced, not read again from every host): (survivors,
    their names, report entry)."""
    # the loops over thousands of hosts run in C (map/compress/slices); Python visits only the
    # hosts a screen flags and those removed
    screen = getattr(check, "screen", None)
    flags = screen(states, ctx) if screen is not None else True
    if flags is None:
        removed = []
    else:
        flagged = range(len(states)) if flags is True else list(compress(range(len(states)), flags))
        checked = states if flags is True else list(map(states.__getitem__, flagged))
        reasons = (_per_settings(check, checked, ctx) if getattr(check, "per_settings", False)
                   else map(check, checked, repeat(ctx)))
        removed = [(i, reason) for i, reason in zip(flagged, reasons) if reason is not None]
    kept, kept_names, start = [], [], 0
    for i, _ in removed:
        kept += states[start:i]
        kept_names += names[start:i]
        start = i + 1
    kept += states[start:]
    kept_names += names[start:]
    entry = {"name": name, "removed": [{"host": names[i], "reason": reason} for i, reason in removed],
             "remaining": list(kept_names)}
    return kept, kept_names, entry


def _per_settings(check, states, ctx):
    """The reasons of a check whose answer depends on a host's settings alone
    (filters._util.per_settings): asked once per distinct settings dict (hosts in the same
    aggregates share one; ``states`` keeps each alive, so its id stands for it)."""
    keys = list(map(id, map(_SETTINGS, states)))
    first = dict(zip(reversed(keys), reversed(states)))  # each key's first host
    answers = {key: check(hs, ctx) for key, hs in first.items()}
    return map(answers.__getitem__, keys)


@screened(name_in("ignore_hosts"))
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
    names = list(map(_NAME, states))
    for name, check in steps:
        if not states:
            break
        states, names, entry = _apply(name, check, states, names, ctx)
        entries.append(entry)
    return states, entries


def select_hosts(names: list, host_subset_size: int, max_attempts: int, rng) -> tuple:
    """Nova's _get_sorted_hosts + alternates: (chosen, alternates)."""
    if not names:
        return None, []
    chosen = rng.choice(names[:max(1, host_subset_size)])
    rest = [n for n in names if n != chosen]
    return chosen, rest[:max(0, max_attempts - 1)]
