"""Draining a host: which guests move, the drain planned guest after guest, one run's result."""

import pytest
from ansible.module_utils import ferry_evacuate

FLAVORS = {"m1.small": {"vcpus": 1, "memory_mb": 512, "disk_gb": 2, "extra_specs": {}},
           "m1.tiny": {"vcpus": 1, "memory_mb": 256, "disk_gb": 1, "extra_specs": {}}}
CONFIG = {"ram_allocation_ratio": 1.0, "reserved_host_memory_mb": 0, "disk_allocation_ratio": 1.0, "seed": 0}


def host(name, az, memory_mb=1024, instances=(), **kw):
    h = {"name": name, "az": az, "reachable": True, "enabled": True, "disabled_reason": None,
         "capacity": {"vcpus": 8, "memory_mb": memory_mb, "disk_gb": 40}, "arch": "x86_64",
         "domain_type": "kvm", "hypervisor_type": "qemu", "machine_types": ["pc"], "capabilities": {},
         "aggregates": [], "instances": list(instances), "claims": []}
    h.update(kw)
    return h


def inst(name, flavor="m1.small", state="running", managed=True, migration=None):
    f = FLAVORS[flavor]
    return {"name": name, "uuid": "u-" + name, "state": state, "vcpus": f["vcpus"], "memory_mb": f["memory_mb"],
            "disk_gb": float(f["disk_gb"]), "flavor": flavor if managed else None, "image": "tiny", "az": None,
            "server_group": None, "migration": migration, "task_state": None, "managed": managed,
            "metadata": {"flavor": dict(f, name=flavor)} if managed else {}, "disks": []}


def item(hosts, source, name):
    """A migrate request as ferry_evacuate.requests builds it (every host fits the definition)."""
    src = next(h for h in hosts if h["name"] == source)
    i = next(i for i in src["instances"] if i["name"] == name)
    flavor = dict(FLAVORS[i["flavor"]], name=i["flavor"])
    req = {"instance": name, "flavor": flavor, "image": {"name": "tiny", "properties": {}},
           "availability_zone": src["az"], "ignore_hosts": [source], "requested_host": None,
           "retry": {"num_attempts": 1, "hosts": []}, "scheduler_hints": {}, "server_group": None,
           "disk_gb": float(flavor["disk_gb"])}
    return {"instance": name, "request": req, "flavor": flavor, "state": i["state"]}


# ---------------------------------------------------------------- classify

def test_classify_moves_ferry_guests_and_names_the_rest():
    hosts = [
        host("hv-a1", "az1", instances=[
            inst("web1"), inst("db1", state="shutoff"), inst("legacy", managed=False),
            inst("half", migration={"kind": "migrate", "status": "finished", "role": "source",
                                    "source_host": "hv-a1", "target_host": "hv-a2"}),
            inst("paused", state="paused")]),
        host("hv-a2", "az1", instances=[inst("half", migration={
            "kind": "migrate", "status": "finished", "role": "target", "source_host": "hv-a1", "target_host": "hv-a2"})]),
    ]
    movable, left = ferry_evacuate.classify(hosts, "hv-a1", FLAVORS)
    assert movable == ["db1", "web1"]
    why = {g["instance"]: g["reason"] for g in left}
    assert set(why) == {"legacy", "half", "paused"}
    assert "not booted by ferry" in why["legacy"] and "adopt.yml -e instance=legacy" in why["legacy"]
    assert "'finished'" in why["half"] and "confirm or revert" in why["half"]
    assert "paused" in why["paused"]


def test_classify_unknown_host():
    with pytest.raises(ValueError):
        ferry_evacuate.classify([host("hv-a1", "az1")], "hv-zz", FLAVORS)


def test_mark_disabled_only_the_drained_host():
    hosts = [host("hv-a1", "az1"), host("hv-a2", "az1")]
    out = ferry_evacuate.mark_disabled(hosts, "hv-a1", "swap disks")
    assert [(h["enabled"], h["disabled_reason"]) for h in out] == [(False, "swap disks"), (True, None)]
    assert hosts[0]["enabled"] is True  # the input is not changed


# ---------------------------------------------------------------- sequential plan

