"""ComputeCapabilitiesFilter (ferry_sched/filters/compute.py): unscoped extra specs naming computed
host values, JSON-text capabilities walked by key path, hw:maxphysaddr_bits.

Cases from nova/tests/unit/scheduler/filters/test_compute_capabilities_filters.py: Nova's host
state there is {'free_ram_mb': 1024} plus the capabilities; its FakeHostState defaults
free_disk_mb and vcpus_used to 0. Here a host of 1024 MiB, no instances, no reserved RAM.
"""

import pytest
from ansible.module_utils.ferry_sched.filters import compute

from tests.unit.scheduler.hosts import make_host, make_request, run

CPU_INFO = ('{ "vendor": "Intel", "model": "core2duo", "arch": "i686","features": ["lahf_lm", "rdtscp"], '
            '"topology": {"cores": 1, "threads":1, "sockets": 1}} ')


def _host(caps, disk_gb=0):
    return make_host(capacity={"vcpus": 4, "memory_mb": 1024, "disk_gb": disk_gb}, capabilities=caps)


@pytest.mark.parametrize(("caps", "specs", "passes"), [
    pytest.param({"cpu_info": " { } "}, {"capabilities:cpu_info:vendor": "Intel"}, False,
                 id="nova-fails-without-capabilities"),
    pytest.param({"cpu_info": CPU_INFO}, {"capabilities:cpu_info:vendor": "Intel"}, True,
                 id="nova-pass-cpu-info-as-text-type"),
    pytest.param({"cpu_info": CPU_INFO}, {"cpu_info": CPU_INFO}, True, id="nova-pass-cpu-info-backward-compat"),
    pytest.param({"cpu_info": CPU_INFO}, {"cpu_info": ""}, False, id="nova-fail-cpu-info-backward-compat"),
    pytest.param({"cpu_info": "cpu_info"}, {"capabilities:cpu_info:vendor": "Intel"}, False,
                 id="nova-fail-cpu-info-text-not-valid"),
    pytest.param({"cpu_info": '{"maxphysaddr": {"mode": "emulate", "bits": 42}}'}, {"hw:maxphysaddr_bits": "42"},
                 True, id="nova-pass-maxphysaddr-bits"),
    pytest.param({"cpu_info": '{"maxphysaddr": {"mode": "emulate", "bits": 20}}'}, {"hw:maxphysaddr_bits": "42"},
                 False, id="nova-fails-maxphysaddr-bits"),
    pytest.param({"cpu_info": "{ }"}, {"hw:maxphysaddr_bits": "42"}, False, id="nova-fails-without-maxphysaddr-bits"),
    pytest.param({"cpu_info": {"maxphysaddr": {"bits": 46}}}, {"hw:maxphysaddr_bits": 42}, True,
                 id="maxphysaddr-from-a-dict"),
    pytest.param({"stats": {"opt1": {"a": 1, "b": {"aa": 2}}}}, {"capabilities:stats:opt1:b:aa": "2"}, True,
                 id="nova-multi-level-with-scope"),
    pytest.param({"opt1": 1, "opt2": 2}, {"XXYY": "1"}, True, id="nova-pass-self-defined-specs"),
    pytest.param({"opt1": 1, "opt2": 2}, {"wrong_scope:opt1": "1"}, True, id="nova-wrong-scope"),
    pytest.param({"capabilities": 1}, {"capabilities": "1"}, True, id="nova-key-same-as-scope"),
    pytest.param({}, {"free_ram_mb": ">= 300"}, True, id="nova-pass-ram-backward-compat"),
    pytest.param({}, {"free_ram_mb": "<= 300"}, False, id="nova-fail-ram-backward-compat"),
    pytest.param({}, {"vcpus_used": "<= 20"}, True, id="nova-pass-cpu-backward-compat"),
    pytest.param({}, {"vcpus_used": ">= 20"}, False, id="nova-fail-cpu-backward-compat"),
    pytest.param({}, {"free_disk_mb": 0}, True, id="nova-pass-disk-backward-compat"),
    pytest.param({}, {"free_disk_mb": 1}, False, id="nova-fail-disk-backward-compat"),
])
def test_compute_capabilities_filter(caps, specs, passes):
    got = run(compute.compute_capabilities_filter, _host(caps), make_request(memory_mb=1024, extra_specs=specs))
    assert (got is None) is passes, got


def test_computed_value_reason():
    got = run(compute.compute_capabilities_filter, _host({}), make_request(extra_specs={"free_ram_mb": "<= 300"}))
    assert got == "free_ram_mb is '1024', flavor wants '<= 300'"
