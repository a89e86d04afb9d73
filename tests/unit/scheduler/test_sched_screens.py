"""Screens (filters._util.screened), per-settings answers (filters._util.per_settings) and the
fast paths of the scheduler's hot loops change nothing: every filter and pre-filter step run
through apply_filter gives the same survivors and the same report entry as when each host is
checked one by one; host usage counts a domain missing keys as .get() reads it; weighers resolve
each multiplier per host as before."""

import pytest
from ansible.module_utils.ferry_sched.config import resolve_config
from ansible.module_utils.ferry_sched.filters import FILTERS
from ansible.module_utils.ferry_sched.host_state import _tally, host_state
from ansible.module_utils.ferry_sched.request import build_context
from ansible.module_utils.ferry_sched.selection import apply_filter, pre_filter_steps
from ansible.module_utils.ferry_sched.weights import WEIGHERS, weigher_weights

from tests.unit.scheduler.hosts import inst, make_host, make_request

GROUP = {"name": "g1", "policy": "anti-affinity"}


def _hosts():
    """Hosts that each screened filter passes and fails in some way."""
    return [
        make_host("hv-0", aggregates=[("rack0", {"availability_zone": "az1", "max_io_ops_per_host": "2"})],
                  instances=[inst("web1", server_group=GROUP), inst("db1", task_state="migrating")]),
        make_host("hv-1", az="az2", enabled=False, disabled_reason="maintenance",
                  instances=[inst("web2", server_group=GROUP), inst("web3", server_group=GROUP)]),
        make_host("hv-2", reachable=False, instances=[inst(f"b{k}", task_state="resize") for k in range(3)]),
        make_host("hv-3", aggregates=[("rack1", {"availability_zone": "az2,az1", "hw_vm_mode": "xen"})],
                  instances=[inst("web9"), inst("x", server_group={"name": "other", "policy": "affinity"})]),
        make_host("hv-4", az=None, enabled="yes", reachable=0, host_ip="10.1.2.3"),
        make_host("hv-5", aggregates=[("rack0", {"availability_zone": "az1", "max_io_ops_per_host": "2"})],
                  instances=[inst(f"n{k}") for k in range(4)], host_ip="192.168.0.9"),
        make_host("hv-6", enabled=False, reachable=None, host_ip="10.1.9.9"),
    ]


REQUESTS = [
    make_request(),
    make_request(availability_zone="az1", ignore_hosts=["hv-3", "nope"], retry={"num_attempts": 1, "hosts": ["hv-5"]},
                 scheduler_hints={"different_host": ["web2", "uuid-n1"], "same_host": ["db1"],
                                  "build_near_host_ip": "10.1.0.1", "cidr": "/16"},
                 server_group=GROUP, instance="web1"),
    make_request(availability_zone="az2", server_group={"name": "g1", "policy": "affinity"},
                 extra_specs={"max_io_ops_per_host": "2"}, props={"hw_vm_mode": "hvm"}),
    make_request(server_group=dict(GROUP, rules={"max_server_per_host": 2}), instance="new"),
    make_request(server_group=dict(GROUP, rules={"max_server_per_host": -1}), instance="new"),
]

CONFIGS = [{}, {"max_io_ops_per_host": 1, "max_instances_per_host": 3, "default_availability_zone": None}]


def _checked_one_by_one(check):
    return lambda hs, ctx: check(hs, ctx)  # no screen


@pytest.mark.parametrize("config", CONFIGS)
@pytest.mark.parametrize("request_no", range(len(REQUESTS)))
def test_screened_filters_match_host_by_host(request_no, config):
    cfg = resolve_config(config)
    request = REQUESTS[request_no]
    cache = {}  # one per request, as schedule() has: hosts in the same aggregates share settings
    states = [host_state(h, cfg, cache) for h in _hosts()]
    assert states[0]["settings"] is states[5]["settings"]
    ctx = build_context(request, states, cfg)
    steps = pre_filter_steps(request, cfg) + list(FILTERS.items())
    screened = [name for name, check in steps if getattr(check, "screen", None)]
    assert "ignore_hosts" in screened or not request["ignore_hosts"]
    for name, check in steps:
        fast = apply_filter(name, check, states, ctx)
        slow = apply_filter(name, _checked_one_by_one(check), states, ctx)
        assert fast == slow, name


