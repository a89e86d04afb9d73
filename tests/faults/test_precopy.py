"""Pre-copy (ferry_precopy=true) on the lab: the bulk of each disk ships while the guest runs, only
the snapshot overlays ship after the stop, and every copy ends in the guest's own layout.

- the move: the target's disks are the files the guest had (no pre-copy file left, the root overlay
  on the cached base), the source's definition names its own files again, the content identical
  (`qemu-img compare`), the bytes after the stop a small part of the bytes shipped;
- revert: the source restarts exactly as it was;
- three rounds (each freezes a new layer and ships the one before): the same end state;
- the controller killed after the snapshot and after the pre-copy, in round 1 or 2 (the guest still
  runs on one or two layers): recover.yml folds them back with an active commit, the guest never
  stops;
- a failure during the pre-copy (the target's filesystem full) rolls back the same way.
The writing guest with pre-copy is in test_writing_guest.py."""

import pytest

from tests.faults.test_fault_points import TTL
from tests.faults.test_regress_lease import meta_xml, running_on, status
from tests.integration import lab


def blklist(host, name, inactive=False):
    args = ["domblklist", name, "--details"] + (["--inactive"] if inactive else [])
    return {cols[2]: cols[3] for cols in (line.split() for line in lab.virsh(host, *args).splitlines())
            if len(cols) == 4 and cols[1] == "disk"}


def precopy_files(host, name):
    idir = lab.disk_path(host, name).rsplit("/", 1)[0]
    return lab.ssh(host, "ls %s 2>/dev/null | grep precopy || true" % idir).split()


def assert_own_layout(host, name):
    disk = lab.disk_path(host, name)
    assert blklist(host, name, inactive=True) == {"vda": disk}
    if lab.domain_state(host, name) == "running":
        assert blklist(host, name) == {"vda": disk}
    assert precopy_files(host, name) == []
    assert "<precopy" not in meta_xml(host, name)
    chain = lab.qemu_img_info(host, disk)
    assert len(chain) == 2 and chain[1]["filename"].startswith(lab.inventory()[2][host]["ferry_cache_dir"])


@pytest.fixture
def guest(guest_name):
    name = guest_name("pc")
    lab.ok(lab.run_playbook("boot.yml", instance=name, flavor="m1.small", image="tiny", host="hv-b1"))
    return name, lab.write_pattern("hv-b1", name)


# threshold 0: every round runs (an idle guest's new layer still holds its qcow2 header)
ROUNDS = {1: {}, 3: {"ferry_precopy_rounds": 3, "ferry_precopy_threshold_mb": 0}}


@pytest.mark.parametrize("rounds", [pytest.param(1, marks=pytest.mark.matrix), 3])
def test_precopy_move_then_revert_keeps_the_guests_layout(guest, rounds):
    name, ref = guest
    r = lab.ok(lab.run_playbook("migrate.yml", instance=name, target_host="hv-b2", ferry_precopy=True,
                                **ROUNDS[rounds]))
    res = r.task_result("Sum up the move")["ansible_facts"]["ferry_move_result"]
    print("\npre-copy move: %d round(s), %d bytes before the stop, %d after, downtime %.2f s"
          % (res["precopy_rounds"], res["precopy_bytes"], res["final_bytes"], res["downtime_s"]))
    assert res["precopy_rounds"] == rounds
    assert res["precopy_bytes"] > 4 << 20 and res["final_bytes"] < res["precopy_bytes"] / 4, res
    assert [p["s"] is not None for p in res["phases"] if p["phase"] == "pre-copy"] == [True]
    assert running_on(name) == ["hv-b2"]
    assert_own_layout("hv-b2", name)
    assert "rc=0" in lab.compare("hv-b2", lab.disk_path("hv-b2", name), ref)
    assert lab.domain_state("hv-b1", name) == "shut off"
    assert_own_layout("hv-b1", name)  # the source folded back: revert restarts it as it was
    # (by the source's own call, right after its go: the controller's fold did not run)
    final = [e["event_data"]["res"] for e in r.events if e.get("event") == "runner_on_ok"
             and "go_sent" in e["event_data"].get("res", {})][-1]
    assert final["go_sent"] is True and any("committed" in x for x in final["folded"]), final
    assert "Fold the pre-copy back into the source's disks (the stopped source keeps its own layout)" not in {
        e["event_data"].get("task") for e in r.events if e.get("event") == "runner_on_ok"}
    assert "rc=0" in lab.compare("hv-b1", lab.disk_path("hv-b1", name), ref)
    lab.ok(lab.run_playbook("revert.yml", instance=name))
    assert running_on(name) == ["hv-b1"]
    assert_own_layout("hv-b1", name)
    assert "rc=0" in lab.compare("hv-b1", lab.disk_path("hv-b1", name), ref)


