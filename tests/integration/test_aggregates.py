"""Issue 11 on the real lab: aggregates' allocation ratios and weight multipliers.

* A host in an aggregate whose ``ram_allocation_ratio`` metadata is over 1 takes a guest that the
  lab's global ratio (1.0) refuses, through AggregateRamFilter and the claim's re-check under the
  host's lock (the same resolver: a claim reading the global ratio would refuse it); the guest
  runs there with that RAM, as the host's own virsh says.
* An aggregate ``ram_weight_multiplier`` of -1 makes ferry pack (the fitting host with the least
  free RAM) where the configured 1.0 spreads (the most free RAM); the plan names the aggregate,
  and a real migration lands where the plan said (virsh on the target).

Aggregates and the scheduler settings are passed as extra vars (they win over the inventory's
host and group vars), so the lab inventory itself is not changed.
"""

import os

import yaml
import pytest

from tests.integration import lab

GROUP_VARS = os.path.join(lab.ROOT, "inventories", "lab", "group_vars", "all")
SCHEDULE = "Schedule (filters, then weighers)"


def _group_var(fname, key):
    with open(os.path.join(GROUP_VARS, fname)) as f:
        return yaml.safe_load(f)[key]


def _scheduler(**over):
    cfg = dict(_group_var("scheduler.yml", "ferry_scheduler"))
    cfg.update(over)
    return cfg


def _free_mb(host):
    """Free RAM at ratio 1.0 as the host's own virsh reports its domains (every defined domain
    counts, running or not, as the scheduler counts them), against its declared capacity."""
    total = lab.inventory()[2][host]["ferry_capacity"]["memory_mb"]
    used = 0
    for name in lab.virsh(host, "list", "--all", "--name").split():
        used += lab.dominfo(host, name)["memory_mb"]
    return total - used


def test_aggregate_ram_ratio_admits_what_the_global_ratio_refuses(guest_name):
    host = "hv-b2"
    lab.ok(lab.run_playbook("boot.yml", instance=guest_name("aggfill"), flavor="m1.small", image="tiny", host=host))
    free = _free_mb(host)
    total = lab.inventory()[2][host]["ferry_capacity"]["memory_mb"]
    want = min(total, free + 64)
    assert free < want <= total, (free, want, total)  # more than is free, not more than the host has
    flavors = dict(_group_var("flavors.yml", "ferry_flavors"))
    flavors["t.overcommit"] = {"vcpus": 1, "memory_mb": want, "disk_gb": 1, "extra_specs": {}}
    filters = ["AggregateRamFilter" if f == "RamFilter" else f
               for f in ("RetryFilter", "AvailabilityZoneFilter", "ComputeFilter", "RamFilter", "CoreFilter",
                         "DiskFilter", "ComputeCapabilitiesFilter", "ImagePropertiesFilter")]
    common = {"ferry_flavors": flavors, "ferry_scheduler": _scheduler(enabled_filters=filters)}
    big = guest_name("aggbig")

    # the global ratio (1.0) refuses it: no aggregate sets one
    r = lab.run_playbook("boot.yml", instance=big, flavor="t.overcommit", image="tiny", host=host, **common)
    assert r.rc != 0
    msg = "\n".join(r.failures())
    assert f"AggregateRamFilter removed {host}: needs {want} MiB" in msg and "at ratio 1.0" in msg, msg
    assert lab.domain_state(host, big) == "absent"

    # in an aggregate with ram_allocation_ratio 2.0 the same host takes it, claim re-check included
    aggs = [{"name": "overcommit", "metadata": {"ram_allocation_ratio": "2.0"}}]
    r = lab.ok(lab.run_playbook("boot.yml", instance=big, flavor="t.overcommit", image="tiny", host=host,
                                ferry_aggregates=aggs, **common))
    text = r.task_result(SCHEDULE)["report_text"]
    assert f"Settings of {host} not from ferry_scheduler: ram_allocation_ratio 2 (aggregate overcommit)" in text, text
    info = lab.dominfo(host, big)
    assert (info["state"], info["memory_mb"]) == ("running", want)
    assert _free_mb(host) < 0  # over the host's RAM at ratio 1.0, as the aggregate allows


@pytest.mark.matrix
def test_aggregate_ram_weight_multiplier_packs_instead_of_spreading(guest_name):
    name = guest_name("aggpack")
    lab.ok(lab.run_playbook("boot.yml", instance=name, flavor="m1.tiny", image="tiny", host="hv-a1"))
    # make the candidates' free RAM differ, then read it from the hosts themselves
    lab.ok(lab.run_playbook("boot.yml", instance=guest_name("aggfill"), flavor="m1.medium", image="tiny",
                            host="hv-b1"))
    cfg = _scheduler(weighers=["RAMWeigher"], ram_weight_multiplier=1.0)
    free = {h: _free_mb(h) for h in ("hv-a2", "hv-b1", "hv-b2")}
    fits = {h: f for h, f in free.items() if f >= 64}
    assert len(fits) >= 2 and len(set(fits.values())) >= 2, free  # else spread and pack could agree
    most, least = max(fits, key=fits.get), min(fits, key=fits.get)

    spread = lab.ok(lab.run_playbook("plan.yml", instance=name, ferry_allow_cross_az=True, ferry_scheduler=cfg))
    assert spread.task_result(SCHEDULE)["host"] == most, (free, spread.task_result(SCHEDULE)["report_text"])

    packers = [{"name": "packers", "metadata": {"ram_weight_multiplier": "-1"}}]
    pack = lab.ok(lab.run_playbook("plan.yml", instance=name, ferry_allow_cross_az=True, ferry_scheduler=cfg,
                                   ferry_aggregates=packers))
    res = pack.task_result(SCHEDULE)
    assert res["host"] == least, (free, res["report_text"])
    weights = {w["host"]: w["weighers"]["RAMWeigher"] for w in res["report"]["weights"]}
    assert weights[least]["multiplier"] == -1.0 and weights[least]["multiplier_source"] == "aggregate packers"
    assert "multiplier from aggregate packers" in res["report_text"]
    assert f"Settings of {least} not from ferry_scheduler: ram_weight_multiplier -1 (aggregate packers)" \
        in res["report_text"], res["report_text"]

    # and a real migration goes where the plan said
    lab.ok(lab.run_playbook("migrate.yml", instance=name, ferry_allow_cross_az=True, ferry_scheduler=cfg,
                            ferry_aggregates=packers))
    assert lab.domain_state(least, name) == "running"
