"""RamFilter/CoreFilter/DiskFilter and their Aggregate* variants (ferry_sched/filters/resources.py).

Cases from Nova's own unit tests, before the filters were removed in favour of Placement
(nova commit 4939d0d1e2^): nova/tests/unit/scheduler/filters/test_ram_filters.py
(TestAggregateRamFilter), test_core_filters.py (TestAggregateCoreFilter), test_disk_filters.py
(TestAggregateDiskFilter). Nova mocks aggregate_values_from_key to return a set of strings; here
the same values are aggregates' metadata. Nova's host_state.<x>_allocation_ratio (per compute
node) is the host's own ``allocation_ratios`` (ferry_allocation_ratios) here.
"""

import pytest
from ansible.module_utils.ferry_sched.filters import resources

from tests.unit.scheduler.hosts import inst, make_host, make_request, run


def _aggs(key, values):
    return [{key: v} for v in values]


# total MiB, used MiB, host's own ratios, global ratio, aggregate values, request MiB, passes
RAM_CASES = [
    pytest.param(1024, 0, {}, 1.0, ["XXX"], 1024, True, id="nova-value-error-falls-back"),
    pytest.param(1024, 1, {}, 1.0, [], 1024, False, id="nova-default-value-no-aggregate"),
    pytest.param(1024, 1, {}, 1.0, ["2.0"], 1024, True, id="nova-default-value-aggregate-2.0"),
    pytest.param(1024, 1, {}, 1.0, ["1.5", "2.0"], 1024, True, id="nova-conflict-values-min-1.5"),
    pytest.param(1024, 600, {}, 1.0, ["1.3", "2.0"], 900, False, id="smallest-wins-1.3-refuses"),
    pytest.param(1024, 600, {}, 1.0, ["2.0"], 900, True, id="2.0-alone-admits"),
    pytest.param(1024, 1, {"ram": 2.0}, 1.0, [], 1024, True, id="host-ratio-when-no-aggregate"),
    pytest.param(1024, 1, {"ram": 2.0}, 1.0, ["1.0"], 1024, False, id="aggregate-beats-host-ratio"),
    pytest.param(1024, 1, {"ram": 2.0}, 1.0, ["XXX"], 1024, True, id="bad-value-falls-back-to-host"),
    pytest.param(1024, 1, {}, 2.0, [], 1024, True, id="global-ratio-last"),
    pytest.param(1024, 0, {}, 1.0, ["4.0"], 1025, False, id="never-more-than-the-host-has"),
]


@pytest.mark.parametrize(("total", "used", "own", "ratio", "values", "want", "passes"), RAM_CASES)
def test_aggregate_ram_filter(total, used, own, ratio, values, want, passes):
    host = make_host(capacity={"vcpus": 4, "memory_mb": total, "disk_gb": 40},
                     instances=[inst("a", memory_mb=used)] if used else [],
                     aggregates=_aggs("ram_allocation_ratio", values), allocation_ratios=own)
    got = run(resources.aggregate_ram_filter, host, make_request(memory_mb=want), {"ram_allocation_ratio": ratio})
    assert (got is None) is passes, got


@pytest.mark.parametrize(("own", "values", "passes"), [
    ({}, ["2.0"], False),          # the plain filter does not read aggregates
    ({"ram": 2.0}, [], True),      # but it does read the host's own ratio
    ({"ram_allocation_ratio": 2.0}, ["1.0"], True),  # Nova's full key name too
])
def test_ram_filter_reads_host_ratio_not_aggregates(own, values, passes):
    host = make_host(capacity={"vcpus": 4, "memory_mb": 1024, "disk_gb": 40}, instances=[inst("a", memory_mb=1)],
                     aggregates=_aggs("ram_allocation_ratio", values), allocation_ratios=own)
    got = run(resources.ram_filter, host, make_request(memory_mb=1024), {"ram_allocation_ratio": 1.0})
    assert (got is None) is passes, got


def test_reason_names_the_aggregate_or_host():
    host = make_host(name="hv-x", capacity={"vcpus": 4, "memory_mb": 1024, "disk_gb": 40},
                     instances=[inst("a", memory_mb=600)],
                     aggregates=[("dense", {"ram_allocation_ratio": "1.3"}), ("big", {"ram_allocation_ratio": "2"})])
    assert run(resources.aggregate_ram_filter, host, make_request(memory_mb=900)) == \
        "needs 900 MiB, 731.2 MiB free at ratio 1.3 from aggregate dense"
    host = make_host(name="hv-x", capacity={"vcpus": 4, "memory_mb": 1024, "disk_gb": 40},
                     instances=[inst("a", memory_mb=600)], allocation_ratios={"ram": 1.2})
    assert run(resources.ram_filter, host, make_request(memory_mb=900)) == \
        "needs 900 MiB, 628.8 MiB free at ratio 1.2 from host hv-x"


# vcpus_total, used, host ratio (Nova's host_state.cpu_allocation_ratio), aggregate values, passes
@pytest.mark.parametrize(("total", "used", "host_ratio", "values", "passes"), [
    pytest.param(4, 7, 2.0, ["XXX"], True, id="nova-value-error"),
    pytest.param(4, 8, 2.0, [], False, id="nova-default-value"),
    pytest.param(4, 8, 2.0, ["3"], True, id="nova-default-value-aggregate-3"),
    pytest.param(4, 8, 1.0, ["2", "3"], False, id="nova-conflict-values-min-2"),
])
def test_aggregate_core_filter(total, used, host_ratio, values, passes):
    host = make_host(capacity={"vcpus": total, "memory_mb": 8192, "disk_gb": 40},
                     instances=[inst(f"i{k}", vcpus=1, memory_mb=1) for k in range(used)],
                     aggregates=_aggs("cpu_allocation_ratio", values), allocation_ratios={"cpu": host_ratio})
    got = run(resources.aggregate_core_filter, host, make_request(vcpus=1, memory_mb=1), {"cpu_allocation_ratio": 16.0})
    assert (got is None) is passes, got


# Nova: free_disk_mb 3 GiB of 4 GiB total, ratio 1.0; request 1024*(root+ephemeral)+swap
@pytest.mark.parametrize(("root", "ephemeral", "values", "passes"), [
    pytest.param(1, 1, ["XXX"], True, id="nova-value-error"),
    pytest.param(2, 1, [], False, id="nova-default-value"),
    pytest.param(2, 1, ["2"], True, id="nova-default-value-aggregate-2"),
])
def test_aggregate_disk_filter(root, ephemeral, values, passes):
    host = make_host(capacity={"vcpus": 4, "memory_mb": 8192, "disk_gb": 4},
                     instances=[inst("a", memory_mb=1, disk_gb=1.0)],
                     aggregates=_aggs("disk_allocation_ratio", values))
    req = make_request(memory_mb=1)
    req["flavor"].update(disk_gb=root, ephemeral_gb=ephemeral, swap_mb=1024)
    got = run(resources.aggregate_disk_filter, host, req, {"disk_allocation_ratio": 1.0})
    assert (got is None) is passes, got


def test_ratio_values_are_not_split_on_commas():
    """aggregate_values_from_key keeps "1.5,2.0" whole: it does not cast, so the host's ratio is used."""
    host = make_host(capacity={"vcpus": 4, "memory_mb": 1024, "disk_gb": 40}, instances=[inst("a", memory_mb=1)],
                     aggregates=[{"ram_allocation_ratio": "1.5,2.0"}])
    assert run(resources.aggregate_ram_filter, host, make_request(memory_mb=1024), {"ram_allocation_ratio": 1.0})
