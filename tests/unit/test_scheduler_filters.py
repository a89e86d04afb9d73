"""Scheduler filters, host usage and extra-spec operators, table-driven.

Cases follow Nova's documented behaviour and its unit tests
(nova/tests/unit/scheduler/filters/*).
"""

import pytest
from ansible.module_utils.ferry_scheduler import (
    FILTERS,
    build_context,
    extra_spec_match,
    host_state,
    host_usage,
    resolve_config,
    schedule,
    version_satisfies,
)

BASE_CFG = {"reserved_host_memory_mb": 0, "ram_allocation_ratio": 1.0}


def make_host(name="hv-a1", **kw):
    host = {
        "name": name, "az": "az1", "reachable": True, "enabled": True, "disabled_reason": None,
        "capacity": {"vcpus": 4, "memory_mb": 2048, "disk_gb": 40},
        "arch": "x86_64", "domain_type": "kvm", "hypervisor_type": "qemu",
        "machine_types": ["pc", "q35", "pc-i440fx-7.2"],
        "capabilities": {}, "aggregates": [], "instances": [], "claims": [],
    }
    host.update(kw)
    return host


def inst(name, vcpus=1, memory_mb=256, disk_gb=2.0, **kw):
    out = {"name": name, "uuid": "uuid-" + name, "state": "running", "vcpus": vcpus,
           "memory_mb": memory_mb, "disk_gb": disk_gb, "flavor": "m1.small", "image": "tiny",
           "az": None, "server_group": None, "migration": None, "task_state": None}
    out.update(kw)
    return out


def claim(instance, vcpus=1, memory_mb=256, disk_gb=2.0, kind="boot"):
    return {"id": "c-" + instance, "instance": instance, "vcpus": vcpus,
            "memory_mb": memory_mb, "disk_gb": disk_gb, "kind": kind}


SAME_HOST_CLAIM = dict(claim("web01", 2, 1024, 4.0, "move"), old={"vcpus": 1, "memory_mb": 256, "disk_gb": 2.0})


def make_request(**kw):
    req = {"instance": None, "flavor": {"name": "f", "vcpus": 1, "memory_mb": 512, "disk_gb": 1,
                                        "extra_specs": {}},
           "image": {"name": "tiny", "properties": {}}, "availability_zone": None,
           "ignore_hosts": [], "requested_host": None, "retry": None,
           "scheduler_hints": {}, "server_group": None}
    req.update(kw)
    return req


def flavor(vcpus=1, memory_mb=512, disk_gb=1, **extra_specs):
    return {"name": "f", "vcpus": vcpus, "memory_mb": memory_mb, "disk_gb": disk_gb,
            "extra_specs": extra_specs}


def run_filter(name, host, request, config=None, hosts=None):
    """Reason the named filter gives for ``host`` (None = passes)."""
    cfg = resolve_config({**BASE_CFG, **(config or {})})
    states = [host_state(h, cfg) for h in (hosts or [host])]
    ctx = build_context(request, states, cfg)
    target = next(s for s in states if s["name"] == host["name"])
    return FILTERS[name](target, ctx)


# --------------------------------------------------------------------------
# extra_specs_ops (nova/tests/unit/scheduler/filters/test_extra_specs_ops.py)
# --------------------------------------------------------------------------

@pytest.mark.parametrize(("value", "req", "expected"), [
    ("1", "1", True),
    ("1", "2", False),
    ("123", "= 123", True),
    ("124", "= 123", True),          # "=" means >= numerically
    ("34", "= 234", False),
    ("123", "== 123", True),
    ("12345", "== 123", False),
    ("123", "== abc", False),        # non-numeric under a numeric op
    ("123", "!= 1234", True),
    ("123", "!= 123", False),
    ("1000", ">= 234", True),
    ("234", "<= 1000", True),
    ("1000", "<= 234", False),
    ("123", "s== 123", True),
    ("1234", "s== 123", False),
    ("1234", "s!= 123", True),
    ("1000", "s>= 234", False),      # string order
    ("1000", "s<= 234", True),
    ("1000", "s< 234", True),
    ("234", "s> 1000", True),
    ("12311321", "<in> 11", True),
    ("12310321", "<in> 11", False),
    ("12311321", "<in> 12311321", True),
    ("abc def", "<all-in> abc def", True),
    ("abc", "<all-in> abc def", False),
    ("12", "<or> 11 <or> 12", True),
    ("13", "<or> 11 <or> 12", False),
    ("11", "<or> 11 <or>", True),
    ("13", "<or> 11 <or> 12 <or>", False),
    ("1", ">=", False),              # operator without argument
    (None, "= 1", False),
    (None, "1", False),
    (True, "true", True),            # YAML booleans compare as "true"/"false"
    (False, "true", False),
    ("true", True, True),
])
def test_extra_spec_match(value, req, expected):
    assert extra_spec_match(value, req) is expected


