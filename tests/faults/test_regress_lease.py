"""Regression tests for issue 8's paths #1 (two operations on one guest), #2 (a same-host confirm
interrupted, then reverted), #6 (interrupted revert / confirm nobody can finish) and #8 (claims:
same-host claim not counted, orphaned claim never released), on the real lab.  Each was landed
failing (xfail strict) before its fix.

The interrupted states of #2 and #6 are made by hand, exactly as the code of the time left them
(the metadata status and the files removed), so the tests judge the way forward, not the timing
of a kill."""

import json
import re
import shlex
import subprocess
import threading
import time

import pytest


from tests.integration import lab

NS = "https://ferry.invalid/xmlns/instance/1.0"


def meta_xml(host, name):
    return lab.virsh(host, "metadata", name, NS, "--config")


def set_status(host, name, status):
    """Rewrite the migration status in the guest's ferry metadata, as an interrupted run left it."""
    xml = meta_xml(host, name)
    new = re.sub(r'(<status type="str">)[^<]*(</status>)', r"\g<1>%s\g<2>" % status, xml, count=1)
    assert new != xml
    lab.virsh(host, "metadata", name, NS, "--config", "--key", "ferry", "--set", new)


def status(host, name):
    m = re.search(r'<status type="str">([^<]*)</status>', meta_xml(host, name))
    return m.group(1) if m else None


def running_on(name):
    return sorted(h for h in ("hv-a1", "hv-a2", "hv-b1", "hv-b2") if lab.domain_state(h, name) == "running")


def test_two_migrations_of_one_guest_at_once_one_is_refused(guest_name):
    """#1: two migrate.yml a second apart both passed validation from their own facts; nothing
    marked the guest as being worked on.

    Made deterministic with two barriers: the second run has read its facts (no lease, no move)
    and waits before taking the lease; the first has taken the lease and waits before claiming.
    Then the second goes on: only the lease can refuse it (its facts say the guest is free)."""
    from tests.faults.test_real_faults import barrier
    name = guest_name("race")
    lab.ok(lab.run_playbook("boot.yml", instance=name, flavor="m1.small", image="tiny", host="hv-b1"))
    ref = lab.write_pattern("hv-b1", name)
    with barrier("before-lease") as (start_second, lift_second), barrier("before-claim") as (start_first, lift_first):
        second = start_second("migrate.yml", instance=name, target_host="hv-b2")
        first = start_first("migrate.yml", instance=name, target_host="hv-b2")
        assert "<lease" in meta_xml("hv-b1", name) and status("hv-b1", name) in (None, "", "none")
        b = lift_second(second)
        a = lift_first(first)
    assert a.rc == 0, a.failures()
    msg = "\n".join(b.failures())
    assert b.rc != 0 and "being worked on" in msg, msg
    assert running_on(name) == ["hv-b2"]
    assert lab.domain_state("hv-b1", name) == "shut off"
    assert "rc=0" in lab.compare("hv-b2", lab.disk_path("hv-b2", name), ref)


def test_recover_while_the_move_runs_is_refused(guest_name):
    """#1: recover.yml while the first controller still ran rolled the move back under it."""
    name = guest_name("rcv")
    lab.ok(lab.run_playbook("boot.yml", instance=name, flavor="m1.small", image="tiny", host="hv-b1"))
    ref = lab.write_pattern("hv-b1", name)
    results = {}
    mover = threading.Thread(target=lambda: results.update(m=lab.run_playbook("migrate.yml", instance=name,
                                                                                ferry_bwlimit=2000)))
    mover.start()
    deadline = time.time() + 120
    while time.time() < deadline and status("hv-b1", name) not in ("pre-migrating", "migrating"):
        time.sleep(0.3)
    rec = lab.run_playbook("recover.yml", instance=name)
    mover.join()
    msg = "\n".join(rec.failures())
    assert rec.rc != 0 and "being worked on" in msg, msg
    assert results["m"].rc == 0, results["m"].failures()
    assert running_on(name) == ["hv-b2"]
    assert "rc=0" in lab.compare("hv-b2", lab.disk_path("hv-b2", name), ref)


