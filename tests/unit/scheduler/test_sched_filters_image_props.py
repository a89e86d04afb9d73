"""ImagePropertiesFilter: image_properties_default_architecture and hw_maxphysaddr_bits
(ferry_sched/filters/image_props.py).

Cases from nova/tests/unit/scheduler/filters/test_image_props_filters.py
(test_image_properties_filter_default_architecture, ..._maxphysaddr_bits...).
"""

import pytest
from ansible.module_utils.ferry_sched.filters import image_props

from tests.unit.scheduler.hosts import make_host, make_request, run


@pytest.mark.parametrize(("host_arch", "props", "default", "passes"), [
    pytest.param("x86_64", {}, "x86_64", True, id="default-matches"),
    pytest.param("aarch64", {}, "x86_64", False, id="default-applies-when-image-names-none"),
    pytest.param("aarch64", {"hw_architecture": "aarch64"}, "x86_64", True, id="image-arch-wins"),
    pytest.param("aarch64", {}, None, True, id="no-default-no-check"),
])
def test_default_architecture(host_arch, props, default, passes):
    got = run(image_props.image_properties_filter, make_host(arch=host_arch), make_request(props=props),
              {"image_properties_default_architecture": default})
    assert (got is None) is passes, got


@pytest.mark.parametrize(("cpu_info", "bits", "passes"), [
    pytest.param('{"maxphysaddr": {"mode": "emulate", "bits": 42}}', 42, True, id="equal"),
    pytest.param('{"maxphysaddr": {"mode": "emulate", "bits": 41}}', 42, False, id="fewer"),
    pytest.param("{}", 42, True, id="host-does-not-report-passes"),
    pytest.param({"maxphysaddr": {"bits": 46}}, "42", True, id="dict-and-text-prop"),
])
def test_maxphysaddr_bits(cpu_info, bits, passes):
    host = make_host(capabilities={"cpu_info": cpu_info})
    got = run(image_props.image_properties_filter, host, make_request(props={"hw_maxphysaddr_bits": bits}))
    assert (got is None) is passes, got