@pytest.mark.parametrize(("version", "predicate", "expected"), [
    ("6.0.0", ">=6.0,<6.2", True),
    (6002000, ">=6.0,<6.2", False),  # Nova's int encoding, 1000 per part
    (8002000, ">=8.1", True),
    ("7.2", "==7.2.0", True),
    ("7.2", "!=7.2", False),
])
def test_version_satisfies(version, predicate, expected):
    assert version_satisfies(version, predicate) is expected


# --------------------------------------------------------------------------
# host usage: what counts against capacity
# --------------------------------------------------------------------------

@pytest.mark.parametrize(("instances", "claims", "expected"), [
    ([], [], {"vcpus": 0, "memory_mb": 0, "disk_gb": 0.0, "io_ops": 0, "num_instances": 0}),
    # a stopped resize source still counts, like Nova's tracker until confirm
    ([inst("web01", 2, 1024, 4.0, state="shutoff",
           migration={"id": "m1", "status": "finished", "role": "source"})], [],
     {"vcpus": 2, "memory_mb": 1024, "disk_gb": 4.0, "io_ops": 0, "num_instances": 1}),
    # a claim whose domain is already defined is not counted twice
    ([inst("web01", 2, 1024, 4.0)], [claim("web01", 2, 1024, 4.0, "move")],
     {"vcpus": 2, "memory_mb": 1024, "disk_gb": 4.0, "io_ops": 0, "num_instances": 1}),
    # a claim without its domain yet counts, and is an I/O op in flight
    ([inst("web01")], [claim("web02", 2, 512, 3.0)],
     {"vcpus": 3, "memory_mb": 768, "disk_gb": 5.0, "io_ops": 1, "num_instances": 2}),
    # a domain with a task_state is an I/O op
    ([inst("web01", task_state="migrating"), inst("web02")], [],
     {"vcpus": 2, "memory_mb": 512, "disk_gb": 4.0, "io_ops": 1, "num_instances": 2}),
    # two claims for the same instance count once
    ([], [claim("web03"), claim("web03")],
     {"vcpus": 1, "memory_mb": 256, "disk_gb": 2.0, "io_ops": 1, "num_instances": 1}),
    # issue 8 #8: a same-host resize's claim counts: before the redefine the domain has the old
    # flavor and the claim adds the new one ...
    ([inst("web01", 1, 256, 2.0)], [SAME_HOST_CLAIM],
     {"vcpus": 3, "memory_mb": 1280, "disk_gb": 6.0, "num_instances": 1}),
    # ... after it the domain has the new flavor and the claim adds the old one, until confirm
    ([inst("web01", 2, 1024, 4.0)], [SAME_HOST_CLAIM],
     {"vcpus": 3, "memory_mb": 1280, "disk_gb": 6.0, "num_instances": 1}),
    # an expired claim (its operation's lease lapsed) no longer counts
    ([], [dict(claim("web04", 2, 512, 3.0), expired=True)],
     {"vcpus": 0, "memory_mb": 0, "disk_gb": 0.0, "io_ops": 0, "num_instances": 0}),
])
def test_host_usage(instances, claims, expected):
    usage = host_usage(make_host(instances=instances, claims=claims))
    assert {k: usage[k] for k in expected} == expected


def test_host_usage_lists_instance_names():
    usage = host_usage(make_host(instances=[inst("b"), inst("a")], claims=[claim("c")]))
    assert usage["instances"] == ["a", "b", "c"]
    assert usage["pending_claims"] == 1


