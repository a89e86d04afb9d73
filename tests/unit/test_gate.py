"""The one-call stop window's gate (ferry_gate) and the peer verb that opens it (go): one decision
per move, made by whoever comes first, read by everyone else."""

import io
import json
import multiprocessing
import os
import subprocess

import pytest

from ansible.module_utils import ferry_gate as fg
from ansible.module_utils import ferry_peer as fp
from ansible.module_utils import ferry_ship as fs

TOKEN = "0b6f3c1e-8d7a-4c55-9f0e-2a4d3b1c9e77"


def test_tokens_are_checked():
    for bad in ("", "../x", "a/b", "-x", "x" * 65, None, "a b"):
        with pytest.raises(ValueError):
            fg.go_name(bad)
    assert fg.go_name(TOKEN) == "ferry-go-" + TOKEN and fg.decided_name(TOKEN) == "ferry-decided-" + TOKEN


def test_the_first_decision_wins_and_is_never_rewritten(tmp_path):
    assert fg.read_decision(str(tmp_path), TOKEN) == (None, None)
    assert fg.decide(str(tmp_path), TOKEN, "cancelled", pid=11) == ("cancelled", 11, True)
    assert fg.decide(str(tmp_path), TOKEN, "started", pid=12) == ("cancelled", 11, False)
    assert (tmp_path / fg.decided_name(TOKEN)).read_text() == "cancelled 11\n"
    with pytest.raises(ValueError):
        fg.decide(str(tmp_path), "other", "maybe")


def test_wait_go_starts_on_the_go(tmp_path):
    ticks = iter(range(1000))

    def sleep(_):
        if next(ticks) == 3:   # the go arrives while it waits
            (tmp_path / fg.go_name(TOKEN)).write_text("go\n")
    assert fg.wait_go(str(tmp_path), TOKEN, 60, sleep=sleep) == "started"
    assert fg.read_decision(str(tmp_path), TOKEN)[0] == "started"
    # a rollback coming later finds it started (and the finishing process, this one, alive)
    assert fg.close(str(tmp_path), TOKEN, wait=0) == {"decision": "started", "finishing": True, "armed": True}


def test_a_closed_gate_is_never_started_even_when_the_go_comes(tmp_path):
    assert fg.close(str(tmp_path), TOKEN, wait=0)["decision"] == "cancelled"
    (tmp_path / fg.go_name(TOKEN)).write_text("go\n")
    assert fg.wait_go(str(tmp_path), TOKEN, 60, sleep=lambda _: None) == "cancelled"


def test_no_go_in_time_times_out_and_closes_the_gate(tmp_path):
    now = [0.0]

    def sleep(s):
        now[0] += 1
    assert fg.wait_go(str(tmp_path), TOKEN, 5, clock=lambda: now[0], sleep=sleep) == "timed-out"
    (tmp_path / fg.go_name(TOKEN)).write_text("go\n")   # a late go changes nothing
    assert fg.close(str(tmp_path), TOKEN, wait=0)["decision"] == "timed-out"


def test_a_removed_instance_directory_means_nothing_starts(tmp_path):
    gone = str(tmp_path / "gone")
    assert fg.wait_go(gone, TOKEN, 60, sleep=lambda _: None) == "cancelled"
    assert fg.close(gone, TOKEN, wait=0) == {"decision": "cancelled", "finishing": False, "armed": False}


def test_close_waits_for_a_started_finish_to_end(tmp_path):
    child = subprocess.Popen(["sleep", "0.3"])
    fg.decide(str(tmp_path), TOKEN, "started", pid=child.pid)
    out = fg.close(str(tmp_path), TOKEN, wait=10, sleep=lambda s: child.poll() is None and __import__("time").sleep(s))
    assert out == {"decision": "started", "finishing": False, "armed": True}


def _race(directory, what, q):
    q.put(fg.decide(directory, TOKEN, what))


