"""Start and stop the lab's own background processes, tracked by pid file."""

import os
import signal
import subprocess
import time


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


def start(argv, pidfile, logfile, forks_itself=False, env=None, cwd=None, wait=5.0):
    """Start argv detached; return its pid.  `forks_itself` daemons write pidfile."""
    with open(logfile, "ab") as log, open(os.devnull, "rb") as devnull:
        proc = subprocess.Popen(argv, stdin=devnull, stdout=log, stderr=log, cwd=cwd,
                                env=env, start_new_session=True, close_fds=True)
    if forks_itself:
        proc.wait()
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            pid = running_pid(pidfile, argv[0])
            if pid:
                return pid
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
