"""Claims: resources reserved on a target host for a boot or move in flight.

A claim is a JSON file in the host's claims directory, named after the guest.  It is made under
an exclusive lock on that directory after re-checking the host's capacity with the scheduler's
resource filters against fresh facts (domains defined there + other claims), so two moves racing
for the last room on a host cannot both win.

The re-check reads the host's allocation ratios exactly as the scheduler's filters do (one
resolver, ``ferry_sched.resolve``): its aggregates' ratios when the configuration enables the
Aggregate* variant of a resource filter, else its own ``ferry_allocation_ratios``, else the
configured ratio -- so a guest the filters admitted is not refused here for a different ratio.
"""

import json
import os
import time

from ansible.module_utils import ferry_scheduler



def resource_filters(config):
    """ComputeFilter and, for RAM, vCPU and disk, the variants the configuration enables (plain,
    Aggregate*, or both), the plain filter when it enables neither."""
    enabled = set((config or {}).get("enabled_filters") or ferry_scheduler.DEFAULT_FILTERS)
    out = ["ComputeFilter"]
    for plain, per_aggregate in ferry_scheduler.RESOURCE_FILTERS:
        out += [f for f in (plain, per_aggregate) if f in enabled] or [plain]
    return out


def claim_path(claims_dir, instance):
    return os.path.join(claims_dir, instance + ".json")


def _resources(flavor):
    return {"vcpus": int(flavor["vcpus"]), "memory_mb": int(flavor["memory_mb"]),
            "disk_gb": float(flavor["disk_gb"])}


def make_claim(instance, flavor, migration_id, kind="move", now=time.time, ttl=None, old=None):
    """A claim; with `ttl` it expires with its operation's lease unless renewed; `old` (the old
    flavor) marks a same-host resize, whose host holds both flavors until confirm."""
    t = now()
    claim = dict(_resources(flavor), id=migration_id, instance=instance, kind=kind, created=t)
    if ttl:
        claim["expires"] = round(t + ttl, 3)
    if old:
        claim["old"] = _resources(old)
    return claim


def renewed(claim, migration_id, ttl, now=time.time):
    """The claim with a new expiry, or None when it is not this operation's."""
    if claim.get("id") != migration_id:
        return None
    if not ttl:  # the operation ended with the claim still needed (a same-host resize until confirm)
        return {k: v for k, v in claim.items() if k != "expires"}
    return dict(claim, expires=round(now() + ttl, 3))


def read_claim(claims_dir, instance):
    try:
        with open(claim_path(claims_dir, instance)) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def recheck(host_facts, instance, flavor, config):
    """(fits, report_text) for one more guest of `flavor` on this host, with its current use.

    `host_facts` carries the host's `aggregates` and `allocation_ratios` (from the inventory) so
    that the ratios resolve as in the scheduler.

    A claim already held by this same instance is left out, so re-running a claim is idempotent.
    A domain of the same guest already on the host (same-host resize) still counts, as Nova's
    resource tracker counts both flavors until confirm.
    """
    facts = dict(host_facts)
    facts["claims"] = [c for c in facts.get("claims", []) if c.get("instance") != instance]
    cfg = dict(config or {})
    cfg["enabled_filters"] = resource_filters(config)
    request = {"instance": instance, "flavor": flavor, "image": {"properties": {}},
               "availability_zone": None, "ignore_hosts": [], "requested_host": None,
               "retry": {"num_attempts": 1, "hosts": []}, "scheduler_hints": {}, "server_group": None}
    res = ferry_scheduler.schedule([facts], request, cfg)
    return res["host"] is not None, res["report_text"]


def write_claim(claims_dir, claim):
    path = claim_path(claims_dir, claim["instance"])
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(claim, f, sort_keys=True)
    os.rename(tmp, path)
    return path