def _same_host_resized(guest_name):
    name = guest_name("shc")
    lab.ok(lab.run_playbook("boot.yml", instance=name, flavor="m1.small", image="tiny", host="hv-a1"))
    lab.ok(lab.run_playbook("resize.yml", instance=name, flavor="m1.medium", target_host="hv-a1",
                            ferry_allow_resize_to_same_host=True))
    return name


def _disks(host, name):
    return [d for d in lab.virsh(host, "domblklist", name, "--details").split() if d.startswith("/")]


def test_same_host_confirm_interrupted_after_the_old_disk_is_not_reverted(guest_name):
    """#2: confirm deleted the old disk and stopped at status confirming; revert accepted that
    state, redefined the guest on the deleted file and deleted the only disk left."""
    name = _same_host_resized(guest_name)
    current = _disks("hv-a1", name)[0]
    old = re.search(r'<old_disk type="str">([^<]*)<', meta_xml("hv-a1", name)).group(1)
    assert old != current
    set_status("hv-a1", name, "confirming")
    lab.ssh("hv-a1", "rm -f %s" % shlex.quote(old))
    r = lab.run_playbook("revert.yml", instance=name)
    assert r.rc != 0 and "cannot be reverted" in "\n".join(r.failures()), r.failures()
    assert lab.exists("hv-a1", current)
    assert lab.dominfo("hv-a1", name)["state"] == "running"
    lab.ok(lab.run_playbook("confirm.yml", instance=name))
    assert status("hv-a1", name) == "confirmed"
    assert _disks("hv-a1", name) == [current] and lab.exists("hv-a1", current)
    assert name + ".json" not in lab.claims("hv-a1")


def _migrated(guest_name, prefix):
    name = guest_name(prefix)
    lab.ok(lab.run_playbook("boot.yml", instance=name, flavor="m1.small", image="tiny", host="hv-b1"))
    ref = lab.write_pattern("hv-b1", name)
    lab.ok(lab.run_playbook("migrate.yml", instance=name, target_host="hv-b2"))
    return name, ref


def test_revert_interrupted_after_the_target_is_destroyed_is_finished_by_recover(guest_name):
    """#6: revert destroyed the target copy and stopped before restarting the source: revert
    refused (target missing), recover did nothing, new moves were refused."""
    name, ref = _migrated(guest_name, "rvi")
    lab.virsh("hv-b2", "destroy", name)
    lab.virsh("hv-b2", "undefine", name)
    lab.ssh("hv-b2", "rm -rf %s" % shlex.quote(lab.disk_path("hv-b2", name).rsplit("/", 1)[0]))
    lab.ok(lab.run_playbook("recover.yml", instance=name))
    assert running_on(name) == ["hv-b1"]
    assert status("hv-b1", name) == "reverted"
    assert "rc=0" in lab.compare("hv-b1", lab.disk_path("hv-b1", name), ref)
    assert name + ".json" not in lab.claims("hv-b2")


@pytest.mark.matrix  # make test: kept under 50 min (the one-call window's fault test took its place)
def test_confirm_interrupted_after_the_source_is_deleted_is_finished_by_a_rerun(guest_name):
    """#6: confirm deleted the source copy and stopped at confirming: confirm refused (source
    missing), recover did nothing."""
    name, ref = _migrated(guest_name, "cfi")
    set_status("hv-b2", name, "confirming")
    lab.virsh("hv-b1", "undefine", name)
    lab.ssh("hv-b1", "rm -rf %s" % shlex.quote(lab.disk_path("hv-b1", name).rsplit("/", 1)[0]))
    lab.ok(lab.run_playbook("confirm.yml", instance=name))
    assert status("hv-b2", name) == "confirmed"
    assert running_on(name) == ["hv-b2"]
    assert name + ".json" not in lab.claims("hv-b2")
    assert "rc=0" in lab.compare("hv-b2", lab.disk_path("hv-b2", name), ref)


def _memory_in_use(host):
    names = lab.virsh(host, "list", "--all", "--name").split()
    return sum(lab.dominfo(host, n)["memory_mb"] for n in names)


