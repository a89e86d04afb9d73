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


def test_the_peer_go_verb_writes_the_go_into_an_existing_instance_directory(tmp_path, monkeypatch):
    monkeypatch.setattr(fp, "NO_FINISH_WAIT", 0.05)   # no finish is armed here: its result is null
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
    go_line, outcome_line = out.getvalue().decode().splitlines()
    assert json.loads(go_line) == {"go": path} and fg.go_given(os.path.dirname(path), TOKEN)
    assert json.loads(outcome_line) == {"outcome": None}
    for bad in ("go web01", "go web01 ../x", "go ../x %s" % TOKEN, "go web01 %s extra" % TOKEN):
        with pytest.raises(fp.Refused):
            fp.parse_request(bad)


def test_send_go_says_unknown_when_the_answer_is_lost():
    """The far end reads the go and the connection drops before its answer: the go may have
    arrived, so send_go raises IOError with ssh's words; a refused name never connects."""
    seen = []

    def lost(argv, **kw):
        seen.append(argv)
        return subprocess.Popen(["sh", "-c", "read line; echo 'Connection closed by remote host' >&2; exit 255"], **kw)
    chan = fs.open_go("hv-a2", "web01", TOKEN, popen=lost)
    assert seen[0][-1] == "go web01 " + TOKEN and "BatchMode=yes" in seen[0]
    with pytest.raises(IOError, match="rc 255: Connection closed"):
        fs.send_go("hv-a2", "web01", TOKEN, channel=chan)
    with pytest.raises(IOError, match="no connection was opened"):
        fs.send_go("hv-a2", "web01", TOKEN, channel=None)
    with pytest.raises(ValueError, match="refuse"):
        fs.open_go("hv-a2", "../web01", TOKEN, popen=lost)


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


def _outcome_cfg(tmp_path):
    d = tmp_path / "inst" / "web01"
    d.mkdir(parents=True)
    return {"instances_dir": str(tmp_path / "inst"), "cache_dir": str(tmp_path), "swtpm_dir": None}, str(d)


def test_after_the_go_the_dispatcher_hands_over_the_finishs_result(tmp_path):
    """The armed finish wrote its result: the go's connection gets it, and the file is gone."""
    cfg, d = _outcome_cfg(tmp_path)
    fg.decide(d, TOKEN, "started")   # this process plays the finish
    result = {"failed": False, "state": "running", "running_at": 1.5, "gate": "started"}
    fg.write_outcome(d, TOKEN, result)
    assert sorted(os.listdir(d)) == sorted([fg.decided_name(TOKEN), fg.outcome_name(TOKEN)])
    assert fp.go_outcome(cfg, "web01", TOKEN, wait=1) == result
    assert not os.path.exists(os.path.join(d, fg.outcome_name(TOKEN)))


def test_after_the_go_no_result_when_none_will_come(tmp_path):
    """None, without waiting the whole OUTCOME_WAIT: a gate a rollback closed first, no finish that
    took the go, a finish that ended without a result; and at the deadline."""
    cfg, d = _outcome_cfg(tmp_path)
    clock = [0.0]

    def sleep(s):
        clock[0] += s

    def ask(**kw):
        return fp.go_outcome(cfg, "web01", TOKEN, clock=lambda: clock[0], sleep=sleep, **kw)
    # nobody took the go
    assert ask(wait=300, no_finish_wait=5) is None and 5 <= clock[0] < 5.1
    # the gate was closed before the go came: no finish runs on it
    fg.decide(d, TOKEN, "cancelled", pid=os.getpid())
    clock[0] = 0.0
    assert ask(wait=300) is None and clock[0] == 0.0
    os.unlink(os.path.join(d, fg.decided_name(TOKEN)))
    # started by a process that has ended without writing a result
    gone = subprocess.Popen(["true"])
    gone.wait()
    fg.decide(d, TOKEN, "started", pid=gone.pid)
    assert ask(wait=300) is None and clock[0] < 0.1
    os.unlink(os.path.join(d, fg.decided_name(TOKEN)))
    # started by a live process that takes too long
    fg.decide(d, TOKEN, "started", pid=os.getpid())
    clock[0] = 0.0
    assert ask(wait=2) is None and 2 <= clock[0] < 2.1


