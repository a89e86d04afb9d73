"""AggregateInstanceExtraSpecsFilter and AggregateImagePropertiesIsolation
(ferry_sched/filters/aggregate.py), with aggregate metadata split on commas as Nova does.

Cases from nova/tests/unit/scheduler/filters/test_aggregate_image_properties_isolation_filters.py
(every test of TestAggImagePropsIsolationFilter) and
test_aggregate_instance_extra_specs_filters.py; and ComputeCapabilitiesFilter with
AggregateInstanceExtraSpecsFilter both enabled, both consuming unscoped extra specs
(nova/scheduler/filters/compute_capabilities_filter.py and aggregate_instance_extra_specs.py
read the same unscoped keys).
"""

import pytest
from ansible.module_utils.ferry_sched.filters import aggregate
from ansible.module_utils.ferry_scheduler import schedule

from tests.unit.scheduler.hosts import make_host, make_request, run


# aggregate metadata (one aggregate per dict), image properties, config, passes
@pytest.mark.parametrize(("aggs", "props", "config", "passes"), [
    pytest.param([{"hw_vm_mode": "hvm"}], {"hw_vm_mode": "hvm"}, {}, True, id="nova-passes"),
    pytest.param([{"hw_vm_mode": "hvm,xen"}], {"hw_vm_mode": "hvm"}, {}, True, id="nova-passes-comma"),
    pytest.param([{"hw_vm_mode": "hvm"}, {"hw_vm_mode": "xen"}], {"hw_vm_mode": "xen"}, {}, True,
                 id="two-aggregates-union"),
    pytest.param([{"os_distro": "windows,linux"}], {"os_distro": "windows,"}, {}, False, id="nova-props-bad-comma"),
    pytest.param([{"hw_vm_mode": "hvm", "hw_cpu_cores": "2"}], {"hw_vm_mode": "hvm", "hw_cpu_cores": 2}, {}, True,
                 id="nova-multi-props-passes"),
    pytest.param([{"hw_vm_mode": "hvm"}], {}, {}, True, id="nova-props-with-meta-passes"),
    pytest.param([], {"hw_vm_mode": "hvm"}, {}, True, id="nova-imgprops-passes"),
    pytest.param([{"hw_vm_mode": "hvm"}], {"hw_vm_mode": "xen"}, {}, False, id="nova-not-match-fails"),
    pytest.param([{"hw_vm_mode": "hvm", "hw_cpu_cores": "1"}], {"hw_vm_mode": "hvm", "hw_cpu_cores": 2}, {}, False,
                 id="nova-not-match2-fails"),
    pytest.param([{"hw_vm_mode": "hvm", "img_owner_id": "foo"}], {"hw_vm_mode": "hvm", "img_owner_id": "wrong"},
                 {"aggregate_image_properties_isolation_namespace": "hw",
                  "aggregate_image_properties_isolation_separator": "_"}, True, id="nova-namespace"),
    pytest.param([{"os": "linux"}], {"os_type": "linux"}, {}, True, id="nova-custom-meta"),
    pytest.param([{"os_type": "linux"}], {"os_type": "linux"}, {}, True, id="nova-matching-meta-pass"),
    pytest.param([{"os_type": "windows"}], {"os_type": "linux"}, {}, False, id="nova-matching-meta-fail"),
])
def test_aggregate_image_properties_isolation(aggs, props, config, passes):
    got = run(aggregate.aggregate_image_properties_isolation, make_host(aggregates=aggs), make_request(props=props),
              config)
    assert (got is None) is passes, got


# test_aggregate_instance_extra_specs_filters.py (the "nova-" cases; Nova mocks the comma-split
# metadata, here the aggregates carry the unsplit text), plus ferry's own
@pytest.mark.parametrize(("aggs", "specs", "passes"), [
    pytest.param([{"opt1": "1", "opt2": "2"}], {"opt1": "1", "aggregate_instance_extra_specs:opt2": "2"}, True,
                 id="nova-passes-extra-specs-simple"),
    pytest.param([{"opt1": "1,3", "opt2": "2"}], {"opt1": "1", "aggregate_instance_extra_specs:opt1": "3"}, True,
                 id="nova-passes-extra-specs-simple-comma"),
    pytest.param([{"aggregate_instance_extra_specs": "1"}], {"aggregate_instance_extra_specs": "1"}, True,
                 id="nova-passes-with-key-same-as-scope"),
    pytest.param([{"opt1": "1", "opt2": "2"}], {"opt1": "1", "opt2": "222"}, False,
                 id="nova-fails-extra-specs-simple"),
    pytest.param([{"opt1": "1"}], {}, True, id="nova-passes-empty-extra-specs"),
    pytest.param([{"opt1": "1"}], {"wrong_scope:opt1": "5"}, True, id="other-scope-ignored"),
    pytest.param([{"opt1": "1"}], {"opt2": "1"}, False, id="key-in-no-aggregate"),
    pytest.param([{"opt1": "1"}, {"opt1": "4"}], {"opt1": "<or> 3 <or> 4"}, True, id="values-of-two-aggregates"),
])
def test_aggregate_instance_extra_specs_filter(aggs, specs, passes):
    got = run(aggregate.aggregate_instance_extra_specs_filter, make_host(aggregates=aggs),
              make_request(extra_specs=specs))
    assert (got is None) is passes, got


BOTH = ["ComputeCapabilitiesFilter", "AggregateInstanceExtraSpecsFilter"]


@pytest.mark.parametrize(("caps", "aggs", "specs", "removed_by"), [
    # an unscoped key both read: the host must satisfy both its capability and an aggregate
    pytest.param({"ssd": "true"}, [{"ssd": "true"}], {"ssd": "true"}, None, id="both-agree"),
    pytest.param({"ssd": "false"}, [{"ssd": "true"}], {"ssd": "true"}, "ComputeCapabilitiesFilter",
                 id="capability-refuses"),
    pytest.param({"ssd": "true"}, [{"ssd": "false"}], {"ssd": "true"}, "AggregateInstanceExtraSpecsFilter",
                 id="aggregate-refuses"),
    # a computed host value: ComputeCapabilitiesFilter checks it against the host state,
    # AggregateInstanceExtraSpecsFilter wants an aggregate setting it (Nova: both consume it)
    pytest.param({}, [{"free_ram_mb": "99999"}], {"free_ram_mb": ">= 1024"}, None, id="computed-both-pass"),
    pytest.param({}, [], {"free_ram_mb": ">= 1024"}, "AggregateInstanceExtraSpecsFilter",
                 id="computed-no-aggregate"),
    pytest.param({}, [{"free_ram_mb": "99999"}], {"free_ram_mb": ">= 4096"}, "ComputeCapabilitiesFilter",
                 id="computed-host-too-small"),
])
def test_capabilities_and_aggregate_extra_specs_both_enabled(caps, aggs, specs, removed_by):
    host = make_host(capabilities=caps, aggregates=aggs)
    res = schedule([host], make_request(extra_specs=specs), {"enabled_filters": BOTH, "reserved_host_memory_mb": 0})
    removers = [e["name"] for e in res["report"]["filters"] if e["removed"]]
    assert removers == ([removed_by] if removed_by else []), res["report_text"]
    assert (res["host"] is None) is bool(removed_by)