@pytest.mark.matrix  # make test: kept under 50 min (the one-call window's fault test took its place)
def test_same_host_resize_claim_counts_against_a_migration_in(guest_name):
    """#8: a same-host resize's claim was not counted, so the host's last room could be taken by
    it and by a migration into that host."""
    g, h = guest_name("shr"), guest_name("shm")
    lab.ok(lab.run_playbook("boot.yml", instance=h, flavor="m1.medium", image="tiny", host="hv-a2"))
    lab.ok(lab.run_playbook("boot.yml", instance=g, flavor="m1.small", image="tiny", host="hv-a1"))
    others = _memory_in_use("hv-a1") - 128
    # room for g's old (128) + new (512) flavors, or for g's new one + h (256), never all three
    cap = {"vcpus": 8, "memory_mb": others + 128 + 512 + 256 - 1, "disk_gb": 100}
    lab.ok(lab.run_playbook("resize.yml", instance=g, flavor="m1.large", target_host="hv-a1",
                            ferry_allow_resize_to_same_host=True, ferry_capacity=cap))
    r = lab.run_playbook("migrate.yml", instance=h, target_host="hv-a1", ferry_capacity=cap)
    assert r.rc != 0, "the migration took the room the same-host resize holds until confirm"
    assert lab.domain_state("hv-a1", h) == "absent" and lab.dominfo("hv-a2", h)["state"] == "running"
    lab.ok(lab.run_playbook("confirm.yml", instance=g))
    lab.ok(lab.run_playbook("migrate.yml", instance=h, target_host="hv-a1", ferry_capacity=cap))


def test_recover_releases_a_claim_left_by_a_killed_controller(guest_name):
    """#8: a controller killed between claiming and marking the guest left a claim that never
    expired and that recover.yml ignored."""
    name = guest_name("orp")
    lab.ok(lab.run_playbook("boot.yml", instance=name, flavor="m1.small", image="tiny", host="hv-b1"))
    claims_dir = lab.inventory()[2]["hv-b2"]["ferry_claims_dir"]
    claim = {"id": "dead-controller", "instance": name, "vcpus": 1, "memory_mb": 128, "disk_gb": 2.0,
             "kind": "move", "created": time.time() - 7200, "expires": time.time() - 3600}
    lab.ssh("hv-b2", "printf %%s %s > %s/%s.json" % (shlex.quote(json.dumps(claim)), claims_dir, name))
    assert name + ".json" in lab.claims("hv-b2")
    lab.ok(lab.run_playbook("recover.yml", instance=name))
    assert name + ".json" not in lab.claims("hv-b2")
    assert lab.dominfo("hv-b1", name)["state"] == "running"


def test_a_move_no_host_can_be_claimed_for_ends_with_the_claims_report(guest_name):
    """#5: a move whose every candidate refused the claim died with a templating error (a
    non-boolean `when:` under ansible-core 2.19) instead of the claim's report.  The fix landed in
    an earlier session, before this test existed: this test was not landed failing first.

    The scheduler passes the target; at the barrier before the claim, another guest's live claim
    takes all of the target's RAM, so the claim's re-check under the target's lock refuses."""
    from tests.faults.test_real_faults import barrier
    name = guest_name("nohost")
    lab.ok(lab.run_playbook("boot.yml", instance=name, flavor="m1.small", image="tiny", host="hv-b1"))
    claims_dir = lab.inventory()[2]["hv-b2"]["ferry_claims_dir"]
    filler = {"id": "filler", "instance": name + "-filler", "vcpus": 1, "memory_mb": 1 << 20, "disk_gb": 1.0,
              "kind": "move", "created": time.time(), "expires": time.time() + 600}
    path = "%s/%s-filler.json" % (claims_dir, name)
    with barrier("before-claim") as (start, lift):
        t = start("migrate.yml", instance=name, target_host="hv-b2")
        lab.ssh("hv-b2", "printf %%s %s > %s" % (shlex.quote(json.dumps(filler)), shlex.quote(path)))
        try:
            r = lift(t)
        finally:
            lab.ssh("hv-b2", "rm -f %s" % shlex.quote(path))
    msg = "\n".join(r.failures())
    assert r.rc != 0 and "No host could be claimed" in msg and "RamFilter" in msg, msg
    assert "templat" not in msg.lower(), msg
    assert lab.dominfo("hv-b1", name)["state"] == "running"
    assert "<lease" not in meta_xml("hv-b1", name)
    assert name + ".json" not in lab.claims("hv-b2")