@pytest.mark.parametrize(("config", "expected_free"), [
    ({"reserved_host_memory_mb": 0}, 2048 - 768),
    ({"reserved_host_memory_mb": 512}, 2048 - 512 - 768),
])
def test_host_state_free_ram_subtracts_reserved(config, expected_free):
    cfg = resolve_config(config)
    hs = host_state(make_host(instances=[inst("a", memory_mb=512)], claims=[claim("b")]), cfg)
    assert hs["free_ram_mb"] == expected_free


# --------------------------------------------------------------------------
# RamFilter / CoreFilter / DiskFilter: ratio boundaries
# --------------------------------------------------------------------------

@pytest.mark.parametrize(("memory_mb", "used_mb", "config", "want_mb", "passes"), [
    (2048, 0, {}, 2048, True),                     # exactly fits
    (2048, 0, {}, 2049, False),                    # one MiB over
    (2048, 1024, {}, 1024, True),
    (2048, 1024, {}, 1025, False),
    (2048, 1024, {"ram_allocation_ratio": 1.5, "reserved_host_memory_mb": 512}, 1536, True),
    (2048, 1024, {"ram_allocation_ratio": 1.5, "reserved_host_memory_mb": 512}, 1537, False),
    (2048, 2048, {"ram_allocation_ratio": 2.0}, 2048, True),   # overcommit against others
    (2048, 0, {"ram_allocation_ratio": 2.0}, 2049, False),     # never against itself
])
def test_ram_filter(memory_mb, used_mb, config, want_mb, passes):
    host = make_host(capacity={"vcpus": 4, "memory_mb": memory_mb, "disk_gb": 40},
                     instances=[inst("a", memory_mb=used_mb)] if used_mb else [])
    reason = run_filter("RamFilter", host, make_request(flavor=flavor(memory_mb=want_mb)), config)
    assert (reason is None) is passes


@pytest.mark.parametrize(("want", "config", "reason"), [
    (4096, {"ram_allocation_ratio": 1.0}, "needs 4096 MiB, 1536 MiB free at ratio 1.0"),
    (4096, {"ram_allocation_ratio": 1.5, "reserved_host_memory_mb": 512},
     "needs 4096 MiB, 3072 MiB free at ratio 1.5"),
    (9000, {}, "needs 9000 MiB, host has only 4096 MiB in total"),
])
def test_ram_filter_reason(want, config, reason):
    host = make_host(capacity={"vcpus": 4, "memory_mb": 4096, "disk_gb": 40},
                     instances=[inst("a", memory_mb=2560)])
    assert run_filter("RamFilter", host, make_request(flavor=flavor(memory_mb=want)), config) == reason


@pytest.mark.parametrize(("vcpus", "used", "ratio", "want", "passes"), [
    (4, 0, 1.0, 4, True),
    (4, 1, 1.0, 4, False),
    (4, 62, 16.0, 2, True),      # 64 - 62 exactly fits
    (4, 63, 16.0, 2, False),
    (4, 0, 16.0, 5, False),      # more vCPUs than the host has
    (0, 100, 16.0, 8, True),     # no vCPU count reported: Nova's fail-safe
])
def test_core_filter(vcpus, used, ratio, want, passes):
    host = make_host(capacity={"vcpus": vcpus, "memory_mb": 2048, "disk_gb": 40},
                     instances=[inst("a", vcpus=used)] if used else [])
    reason = run_filter("CoreFilter", host, make_request(flavor=flavor(vcpus=want)),
                        {"cpu_allocation_ratio": ratio})
    assert (reason is None) is passes


@pytest.mark.parametrize(("disk_gb", "used_gb", "config", "flv", "passes"), [
    (40, 36.0, {}, flavor(disk_gb=4), True),                         # exactly fits
    (40, 36.0, {"reserved_host_disk_mb": 1}, flavor(disk_gb=4), False),  # one MiB short
    (40, 36.5, {}, flavor(disk_gb=4), False),
    (40, 60.0, {"disk_allocation_ratio": 2.0}, flavor(disk_gb=20), True),
    (40, 0.0, {"disk_allocation_ratio": 2.0}, flavor(disk_gb=41), False),   # never against itself
    (40, 30.0, {}, {**flavor(disk_gb=8), "ephemeral_gb": 2}, True),
    (40, 30.0, {}, {**flavor(disk_gb=8), "ephemeral_gb": 2, "swap_mb": 1}, False),
])
def test_disk_filter(disk_gb, used_gb, config, flv, passes):
    host = make_host(capacity={"vcpus": 4, "memory_mb": 2048, "disk_gb": disk_gb},
                     instances=[inst("a", disk_gb=used_gb)] if used_gb else [])
    assert (run_filter("DiskFilter", host, make_request(flavor=flv), config) is None) is passes


