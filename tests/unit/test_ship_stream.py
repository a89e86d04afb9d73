"""The host-to-host transfer primitive (ferry_ship.stream_file): real tar on real sparse files into
the real peer dispatcher (ferry_peer, run here as sshd would run it, with the request in
SSH_ORIGINAL_COMMAND); only ssh itself is left out."""

import hashlib
import json
import os
import subprocess
import sys

import pytest

from ansible.module_utils import ferry_peer, ferry_ship

DISPATCHER = ferry_peer.__file__
UUID = "0b5e7c7e-2f39-4a4e-9c1b-3f8f0e6d1a20"


@pytest.fixture
def target(tmp_path):
    """A target host's directories and a popen that runs `ssh ... HOST REQUEST` as its dispatcher."""
    cfg = {"instances_dir": str(tmp_path / "inst"), "cache_dir": str(tmp_path / "cache"),
           "swtpm_dir": str(tmp_path / "tpm")}
    (tmp_path / "inst").mkdir()
    (tmp_path / "cache").mkdir()
    (tmp_path / "ferry-peer.json").write_text(json.dumps(cfg))
    calls = []

    def popen(argv, **kw):
        if argv[0] == "ssh":
            assert argv[:3] == ["ssh", "-o", "BatchMode=yes"] and len(argv) == 5, argv
            calls.append(argv[-1])
            env = dict(os.environ, SSH_ORIGINAL_COMMAND=argv[-1], SSH_CLIENT="127.0.1.21 40000 2222")
            argv = [sys.executable, DISPATCHER, "--config", str(tmp_path / "ferry-peer.json")]
            kw["env"] = env
        return subprocess.Popen(argv, **kw)
    popen.cfg, popen.calls, popen.root = cfg, calls, tmp_path
    return popen


def instance(name):
    return {"area": "instance", "key": "web01", "name": name}


def sparse_file(path, size, extents):
    with open(path, "wb") as f:
        f.truncate(size)
        for off, length in extents:
            f.seek(off)
            f.write(os.urandom(length))
    return path


@pytest.mark.parametrize("size, extents", [
    pytest.param(64 << 20, [(10 << 20, 2 << 20), (40 << 20, 1 << 20)], id="raw-mostly-holes"),
    pytest.param(8 << 20, [(0, 8 << 20)], id="dense"),
    pytest.param(16 << 20, [], id="all-hole"),
    pytest.param((5 << 20) + 123, [(0, 4096), (5 << 20, 123)], id="odd-size-tail"),
])
def test_stream_sends_data_not_holes_and_keeps_holes(tmp_path, target, size, extents):
    src = sparse_file(str(tmp_path / "src.raw"), size, extents)
    seen = []
    got = ferry_ship.stream_file(src, "target", instance("vdb-data.raw"), progress=seen.append, popen=target)
    sent = got["bytes_sent"]
    assert target.calls == ["receive web01"]  # one connection: no separate verify
    dest = str(tmp_path / "inst" / "web01" / "vdb-data.raw")
    data = sum(n for _, n in extents)
    assert data <= sent <= data * 1.01 + 64 * 1024  # tar framing only
    with open(src, "rb") as a, open(dest, "rb") as b:
        assert a.read() == b.read()
    assert os.stat(dest).st_blocks * 512 <= os.stat(src).st_blocks * 512 + 64 * 1024
    assert seen and seen[-1] == sent
    # the receiver's answer: the file as written, and the stream as both ends hashed it
    assert {k: got[k] for k in ("path", "size", "allocated_bytes")} == {
        "path": dest, "size": size, "allocated_bytes": os.stat(dest).st_blocks * 512}
    tar = subprocess.run(ferry_ship.tar_create_argv(src, "vdb-data.raw"), stdout=subprocess.PIPE, check=True).stdout
    assert got["stream_sha256"] == hashlib.sha256(tar).hexdigest() and len(tar) == sent
    # and the dispatcher's verify (which reads the file again) agrees with the source
    p = target(ferry_ship.verify_argv("target", instance("vdb-data.raw")), stdout=subprocess.PIPE)
    ver = ferry_ship.parse_verify(p.communicate()[0].decode())
    with open(src, "rb") as f:
        assert ver == {"path": dest, "sha256": hashlib.sha256(f.read()).hexdigest(), "size": size,
                       "allocated_bytes": os.stat(dest).st_blocks * 512}