def _drain_lab():
    """hv-a1 (az1, drained) holds three small guests; hv-a2 and hv-a3 have room for one each;
    hv-b1 (az2) has room for all of them but is in another AZ."""
    a1 = host("hv-a1", "az1", memory_mb=4096, instances=[inst("g1"), inst("g2", state="shutoff"), inst("g3")],
              enabled=False, disabled_reason="evacuating")
    return [a1, host("hv-a2", "az1", memory_mb=600), host("hv-a3", "az1", memory_mb=700),
            host("hv-b1", "az2", memory_mb=8192)]


def test_plan_each_guest_sees_the_placements_before_it():
    hosts = _drain_lab()
    items = [item(hosts, "hv-a1", n) for n in ("g1", "g2", "g3")]
    steps, after = ferry_evacuate.plan(hosts, items, CONFIG)
    # g1 goes to the roomiest host (hv-a3), g2 sees it full and takes hv-a2, g3 finds no room in az1
    assert [(s["instance"], s["host"]) for s in steps] == [("g1", "hv-a3"), ("g2", "hv-a2"), ("g3", None)]
    assert steps[1]["state"] == "shutoff" and steps[0]["source"] == "hv-a1"
    assert "No valid host" in steps[2]["report_text"] and "RamFilter" in steps[2]["report_text"]
    # the AZ filter kept az2's roomy host out, and it says so
    az = next(f for f in steps[2]["report"]["filters"] if f["name"] == "AvailabilityZoneFilter")
    assert [r["host"] for r in az["removed"]] == ["hv-b1"]
    # the planned placements are claims on the hosts after; the input hosts are not changed
    claims = {h["name"]: [c["instance"] for c in h["claims"]] for h in after}
    assert claims == {"hv-a1": [], "hv-a2": ["g2"], "hv-a3": ["g1"], "hv-b1": []}
    assert all(h["claims"] == [] for h in hosts)


def test_plan_without_earlier_placements_would_double_book():
    """The same guests scheduled independently all pick hv-a3: the sequential plan is what differs."""
    from ansible.module_utils.ferry_scheduler import schedule
    hosts = _drain_lab()
    picks = {schedule(hosts, item(hosts, "hv-a1", n)["request"], CONFIG)["host"] for n in ("g1", "g2", "g3")}
    assert picks == {"hv-a3"}


def test_plan_text_names_every_guest():
    hosts = _drain_lab()
    steps, _ = ferry_evacuate.plan(hosts, [item(hosts, "hv-a1", n) for n in ("g1", "g3")], CONFIG)
    lines = ferry_evacuate.plan_text(steps, [{"instance": "legacy", "host": "hv-a1", "reason": "not booted by ferry"}])
    assert lines[0] == "g1 (running): hv-a1 -> hv-a3"
    assert lines[1] == "g3 (running): hv-a1 -> hv-a2"
    assert lines[2] == "legacy: stays on hv-a1: not booted by ferry"
    assert ferry_evacuate.plan_text([], []) == ["no guest on the host"]


def test_plan_claim_shape_counts_in_the_scheduler():
    from ansible.module_utils.ferry_scheduler import host_usage
    h = host("hv-a2", "az1")
    h["claims"] = [ferry_evacuate.plan_claim("g1", {"vcpus": 2, "memory_mb": 300}, 3.5)]
    u = host_usage(h)
    assert (u["vcpus"], u["memory_mb"], u["disk_gb"], u["pending_claims"]) == (2, 300, 3.5, 1)


# ---------------------------------------------------------------- requests

def test_requests_leave_refused_and_unreadable_guests():
    hosts = _drain_lab()
    guest_results = [
        {"item": "g1", "refusals": [], "requirements": {}, "other_disks_gb": 0.5},
        {"item": "g2", "refusals": ["disk vdb: type='block' refused"], "requirements": {}},
        {"item": "g3", "failed": True, "msg": "libvirt timeout"},
    ]
    fit = [{"item": ["g1", "hv-a2"], "domcaps": "ok", "cpu": "n/a"},
           {"item": ["g1", "hv-a3"], "failed": True, "msg": "unreachable"}]
    nets = {h["name"]: {"declared": [], "map": {}} for h in hosts}
    items, left = ferry_evacuate.requests(hosts, "hv-a1", ["g1", "g2", "g3"], FLAVORS, {}, guest_results, fit, nets)
    assert [i["instance"] for i in items] == ["g1"]
    req = items[0]["request"]
    assert req["ignore_hosts"] == ["hv-a1"] and req["disk_gb"] == 2.5
    assert req["guest_fit"]["hv-a2"] is None and "could not check" in req["guest_fit"]["hv-a3"]
    assert {g["instance"]: g["reason"] for g in left} == {
        "g2": "disk vdb: type='block' refused", "g3": "cannot read its definition: libvirt timeout"}