def test_stopped_resize_source_counts_against_capacity():
    source = inst("web01", memory_mb=1536, state="shutoff",
                  migration={"id": "m1", "status": "finished", "role": "source"})
    host = make_host(instances=[source])
    reason = run_filter("RamFilter", host, make_request(flavor=flavor(memory_mb=1024)))
    assert reason == "needs 1024 MiB, 512 MiB free at ratio 1.0"


def test_claim_then_domain_counts_once():
    host = make_host(instances=[inst("web01", memory_mb=1024)], claims=[claim("web01", memory_mb=1024)])
    assert run_filter("RamFilter", host, make_request(flavor=flavor(memory_mb=1024))) is None


# --------------------------------------------------------------------------
# AvailabilityZoneFilter / ComputeFilter
# --------------------------------------------------------------------------

@pytest.mark.parametrize(("host_az", "want", "reason"), [
    ("az1", None, None),
    ("az1", "az1", None),
    ("az2", "az1", "in AZ az2, az1 requested"),
    (None, "nova", None),            # a host without AZ is in default_availability_zone
    (None, "az1", "in AZ nova, az1 requested"),
])
def test_availability_zone_filter(host_az, want, reason):
    host = make_host(az=host_az)
    assert run_filter("AvailabilityZoneFilter", host, make_request(availability_zone=want)) == reason


@pytest.mark.parametrize(("fields", "reason"), [
    ({}, None),
    ({"enabled": False}, "disabled"),
    ({"enabled": False, "disabled_reason": "maintenance"}, "disabled (maintenance)"),
    ({"reachable": False}, "unreachable"),
])
def test_compute_filter(fields, reason):
    assert run_filter("ComputeFilter", make_host(**fields), make_request()) == reason


# --------------------------------------------------------------------------
# ComputeCapabilitiesFilter
# --------------------------------------------------------------------------

CAPS = {"cpu_info": {"arch": "x86_64", "cores": 8}, "ssd": True, "gpu": "none"}


@pytest.mark.parametrize(("specs", "passes"), [
    ({}, True),
    ({"capabilities:ssd": "true"}, True),
    ({"capabilities:ssd": "false"}, False),
    ({"capabilities:cpu_info:arch": "x86_64"}, True),
    ({"capabilities:cpu_info:arch": "aarch64"}, False),
    ({"capabilities:cpu_info:cores": ">= 8"}, True),
    ({"capabilities:cpu_info:cores": ">= 16"}, False),
    ({"capabilities:cpu_info:arch": "<or> aarch64 <or> x86_64"}, True),
    ({"capabilities:cpu_info:arch": "s== x86_64"}, True),
    ({"capabilities:cpu_info:arch": "<in> 86"}, True),
    ({"capabilities:missing": "1"}, False),            # scoped key the host lacks
    ({"capabilities:arch": "x86_64"}, True),           # top-level host fact
    ({"ssd": "true"}, True),                           # unscoped key the host has
    ({"gpu": "nvidia"}, False),
    ({"unknown_key": "x"}, True),                      # unscoped key the host lacks: ignored
    ({"hw:cpu_policy": "dedicated"}, True),            # other scope: ignored
    ({"aggregate_instance_extra_specs:ssd": "false"}, True),
])
def test_compute_capabilities_filter(specs, passes):
    host = make_host(capabilities=CAPS)
    reason = run_filter("ComputeCapabilitiesFilter", host, make_request(flavor=flavor(**specs)))
    assert (reason is None) is passes


def test_compute_capabilities_reason():
    host = make_host(capabilities=CAPS)
    reason = run_filter("ComputeCapabilitiesFilter", host,
                        make_request(flavor=flavor(**{"capabilities:ssd": "false"})))
    assert reason == "capabilities:ssd is 'true', flavor wants 'false'"


# --------------------------------------------------------------------------
# ImagePropertiesFilter
# --------------------------------------------------------------------------

