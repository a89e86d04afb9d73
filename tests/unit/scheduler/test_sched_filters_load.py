"""IoOpsFilter/NumInstancesFilter and their Aggregate* variants (ferry_sched/filters/load.py).

Cases from nova/tests/unit/scheduler/filters/test_io_ops_filters.py
(test_aggregate_filter_num_iops_value, ..._value_error) and test_num_instances_filters.py
(test_filter_aggregate_num_instances_value, ..._value_error).
"""

import pytest
from ansible.module_utils.ferry_sched.filters import load

from tests.unit.scheduler.hosts import inst, make_host, run


@pytest.mark.parametrize(("limit", "busy", "values", "passes"), [
    pytest.param(7, 7, [], False, id="nova-no-aggregate"),
    pytest.param(7, 7, ["8"], True, id="nova-aggregate-8"),
    pytest.param(8, 7, ["XXX"], True, id="nova-value-error"),
    pytest.param(8, 3, ["3", "9"], False, id="smallest-wins"),
])
def test_aggregate_io_ops_filter(limit, busy, values, passes):
    host = make_host(instances=[inst(f"i{k}", memory_mb=1, task_state="resize_migrating") for k in range(busy)],
                     aggregates=[{"max_io_ops_per_host": v} for v in values])
    got = run(load.aggregate_io_ops_filter, host, config={"max_io_ops_per_host": limit})
    assert (got is None) is passes, got
    # the plain filter reads only the configured limit
    assert (run(load.io_ops_filter, host, config={"max_io_ops_per_host": limit}) is None) is (busy < limit)


@pytest.mark.parametrize(("limit", "count", "values", "passes"), [
    pytest.param(4, 5, [], False, id="nova-no-aggregate"),
    pytest.param(4, 5, ["6"], True, id="nova-aggregate-6"),
    pytest.param(6, 0, ["XXX"], True, id="nova-value-error"),
    pytest.param(50, 5, ["5", "100"], False, id="smallest-wins"),
])
def test_aggregate_num_instances_filter(limit, count, values, passes):
    host = make_host(instances=[inst(f"i{k}", memory_mb=1) for k in range(count)],
                     aggregates=[{"max_instances_per_host": v} for v in values])
    got = run(load.aggregate_num_instances_filter, host, config={"max_instances_per_host": limit})
    assert (got is None) is passes, got


def test_reason_names_the_aggregate():
    host = make_host(instances=[inst("a", memory_mb=1)], aggregates=[("small", {"max_instances_per_host": "1"})])
    assert run(load.aggregate_num_instances_filter, host) == "1 instances, max 1 from aggregate small"
