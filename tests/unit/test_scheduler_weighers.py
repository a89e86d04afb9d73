"""Weighers, normalisation and host selection, table-driven (nova/weights.py)."""

import random

import pytest
from ansible.module_utils.ferry_scheduler import (
    build_context,
    host_state,
    normalize,
    resolve_config,
    schedule,
    select_hosts,
    weigh_hosts,
    weigher_weights,
)


def make_host(name, memory_mb=4096, vcpus=4, disk_gb=40, instances=(), claims=()):
    return {
        "name": name, "az": "az1", "reachable": True, "enabled": True, "disabled_reason": None,
        "capacity": {"vcpus": vcpus, "memory_mb": memory_mb, "disk_gb": disk_gb},
        "arch": "x86_64", "domain_type": "kvm", "hypervisor_type": "qemu", "machine_types": [],
        "capabilities": {}, "aggregates": [], "instances": list(instances), "claims": list(claims),
    }


def inst(name, vcpus=1, memory_mb=512, disk_gb=2.0, group=None, task_state=None):
    return {"name": name, "uuid": "uuid-" + name, "state": "running", "vcpus": vcpus,
            "memory_mb": memory_mb, "disk_gb": disk_gb, "flavor": "f", "image": "i", "az": None,
            "server_group": group, "migration": None, "task_state": task_state}


def make_request(**kw):
    req = {"instance": None, "flavor": {"name": "f", "vcpus": 1, "memory_mb": 256, "disk_gb": 1},
           "image": {"properties": {}}, "availability_zone": None, "ignore_hosts": [],
           "requested_host": None, "retry": None, "scheduler_hints": {}, "server_group": None}
    req.update(kw)
    return req


def weigh(hosts, request=None, **config):
    cfg = resolve_config({"reserved_host_memory_mb": 0, **config})
    states = [host_state(h, cfg) for h in hosts]
    ctx = build_context(request or make_request(), states, cfg)
    return states, ctx, cfg


# --------------------------------------------------------------------------
# normalize
# --------------------------------------------------------------------------

@pytest.mark.parametrize(("weights", "minval", "maxval", "expected"), [
    ([], None, None, []),
    ([5], None, None, [0.0]),
    ([5, 5, 5], None, None, [0.0, 0.0, 0.0]),            # all equal -> 0
    ([1, 2, 3], None, None, [0.0, 0.5, 1.0]),
    ([-3, -1], None, None, [0.0, 1.0]),
    ([2, 4], 0, None, [0.5, 1.0]),                       # weigher minval replaces the list min
    ([4, 4], 0, None, [1.0, 1.0]),                       # equal but above minval
    ([0, 0], 0, None, [0.0, 0.0]),
    ([1, 3], None, 5, [0.0, 0.5]),
])
def test_normalize(weights, minval, maxval, expected):
    assert normalize(weights, minval=minval, maxval=maxval) == pytest.approx(expected)


# --------------------------------------------------------------------------
# raw weights per weigher
# --------------------------------------------------------------------------

GROUP = {"name": "g1", "policy": "soft-affinity"}
ANTI = {"name": "g1", "policy": "soft-anti-affinity"}


def weigher_hosts(group):
    return [
        make_host("hv-1", memory_mb=4096, vcpus=4, disk_gb=40,
                  instances=[inst("a", 1, 1024, 10.0, group=group), inst("b", 2, 512, 5.0, group=group,
                                                                           task_state="migrating")]),
        make_host("hv-2", memory_mb=2048, vcpus=8, disk_gb=20,
                  instances=[inst("c", 1, 256, 1.0, group=group)], claims=[
                      {"id": "x", "instance": "d", "vcpus": 1, "memory_mb": 256, "disk_gb": 1.0, "kind": "boot"}]),
        make_host("hv-3", memory_mb=1024, vcpus=2, disk_gb=10),
    ]