@pytest.mark.parametrize(("host_fields", "props", "passes"), [
    ({}, {}, True),
    ({}, {"architecture": "x86_64"}, True),
    ({}, {"hw_architecture": "amd64"}, True),                   # canonical alias
    ({}, {"architecture": "aarch64"}, False),
    ({}, {"hypervisor_type": "qemu"}, True),                    # qemu runs on KVM hosts too
    ({"domain_type": "qemu"}, {"img_hv_type": "kvm"}, False),   # kvm needs a KVM host
    ({"domain_type": "kvm"}, {"img_hv_type": "kvm"}, True),
    ({}, {"vm_mode": "hvm"}, True),
    ({}, {"hw_vm_mode": "hv"}, True),                           # legacy alias of hvm
    ({}, {"hw_vm_mode": "xen"}, False),
    ({}, {"architecture": "x86_64", "hypervisor_type": "qemu", "hw_machine_type": "q35"}, True),
    ({}, {"hw_machine_type": "virt"}, False),
    ({"machine_types": []}, {"hw_machine_type": "virt"}, True),  # host lists none: not checked
    ({"hypervisor_version": 8002000}, {"architecture": "x86_64", "img_hv_requested_version": ">=8.0"}, True),
    ({"hypervisor_version": 7002000}, {"architecture": "x86_64", "img_hv_requested_version": ">=8.0"}, False),
    ({}, {"architecture": "x86_64", "img_hv_requested_version": ">=99"}, True),  # version unknown
    ({"supported_instances": [["aarch64", "qemu", "hvm"]]}, {"architecture": "aarch64"}, True),
])
def test_image_properties_filter(host_fields, props, passes):
    host = make_host(**host_fields)
    req = make_request(image={"name": "i", "properties": props})
    assert (run_filter("ImagePropertiesFilter", host, req) is None) is passes


# --------------------------------------------------------------------------
# IoOpsFilter / NumInstancesFilter
# --------------------------------------------------------------------------

@pytest.mark.parametrize(("busy", "pending", "limit", "passes"), [
    (0, 0, 8, True),
    (7, 0, 8, True),
    (8, 0, 8, False),
    (6, 2, 8, False),       # claims in flight count
    (1, 0, 1, False),
])
def test_io_ops_filter(busy, pending, limit, passes):
    instances = [inst(f"b{i}", task_state="migrating") for i in range(busy)]
    claims = [claim(f"p{i}") for i in range(pending)]
    host = make_host(instances=instances, claims=claims)
    reason = run_filter("IoOpsFilter", host, make_request(), {"max_io_ops_per_host": limit})
    assert (reason is None) is passes


@pytest.mark.parametrize(("count", "limit", "passes"), [
    (0, 50, True),
    (49, 50, True),
    (50, 50, False),
    (3, 3, False),
])
def test_num_instances_filter(count, limit, passes):
    host = make_host(instances=[inst(f"i{i}", memory_mb=0) for i in range(count)])
    reason = run_filter("NumInstancesFilter", host, make_request(), {"max_instances_per_host": limit})
    assert (reason is None) is passes


# --------------------------------------------------------------------------
# RetryFilter / SameHostFilter / DifferentHostFilter
# --------------------------------------------------------------------------

@pytest.mark.parametrize(("retry", "reason"), [
    (None, None),
    ({"num_attempts": 1, "hosts": []}, None),
    ({"num_attempts": 2, "hosts": ["hv-b1"]}, None),
    ({"num_attempts": 2, "hosts": ["hv-a1"]}, "already tried (retry attempt 2)"),
])
def test_retry_filter(retry, reason):
    assert run_filter("RetryFilter", make_host(), make_request(retry=retry)) == reason


@pytest.mark.parametrize(("hints", "name", "passes"), [
    ({}, "SameHostFilter", True),
    ({"same_host": ["web02"]}, "SameHostFilter", True),
    ({"same_host": ["uuid-web02"]}, "SameHostFilter", True),      # by UUID too
    ({"same_host": ["db01"]}, "SameHostFilter", False),
    ({"same_host": "web02"}, "SameHostFilter", True),             # a single string
    ({}, "DifferentHostFilter", True),
    ({"different_host": ["db01"]}, "DifferentHostFilter", True),
    ({"different_host": ["web02", "db01"]}, "DifferentHostFilter", False),
    ({"different_host": ["pending"]}, "DifferentHostFilter", False),  # instance being built there
])
def test_host_hint_filters(hints, name, passes):
    host = make_host(instances=[inst("web02")], claims=[claim("pending")])
    assert (run_filter(name, host, make_request(scheduler_hints=hints)) is None) is passes


