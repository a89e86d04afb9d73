"""AvailabilityZoneFilter with AZs from aggregates (ferry_sched/filters/availability_zone.py).

Cases from nova/tests/unit/scheduler/filters/test_availability_zone_filters.py (removed in nova
5edd805fe2; read at its parent): same, same_comma, different; plus the fallbacks to ferry_az and
default_availability_zone.
"""

import pytest
from ansible.module_utils.ferry_sched.filters import availability_zone

from tests.unit.scheduler.hosts import make_host, make_request, run


@pytest.mark.parametrize(("aggs", "ferry_az", "want", "passes"), [
    pytest.param([{"availability_zone": "nova"}], None, "nova", True, id="nova-same"),
    pytest.param([{"availability_zone": "nova,nova2"}], None, "nova", True, id="nova-same-comma"),
    pytest.param([{"availability_zone": "nova, nova2"}], None, "nova2", True, id="comma-space-stripped"),
    pytest.param([{"availability_zone": "nova"}], None, "bad", False, id="nova-different"),
    pytest.param([{"availability_zone": "az2"}], "az1", "az1", False, id="aggregate-wins-over-ferry_az"),
    pytest.param([{"ssd": "true"}], "az1", "az1", True, id="ferry_az-when-no-aggregate-az"),
    pytest.param([], None, "nova", True, id="default-availability-zone"),
    pytest.param([], None, "az1", False, id="default-is-not-az1"),
    pytest.param([{"availability_zone": "az1"}, {"availability_zone": "az2"}], None, "az2", True,
                 id="two-aggregates-two-azs"),
])
def test_availability_zone_filter(aggs, ferry_az, want, passes):
    got = run(availability_zone.availability_zone_filter, make_host(aggregates=aggs, az=ferry_az),
              make_request(availability_zone=want))
    assert (got is None) is passes, got


def test_reason_names_the_aggregate():
    host = make_host(aggregates=[("east", {"availability_zone": "az2"})])
    assert run(availability_zone.availability_zone_filter, host, make_request(availability_zone="az1")) == \
        "in AZ az2 (aggregate east), az1 requested"
