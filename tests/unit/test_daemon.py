"""The lab's daemon starter: a daemon run under the reaper gets its orphans reaped at once."""

import os
import sys
import time

import pytest

from ansible.module_utils import ferry_daemon as fd

# a "daemon" that daemonizes a grandchild the way libvirt starts qemu (double fork, the middle
# process exits) ; the grandchild exits after a moment
DAEMON = r"""
import os, time
if os.fork() == 0:
    if os.fork() == 0:
        time.sleep(0.3)
        os._exit(0)
    os._exit(0)
time.sleep(0.05)
while True:
    time.sleep(1)
"""


def _reaped(pid, timeout):
    """Whether `pid` is gone from /proc (a zombie stays there until its parent reaps it)."""
    deadline = time.monotonic() + timeout
    while os.path.exists("/proc/%d" % pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def test_reaper_writes_the_daemons_pid_and_reaps_its_orphans(tmp_path):
    pidfile, log = str(tmp_path / "d.pid"), str(tmp_path / "d.log")
    argv = [sys.executable, "-c", DAEMON]
    pid = fd.start(argv, pidfile, log, reaper=True, needle=DAEMON.strip().splitlines()[-1].strip())
    try:
        assert fd.read_pid(pidfile) == pid
        reaper = int(open("/proc/%d/stat" % pid).read().rsplit(")", 1)[1].split()[1])
        # the daemon is the reaper's child, the reaper is a python running REAPER
        assert "PR_SET_CHILD_SUBREAPER" in open("/proc/%d/cmdline" % reaper).read()
        # the orphaned grandchild belongs to the reaper, which reaps it as soon as it exits
        kids = [int(k) for k in open("/proc/%d/task/%d/children" % (reaper, reaper)).read().split()]
        orphans = [k for k in kids if k != pid]
        assert orphans, "the grandchild was not reparented to the reaper: %s" % kids
        t0 = time.monotonic()
        assert _reaped(orphans[0], 5)
        assert time.monotonic() - t0 < 0.5
    finally:
        assert fd.stop(pidfile, "-c")
    # the reaper leaves once it has no child
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and os.path.exists("/proc/%d" % reaper):
        time.sleep(0.05)
    assert not os.path.exists("/proc/%d" % reaper) or open("/proc/%d/stat" % reaper).read().split()[2] == "Z"


def test_reaper_reports_a_program_that_does_not_start(tmp_path):
    pidfile, log = str(tmp_path / "d.pid"), str(tmp_path / "d.log")
    with pytest.raises(RuntimeError, match="/nonexistent/daemon"):
        fd.start(["/nonexistent/daemon"], pidfile, log, reaper=True, wait=2)