# --------------------------------------------------------------------------
# ServerGroupAffinityFilter / ServerGroupAntiAffinityFilter
# --------------------------------------------------------------------------

def grouped(name, group, policy):
    return inst(name, server_group={"name": group, "policy": policy})


def group_hosts(policy):
    """hv-a1 runs web01 (being moved) and web02; hv-a2 runs web03; hv-a3 is empty."""
    return [
        make_host("hv-a1", instances=[grouped("web01", "g1", policy), grouped("web02", "g1", policy)]),
        make_host("hv-a2", instances=[grouped("web03", "g1", policy), grouped("x", "other", policy)]),
        make_host("hv-a3", instances=[inst("y")]),
    ]


@pytest.mark.parametrize(("policy", "instance", "host", "passes"), [
    ("anti-affinity", None, "hv-a3", True),
    ("anti-affinity", None, "hv-a2", False),
    ("anti-affinity", None, "hv-a1", False),
    ("anti-affinity", "web01", "hv-a1", True),    # a move may keep checking its own host
    ("anti-affinity", "web03", "hv-a2", True),
    ("anti-affinity", "web03", "hv-a1", False),
    ("affinity", None, "hv-a1", True),
    ("affinity", None, "hv-a2", True),
    ("affinity", None, "hv-a3", False),
    ("affinity", "web01", "hv-a3", False),
    ("soft-affinity", None, "hv-a3", True),       # soft policies never filter
    ("soft-anti-affinity", None, "hv-a1", True),
])
def test_server_group_filters(policy, instance, host, passes):
    hosts = group_hosts(policy)
    target = next(h for h in hosts if h["name"] == host)
    req = make_request(instance=instance, server_group={"name": "g1", "policy": policy})
    name = "ServerGroupAffinityFilter" if policy == "affinity" else "ServerGroupAntiAffinityFilter"
    assert (run_filter(name, target, req, hosts=hosts) is None) is passes


def test_affinity_group_without_other_members_places_anywhere():
    hosts = [make_host("hv-a1", instances=[grouped("web01", "g1", "affinity")]), make_host("hv-a2")]
    req = make_request(instance="web01", server_group={"name": "g1", "policy": "affinity"})
    assert run_filter("ServerGroupAffinityFilter", hosts[1], req, hosts=hosts) is None


@pytest.mark.parametrize(("rules", "passes"), [
    (None, False),
    ({"max_server_per_host": 2}, False),
    ({"max_server_per_host": 3}, True),
])
def test_anti_affinity_max_server_per_host(rules, passes):
    hosts = group_hosts("anti-affinity")
    group = {"name": "g1", "policy": "anti-affinity", "rules": rules}
    reason = run_filter("ServerGroupAntiAffinityFilter", hosts[0], make_request(server_group=group), hosts=hosts)
    assert (reason is None) is passes


# --------------------------------------------------------------------------
# AggregateInstanceExtraSpecsFilter
# --------------------------------------------------------------------------

AGGS = [{"name": "fast", "metadata": {"ssd": "true", "tier": "gold"}},
        {"name": "big", "metadata": {"ssd": "false"}}]


@pytest.mark.parametrize(("aggregates", "specs", "passes"), [
    (AGGS, {}, True),
    ([], {}, True),
    (AGGS, {"aggregate_instance_extra_specs:ssd": "true"}, True),
    (AGGS, {"aggregate_instance_extra_specs:ssd": "false"}, True),   # any aggregate may match
    (AGGS, {"aggregate_instance_extra_specs:tier": "silver"}, False),
    (AGGS, {"aggregate_instance_extra_specs:tier": "<or> silver <or> gold"}, True),
    (AGGS, {"tier": "gold"}, True),                                   # unscoped keys count
    (AGGS, {"gpu": "yes"}, False),
    ([], {"aggregate_instance_extra_specs:ssd": "true"}, False),
    (AGGS, {"capabilities:ssd": "nope", "hw:cpu_policy": "dedicated"}, True),  # other scopes
])
def test_aggregate_instance_extra_specs_filter(aggregates, specs, passes):
    host = make_host(aggregates=aggregates)
    reason = run_filter("AggregateInstanceExtraSpecsFilter", host, make_request(flavor=flavor(**specs)))
    assert (reason is None) is passes