def test_settings_filters_are_asked_once_per_settings():
    for name in ("AvailabilityZoneFilter", "AggregateInstanceExtraSpecsFilter", "AggregateImagePropertiesIsolation"):
        assert FILTERS[name].per_settings, name


def test_every_cheap_filter_has_a_screen():
    for name in ("AvailabilityZoneFilter", "ComputeFilter", "RetryFilter", "IoOpsFilter", "NumInstancesFilter",
                 "SameHostFilter", "DifferentHostFilter", "ServerGroupAffinityFilter",
                 "ServerGroupAntiAffinityFilter", "SimpleCIDRAffinityFilter", "AggregateInstanceExtraSpecsFilter",
                 "AggregateImagePropertiesIsolation"):
        assert callable(FILTERS[name].screen), name


def test_domain_missing_keys_counts_as_get_reads_it():
    full = inst("a", vcpus=2, memory_mb=512, disk_gb=3.0, task_state="migrating")
    sparse = {"name": "b", "vcpus": None, "memory_mb": 256}
    got = _tally(make_host(instances=[full, sparse]))
    assert (got["vcpus"], got["memory_mb"], got["disk_gb"], got["io_ops"], got["num_instances"]) == (2, 768, 3.0, 1, 2)
    assert got["names"] == {"a", "b", "uuid-a"}


def test_shared_settings_and_multipliers_per_host():
    aggs = [("rack0", {"ram_weight_multiplier": "-2.0", "availability_zone": "az1"})]
    hosts = [make_host("hv-0", aggregates=aggs), make_host("hv-1", aggregates=aggs),
             make_host("hv-2", aggregates=aggs, allocation_ratios={"ram": 2.0}),
             make_host("hv-3", aggregates=[("rack0", {"ram_weight_multiplier": "3"})]), make_host("hv-4")]
    cfg = resolve_config({})
    cache = {}
    states = [host_state(h, cfg, cache) for h in hosts]
    assert states[0]["settings"] is states[1]["settings"]
    assert states[2]["settings"]["ratio"]["ram_allocation_ratio"] == (2.0, "host hv-2")
    assert states[3]["settings"]["azs"] == ("az1",) and states[3]["settings"]["az_source"] == "ferry_az"
    ctx = build_context(make_request(), states, cfg)
    data = weigher_weights("RAMWeigher", states, ctx)
    assert data["multiplier"] == [-2.0, -2.0, -2.0, 3.0, 1.0]
    assert data["multiplier_source"] == ["aggregate rack0"] * 3 + ["aggregate rack0", "config"]
    for name in WEIGHERS:
        assert len(weigher_weights(name, states, ctx)["weighted"]) == len(states)


@pytest.mark.parametrize("policy", [None, "anti-affinity", "soft-affinity", "soft-anti-affinity"])
def test_weighers_read_in_c_match_their_functions(policy):
    """A weigher read as a host value (``field``) or skipped for another policy (``policy``)
    weighs as its function does."""
    group = {"name": "g1", "policy": policy} if policy else None
    cfg = resolve_config({})
    cache = {}
    states = [host_state(h, cfg, cache) for h in _hosts()]
    ctx = build_context(make_request(server_group=group, instance="new"), states, cfg)
    for name, (fn, minval, _) in WEIGHERS.items():
        expected = [fn(hs, ctx) if minval is None else max(fn(hs, ctx), minval) for hs in states]
        assert weigher_weights(name, states, ctx)["raw"] == expected, name
    if policy and policy.startswith("soft"):
        assert any(weigher_weights(n, states, ctx)["raw"] != [0] * len(states)
                   for n in ("ServerGroupSoftAffinityWeigher", "ServerGroupSoftAntiAffinityWeigher"))