def test_a_stream_altered_on_the_way_is_refused(tmp_path, target):
    """One byte changed between the two ends (a file's data, not tar's framing): the receiver writes
    what it got, but its stream checksum differs from the sender's and the send fails."""
    src = sparse_file(str(tmp_path / "src.raw"), 4 << 20, [(0, 1 << 20)])

    class Flip(object):
        def __init__(self, pipe):
            self.pipe, self.n = pipe, 0

        def write(self, block):
            if self.n <= 8192 < self.n + len(block):
                i = 8192 - self.n
                block = block[:i] + bytes([block[i] ^ 0xFF]) + block[i + 1:]
            self.n += len(block)
            return self.pipe.write(block)

        def close(self):
            self.pipe.close()

    def flipping(argv, **kw):
        p = target(argv, **kw)
        if argv[0] == "ssh":
            p.stdin = Flip(p.stdin)
        return p
    with pytest.raises(IOError, match="the receiver read .* this host sent"):
        ferry_ship.stream_file(src, "target", instance("x.raw"), popen=flipping)


def test_an_older_receiver_without_a_stream_checksum_is_named():
    with pytest.raises(ValueError, match="ferry-peer older"):
        ferry_ship.parse_receive(b'{"path": "/p", "size": 1}\n')


def test_stream_failure_names_both_ends(tmp_path, target):
    src = sparse_file(str(tmp_path / "src.raw"), 1 << 20, [(0, 4096)])
    (tmp_path / "inst" / "web01").write_text("not a directory")
    with pytest.raises(IOError, match="receiver rc 1: ferry-peer: receive failed: web01: not a directory"):
        ferry_ship.stream_file(src, "target", instance("x.raw"), popen=target)


def test_stream_of_tpm_state_creates_the_uuid_directory(tmp_path, target):
    src = sparse_file(str(tmp_path / "src.raw"), 1 << 20, [(0, 4096)])
    ferry_ship.stream_file(src, "target", {"area": "tpm", "key": UUID, "name": "tpm2/tpm2-00.permall"}, popen=target)
    assert target.calls == ["receive-tpm %s" % UUID]
    assert (tmp_path / "tpm" / UUID / "tpm2" / "tpm2-00.permall").read_bytes() == open(src, "rb").read()


@pytest.mark.parametrize("name", ["a b", "x;rm", "../up", "", "a|b", "a/../b", "/abs", "a//b"])
def test_unsafe_destination_names_refused(name):
    with pytest.raises(ValueError, match="unsafe destination"):
        ferry_ship.tar_create_argv("/src/disk.qcow2", name)


def test_tar_argv_and_the_requests_to_the_dispatcher():
    argv = ferry_ship.tar_create_argv("/srv/vm 1/disk.qcow2", "disk.qcow2")
    assert argv[argv.index("--directory") + 1] == "/srv/vm 1" and argv[-2:] == ["--", "disk.qcow2"]
    assert "--sparse" in argv and "--hole-detection=seek" in argv
    assert ferry_ship.receive_argv("hv-b2", instance("disk.qcow2")) == ["ssh", "-o", "BatchMode=yes", "hv-b2",
                                                                        "receive web01"]
    assert ferry_ship.verify_argv("hv-b2", {"area": "tpm", "key": UUID, "name": "tpm2/a"})[-1] == \
        "verify-tpm %s tpm2/a" % UUID
    with pytest.raises(ferry_peer.Refused):
        ferry_ship.receive_argv("hv-b2", {"area": "instance", "key": "../x", "name": "a"})