@pytest.mark.parametrize("point, layers", [pytest.param("after-snapshot", 1, marks=pytest.mark.matrix),
                                           pytest.param("after-precopy", 1, marks=pytest.mark.matrix),
                                           ("after-snapshot-r2", 2)])
def test_controller_killed_during_the_precopy_is_folded_back_by_recover(guest, point, layers):
    """Killed with the guest on its first layer, or on its second (round 2: recover's active commit
    then folds both layers into the disk at once)."""
    name, ref = guest
    r = lab.run_playbook("migrate.yml", instance=name, target_host="hv-b2", ferry_precopy=True,
                         ferry_fault=point, ferry_lease_ttl=TTL, **ROUNDS[3])
    assert r.rc == 0, r.failures()
    assert lab.domain_state("hv-b1", name) == "running"
    assert len(precopy_files("hv-b1", name)) == layers + 1  # the layers and the saved definition
    assert set(blklist("hv-b1", name).values()) != {lab.disk_path("hv-b1", name)}  # writes go to the overlay
    import time
    time.sleep(TTL + 1)
    rec = lab.ok(lab.run_playbook("recover.yml", instance=name))
    assert "rollback" in rec.stdout
    assert running_on(name) == ["hv-b1"]  # never stopped: folded by an active commit
    assert status("hv-b1", name) == "error"
    assert_own_layout("hv-b1", name)
    assert lab.domain_state("hv-b2", name) == "absent"
    lab.virsh("hv-b1", "destroy", name)
    assert "rc=0" in lab.compare("hv-b1", lab.disk_path("hv-b1", name), ref)


def test_target_full_during_the_precopy_rolls_back_while_the_guest_runs(guest):
    """The target's instance directory is a 1 MiB tmpfs: the pre-copy's ship gets a real ENOSPC
    while the guest runs on its snapshot overlay; the rollback folds it back by an active commit."""
    import os
    import shlex
    import subprocess
    from tests.faults.test_real_faults import host_user
    name, ref = guest
    d = os.path.dirname(lab.disk_path("hv-b2", name))
    user = host_user("hv-b2")
    lab.ssh("hv-b2", "mkdir -p %s" % shlex.quote(d))
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m,mode=0750,uid=%s,gid=%s" % (user, user), "tmpfs", d],
                   check=True)
    try:
        r = lab.run_playbook("migrate.yml", instance=name, target_host="hv-b2", ferry_precopy=True)
    finally:
        subprocess.run(["umount", d], check=True)
    lab.ssh("hv-b2", "rmdir %s 2>/dev/null; true" % shlex.quote(d))
    assert r.rc != 0 and any("No space left" in m for m in r.failures()), r.failures()
    assert running_on(name) == ["hv-b1"]
    assert status("hv-b1", name) == "error"
    assert_own_layout("hv-b1", name)
    assert lab.domain_state("hv-b2", name) == "absent"
    lab.virsh("hv-b1", "destroy", name)
    assert "rc=0" in lab.compare("hv-b1", lab.disk_path("hv-b1", name), ref)
