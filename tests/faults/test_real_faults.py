"""Real faults at named points of a move, on the lab: a full filesystem, the image store down, a
failing `qemu-img rebase`, a target that cannot start the guest, a host cut off before the move
and the source cut off after the stop.  The fault is real (the kernel's ENOSPC, qemu-img's and
qemu's own errors, a dead sshd); only its timing uses the barrier hook (`ferry_fault_barrier`):
the controller waits at the named point while the test injects the fault.

End-state rule: until the target's copy is complete, verified and defined, the guest ends on its
source as the operator left it (status error); nothing is lost (`qemu-img compare`), no lease or
claim is left, no half-copied file remains that a later run would trust."""

import contextlib
import os
import pwd
import shlex
import signal
import subprocess
import threading
import time

import pytest

from ansible.module_utils import ferry_daemon
from tests.integration import lab
from tests.faults.test_fault_points import assert_clean
from tests.faults.test_regress_lease import running_on, status
from tests.faults.test_regressions import host_down


@contextlib.contextmanager
def barrier(point):
    """Run a playbook that stops at `point` (yielded: start(playbook, **vars) -> thread, result);
    the test injects its fault, then lift() lets the controller go on."""
    path = "/tmp/ferry-barrier-%s-%d" % (point, os.getpid())
    if os.path.exists(path):
        os.unlink(path)
    out = {}

    def start(playbook, **extra):
        t = threading.Thread(target=lambda: out.update(r=lab.run_playbook(
            playbook, ferry_fault_barrier=point, ferry_fault_barrier_file=path, **extra)))
        t.start()
        deadline = time.monotonic() + 300
        while not os.path.exists(path):
            assert t.is_alive(), "the playbook ended before the barrier: %s" % (out["r"].failures(),)
            assert time.monotonic() < deadline, "the barrier %s was never reached" % point
            time.sleep(0.2)
        return t

    def lift(t):
        os.unlink(path)
        t.join(600)
        return out["r"]

    try:
        yield start, lift
    finally:
        if os.path.exists(path):
            os.unlink(path)


def booted(guest_name, prefix, host="hv-b1", image="tiny"):
    name = guest_name(prefix)
    lab.ok(lab.run_playbook("boot.yml", instance=name, flavor="m1.small", image=image, host=host))
    return name, lab.write_pattern(host, name)


def host_user(host):
    return lab.inventory()[2][host]["ansible_user"]


def assert_rolled_back(name, src, ref, r, why):
    msg = "\n".join(r.failures())
    assert r.rc != 0 and "Rolled back" in msg and why in msg, msg
    assert status(src, name) == "error"
    assert_clean(name, src, ref)


def test_target_filesystem_full_during_the_ship(guest_name):
    """The target's instance directory is a 1 MiB tmpfs: the ship gets a real ENOSPC."""
    name, ref = booted(guest_name, "enospc")
    d = os.path.dirname(lab.disk_path("hv-b2", name))
    user = host_user("hv-b2")
    lab.ssh("hv-b2", "mkdir -p %s" % shlex.quote(d))
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m,mode=0750,uid=%s,gid=%s" % (user, user), "tmpfs", d],
                   check=True)
    try:
        r = lab.run_playbook("migrate.yml", instance=name, target_host="hv-b2")
        assert os.listdir(d) == [], "a half-copied file is left: %s" % os.listdir(d)
    finally:
        subprocess.run(["umount", d], check=True)
    lab.ssh("hv-b2", "rmdir %s 2>/dev/null; true" % shlex.quote(d))
    assert_rolled_back(name, "hv-b1", ref, r, "No space left")
    lab.ok(lab.run_playbook("migrate.yml", instance=name, target_host="hv-b2", ferry_auto_confirm=True))
    assert_clean(name, "hv-b2", ref)


def _store_pid():
    root = lab.inventory()[0]["vars"]["ferry_lab_root"]
    with open(root + "/store.pid") as f:
        return int(f.read())


