"""Progress of a long transfer (base image fetch), written by the module doing it and read by a
poller: a small JSON file next to the data, replaced atomically.  Also the bandwidth limit.

The writer (Reporter) runs inside an async module on a hypervisor; the poller (library/
ferry_progress.py) runs on the same host, one call every few seconds from the controller, and
returns a line the ferry callback prints (and ansible-runner turns into an event).  The stop
window of a move is never polled: progress exists only for steps that run while the guest runs.
"""

import json
import os
import time


class Reporter(object):
    """Counts bytes, limits the rate (`bwlimit_kib` KiB/s, 0: none) and writes `path` at most every
    `every` seconds: {what, bytes, total, started, updated, pid, done, failed, msg, result}."""

    def __init__(self, path, what="", total=None, every=0.5, bwlimit_kib=0, clock=time.time, sleep=time.sleep):
        self.path, self.what, self.total = path, what, total
        self.every, self.bwlimit = every, int(bwlimit_kib or 0)
        self.clock, self.sleep = clock, sleep
        self.bytes = 0
        self.started = self.clock()
        self._written = None
        self.write()

    def set_total(self, total):
        self.total = int(total) if total else None

    def add(self, n):
        self.bytes += n
        if self.bwlimit > 0:
            due = self.started + self.bytes / (self.bwlimit * 1024.0)
            late = due - self.clock()
            if late > 0:
                self.sleep(late)
        if self._written is None or self.clock() - self._written >= self.every:
            self.write()

    def write(self, **extra):
        if not self.path:
            return
        now = self.clock()
        rec = {"what": self.what, "bytes": self.bytes, "total": self.total, "started": self.started,
               "updated": now, "pid": os.getpid(), "done": False}
        rec.update(extra)
        tmp = "%s.tmp-%d" % (self.path, os.getpid())
        with open(tmp, "w") as f:
            json.dump(rec, f)
        os.rename(tmp, self.path)
        self._written = now

    def done(self, result=None, failed=False, msg=None):
        self.write(done=True, failed=failed, msg=msg, result=result)


def read(path):
    """The progress record at `path`, or None (not written yet, or unreadable mid-replace)."""
    try:
        with open(path) as f:
            return json.load(f)
    except (IOError, OSError, ValueError):
        return None


def mib(n):
    return "%.1f MiB" % (n / 1048576.0)


def summary(rec, now=None):
    """{bytes, total, percent, rate_bps, eta_s, line} of a progress record."""
    now = rec.get("updated") if now is None else now
    started = rec.get("started")
    elapsed = max(1e-6, float(now) - float(now if started is None else started))
    done, total = int(rec.get("bytes") or 0), rec.get("total")
    rate = done / elapsed if done else 0.0
    pct = round(100.0 * done / total, 1) if total else None
    eta = round((total - done) / rate, 1) if total and rate > 0 else None
    parts = [mib(done) + (" of " + mib(total) if total else "")]
    if pct is not None:
        parts.append("(%d%%)" % pct)
    line = "%s: %s, %s/s" % (rec.get("what") or "transfer", " ".join(parts), mib(rate))
    if eta is not None:
        line += ", ETA %d s" % eta
    return {"bytes": done, "total": total, "percent": pct, "rate_bps": round(rate), "eta_s": eta, "line": line}


def pid_alive(pid):
    try:
        os.kill(int(pid), 0)
    except (OSError, TypeError, ValueError) as e:
        return getattr(e, "errno", None) == 1  # EPERM: alive, another user's
    return True