@pytest.mark.parametrize(("weigher", "group", "config", "raw"), [
    ("RAMWeigher", None, {}, [4096 - 1536, 2048 - 512, 1024]),
    ("RAMWeigher", None, {"reserved_host_memory_mb": 512}, [4096 - 2048, 2048 - 1024, 512]),
    ("CPUWeigher", None, {}, [4 * 16 - 3, 8 * 16 - 2, 2 * 16]),
    ("CPUWeigher", None, {"cpu_allocation_ratio": 1.0}, [1, 6, 2]),
    ("DiskWeigher", None, {}, [(40 - 15) * 1024, (20 - 2) * 1024, 10 * 1024]),
    ("IoOpsWeigher", None, {}, [1, 1, 0]),
    ("NumInstancesWeigher", None, {}, [2, 2, 0]),
    ("ServerGroupSoftAffinityWeigher", GROUP, {}, [2, 1, 0]),
    ("ServerGroupSoftAffinityWeigher", ANTI, {}, [0, 0, 0]),   # other policy: no opinion
    ("ServerGroupSoftAntiAffinityWeigher", ANTI, {}, [-2, -1, 0]),
    ("ServerGroupSoftAntiAffinityWeigher", None, {}, [0, 0, 0]),
])
def test_raw_weights(weigher, group, config, raw):
    states, ctx, _ = weigh(weigher_hosts(group), make_request(server_group=group), **config)
    assert weigher_weights(weigher, states, ctx)["raw"] == pytest.approx(raw)


def test_negative_free_ram_is_clamped_to_minval():
    hosts = [make_host("hv-1", memory_mb=1024, instances=[inst("a", memory_mb=2048)]),
             make_host("hv-2", memory_mb=1024)]
    states, ctx, _ = weigh(hosts)
    data = weigher_weights("RAMWeigher", states, ctx)
    assert data["raw"] == [0, 1024]
    assert data["normalized"] == [0.0, 1.0]


def test_moved_instance_is_not_its_own_group_member():
    hosts = [make_host("hv-1", instances=[inst("web01", group=GROUP)]),
             make_host("hv-2", instances=[inst("web02", group=GROUP)])]
    states, ctx, _ = weigh(hosts, make_request(instance="web01", server_group=GROUP))
    assert weigher_weights("ServerGroupSoftAffinityWeigher", states, ctx)["raw"] == [0, 1]


# --------------------------------------------------------------------------
# totals, multipliers, ordering
# --------------------------------------------------------------------------

def ram_hosts():
    return [make_host("small", memory_mb=1024), make_host("big", memory_mb=4096),
            make_host("mid", memory_mb=2048)]


@pytest.mark.parametrize(("config", "order"), [
    ({"weighers": ["RAMWeigher"]}, ["big", "mid", "small"]),                      # spread
    ({"weighers": ["RAMWeigher"], "ram_weight_multiplier": -1.0}, ["small", "mid", "big"]),  # stack
    ({"weighers": ["RAMWeigher"], "ram_weight_multiplier": 0.0}, ["small", "big", "mid"]),   # ties keep order
    ({"weighers": []}, ["small", "big", "mid"]),
])
def test_multiplier_direction(config, order):
    states, ctx, cfg = weigh(ram_hosts(), **config)
    ranked, _, _ = weigh_hosts(states, ctx, cfg["weighers"])
    assert [hs["name"] for hs in ranked] == order


def test_negative_multipliers_stack():
    hosts = [make_host("a", memory_mb=1024, vcpus=2), make_host("b", memory_mb=4096, vcpus=8)]
    cfg = {"weighers": ["RAMWeigher", "CPUWeigher"], "ram_weight_multiplier": -1.0,
           "cpu_weight_multiplier": -2.0}
    states, ctx, rcfg = weigh(hosts, **cfg)
    ranked, totals, _ = weigh_hosts(states, ctx, rcfg["weighers"])
    assert [hs["name"] for hs in ranked] == ["a", "b"]
    # b: RAM 1.0 * -1 + CPU 1.0 * -2; a: RAM 0.25 * -1 + CPU 0.25 * -2
    assert totals == pytest.approx([-0.75, -3.0])