@pytest.mark.parametrize("op", ["confirm", pytest.param("revert", marks=pytest.mark.matrix)])
def test_a_failed_confirm_or_revert_releases_its_lease_and_a_rerun_finishes_it(guest_name, op):
    """A confirm (revert) whose step fails after it marked the move releases its lease on both
    copies, so a re-run finishes it at once instead of waiting for the lease to expire.  The fault:
    the copy it deletes lies in a directory its host's user may not write (the purge refuses whole,
    before undefining anything)."""
    name, ref = _migrated(guest_name, op[:3] + "f")
    victim = "hv-b1" if op == "confirm" else "hv-b2"
    idir = lab.disk_path(victim, name).rsplit("/", 1)[0]
    subprocess.run(["chmod", "a-w", idir], check=True)  # as root: the host's user cannot write it
    try:
        r = lab.run_playbook(op + ".yml", instance=name)
        msg = "\n".join(r.failures())
        assert r.rc != 0 and "lease was released on" in msg, msg
        for h in ("hv-b1", "hv-b2"):
            if lab.domain_state(h, name) != "absent":
                assert "<lease" not in meta_xml(h, name), "%s's failed %s left its lease on %s" % (name, op, h)
        assert status("hv-b2" if op == "confirm" else "hv-b1", name) == op + "ing"
    finally:
        subprocess.run(["chmod", "u+w", idir], check=True)
    lab.ok(lab.run_playbook(op + ".yml", instance=name))  # at once: no lease to wait for
    keeps, gone = ("hv-b2", "hv-b1") if op == "confirm" else ("hv-b1", "hv-b2")
    assert status(keeps, name) == op + "ed" and lab.domain_state(gone, name) == "absent"
    assert running_on(name) == [keeps]
    assert "rc=0" in lab.compare(keeps, lab.disk_path(keeps, name), ref)


@pytest.mark.matrix  # make test: kept under 50 min (the one-call window's fault test took its place)
def test_recover_decides_on_the_state_read_under_the_lease(guest_name):
    """recover.yml read the guest's state, then took over the lease: a move whose lease had only
    expired (its controller slow, not dead) could finish in between, and recover then rolled back
    a guest already running on its target.  Two barriers: recover has read its facts (move in
    flight: roll back) and waits before the lease; the slow move goes on and finishes; recover then
    takes the lease, decides again on what it reads under it, and keeps the finished move."""
    from tests.faults.test_real_faults import barrier
    name = guest_name("rul")
    lab.ok(lab.run_playbook("boot.yml", instance=name, flavor="m1.small", image="tiny", host="hv-b1"))
    ref = lab.write_pattern("hv-b1", name)
    with barrier("after-ship") as (start_move, lift_move), \
            barrier("recover-before-lease") as (start_recover, lift_recover):
        # (two calls: in the one-call window the target would finish on its own before recover reads)
        move = start_move("migrate.yml", instance=name, target_host="hv-b2", ferry_lease_ttl=3,
                          ferry_stop_window="two-calls")
        time.sleep(4)  # the slow move's lease has expired: recover may take it over
        rec = start_recover("recover.yml", instance=name)
        m = lift_move(move)
        assert m.rc == 0, m.failures()
        r = lift_recover(rec)
    assert r.rc == 0, r.failures()
    assert "instead of rollback" in r.stdout, r.stdout[-3000:]
    assert running_on(name) == ["hv-b2"]
    assert status("hv-b2", name) == "finished" and status("hv-b1", name) == "finished"
    assert "rc=0" in lab.compare("hv-b2", lab.disk_path("hv-b2", name), ref)
    lab.ok(lab.run_playbook("confirm.yml", instance=name))