# --------------------------------------------------------------------------
# the chain: pre-filter steps, order, stop at zero
# --------------------------------------------------------------------------

def three_hosts():
    return [make_host("hv-a1"), make_host("hv-a2"),
            make_host("hv-a3", capacity={"vcpus": 4, "memory_mb": 256, "disk_gb": 40})]


@pytest.mark.parametrize(("request_fields", "expected_host", "first_step"), [
    ({"ignore_hosts": ["hv-a1"]}, "hv-a2", "ignore_hosts"),
    ({"requested_host": "hv-a2"}, "hv-a2", "requested_host"),
    ({"requested_host": "hv-a3"}, None, "requested_host"),            # still filtered: no RAM
    ({"requested_host": "hv-a1", "ignore_hosts": ["hv-a1"]}, None, "ignore_hosts"),
    ({"requested_host": "hv-zz"}, None, "requested_host"),
    ({"retry": {"num_attempts": 4, "hosts": []}}, None, "max_attempts"),
])
def test_pre_filter_steps(request_fields, expected_host, first_step):
    result = schedule(three_hosts(), make_request(**request_fields), {**BASE_CFG, "seed": 0})
    assert result["host"] == expected_host
    assert result["report"]["filters"][0]["name"] == first_step


def test_filters_stop_at_first_empty_result():
    hosts = [make_host("hv-a1", az="az2")]
    result = schedule(hosts, make_request(availability_zone="az1"), BASE_CFG)
    names = [f["name"] for f in result["report"]["filters"]]
    assert names == ["RetryFilter", "AvailabilityZoneFilter"]


def test_filters_run_in_configured_order():
    cfg = {**BASE_CFG, "enabled_filters": ["RamFilter", "ComputeFilter"]}
    result = schedule(three_hosts(), make_request(), cfg)
    assert [f["name"] for f in result["report"]["filters"]] == ["RamFilter", "ComputeFilter"]
    assert result["report"]["filters"][0]["removed"] == [
        {"host": "hv-a3", "reason": "needs 512 MiB, host has only 256 MiB in total"}]
    assert result["report"]["filters"][0]["remaining"] == ["hv-a1", "hv-a2"]


@pytest.mark.parametrize(("key", "value"), [
    ("enabled_filters", ["RamFilter", "NoSuchFilter"]),
    ("weighers", ["NoSuchWeigher"]),
])
def test_unknown_names_are_rejected(key, value):
    with pytest.raises(ValueError, match="unknown"):
        resolve_config({key: value})


@pytest.mark.parametrize("fit, kept, reason", [
    pytest.param({"hv-a1": None, "hv-a2": "lacks network br9"}, ["hv-a1"], "lacks network br9", id="one-refused"),
    pytest.param({"hv-a1": None}, ["hv-a1"], "not checked for the guest's definition", id="unchecked-host"),
    pytest.param({"hv-a1": None, "hv-a2": None}, ["hv-a1", "hv-a2"], None, id="both-fit"),
])
def test_guest_definition_filter_reports_why(fit, kept, reason):
    hosts = [make_host("hv-a1"), make_host("hv-a2")]
    result = schedule(hosts, make_request(guest_fit=fit), BASE_CFG)
    entry = next(e for e in result["report"]["filters"] if e["name"] == "GuestDefinitionFilter")
    assert entry["remaining"] == kept
    assert [r["reason"] for r in entry["removed"]] == ([reason] if reason else [])


@pytest.mark.parametrize("disk_gb, passes", [(10, True), (41, False)])
def test_disk_filter_counts_the_real_guests_disks(disk_gb, passes):
    """A request's disk_gb (root at the flavor's size + other writable disks) wins over the flavor's."""
    req = make_request(flavor=flavor(disk_gb=1), disk_gb=disk_gb)
    assert (run_filter("DiskFilter", make_host(), req) is None) is passes