@contextlib.contextmanager
def store_down():
    pid = _store_pid()
    with open("/proc/%d/cmdline" % pid, "rb") as f:
        argv = [a.decode() for a in f.read().split(b"\0") if a]
    cwd = os.readlink("/proc/%d/cwd" % pid)
    os.kill(pid, 15)
    try:
        yield
    finally:
        root = lab.inventory()[0]["vars"]["ferry_lab_root"]
        log = open(root + "/store.log", "a")
        p = subprocess.Popen(argv, cwd=cwd, stdout=log, stderr=log, start_new_session=True)
        with open(root + "/store.pid", "w") as f:
            f.write(str(p.pid))
        time.sleep(1)


@pytest.mark.matrix
def test_store_unreachable_the_base_comes_from_the_source(guest_name):
    """The image store is down and the target lacks the base: it is fetched from the source host's
    cache (verified by sha256), the move completes.  The guest has a fresh base of its own, in no
    cache but the source's (a shared lab base could be cached on the target and in use there)."""
    cache = lab.inventory()[2]["hv-a2"]["ferry_cache_dir"]
    with lab.store_image() as (image, sha, images):
        name = guest_name("nostore")
        lab.ok(lab.run_playbook("boot.yml", instance=name, flavor="m1.small", image=image, host="hv-a1",
                                ferry_images=images))
        ref = lab.write_pattern("hv-a1", name)
        cached = "%s/%s.qcow2" % (cache, sha)
        assert not lab.exists("hv-a2", cached)
        with store_down():
            r = lab.ok(lab.run_playbook("migrate.yml", instance=name, target_host="hv-a2", ferry_images=images))
    assert r.task_result("Sum up the move")["ansible_facts"]["ferry_move_result"]["base_image"] == "source"
    assert lab.ssh("hv-a2", "sha256sum " + shlex.quote(cached)).split()[0] == sha
    assert lab.qemu_img_info("hv-a2", lab.disk_path("hv-a2", name))[0]["full-backing-filename"] == cached
    assert "rc=0" in lab.compare("hv-a2", lab.disk_path("hv-a2", name), ref)
    lab.ok(lab.run_playbook("confirm.yml", instance=name, ferry_images=images))
    assert_clean(name, "hv-a2", ref)


@pytest.mark.matrix
def test_rebase_failing_on_the_target(guest_name):
    """(The two-calls stop window: the controller calls the target after the ship; the one-call
    window's finish faults are in test_one_call.py.)  After the ship the shipped overlay is made
    read-only for its owner: `qemu-img rebase` on the target fails for real; the move rolls back."""
    name, ref = booted(guest_name, "rebase")
    with barrier("after-ship") as (start, lift):
        t = start("migrate.yml", instance=name, target_host="hv-b2", ferry_stop_window="two-calls")
        lab.ssh("hv-b2", "chmod 0400 %s" % shlex.quote(lab.disk_path("hv-b2", name)))
        r = lift(t)
    assert_rolled_back(name, "hv-b1", ref, r, "rebase")


@contextlib.contextmanager
def qemu_log_blocked(host, name):
    """The path where `host`'s libvirt writes `name`'s qemu log is taken by a directory root owns:
    libvirt cannot start qemu for that guest there (and only for it)."""
    log = "%s/.cache/libvirt/qemu/log/%s.log" % (lab.inventory()[2][host]["ferry_host_root"], name)
    if os.path.lexists(log):
        os.unlink(log)
    os.mkdir(log, 0o700)
    try:
        yield
    finally:
        os.rmdir(log)


@pytest.mark.matrix
def test_target_cannot_start_the_guest(guest_name):
    """After the ship, the place where the target's libvirt writes this guest's qemu log is taken
    by a directory root owns: the disks rebase and check fine, the domain is defined, but libvirt
    cannot start qemu for it on the target; the move rolls back.  Only this guest on this host is
    affected (the source starts it again)."""
    name, ref = booted(guest_name, "nostart")
    with barrier("after-ship") as (start, lift):
        t = start("migrate.yml", instance=name, target_host="hv-b2", ferry_stop_window="two-calls")
        with qemu_log_blocked("hv-b2", name):
            r = lift(t)
    assert_rolled_back(name, "hv-b1", ref, r, "define and start the guest on the target")


@pytest.mark.matrix
def test_target_cut_off_before_the_move(guest_name):
    """The named target is unreachable from the start: the move is refused, nothing is touched."""
    name, ref = booted(guest_name, "cutb")
    with host_down("hv-b2"):
        r = lab.run_playbook("migrate.yml", instance=name, target_host="hv-b2")
    assert r.rc != 0 and any("hv-b2" in m for m in r.failures()), r.failures()
    assert status("hv-b1", name) is None  # never marked: nothing was touched
    assert_clean(name, "hv-b1", ref)