@pytest.mark.parametrize("entry, expect", [
    pytest.param({"dest": "/i/web01/disk.qcow2"}, instance("disk.qcow2"), id="instance-dir-derived"),
    pytest.param({"dest": "/i/web01/disk.qcow2", "peer": instance("disk.qcow2")}, instance("disk.qcow2"),
                 id="given"),
    pytest.param({"dest": "/t/%s/tpm2/s" % UUID, "peer": {"area": "tpm", "key": UUID, "name": "tpm2/s"}},
                 {"area": "tpm", "key": UUID, "name": "tpm2/s"}, id="tpm"),
    pytest.param({"dest": "/i/other/disk.qcow2"}, "not in web01's instance directory", id="other-dir"),
    pytest.param({"dest": "/i/web01/disk.qcow2", "peer": instance("x")}, "does not end in", id="dest-mismatch"),
    pytest.param({"dest": "/i/web01/a/b", "peer": instance("a/b")}, "would refuse", id="too-deep"),
    pytest.param({"dest": "/i/web01/disk", "peer": {"area": "cache", "key": "web01", "name": "disk"}},
                 "must be", id="bad-area"),
])
def test_peer_dest(entry, expect):
    if isinstance(expect, str):
        with pytest.raises(ValueError, match=expect):
            ferry_ship.peer_dest(entry, "web01")
    else:
        assert ferry_ship.peer_dest(entry, "web01") == expect


def test_parse_verify():
    out = json.dumps({"path": "/p", "sha256": "a" * 64, "size": 1048576, "allocated_bytes": 4096}) + "\n"
    assert ferry_ship.parse_verify(out) == {"path": "/p", "sha256": "a" * 64, "size": 1048576,
                                            "allocated_bytes": 4096}


class Clock(object):
    def __init__(self):
        self.t = 0.0
        self.slept = []

    def now(self):
        return self.t

    def sleep(self, s):
        self.slept.append(s)
        self.t += s


@pytest.mark.parametrize("kib, chunks, slept", [
    pytest.param(0, [1 << 20] * 3, 0.0, id="no-limit"),
    pytest.param(1024, [1 << 20] * 3, 3.0, id="1MiB/s-3MiB"),
    pytest.param(512, [256 << 10] * 2, 1.0, id="512KiB/s"),
])
def test_pacer_keeps_the_average_rate(kib, chunks, slept):
    c = Clock()
    p = ferry_ship.Pacer(kib, clock=c.now, sleep=c.sleep)
    for n in chunks:
        p.wait(n)
    assert sum(c.slept) == pytest.approx(slept)


def test_stream_stops_the_sender_when_the_receiver_dies(tmp_path):
    """A receiver that exits at once (ssh refused) must not leave the sender blocked on its pipe."""
    src = sparse_file(str(tmp_path / "src.raw"), 64 << 20, [(0, 32 << 20)])

    def refusing(argv, **kw):
        if argv[0] == "ssh":
            argv = ["sh", "-c", "echo 'Permission denied (publickey).' >&2; exit 255"]
        return subprocess.Popen(argv, **kw)
    with pytest.raises(IOError, match="Permission denied"):
        ferry_ship.stream_file(src, "target", instance("x.raw"), popen=refusing)


def test_stream_refused_by_the_dispatcher_stops_the_sender(tmp_path, target):
    """The dispatcher refuses before reading (an instance dir that is a symlink): the sender stops."""
    src = sparse_file(str(tmp_path / "src.raw"), 64 << 20, [(0, 32 << 20)])
    os.symlink(str(tmp_path), str(tmp_path / "inst" / "web01"))
    with pytest.raises(IOError, match="receiver rc 1: .*web01: not a directory one can receive into"):
        ferry_ship.stream_file(src, "target", instance("x.raw"), popen=target)
    assert not (tmp_path / "x.raw").exists()