def test_the_finish_keeps_its_result_for_the_go_once_it_saw_it(tmp_path):
    """ferry_finish with a gate: exit_json / fail_json also write the result, only after the go."""
    import importlib.util
    spec = importlib.util.spec_from_file_location(
        "ferry_finish_mod", os.path.join(os.path.dirname(__file__), "..", "..", "library", "ferry_finish.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    d = str(tmp_path)
    seen = []

    class Module:
        params = {"gate": {"dir": d, "token": TOKEN}}

        def exit_json(self, **kw):
            seen.append(("exit", kw))

        def fail_json(self, **kw):
            seen.append(("fail", kw))
    m = Module()
    mod.keep_outcome(m)
    m.fail_json(msg="cancelled before the go")
    assert seen[-1] == ("fail", {"msg": "cancelled before the go"})
    assert not os.path.exists(os.path.join(d, fg.outcome_name(TOKEN)))   # no go seen: nobody waits
    m.ferry_go_seen = True
    m.fail_json(msg="qemu would not start", steps=["rebased"])
    with open(os.path.join(d, fg.outcome_name(TOKEN))) as f:
        assert json.load(f) == {"msg": "qemu would not start", "steps": ["rebased"], "failed": True}
    m.exit_json(changed=True, state="running", running_at=2.0)
    with open(os.path.join(d, fg.outcome_name(TOKEN))) as f:
        assert json.load(f) == {"changed": True, "state": "running", "running_at": 2.0, "failed": False}
    assert [k for k, _ in seen] == ["fail", "fail", "exit"]


def test_send_go_then_the_result_on_the_same_connection(tmp_path):
    """The source's side against the dispatcher itself, run locally the way sshd runs it: the go is
    confirmed on the first line, the finish's result follows on the second."""
    import sys
    cfg, d = _outcome_cfg(tmp_path)
    path = tmp_path / "ferry-peer.json"
    path.write_text(json.dumps(cfg))

    def popen(argv, **kw):
        assert "ServerAliveInterval=5" in argv
        words = __import__("shlex").split(argv[-1])
        return subprocess.Popen([sys.executable, fp.__file__, "--config", str(path)] + words, **kw)
    fg.decide(d, TOKEN, "started")
    fg.write_outcome(d, TOKEN, {"failed": False, "state": "running"})
    chan = fs.open_go("hv-a2", "web01", TOKEN, popen=popen)
    assert fs.send_go("hv-a2", "web01", TOKEN, channel=chan) == os.path.join(d, fg.go_name(TOKEN))
    assert fs.go_outcome(chan, timeout=30) == {"failed": False, "state": "running"}
    assert chan.returncode == 0
    # a dispatcher that refuses the go: the error names its reason, no result
    chan = fs.open_go("hv-a2", "web01", TOKEN, popen=lambda argv, **kw: subprocess.Popen(
        [sys.executable, "-c", "import sys; sys.stdin.read(); sys.stderr.write('unknown verb go'); sys.exit(2)"],
        **kw))
    with pytest.raises(IOError, match="rc 2: unknown verb go"):
        fs.send_go("hv-a2", "web01", TOKEN, channel=chan)


@pytest.mark.parametrize("gate,go_called,go_sent,way", [
    (None, True, True, "back"),                                   # nothing armed
    ({"skipped": True}, True, "unknown", "back"),
    ({"forward": True, "decision": "started"}, True, True, "forward"),
    ({"forward": False, "safe_to_restart_source": True, "decision": "cancelled"}, True, "unknown", "back"),
    ({"unreachable": True}, True, True, "hold"),                  # the go reached it, nobody can say more
    ({"unreachable": True}, True, "unknown", "hold"),
    ({"unreachable": True}, True, False, "back"),                 # the go never left the source
    ({"unreachable": True}, False, "unknown", "back"),            # the call was not to say go at all
    ({"failed": True, "msg": "libvirt hung"}, True, True, "hold"),
    ({"forward": True, "unreachable": False}, False, False, "forward"),
])
def test_the_way_out_of_a_failed_one_call_move(gate, go_called, go_sent, way):
    assert fg.way_out(gate, go_called, go_sent) == way


def test_the_dispatcher_and_the_gate_name_and_read_the_files_alike(tmp_path):
    """The dispatcher is one standard-library file installed alone on each host, so it repeats the
    gate's file names and its "is the finish alive" check; they must stay the same as ferry_gate's."""
    assert fp.GO_PREFIX + TOKEN == fg.go_name(TOKEN)
    assert fp.OUTCOME_PREFIX + TOKEN == fg.outcome_name(TOKEN)
    assert fp.DECIDED_PREFIX + TOKEN == fg.decided_name(TOKEN)
    gone = subprocess.Popen(["true"])
    gone.wait()
    for pid in (os.getpid(), 1, gone.pid):
        assert fp._pid_alive(pid) == fg.alive(pid), pid
    # a decision the gate writes is one the dispatcher reads: "started <pid>" of a finish that ended
    # without a result ends the go's wait with None, "cancelled" at once
    # without a result ends the go's wait with None, "cancelled" at once.  The clock stands still,
    # so no deadline can end the wait: only reading the decision can.
    cfg, d = _outcome_cfg(tmp_path)
    sleeps = []

    def sleep(s):
        sleeps.append(s)
        assert len(sleeps) < 50, "the dispatcher did not read the gate's decision"

    fg.decide(d, TOKEN, "started", pid=gone.pid)
    assert fg.read_decision(d, TOKEN) == ("started", gone.pid)
    assert fp.go_outcome(cfg, "web01", TOKEN, clock=lambda: 0.0, sleep=sleep) is None
    os.unlink(os.path.join(d, fg.decided_name(TOKEN)))
    fg.decide(d, TOKEN, "started", pid=os.getpid())   # alive: its result is waited for and read
    fg.write_outcome(d, TOKEN, {"failed": False})
    assert fp.go_outcome(cfg, "web01", TOKEN, clock=lambda: 0.0, sleep=sleep) == {"failed": False}
    os.unlink(os.path.join(d, fg.decided_name(TOKEN)))
    fg.decide(d, TOKEN, "cancelled")
    assert fg.read_decision(d, TOKEN)[0] == "cancelled"
    sleeps.clear()
    assert fp.go_outcome(cfg, "web01", TOKEN, clock=lambda: 0.0, sleep=sleep) is None
    assert sleeps == []
