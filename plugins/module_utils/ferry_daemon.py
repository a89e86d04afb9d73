"""Start and stop the lab's own background processes, tracked by pid file."""

import os
import signal
import subprocess
import sys
import time

# A reaper for a daemon whose children daemonize (libvirtd's qemu, virtlogd): orphans go to the
# nearest "child subreaper" ancestor instead of PID 1.  On this machine PID 1 is not an init that
# reaps at once: a guest's exited qemu stayed a zombie for 1.2-1.6 s, and libvirt, which polls the
# pid with kill(pid, 0), reported the guest shut off only then (every stop and destroy took that
# long; an init such as systemd reaps at once).  The reaper forks the daemon, writes its pid to the
# pid file, and waits for any child until it has none left.
REAPER = r"""
import ctypes, os, sys
PR_SET_CHILD_SUBREAPER = 36
libc = ctypes.CDLL(None, use_errno=True)
if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
    sys.exit("prctl(PR_SET_CHILD_SUBREAPER) failed: errno %d" % ctypes.get_errno())
pidfile, argv = sys.argv[1], sys.argv[2:]
pid = os.fork()
if pid == 0:
    try:
        os.execv(argv[0], argv)
    finally:
        os._exit(127)
with open(pidfile + ".new", "w") as f:
    f.write("%d\n" % pid)
os.rename(pidfile + ".new", pidfile)
while True:
    try:
        os.wait()
    except ChildProcessError:
        break
"""


def reaped_argv(argv, pidfile):
    """argv run under a reaper (see REAPER): the reaper writes the daemon's own pid to pidfile."""
    return [sys.executable, "-c", REAPER, pidfile] + list(argv)


def read_pid(pidfile):
    try:
        with open(pidfile) as f:
            return int(f.read().strip() or 0) or None
    except (IOError, OSError, ValueError):
        return None


def pid_matches(pid, needle):
    """True when `pid` is alive and its command line contains `needle`."""
    if not pid:
        return False
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            cmdline = f.read().replace(b"\0", b" ").decode("utf-8", "replace")
    except (IOError, OSError):
        return False
    return needle in cmdline


def running_pid(pidfile, needle):
    pid = read_pid(pidfile)
    return pid if pid_matches(pid, needle) else None


def start(argv, pidfile, logfile, forks_itself=False, env=None, cwd=None, wait=5.0, reaper=False, needle=None):
    """Start argv detached; return its pid.  `forks_itself` daemons write pidfile; with `reaper`
    argv runs as the child of a reaper (REAPER), which writes pidfile.  `needle` (default argv[0])
    is what the pid file's process must show in its command line."""
    needle = needle or argv[0]
    if reaper:
        if os.path.exists(pidfile):
            os.unlink(pidfile)
    with open(logfile, "ab") as log, open(os.devnull, "rb") as devnull:
        proc = subprocess.Popen(reaped_argv(argv, pidfile) if reaper else argv, stdin=devnull, stdout=log,
                                stderr=log, cwd=cwd, env=env, start_new_session=True, close_fds=True)
    if forks_itself or reaper:
        if forks_itself:
            proc.wait()
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            pid = running_pid(pidfile, needle)
            if pid and reaper:
                time.sleep(0.2)
                if not pid_matches(pid, needle):
                    raise RuntimeError("%s exited at once (see %s)" % (argv[0], logfile))
            if pid:
                return pid
            if reaper and proc.poll() is not None:
                break
            time.sleep(0.05)
        raise RuntimeError("%s did not write %s (see %s)" % (argv[0], pidfile, logfile))
    with open(pidfile, "w") as f:
        f.write("%d\n" % proc.pid)
    time.sleep(0.2)
    if proc.poll() is not None:
        raise RuntimeError("%s exited at once with %s (see %s)" % (argv[0], proc.returncode, logfile))
    return proc.pid


def stop(pidfile, needle, timeout=10.0):
    """Stop the process named by pidfile (only if it is ours); True if one was stopped."""
    pid = running_pid(pidfile, needle)
    if pid is None:
        if os.path.exists(pidfile):
            os.unlink(pidfile)
        return False
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and pid_matches(pid, needle):
        time.sleep(0.05)
    if pid_matches(pid, needle):
        os.kill(pid, signal.SIGKILL)
    if os.path.exists(pidfile):
        os.unlink(pidfile)
    return True