def test_io_ops_default_multiplier_prefers_idle_hosts():
    hosts = [make_host("busy", instances=[inst("a", task_state="migrating")]),
             make_host("idle", instances=[inst("b")])]
    states, ctx, cfg = weigh(hosts, weighers=["IoOpsWeigher"])
    ranked, totals, _ = weigh_hosts(states, ctx, cfg["weighers"])
    assert [hs["name"] for hs in ranked] == ["idle", "busy"]
    assert totals == pytest.approx([0.0, -1.0])


@pytest.mark.parametrize(("group", "expected"), [
    (GROUP, "hv-1"),      # soft-affinity: most members
    (ANTI, "hv-3"),       # soft-anti-affinity: fewest members
])
def test_soft_group_weighers_choose(group, expected):
    cfg = {"weighers": ["ServerGroupSoftAffinityWeigher", "ServerGroupSoftAntiAffinityWeigher"],
           "reserved_host_memory_mb": 0}
    result = schedule(weigher_hosts(group), make_request(server_group=group), cfg)
    assert result["host"] == expected


def test_equal_weights_normalise_to_zero():
    hosts = [make_host("a", instances=[inst("x")]), make_host("b", instances=[inst("y")])]
    states, ctx, cfg = weigh(hosts, weighers=["NumInstancesWeigher"], num_instances_weight_multiplier=-1.0)
    _, totals, per = weigh_hosts(states, ctx, cfg["weighers"])
    assert per[0]["normalized"] == [0.0, 0.0]
    assert totals == [0.0, 0.0]


def test_single_host_is_not_weighed():
    states, ctx, cfg = weigh([make_host("only")])
    ranked, totals, per = weigh_hosts(states, ctx, cfg["weighers"])
    assert [hs["name"] for hs in ranked] == ["only"] and totals == [0.0] and per == []


def test_report_weights_carry_every_weigher():
    result = schedule(ram_hosts(), make_request(), {"reserved_host_memory_mb": 0})
    best = result["report"]["weights"][0]
    assert best["host"] == "big"
    assert set(best["weighers"]) == {"RAMWeigher", "CPUWeigher", "DiskWeigher", "IoOpsWeigher",
                                     "NumInstancesWeigher", "ServerGroupSoftAffinityWeigher",
                                     "ServerGroupSoftAntiAffinityWeigher"}
    assert best["weighers"]["RAMWeigher"] == {"raw": 4096, "normalized": 1.0, "multiplier": 1.0,
                                              "weighted": 1.0}
    assert best["total"] == pytest.approx(sum(w["weighted"] for w in best["weighers"].values()))


def test_report_weights_limit():
    result = schedule(ram_hosts(), make_request(), {"report_weights_limit": 2})
    assert [w["host"] for w in result["report"]["weights"]] == ["big", "mid"]


# --------------------------------------------------------------------------
# selection: host_subset_size, seed, alternates
# --------------------------------------------------------------------------

NAMES = ["h1", "h2", "h3", "h4", "h5"]


@pytest.mark.parametrize(("subset", "attempts", "chosen_in", "n_alternates"), [
    (1, 3, {"h1"}, 2),
    (1, 1, {"h1"}, 0),
    (1, 10, {"h1"}, 4),
    (3, 3, {"h1", "h2", "h3"}, 2),
    (0, 3, {"h1"}, 2),               # below 1 acts as 1
    (99, 3, set(NAMES), 2),
])
def test_select_hosts(subset, attempts, chosen_in, n_alternates):
    chosen, alternates = select_hosts(NAMES, subset, attempts, random.Random(7))
    assert chosen in chosen_in
    assert len(alternates) == n_alternates
    assert chosen not in alternates
    assert alternates == [n for n in NAMES if n != chosen][:n_alternates]


def test_select_hosts_empty():
    assert select_hosts([], 1, 3, random.Random(0)) == (None, [])


def test_seed_makes_subset_choice_repeatable():
    hosts = [make_host(f"hv-{i}") for i in range(6)]
    cfg = {"host_subset_size": 6, "seed": 1234}
    picks = {schedule(hosts, make_request(), cfg)["host"] for _ in range(5)}
    assert len(picks) == 1
    spread = {schedule(hosts, make_request(), {**cfg, "seed": s})["host"] for s in range(40)}
    assert len(spread) > 1
