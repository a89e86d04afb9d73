"""The one resolver of ratios, AZs and multipliers (ferry_sched/resolve.py), and its users: the
claim's re-check (ferry_claim.recheck), the AZ pinning of moves, inventory validation.

Cases from nova/tests/unit/scheduler/filters/test_utils.py (aggregate_values_from_key,
aggregate_metadata_get_by_host splitting values on commas, validate_num_values taking the
minimum or the default).
"""

import pytest
from ansible.module_utils import ferry_claim, ferry_validate
from ansible.module_utils.ferry_sched import resolve
from ansible.module_utils.ferry_sched.config import resolve_config

from tests.unit.scheduler.hosts import inst, make_host


def test_aggregate_metadata_splits_on_commas():
    """test_utils.py test_aggregate_metadata_get_by_host_with_key / ..._empty_result style."""
    host = make_host(aggregates=[{"k1": "1,2", "k2": "a"}, {"k1": " 3 , 1"}])
    assert resolve.aggregate_metadata(host) == {"k1": {"1", "2", "3"}, "k2": {"a"}}


def test_aggregate_values_from_key_are_not_split():
    host = make_host(aggregates=[("a", {"k1": "1,2"}), ("b", {"k1": "3"}), ("c", {"k2": "x"})])
    assert resolve.aggregate_values_from_key(host, "k1") == {"1,2": ["a"], "3": ["b"]}


@pytest.mark.parametrize(("values", "expected"), [
    ({}, None),                                      # validate_num_values: default
    ({"3": ["a"], "1": ["b"], "2": ["c"]}, (1, "aggregate b")),  # min
    ({"1": ["a", "b"]}, (1, "aggregate a,b")),
])
def test_smallest(values, expected):
    assert resolve.smallest(values, int) == expected


def test_smallest_raises_on_bad_value():
    with pytest.raises(ValueError):
        resolve.smallest({"XXX": ["a"]}, float)


def test_shared_resolution_does_not_leak_between_different_copies():
    """Hosts naming the same aggregate with different metadata are resolved each on its own."""
    cfg = resolve_config({})
    cache = {}
    a = resolve.host_settings(make_host("a", aggregates=[("x", {"ram_allocation_ratio": "2"})]), cfg, cache)
    b = resolve.host_settings(make_host("b", aggregates=[("x", {"ram_allocation_ratio": "3"})]), cfg, cache)
    c = resolve.host_settings(make_host("c", aggregates=[("x", {"ram_allocation_ratio": "2"})]), cfg, cache)
    assert [s["aggregate"]["ram_allocation_ratio"][0] for s in (a, b, c)] == [2.0, 3.0, 2.0]


@pytest.mark.parametrize(("aggs", "ferry_az", "azs"), [
    ([{"availability_zone": "az1,az2"}], "az1", ("az1", "az2")),
    ([{"availability_zone": "az2"}], "az1", ("az2",)),
    ([], "az1", ("az1",)),
    ([], None, ("nova",)),
])
def test_host_azs(aggs, ferry_az, azs):
    assert resolve.host_azs(make_host(aggregates=aggs, az=ferry_az))[0] == azs


@pytest.mark.parametrize(("instance_az", "aggs", "host_az", "expected"), [
    (None, [{"availability_zone": "east"}], "az1", "east"),   # the host's AZ, as the filter reads it
    ("az1", [{"availability_zone": "east,west"}], "az1", "az1"),  # the guest's recorded AZ wins
    (None, [], "az1", "az1"),
])
def test_request_az_for_move_uses_the_resolver(instance_az, aggs, host_az, expected):
    got = resolve.request_az_for_move({"name": "web01", "az": instance_az}, make_host(aggregates=aggs, az=host_az))
    assert got == expected


def test_request_az_for_move_refuses_a_host_in_two_azs_when_the_guest_recorded_none():
    with pytest.raises(ValueError, match="several AZs"):
        resolve.request_az_for_move({"name": "web01", "az": None},
                                    make_host(aggregates=[("ew", {"availability_zone": "east,west"})]))