def test_a_rollback_and_a_finish_racing_make_exactly_one_decision(tmp_path):
    for i in range(20):
        d = tmp_path / str(i)
        d.mkdir()
        q = multiprocessing.Queue()
        procs = [multiprocessing.Process(target=_race, args=(str(d), w, q)) for w in ("started", "cancelled")]
        for p in procs:
            p.start()
        got = [q.get(timeout=10) for _ in procs]
        for p in procs:
            p.join()
        assert sorted(won for _, _, won in got) == [False, True]
        assert len({decision for decision, _, _ in got}) == 1


def test_the_peer_go_verb_writes_the_go_into_an_existing_instance_directory(tmp_path):
    cfg = {"instances_dir": str(tmp_path / "inst"), "cache_dir": str(tmp_path / "cache"), "swtpm_dir": None}
    req = fp.parse_request("go web01 %s" % TOKEN)
    with pytest.raises(fp.Failed, match="(?i)no such"):   # never creates the directory
        fp.serve(cfg, req, io.BytesIO(b"go\n"), io.BytesIO())
    (tmp_path / "inst").mkdir()
    with pytest.raises(fp.Failed, match="web01: no such directory"):
        fp.serve(cfg, req, io.BytesIO(b"go\n"), io.BytesIO())
    assert not (tmp_path / "inst" / "web01").exists()
    (tmp_path / "inst" / "web01").mkdir()
    # the connection is opened early; a sender that ends without saying go writes nothing
    for said in (b"", b"no\n", b"g"):
        with pytest.raises(fp.Failed, match="no go"):
            fp.serve(cfg, req, io.BytesIO(said), io.BytesIO())
        assert os.listdir(tmp_path / "inst" / "web01") == []
    out = io.BytesIO()
    fp.serve(cfg, req, io.BytesIO(b"go\n"), out)
    path = str(tmp_path / "inst" / "web01" / fg.go_name(TOKEN))
    assert json.loads(out.getvalue()) == {"go": path} and fg.go_given(os.path.dirname(path), TOKEN)
    for bad in ("go web01", "go web01 ../x", "go ../x %s" % TOKEN, "go web01 %s extra" % TOKEN):
        with pytest.raises(fp.Refused):
            fp.parse_request(bad)


def test_send_go_says_unknown_when_the_answer_is_lost():
    def run(argv, **kw):
        assert argv[-1] == "go web01 " + TOKEN and "BatchMode=yes" in argv and kw["input"] == b"go\n"
        return subprocess.CompletedProcess(argv, 255, b"", b"Connection closed by remote host\n")
    with pytest.raises(IOError, match="rc 255: Connection closed"):
        fs.send_go("hv-a2", "web01", TOKEN, run=run)

    def ok(argv, **kw):
        return subprocess.CompletedProcess(argv, 0, b'{"go": "/x/web01/ferry-go-%s"}\n' % TOKEN.encode(), b"")
    assert fs.send_go("hv-a2", "web01", TOKEN, run=ok) == "/x/web01/ferry-go-" + TOKEN
    with pytest.raises(ValueError, match="refuse"):
        fs.send_go("hv-a2", "../web01", TOKEN, run=ok)


def test_an_early_go_channel_says_go_only_when_asked(tmp_path):
    """open_go connects while the guest stops; send_go(channel=...) says it; abandon() ends it mute.
    The far end here is the dispatcher itself, run locally the way sshd runs it."""
    import sys
    cfg = tmp_path / "ferry-peer.json"
    (tmp_path / "inst" / "web01").mkdir(parents=True)
    cfg.write_text(json.dumps({"instances_dir": str(tmp_path / "inst"), "cache_dir": str(tmp_path)}))

    def popen(argv, **kw):
        words = __import__("shlex").split(argv[-1])
        return subprocess.Popen([sys.executable, fp.__file__, "--config", str(cfg)] + words, **kw)
    mute = fs.open_go("hv-a2", "web01", TOKEN, popen=popen)
    fs.abandon([mute])
    assert mute.returncode == 1 and os.listdir(tmp_path / "inst" / "web01") == []
    chan = fs.open_go("hv-a2", "web01", TOKEN, popen=popen)
    path = fs.send_go("hv-a2", "web01", TOKEN, channel=chan)
    assert path == str(tmp_path / "inst" / "web01" / fg.go_name(TOKEN)) and os.path.isfile(path)
