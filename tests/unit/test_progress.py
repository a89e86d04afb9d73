"""Progress of transfers (ferry_progress), its poller (library/ferry_progress.py) and the ferry
callback's phase table: pure logic with a fake clock; the lab test runs them for real."""

import importlib.util
import json
import os
import re

import ferry_progress as poller
import pytest
from ansible.module_utils import ferry_move, ferry_progress

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class Clock(object):
    def __init__(self):
        self.t = 1000.0
        self.slept = 0.0

    def __call__(self):
        return self.t

    def sleep(self, s):
        self.t += s
        self.slept += s


def test_reporter_writes_bytes_and_limits_the_rate(tmp_path):
    clock = Clock()
    path = str(tmp_path / "p.json")
    r = ferry_progress.Reporter(path, "base image x -> hv", total=4 << 20, bwlimit_kib=1024,
                                clock=clock, sleep=clock.sleep)
    for _ in range(4):
        r.add(1 << 20)  # 1 MiB at 1 MiB/s: the limit sleeps ~1 s per MiB
    assert clock.slept == pytest.approx(4.0)
    rec = ferry_progress.read(path)
    assert rec["bytes"] == 4 << 20 and rec["total"] == 4 << 20 and not rec["done"]
    s = ferry_progress.summary(rec)
    assert s["percent"] == 100.0 and s["rate_bps"] == pytest.approx(1 << 20, rel=0.01)
    assert s["line"].startswith("base image x -> hv: 4.0 MiB of 4.0 MiB (100%), 1.0 MiB/s")
    r.done(result={"bytes": 4 << 20})
    assert ferry_progress.read(path)["done"] and ferry_progress.read(path)["result"] == {"bytes": 4 << 20}


def test_reporter_without_limit_never_sleeps_and_writes_at_most_every_interval(tmp_path):
    clock = Clock()
    path = str(tmp_path / "p.json")
    r = ferry_progress.Reporter(path, "x", clock=clock, sleep=clock.sleep, every=0.5)
    r.add(10)
    assert ferry_progress.read(path)["bytes"] == 0  # written at start; next write after 0.5 s
    clock.t += 0.6
    r.add(10)
    assert ferry_progress.read(path)["bytes"] == 20 and clock.slept == 0


def test_summary_without_total_has_no_percent_or_eta():
    s = ferry_progress.summary({"what": "w", "bytes": 3 << 20, "total": None, "started": 0, "updated": 3})
    assert s["percent"] is None and s["eta_s"] is None and s["line"] == "w: 3.0 MiB, 1.0 MiB/s"


def test_summary_eta():
    s = ferry_progress.summary({"what": "w", "bytes": 1 << 20, "total": 5 << 20, "started": 0, "updated": 2})
    assert s["percent"] == 20.0 and s["eta_s"] == 8.0 and s["line"].endswith("ETA 8 s")


def _write(path, **rec):
    base = {"what": "w", "bytes": 0, "total": None, "started": 0, "updated": 0, "pid": os.getpid(), "done": False}
    base.update(rec)
    with open(path, "w") as f:
        json.dump(base, f)


def test_poll_returns_progress_then_the_result(tmp_path):
    path = str(tmp_path / "p.json")
    clock = Clock()
    _write(path, bytes=5)
    assert poller.poll(path, 1.0, 60, clock(), clock, clock.sleep) == (False, ferry_progress.read(path))
    _write(path, bytes=9, done=True, result={"fetched_from": "store"})
    finished, rec = poller.poll(path, 1.0, 60, clock(), clock, clock.sleep)
    assert finished and rec["result"] == {"fetched_from": "store"}


def test_poll_fails_on_a_failed_or_dead_transfer_or_one_never_started(tmp_path):
    path = str(tmp_path / "p.json")
    clock = Clock()
    _write(path, done=True, failed=True, msg="checksum mismatch")
    with pytest.raises(RuntimeError, match="checksum mismatch"):
        poller.poll(path, 1.0, 60, clock(), clock, clock.sleep)
    _write(path, pid=2 ** 22 + 12345, bytes=1 << 20)  # no such process
    with pytest.raises(RuntimeError, match="ended without a result after 1.0 MiB"):
        poller.poll(path, 1.0, 60, clock(), clock, clock.sleep)
    with pytest.raises(RuntimeError, match="did not start"):
        poller.poll(str(tmp_path / "never"), 1.0, 60, clock() - 61, clock, clock.sleep)


def _callback():
    spec = importlib.util.spec_from_file_location("ferry_callback", os.path.join(ROOT, "plugins", "callback", "ferry.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_phase_table_of_a_move():
    times = {"start": 100.0, "scheduled": 101.0, "claimed": 102.5, "prepared": 110.0, "stopped": 112.0,
             "shipped": 113.0, "running": 114.5}
    res = ferry_move.result("m1", "migrate", "hv-a1", "hv-a2", times, {"bytes_sent": 3 << 20}, {"fetched_from": "store"},
                            "m1.small", "m1.small", "web01")
    lines = _callback().phase_lines(res, playbook_start=95.0)
    assert lines[0] == "ferry: migrate web01: hv-a1 -> hv-a2, downtime 4.5 s, total 14.5 s"
    table = {m.group(1): m.group(2) for m in (re.match(r"^  phase (\S+(?: \S+)?)\s+(-|\d+\.\d s)$", x) for x in lines[1:]) if m}
    assert len(table) == 8, lines
    assert table["locate"] == "5.0 s" and table["schedule"] == "1.0 s"
    assert table["claim"] == "1.5 s" and table["prepare"] == "7.5 s"
    assert table["stop"] == "2.0 s" and table["final ship"] == "1.0 s"
    assert table["finish+start"] == "1.5 s" and table["pre-copy"] == "-"
    assert ferry_move.one_line(res) == ("migrate web01: hv-a1 -> hv-a2 (m1.small), downtime 4.5 s, total 14.5 s, "
                                        "3.0 MiB shipped, base store")
