"""Decisions end to end: the AZ seed defect, NoValidHost reports, the module glue."""

import json

import ferry_schedule
import pytest
from ansible.module_utils import testing
from ansible.module_utils.ferry_scheduler import (
    format_report,
    request_az_for_move,
    schedule,
)


def make_host(name, az, memory_mb=4096, instances=(), **kw):
    host = {
        "name": name, "az": az, "reachable": True, "enabled": True, "disabled_reason": None,
        "capacity": {"vcpus": 8, "memory_mb": memory_mb, "disk_gb": 40},
        "arch": "x86_64", "domain_type": "kvm", "hypervisor_type": "qemu",
        "machine_types": ["pc", "q35"], "capabilities": {}, "aggregates": [],
        "instances": list(instances), "claims": [],
    }
    host.update(kw)
    return host


def inst(name, memory_mb=512, az=None):
    return {"name": name, "uuid": "uuid-" + name, "state": "running", "vcpus": 1,
            "memory_mb": memory_mb, "disk_gb": 2.0, "flavor": "m1.small", "image": "tiny",
            "az": az, "server_group": None, "migration": None, "task_state": None}


LARGE = {"name": "m1.large", "vcpus": 2, "memory_mb": 2048, "disk_gb": 4, "extra_specs": {}}
CONFIG = {"ram_allocation_ratio": 1.0, "reserved_host_memory_mb": 512, "seed": 0}


def move_request(hosts, instance="web01", flavor=LARGE, **kw):
    """A resize request built the way ferry builds one for a move."""
    source = next(h for h in hosts if any(i["name"] == instance for i in h["instances"]))
    guest = next(i for i in source["instances"] if i["name"] == instance)
    req = {"instance": instance, "flavor": flavor, "image": {"name": "tiny", "properties": {}},
           "availability_zone": request_az_for_move(guest, source),
           "ignore_hosts": [source["name"]], "requested_host": None,
           "retry": {"num_attempts": 1, "hosts": []}, "scheduler_hints": {}, "server_group": None}
    req.update(kw)
    return req


def seed_lab(a2_memory_mb):
    """web01 booted with no AZ on hv-a1 (az1); az2's hosts are roomier than hv-a2."""
    return [
        make_host("hv-a1", "az1", instances=[inst("web01", az=None)]),
        make_host("hv-a2", "az1", memory_mb=a2_memory_mb),
        make_host("hv-b1", "az2", memory_mb=16384),
        make_host("hv-b2", "az2", memory_mb=16384),
    ]


# --------------------------------------------------------------------------
# request_az_for_move
# --------------------------------------------------------------------------

@pytest.mark.parametrize(("instance_az", "host_az", "target_az", "allow_cross", "expected"), [
    (None, "az1", None, False, "az1"),      # no AZ at boot: pinned to the current host's AZ
    ("az2", "az1", None, False, "az2"),     # the AZ requested at boot wins over the host's
    (None, "az1", "az3", False, "az3"),     # the operator asks for another AZ
    ("az2", "az1", "az3", True, "az3"),
    (None, "az1", None, True, None),        # the operator allows any AZ
    (None, None, None, False, None),
])
def test_request_az_for_move(instance_az, host_az, target_az, allow_cross, expected):
    got = request_az_for_move({"name": "web01", "az": instance_az}, {"name": "hv", "az": host_az},
                              target_az=target_az, allow_cross_az=allow_cross)
    assert got == expected


# --------------------------------------------------------------------------
# seed defect 1: a guest booted without an AZ must not leave its AZ
# --------------------------------------------------------------------------

@pytest.mark.parametrize("seed", range(5))
def test_seed_defect_1_room_in_az_chooses_az_sibling(seed):
    hosts = seed_lab(a2_memory_mb=4096)
    result = schedule(hosts, move_request(hosts), {**CONFIG, "seed": seed, "host_subset_size": 4})
    assert result["host"] == "hv-a2"
    assert result["alternates"] == []
    az_step = next(f for f in result["report"]["filters"] if f["name"] == "AvailabilityZoneFilter")
    assert {r["host"] for r in az_step["removed"]} == {"hv-b1", "hv-b2"}


def test_seed_defect_1_no_room_in_az_is_no_valid_host():
    hosts = seed_lab(a2_memory_mb=2048)
    result = schedule(hosts, move_request(hosts), CONFIG)
    assert result["host"] is None
    assert result["alternates"] == []
    text = result["report_text"]
    assert text.startswith("No valid host")
    assert "AvailabilityZoneFilter removed hv-b1: in AZ az2, az1 requested" in text
    assert "AvailabilityZoneFilter removed hv-b2: in AZ az2, az1 requested" in text
    assert "ignore_hosts removed hv-a1: in ignore_hosts" in text
    assert "RamFilter removed hv-a2: needs 2048 MiB, 1536 MiB free at ratio 1.0" in text
    assert text.rstrip().endswith("RamFilter left no host.")


def test_seed_defect_1_without_az_pinning_would_cross():
    """The 2014 behaviour, for contrast: no AZ in the request lets az2 in."""
    hosts = seed_lab(a2_memory_mb=2048)
    result = schedule(hosts, move_request(hosts, availability_zone=None), CONFIG)
    assert result["host"] in {"hv-b1", "hv-b2"}


# --------------------------------------------------------------------------
# NoValidHost and report text
# --------------------------------------------------------------------------

def test_empty_host_list():
    result = schedule([], {"instance": None, "flavor": LARGE}, CONFIG)
    assert result["host"] is None and result["alternates"] == []
    assert result["report"]["filters"] == [] and result["report"]["weights"] == []
    assert result["report_text"].startswith("No valid host for new instance (flavor m1.large")
    assert "host list is empty" in result["report_text"]


