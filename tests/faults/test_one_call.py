"""The one-call stop window under faults (ferry_stop_window=one-call, the default).

The target's finish is armed before the stop; the source's call stops the guest, ships the final
files and says go over the host link; the target starts the guest on its own.  So once the go is
said, the controller no longer decides alone whether the guest runs on the target: the target's
gate (ferry_gate) does, once.  Each test injects a real fault around the go and checks, through
the hosts' own tools, that the guest runs on exactly one host (or, while that cannot be known, on
none), that nothing is lost, and that recover.yml ends it:

- the go lost (the target's dispatcher refuses it): the gate is closed, the target never starts
  the guest, the source restarts;
- the finish failing after the go (the target's libvirt cannot start qemu): the source restarts;
- the controller killed after the go: the target started the guest; recover.yml keeps the move;
- the target unreachable after the go: the source is NOT restarted (the guest runs on the target),
  and recover.yml keeps the move once the target answers;
- the target's libvirt daemon hung when the go comes: nobody can say whether the guest will start
  there, so nothing restarts; once the daemon answers, recover.yml ends the move where the guest is."""

import contextlib
import os
import shutil
import time

import pytest

from tests.integration import lab
from tests.faults.test_fault_points import TTL, assert_clean
from tests.faults.test_real_faults import assert_rolled_back, barrier, booted, libvirtd, qemu_log_blocked
from tests.faults.test_regress_lease import meta_xml, running_on, status
from tests.faults.test_regressions import host_down

GO_VERB = '    "go": ("go", "instance", ("key", "name")),\n'
# the dispatcher's wait for the finish's result after a go; 0: it answers none (as an older one)
OUTCOME_WAIT = "OUTCOME_WAIT = 300.0"


@contextlib.contextmanager
def dispatcher_edited(host, old, new):
    """The host's peer dispatcher with `old` replaced by `new` (an older or broken one), restored after."""
    peer = "%s/peer/%s/ferry-peer" % (lab.inventory()[0]["vars"]["ferry_lab_root"], host)
    shutil.copy2(peer, peer + ".keep")
    try:
        with open(peer) as f:
            text = f.read()
        assert old in text
        with open(peer, "w") as f:
            f.write(text.replace(old, new))
        yield
    finally:
        os.replace(peer + ".keep", peer)


def wait_running_on(name, host, timeout=20):
    deadline = time.monotonic() + timeout
    while running_on(name) != [host] and time.monotonic() < deadline:
        time.sleep(0.2)
    return running_on(name)


@pytest.mark.matrix
def test_go_refused_by_the_target_it_never_starts_and_the_source_restarts(guest_name):
    """The target's dispatcher is an older one without the verb go (a real refusal, rc 2, what an
    upgrade half done gives): the source's call fails after the stop and the ship; the rollback
    closes the target's gate, so its armed finish never starts the guest; the source restarts."""
    name, ref = booted(guest_name, "ocl")
    with barrier("before-stop") as (start, lift):
        t = start("migrate.yml", instance=name, target_host="hv-b2")
        with dispatcher_edited("hv-b2", GO_VERB, ""):
            r = lift(t)
    assert_rolled_back(name, "hv-b1", ref, r, "unknown verb 'go'")
    assert lab.domain_state("hv-b2", name) == "absent"
    # the armed finish ended without defining anything (its gate was closed)
    lab.ok(lab.run_playbook("migrate.yml", instance=name, target_host="hv-b2", ferry_auto_confirm=True))
    assert_clean(name, "hv-b2", ref)


@pytest.mark.matrix
def test_finish_failing_after_the_go_rolls_back(guest_name):
    """After the go, the target's libvirt cannot start qemu (its log path for this guest is taken by
    a directory root owns): the finish fails on its own; the gate says it had started and has ended
    without the guest running, so the source restarts and the target's copy goes."""
    name, ref = booted(guest_name, "ocf")
    with barrier("before-stop") as (start, lift):
        t = start("migrate.yml", instance=name, target_host="hv-b2")
        with qemu_log_blocked("hv-b2", name):
            r = lift(t)
    # (its result came back on the go's connection)
    assert_rolled_back(name, "hv-b1", ref, r, "The target's finish failed on hv-b2")
    assert lab.domain_state("hv-b2", name) == "absent"