@pytest.mark.parametrize(("hv", "errors"), [
    ({"ferry_az": "az1", "ferry_aggregates": [{"name": "r1", "metadata": {"availability_zone": "az1,az2"}}]},
     ["hv-x: its aggregates put it in 2 availability zones (az1, az2; aggregate r1): a host belongs to one AZ"]),
    ({"ferry_az": "az1", "ferry_aggregates": [{"name": "r1", "metadata": {"availability_zone": "az1"}},
                                              {"name": "r2", "metadata": {"availability_zone": "az2"}}]},
     ["hv-x: its aggregates put it in 2 availability zones (az1, az2; aggregate r1,r2): a host belongs to one AZ"]),
    ({"ferry_az": "az1", "ferry_aggregates": [{"name": "r1", "metadata": {"availability_zone": "az2"}}]},
     ["hv-x: ferry_az is az1 but its aggregates put it in az2 (aggregate r1)"]),
    ({"ferry_az": "az1", "ferry_aggregates": [{"name": "r1", "metadata": {"availability_zone": "az1"}}]}, []),
    ({"ferry_az": "az1", "ferry_allocation_ratios": {"ram": 0, "cpu": "x", "gpu": 1}},
     ["hv-x: ferry_allocation_ratios.ram: 0 is not a positive number",
      "hv-x: ferry_allocation_ratios.cpu: 'x' is not a positive number",
      "hv-x: ferry_allocation_ratios: unknown key 'gpu' (ram, cpu, disk)"]),
    ({"ferry_az": "az1", "ferry_aggregates": "r1"}, ["hv-x: ferry_aggregates: must be a list of {name, metadata}"]),
])
def test_validation_reports_scheduler_settings(hv, errors):
    assert ferry_validate.scheduler_errors("hv-x", hv) == errors


def _facts(**kw):
    return make_host("hv-a1", capacity={"vcpus": 4, "memory_mb": 1024, "disk_gb": 40},
                     instances=[inst("other", memory_mb=600)], **kw)


@pytest.mark.parametrize(("facts", "config", "fits"), [
    (_facts(), {"ram_allocation_ratio": 1.0, "reserved_host_memory_mb": 0}, False),
    # the host's own ratio wins over the configured one, in the claim as in RamFilter
    (_facts(allocation_ratios={"ram": 2.0}), {"ram_allocation_ratio": 1.0, "reserved_host_memory_mb": 0}, True),
    # the aggregate's ratio counts only where the configuration enables AggregateRamFilter
    (_facts(aggregates=[{"ram_allocation_ratio": "2.0"}]),
     {"ram_allocation_ratio": 1.0, "reserved_host_memory_mb": 0}, False),
    (_facts(aggregates=[{"ram_allocation_ratio": "2.0"}]),
     {"ram_allocation_ratio": 1.0, "reserved_host_memory_mb": 0,
      "enabled_filters": ["AvailabilityZoneFilter", "AggregateRamFilter", "CoreFilter", "DiskFilter"]}, True),
    (_facts(aggregates=[{"ram_allocation_ratio": "0.5"}], allocation_ratios={"ram": 2.0}),
     {"reserved_host_memory_mb": 0, "enabled_filters": ["AggregateRamFilter"]}, False),
])
def test_claim_recheck_resolves_ratios_as_the_filters_do(facts, config, fits):
    ok, report = ferry_claim.recheck(facts, "web01", {"name": "f", "vcpus": 1, "memory_mb": 900, "disk_gb": 1}, config)
    assert ok is fits, report


@pytest.mark.parametrize(("enabled", "expected"), [
    (None, ["ComputeFilter", "RamFilter", "CoreFilter", "DiskFilter"]),
    (["AggregateRamFilter", "DiskFilter"], ["ComputeFilter", "AggregateRamFilter", "CoreFilter", "DiskFilter"]),
    (["RamFilter", "AggregateRamFilter", "AggregateCoreFilter", "AggregateDiskFilter"],
     ["ComputeFilter", "RamFilter", "AggregateRamFilter", "AggregateCoreFilter", "AggregateDiskFilter"]),
])
def test_claim_resource_filters(enabled, expected):
    assert ferry_claim.resource_filters({"enabled_filters": enabled} if enabled else {}) == expected