def test_source_cut_off_after_the_stop(guest_name):
    """The source goes down right after the guest stopped: nothing can ship or restart it; the
    failed move leaves the guest stopped on its source with its lease, and once the source is back,
    recover.yml (after the lease expired) restarts it and cleans the target."""
    name, ref = booted(guest_name, "cuts")
    with barrier("after-stop") as (start, lift):
        t = start("migrate.yml", instance=name, target_host="hv-b2", ferry_lease_ttl=5)
        with host_down("hv-b1"):
            r = lift(t)
    assert r.rc != 0
    assert running_on(name) == []  # stopped on its source, nowhere else
    time.sleep(6)
    lab.ok(lab.run_playbook("recover.yml", instance=name))
    assert status("hv-b1", name) == "error"
    assert_clean(name, "hv-b1", ref)


def _daemon_pidfile(host):
    return "%s/sshd/%s/libvirtd.pid" % (lab.inventory()[0]["vars"]["ferry_lab_root"], host)


@contextlib.contextmanager
def libvirtd(host, how):
    """The host's libvirt daemon stopped (SIGTERM; the lab's clients never spawn another) or hung
    (SIGSTOP) for the duration; restarted / resumed afterwards.  Guests' qemu processes live on."""
    with open(_daemon_pidfile(host)) as f:
        pid = int(f.read())
    _, _, hosts = lab.inventory()
    user, root = hosts[host]["ansible_user"], hosts[host]["ferry_host_root"]
    # as the lab starts it (roles/lab/tasks/main.yml): the host's user, its session environment
    argv = ["/usr/bin/setpriv", "--reuid=" + user, "--regid=" + user, "--init-groups", "/usr/bin/env",
            "HOME=" + root, "XDG_RUNTIME_DIR=%s/.run" % root, "/usr/sbin/libvirtd"]
    with open("/proc/%d/status" % pid) as f:
        assert "\nUid:\t%d\t" % pwd.getpwnam(user).pw_uid in f.read(), "pid %d is not %s's daemon" % (pid, user)
    os.kill(pid, signal.SIGSTOP if how == "hung" else signal.SIGTERM)
    if how == "stopped":
        deadline = time.monotonic() + 30
        while os.path.exists("/proc/%d" % pid) and time.monotonic() < deadline:
            time.sleep(0.2)
    try:
        yield
    finally:
        if how == "hung":
            os.kill(pid, signal.SIGCONT)
        else:
            # as the lab does: under its reaper, which writes the pid file
            ferry_daemon.start(argv, _daemon_pidfile(host), _daemon_pidfile(host)[:-4] + ".log", reaper=True,
                               needle="/usr/sbin/libvirtd")
            deadline = time.monotonic() + 30
            while lab.virsh(host, "version", check=False) == "" and time.monotonic() < deadline:
                time.sleep(0.5)


# (both in the matrix since the default stop window is one call: this is the two-calls window's finish)
@pytest.mark.parametrize("how", [pytest.param("stopped", marks=pytest.mark.matrix),
                                 pytest.param("hung", marks=pytest.mark.matrix)])
def test_target_libvirt_daemon_stopped_or_hung_at_the_finish(guest_name, how):
    """After the ship the target's libvirt daemon is stopped, or hung (SIGSTOP): the finish fails
    (a hung daemon after ferry_libvirt_timeout seconds, through the modules' watchdog), the move
    rolls back: the source runs again; the target's files and claim are removed."""
    name, ref = booted(guest_name, "lv" + how[:2])
    with barrier("after-ship") as (start, lift):
        t = start("migrate.yml", instance=name, target_host="hv-b2", ferry_libvirt_timeout=10,
                  ferry_stop_window="two-calls")
        with libvirtd("hv-b2", how):
            r = lift(t)
            msg = "\n".join(r.failures())
            assert r.rc != 0 and "Rolled back" in msg, msg
            assert ("did not answer" in msg) if how == "hung" else ("connect" in msg.lower()), msg
            assert lab.dominfo("hv-b1", name)["state"] == "running"
    assert_clean(name, "hv-b1", ref)