@pytest.mark.parametrize(("hosts", "stopper", "line"), [
    ([make_host("hv-a1", "az1", enabled=False, disabled_reason="maintenance")],
     "ComputeFilter", "ComputeFilter removed hv-a1: disabled (maintenance)"),
    ([make_host("hv-a1", "az1", reachable=False)],
     "ComputeFilter", "ComputeFilter removed hv-a1: unreachable"),
    ([make_host("hv-a1", "az1", memory_mb=1024)],
     "RamFilter", "RamFilter removed hv-a1: needs 2048 MiB, host has only 1024 MiB in total"),
])
def test_no_valid_host_names_the_filter(hosts, stopper, line):
    req = {"instance": "web09", "flavor": LARGE, "availability_zone": "az1"}
    result = schedule(hosts, req, CONFIG)
    assert result["host"] is None
    assert result["report_text"].startswith("No valid host for web09")
    assert line in result["report_text"].splitlines()
    assert result["report"]["filters"][-1]["name"] == stopper


def test_success_report_text():
    hosts = [make_host("hv-a1", "az1"), make_host("hv-a2", "az1", memory_mb=8192),
             make_host("hv-b1", "az2")]
    result = schedule(hosts, {"instance": "web01", "flavor": LARGE, "availability_zone": "az1"}, CONFIG)
    lines = result["report_text"].splitlines()
    assert lines[0] == ("Scheduled web01 (flavor m1.large: 2 vCPU, 2048 MiB, 4 GiB, AZ az1) on hv-a2 "
                        "(alternates: hv-a1); 3 host(s) considered.")
    assert "AvailabilityZoneFilter removed hv-b1: in AZ az2, az1 requested" in lines
    assert "RamFilter: removed none, 2 remain" in lines
    assert "Weights (best first):" in lines
    assert any(line.startswith("  hv-a2 total ") and "RAMWeigher 1*1=1 (raw 7680)" in line for line in lines)


def test_format_report_limits_listed_removals():
    hosts = [make_host(f"hv-b{i}", "az2") for i in range(30)] + [make_host("hv-a1", "az1")]
    result = schedule(hosts, {"instance": "web01", "flavor": LARGE, "availability_zone": "az1"}, CONFIG)
    text = format_report(result, limit=5)
    assert text.count("AvailabilityZoneFilter removed hv-b") == 5
    assert "AvailabilityZoneFilter removed 25 more host(s)" in text
    assert "AvailabilityZoneFilter: 1 remain" in text
    assert len(result["report"]["filters"][1]["removed"]) == 30      # the data keeps them all


def test_format_report_is_pure():
    hosts = [make_host("hv-a1", "az1")]
    result = schedule(hosts, {"instance": "web01", "flavor": LARGE}, CONFIG)
    before = json.dumps(result, sort_keys=True)
    assert format_report(result) == format_report(result) == result["report_text"]
    assert json.dumps(result, sort_keys=True) == before


def test_result_is_json_serialisable_and_shaped():
    hosts = [make_host("hv-a1", "az1"), make_host("hv-a2", "az1")]
    result = json.loads(json.dumps(schedule(hosts, {"instance": "web01", "flavor": LARGE}, CONFIG)))
    assert set(result) == {"host", "alternates", "report", "report_text"}
    assert {"filters", "weights"} <= set(result["report"])
    entry = result["report"]["filters"][0]
    assert set(entry) == {"name", "removed", "remaining"}
    weight = result["report"]["weights"][0]
    assert set(weight) == {"host", "weighers", "total"}


def test_unknown_config_keys_are_reported_not_fatal():
    hosts = [make_host("hv-a1", "az1")]
    result = schedule(hosts, {"flavor": LARGE}, {**CONFIG, "allow_resize_to_same_host": True})
    assert result["host"] == "hv-a1"
    assert result["report"]["ignored_config_keys"] == ["allow_resize_to_same_host"]


# --------------------------------------------------------------------------
# the module glue
# --------------------------------------------------------------------------

def run_module(args, check_mode=False):
    if check_mode:
        args = {**args, "_ansible_check_mode": True}
    with testing.patch_module_args(args), pytest.raises(SystemExit) as exc:
        ferry_schedule.main()
    return exc.value.code


@pytest.mark.parametrize("check_mode", [False, True])
def test_module_returns_choice_unchanged(check_mode, capsys):
    hosts = seed_lab(a2_memory_mb=4096)
    code = run_module({"hosts": hosts, "request": move_request(hosts), "config": CONFIG}, check_mode)
    out = json.loads(capsys.readouterr().out)
    assert code == 0
    assert out["changed"] is False
    assert out["host"] == "hv-a2"
    assert out["report_text"].startswith("Scheduled web01")


def test_module_fails_with_report_on_no_valid_host(capsys):
    hosts = seed_lab(a2_memory_mb=2048)
    code = run_module({"hosts": hosts, "request": move_request(hosts), "config": CONFIG})
    out = json.loads(capsys.readouterr().out)
    assert code == 1
    assert out["failed"] is True and out["changed"] is False
    assert out["msg"].startswith("No valid host for web01")
    assert "AvailabilityZoneFilter removed hv-b1" in out["msg"]
    assert out["report"]["filters"][-1]["name"] == "RamFilter"


def test_module_fails_on_unknown_filter(capsys):
    hosts = seed_lab(a2_memory_mb=4096)
    code = run_module({"hosts": hosts, "request": move_request(hosts),
                       "config": {"enabled_filters": ["NoSuchFilter"]}})
    out = json.loads(capsys.readouterr().out)
    assert code == 1
    assert "unknown filter NoSuchFilter" in out["msg"]