@pytest.mark.matrix
def test_controller_killed_after_the_go_the_move_is_kept(guest_name):
    """The controller dies right after the source's call (the go said): the target starts the guest
    on its own; recover.yml keeps the move, which confirms like any other."""
    name, ref = booted(guest_name, "ock")
    r = lab.run_playbook("migrate.yml", instance=name, target_host="hv-b2", ferry_fault="after-ship",
                         ferry_lease_ttl=TTL)
    assert r.rc == 0, r.failures()
    assert wait_running_on(name, "hv-b2") == ["hv-b2"]
    assert lab.domain_state("hv-b1", name) == "shut off"
    time.sleep(TTL + 1)
    r = lab.ok(lab.run_playbook("recover.yml", instance=name))
    assert "complete" in r.stdout
    assert status("hv-b1", name) == "finished" and status("hv-b2", name) == "finished"
    assert_clean(name, "hv-b2", ref, pending_claim=True)
    lab.ok(lab.run_playbook("confirm.yml", instance=name))
    assert lab.domain_state("hv-b1", name) == "absent"
    assert_clean(name, "hv-b2", ref)


def test_target_unreachable_after_the_go_the_source_is_not_restarted(guest_name):
    """The target's sshd dies right after the go: the controller cannot learn whether the guest
    started there.  It did (the finish runs on the target, not through the controller's
    connection), so restarting the source would run the guest twice.  The move fails without
    restarting it, releases its lease, and says so; once the target answers, recover.yml keeps the
    move.  (The target's dispatcher is one that does not send the finish's result back on the go's
    connection, as an older one: the controller must ask the target, which it cannot.)"""
    name, ref = booted(guest_name, "ocu")
    with barrier("after-ship") as (start, lift):
        with dispatcher_edited("hv-b2", OUTCOME_WAIT, "OUTCOME_WAIT = 0.0"):
            t = start("migrate.yml", instance=name, target_host="hv-b2")   # returns at the barrier
        with host_down("hv-b2"):
            r = lift(t)
            msg = "\n".join(r.failures())
            assert r.rc != 0 and "Not restarted on hv-b1" in msg, msg
            assert "<lease" not in meta_xml("hv-b1", name)
            assert lab.domain_state("hv-b1", name) == "shut off"
            # while the target cannot be asked, recover refuses to decide
            w = lab.run_playbook("recover.yml", instance=name)
            assert w.rc != 0 and "unreachable" in "\n".join(w.failures())
    assert wait_running_on(name, "hv-b2") == ["hv-b2"]
    r = lab.ok(lab.run_playbook("recover.yml", instance=name))
    assert "complete" in r.stdout
    assert_clean(name, "hv-b2", ref, pending_claim=True)
    lab.ok(lab.run_playbook("revert.yml", instance=name))
    assert_clean(name, "hv-b1", ref)


@pytest.mark.matrix
def test_target_libvirt_hung_at_the_go_nothing_restarts_until_recover(guest_name):
    """The target's libvirt daemon hangs (SIGSTOP) once the finish is armed: after the go the finish
    cannot define the guest (the modules' watchdog ends its wait after ferry_libvirt_timeout), and
    the rollback's gate cannot ask libvirt whether the guest runs there either.  A hung daemon may
    still carry out what it was sent once it resumes, so the source is not restarted: the move
    holds, its lease released.  Once the daemon answers, recover.yml finds where the guest is and
    ends the move there: it runs on exactly one host, nothing lost."""
    name, ref = booted(guest_name, "och")
    with barrier("before-stop") as (start, lift):
        t = start("migrate.yml", instance=name, target_host="hv-b2", ferry_libvirt_timeout=10)
        with libvirtd("hv-b2", "hung"):
            r = lift(t)
            msg = "\n".join(r.failures())
            assert r.rc != 0 and "Not restarted on hv-b1" in msg, msg
            assert lab.domain_state("hv-b1", name) == "shut off"
            assert "<lease" not in meta_xml("hv-b1", name)
    time.sleep(3)   # resumed: what it was sent while hung is carried out now or never
    r = lab.ok(lab.run_playbook("recover.yml", instance=name))
    where = running_on(name)
    assert len(where) == 1, where
    if where == ["hv-b2"]:
        assert "complete" in r.stdout, r.stdout
        assert_clean(name, "hv-b2", ref, pending_claim=True)
        lab.ok(lab.run_playbook("revert.yml", instance=name))
    else:
        assert where == ["hv-b1"] and status("hv-b1", name) == "error"
        assert lab.domain_state("hv-b2", name) == "absent"
    assert_clean(name, "hv-b1", ref)
