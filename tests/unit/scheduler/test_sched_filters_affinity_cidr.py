"""SimpleCIDRAffinityFilter from the host's ansible_host (ferry_sched/filters/affinity.py).

Cases from nova/tests/unit/scheduler/filters/test_affinity_filters.py
(TestSimpleCIDRAffinityFilter: test_affinity_simple_cidr_filter_passes / _fails / _handles_none).
"""

import pytest
from ansible.module_utils.ferry_sched.filters import affinity

from tests.unit.scheduler.hosts import make_host, make_request, run


@pytest.mark.parametrize(("host_ip", "hints", "passes"), [
    pytest.param("10.8.1.1", {"build_near_host_ip": "10.8.1.1", "cidr": "/24"}, True, id="nova-passes"),
    pytest.param("10.8.1.1", {"build_near_host_ip": "10.8.2.1", "cidr": "/32"}, False, id="nova-fails"),
    pytest.param("10.8.1.1", {}, True, id="nova-handles-none"),
    pytest.param("10.8.1.200", {"build_near_host_ip": "10.8.1.1"}, True, id="default-cidr-24"),
    pytest.param("10.8.2.1", {"build_near_host_ip": "10.8.1.1"}, False, id="default-cidr-24-other-net"),
    pytest.param("fd00::5", {"build_near_host_ip": "fd00::1", "cidr": "/64"}, True, id="ipv6"),
    pytest.param("hv1.example.org", {"build_near_host_ip": "10.8.1.1"}, False, id="ansible_host-not-an-ip"),
    pytest.param(None, {"build_near_host_ip": "10.8.1.1"}, False, id="no-address"),
])
def test_simple_cidr_affinity_filter(host_ip, hints, passes):
    got = run(affinity.simple_cidr_affinity_filter, make_host(host_ip=host_ip), make_request(scheduler_hints=hints))
    assert (got is None) is passes, got