# ---------------------------------------------------------------- one run's result

def ev(event, **data):
    return {"event": event, "event_data": data}


def test_run_result_moved():
    move = {"kind": "migrate", "source": "hv-a1", "target": "hv-a2", "total_s": 7.1}
    events = [ev("runner_on_ok", task="Report the move", res={"ferry_move_result": move}),
              ev("runner_on_failed", task="Claim", ignore_errors=True, res={"msg": "refused, next alternate"}),
              ev("playbook_on_stats", artifact_data={"ferry_move_result": move})]
    r = ferry_evacuate.run_result("g1", 0, "successful", events, "/tmp/a/g1")
    assert (r["moved"], r["target"], r["reason"], r["artifacts"]) == (True, "hv-a2", None, "/tmp/a/g1")


def test_run_result_failure_names_the_first_failure():
    events = [ev("runner_on_failed", task="Claim", ignore_errors=True, res={"msg": "ignored"}),
              ev("runner_on_failed", task="Schedule (filters, then weighers)",
                 res={"msg": "No valid host for g3 ...\nRamFilter removed hv-a2: needs 512 MiB"}),
              ev("runner_on_failed", task="later", res={"msg": "second"})]
    r = ferry_evacuate.run_result("g3", 2, "failed", events)
    assert not r["moved"] and r["target"] is None
    assert r["reason"].startswith("Schedule (filters, then weighers): No valid host for g3")


@pytest.mark.parametrize("rc, events, reason", [
    pytest.param(0, [], "migrate.yml ended successful (rc 0) without a move result", id="ok-but-no-result"),
    pytest.param(4, [ev("runner_on_unreachable", task="Gather", res={"msg": "ssh: connect refused"})],
                 "Gather: ssh: connect refused", id="unreachable"),
    pytest.param(2, [ev("runner_on_failed", task="t", res={"stderr": "boom"})], "t: boom", id="stderr"),
])
def test_run_result_other_endings(rc, events, reason):
    status = "successful" if rc == 0 else "failed"
    assert ferry_evacuate.run_result("g", rc, status, events)["reason"] == reason


def test_run_result_without_events_says_what_the_run_printed_last():
    r = ferry_evacuate.run_result("g", 2, "failed", [], stdout_tail="error: the following arguments are required")
    assert r["reason"] == ("migrate.yml ended failed (rc 2) without a move result: "
                           "error: the following arguments are required")


def test_summary_counts():
    results = [{"instance": "g1", "moved": True, "target": "hv-a2", "result": {}, "reason": None},
               {"instance": "g3", "moved": False, "target": None, "result": None, "reason": "No valid host"}]
    lines, counts = ferry_evacuate.summary(results, [{"instance": "legacy", "reason": "not ferry's"}], "hv-a1")
    assert lines == ["g1: moved hv-a1 -> hv-a2 (finished, awaiting confirm or revert)",
                     "g3: stays on hv-a1: No valid host", "legacy: stays on hv-a1: not ferry's"]
    assert counts == {"moved": 1, "left": 2}
    lines, _ = ferry_evacuate.summary(results, [], "hv-a1", confirmed=True)
    assert lines[0] == "g1: moved hv-a1 -> hv-a2 (confirmed)"


# ---------------------------------------------------------------- the module's runs

class FakeRunner(object):
    """Stands in for ansible_runner: records how many runs overlap, answers per guest."""

    def __init__(self, outcomes):
        import threading
        self.outcomes, self.lock, self.now, self.peak, self.calls = outcomes, threading.Lock(), 0, 0, []

    def run(self, **kw):
        import time
        guest = kw["extravars"]["instance"]
        with self.lock:
            self.now += 1
            self.peak = max(self.peak, self.now)
            self.calls.append(kw)
        time.sleep(0.05)
        with self.lock:
            self.now -= 1
        rc, events = self.outcomes[guest]
        if rc is None:
            raise RuntimeError("runner exploded")

        class R(object):
            pass
        r = R()
        r.rc, r.status, r.events = rc, "successful" if rc == 0 else "failed", events
        return r


