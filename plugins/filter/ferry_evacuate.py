"""Filters for draining a host and for the HTML plan: thin shims over module_utils/ferry_evacuate.py
and module_utils/ferry_planhtml.py (pure, unit-tested)."""

import os

import ansible.module_utils

# The logic lives in module_utils (shared with modules); make it importable here too.
_MU = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "module_utils")
if _MU not in ansible.module_utils.__path__:
    ansible.module_utils.__path__.append(_MU)

from ansible.module_utils import ferry_evacuate, ferry_hoststate, ferry_planhtml  # noqa: E402


def ferry_evacuate_guests(hosts, host, flavors):
    """{movable: [names], left: [{instance, host, state, reason}]} for the guests on `host`."""
    movable, left = ferry_evacuate.classify(hosts, host, flavors)
    return {"movable": movable, "left": left}


def ferry_evacuate_requests(hosts, source, movable, flavors, images, guest_results, fit_results, hostvars):
    """{items: [{instance, request, flavor, state}], left: [...]}: one migrate request per guest."""
    networks = {h["name"]: {"declared": hostvars[h["name"]].get("ferry_host_networks"),
                            "map": hostvars[h["name"]].get("ferry_network_map") or {}} for h in hosts}
    items, left = ferry_evacuate.requests(hosts, source, movable, flavors, images, guest_results, fit_results, networks)
    return {"items": items, "left": left}


def ferry_drain_plan(hosts, items, config=None):
    """The drain planned guest after guest, each seeing the placements before it: [steps]."""
    steps, _ = ferry_evacuate.plan(hosts, items, config)
    return steps


def ferry_plan_decision(schedule_result, instance, source=None, flavor=None, old_flavor=None, disk_gb=None):
    """One plan.yml decision in the shape ferry_plan_html takes."""
    return {"instance": instance, "source": source, "host": schedule_result.get("host"),
            "alternates": schedule_result.get("alternates") or [], "report": schedule_result.get("report") or {},
            "flavor": flavor, "old_flavor": old_flavor, "disk_gb": disk_gb}


def ferry_plan_html(hosts, decisions, config=None, title="ferry plan", left=None):
    """The plan as one self-contained HTML page."""
    return ferry_planhtml.render(hosts, decisions, config, title, left or [])


class FilterModule(object):
    def filters(self):
        return {
            "ferry_evacuate_guests": ferry_evacuate_guests,
            "ferry_evacuate_requests": ferry_evacuate_requests,
            "ferry_drain_plan": ferry_drain_plan,
            "ferry_drain_plan_text": ferry_evacuate.plan_text,
            "ferry_host_marked_disabled": ferry_evacuate.mark_disabled,
            "ferry_evacuate_summary": ferry_evacuate.summary,
            "ferry_plan_decision": ferry_plan_decision,
            "ferry_plan_html": ferry_plan_html,
            "ferry_host_state_text": ferry_hoststate.describe,
        }