@pytest.mark.parametrize("parallel", [1, 2, 3])
def test_module_runs_migrate_per_guest_bounded(monkeypatch, tmp_path, parallel):
    import ferry_evacuate as mod
    moved = [ev("playbook_on_stats", artifact_data={"ferry_move_result": {"target": "hv-a2"}})]
    failed = [ev("runner_on_failed", task="Schedule", res={"msg": "No valid host"})]
    outcomes = {"g%d" % i: (0, moved) for i in range(5)}
    outcomes["g3"] = (2, failed)
    outcomes["g4"] = (None, [])
    fake = FakeRunner(outcomes)
    monkeypatch.setattr(mod, "ansible_runner", fake)
    p = {"guests": sorted(outcomes), "parallel": parallel, "playbook": "/p/playbooks/migrate.yml",
         "project_dir": "/p", "inventory": ["/p/inv.yml"], "extravars": {"ferry_adopt": False},
         "artifacts_dir": str(tmp_path / "runs")}
    results = mod.run_all(p, "/venv/bin/ansible-playbook")
    assert fake.peak == min(parallel, 5)
    assert [r["instance"] for r in results] == ["g0", "g1", "g2", "g3", "g4"]
    assert [r["moved"] for r in results] == [True, True, True, False, False]
    assert results[3]["reason"] == "Schedule: No valid host"
    assert results[4]["reason"] == "could not run migrate.yml: runner exploded"
    kw = fake.calls[0]
    assert kw["extravars"]["ferry_adopt"] is False and "binary" not in kw
    assert kw["envvars"]["PATH"].split(":")[0] == "/venv/bin"
    assert kw["private_data_dir"] == str(tmp_path / "runs" / kw["extravars"]["instance"])
    assert kw["envvars"]["ANSIBLE_CONFIG"] == "/p/ansible.cfg"
    assert p["extravars"] == {"ferry_adopt": False}  # each run got its own copy with its instance


def test_inner_env_drops_the_outer_runners_callback():
    env = {"PATH": "/bin", "ANSIBLE_STDOUT_CALLBACK": "awx_display", "ORIGINAL_STDOUT_CALLBACK": "awx_display",
           "ANSIBLE_CALLBACK_PLUGINS": "/x/display_callback", "AWX_ISOLATED_DATA_DIR": "/a", "JOB_ID": "7",
           "ANSIBLE_CONFIG": "/p/ansible.cfg"}
    assert ferry_evacuate.inner_env(env) == {"PATH": "/bin", "JOB_ID": "7", "ANSIBLE_CONFIG": "/p/ansible.cfg"}


def test_one_line_keeps_the_headline_and_the_removals():
    report = ("Schedule (filters, then weighers): No valid host for g3 (flavor m1.large: 2 vCPU, 512 MiB, 4 GiB, AZ az1): "
              "4 host(s) considered, none passed.\nignore_hosts removed hv-a1: in ignore_hosts\nignore_hosts: 3 remain\n"
              "RetryFilter: removed none, 3 remain\nAvailabilityZoneFilter removed hv-b1: in AZ az2, az1 requested\n"
              "AvailabilityZoneFilter: 1 remain\nRamFilter removed hv-a2: needs 512 MiB, 256 MiB free at ratio 1.0\n"
              "RamFilter: 0 remain\nRamFilter left no host.")
    assert ferry_evacuate.one_line(report) == (
        "Schedule (filters, then weighers): No valid host for g3 (flavor m1.large: 2 vCPU, 512 MiB, 4 GiB, AZ az1): "
        "4 host(s) considered, none passed.; ignore_hosts removed hv-a1: in ignore_hosts; AvailabilityZoneFilter "
        "removed hv-b1: in AZ az2, az1 requested; RamFilter removed hv-a2: needs 512 MiB, 256 MiB free at ratio 1.0; "
        "RamFilter left no host.")
