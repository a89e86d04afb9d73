"""The peer dispatcher (ferry_peer, installed as ferry-peer): what a peer host may ask for, and that
receiving, verifying and reading stay inside their directories.  Real files in tmp dirs, real tar
streams (Python's tarfile for the hostile ones, GNU tar in test_ship_stream)."""

import hashlib
import io
import json
import os
import re
import tarfile

import pytest

from ansible.module_utils import ferry_peer as fp

UUID = "0b5e7c7e-2f39-4a4e-9c1b-3f8f0e6d1a20"
SHA = "ab" * 32


# --- what may be asked ---------------------------------------------------------------------------

@pytest.mark.parametrize("text, expect", [
    ("receive web01", {"verb": "receive", "op": "receive", "area": "instance", "key": "web01", "name": None}),
    ("receive-tpm " + UUID, {"verb": "receive-tpm", "op": "receive", "area": "tpm", "key": UUID, "name": None}),
    ("verify web01 disk.qcow2", {"verb": "verify", "op": "verify", "area": "instance", "key": "web01",
                                 "name": "disk.qcow2"}),
    ("verify-tpm %s tpm2/tpm2-00.permall" % UUID, {"verb": "verify-tpm", "op": "verify", "area": "tpm", "key": UUID,
                                                   "name": "tpm2/tpm2-00.permall"}),
    ("verify-tpm %s tpm2/.lock" % UUID, {"verb": "verify-tpm", "op": "verify", "area": "tpm", "key": UUID,
                                         "name": "tpm2/.lock"}),
    ("cache-read %s.qcow2" % SHA, {"verb": "cache-read", "op": "cache-read", "area": None, "key": None,
                                   "name": SHA + ".qcow2"}),
    ("  'verify'   \"web-1.a_b\" vda-disk.raw ", {"verb": "verify", "op": "verify", "area": "instance",
                                                  "key": "web-1.a_b", "name": "vda-disk.raw"}),
])
def test_allowed_requests(text, expect):
    assert fp.parse_request(text) == expect


@pytest.mark.parametrize("text, why", [
    (None, "no command"),
    ("", "no command"),
    ("   ", "no command"),
    ("virsh -c qemu:///session list", "unknown verb 'virsh'"),
    ("sh -c id", "unknown verb 'sh'"),
    ("rsync --server --sender -e.LsfxC . /etc/passwd", "unknown verb 'rsync'"),
    ("sha256sum -- /etc/passwd", "unknown verb"),
    ("internal-sftp", "unknown verb"),
    ("RECEIVE web01", "unknown verb"),
    ("receive", "receive takes 1 argument (key), got 0"),
    ("receive web01 extra", "takes 1 argument"),
    ("receive web01; id", "takes 1 argument"),
    ("receive web01\nid", "takes 1 argument"),
    ("receive web01 && id", "takes 1 argument"),
    ("receive $(id)", "not an instance name"),
    ("receive `id`", "not an instance name"),
    ("receive ../..", "not an instance name"),
    ("receive ..", "not an instance name"),
    ("receive .", "not an instance name"),
    ("receive .hidden", "not an instance name"),
    ("receive -rf", "not an instance name"),
    ("receive a/b", "not an instance name"),
    ("receive /tmp", "not an instance name"),
    ("receive ''", "not an instance name"),
    ("receive " + "a" * 256, "not an instance name"),
    ("receive-tpm web01", "not a domain UUID"),
    ("receive-tpm " + UUID.upper(), "not a domain UUID"),
    ("verify web01", "verify takes 2 arguments (key name), got 1"),
    ("verify web01 ../x", "part '..' is not allowed"),
    ("verify web01 tpm2/x", "at most 1 part allowed"),
    ("verify web01 ..", "part '..' is not allowed"),
    ("verify web01 .", "part '.' is not allowed"),
    ("verify web01 /etc/passwd", "absolute file name"),
    ("verify web01 'a b'", "part 'a b' is not allowed"),
    ("verify web01 .ferry-part-12-disk.qcow2", "not allowed"),
    ("verify .. .ssh/id_ed25519", "not an instance name"),
    ("verify-tpm %s a/../b" % UUID, "part '..' is not allowed"),
    ("verify-tpm %s a//b" % UUID, "part '' is not allowed"),
    ("verify-tpm %s a/b/c/d" % UUID, "at most 3 parts"),
    ("cache-read ../.ssh/id_ed25519", "not an image cache file name"),
    ("cache-read /etc/passwd", "not an image cache file name"),
    ("cache-read " + SHA, "not an image cache file name"),
    ("cache-read %s.qcow2" % SHA.upper(), "not an image cache file name"),
    ("cache-read .lock-" + SHA, "not an image cache file name"),
    ("cache-read %s.qcow2.part-12" % SHA, "not an image cache file name"),
    ("cache-read %s.qcow2 x" % SHA, "takes 1 argument"),
    ("receive 'web01", "cannot split"),
    ("receive " + "a" * 5000, "longer than 4096"),
])
def test_everything_else_is_refused(text, why):
    with pytest.raises(fp.Refused, match=re.escape(why)):
        fp.parse_request(text)


@pytest.mark.parametrize("op, area, key, name, words", [
    ("receive", "instance", "web01", None, ["receive", "web01"]),
    ("receive", "tpm", UUID, None, ["receive-tpm", UUID]),
    ("verify", "instance", "web01", "disk.qcow2", ["verify", "web01", "disk.qcow2"]),
    ("verify", "tpm", UUID, "tpm2/x", ["verify-tpm", UUID, "tpm2/x"]),
    ("cache-read", None, None, SHA + ".iso", ["cache-read", SHA + ".iso"]),
])
def test_the_sending_side_builds_what_the_dispatcher_parses(op, area, key, name, words):
    assert fp.request_words(op, area, key, name) == words
    argv = fp.peer_argv("hv-b2", words)
    assert argv[:4] == ["ssh", "-o", "BatchMode=yes", "hv-b2"] and len(argv) == 5
    req = fp.parse_request(argv[-1])
    assert (req["op"], req["area"], req["key"], req["name"]) == (op, area, key, name)


@pytest.mark.parametrize("op, area, key, name", [
    ("receive", "instance", "../x", None),
    ("verify", "instance", "web01", "a/b"),
    ("finish", "instance", "web01", None),
    ("receive", "cache", None, None),
])
def test_the_sending_side_refuses_what_the_dispatcher_would(op, area, key, name):
    with pytest.raises(fp.Refused):
        fp.request_words(op, area, key, name)


@pytest.mark.parametrize("text, expect", [
    ('{"instances_dir": "/i", "cache_dir": "/c/"}', {"instances_dir": "/i", "cache_dir": "/c", "swtpm_dir": None}),
    ('{"instances_dir": "/i", "cache_dir": "/c", "swtpm_dir": "/t", "host": "hv-a1"}',
     {"instances_dir": "/i", "cache_dir": "/c", "swtpm_dir": "/t"}),
    ('{"instances_dir": "i", "cache_dir": "/c"}', "instances_dir must be an absolute path"),
    ('{"cache_dir": "/c"}', "instances_dir must be an absolute path"),
    ('{"instances_dir": "/i", "cache_dir": "/c", "swtpm_dir": 3}', "swtpm_dir must be"),
    ('[]', "JSON object"),
    ('{', "not JSON"),
])
def test_config(text, expect):
    if isinstance(expect, str):
        with pytest.raises(fp.Failed, match=expect):
            fp.load_config(text)
    else:
        assert fp.load_config(text) == expect


# --- receiving, verifying and reading, on real files ---------------------------------------------

@pytest.fixture
def host(tmp_path):
    for d in ("inst", "cache", "outside"):
        (tmp_path / d).mkdir()
    cfg = {"instances_dir": str(tmp_path / "inst"), "cache_dir": str(tmp_path / "cache"),
           "swtpm_dir": str(tmp_path / "tpm")}
    (tmp_path / "ferry-peer.json").write_text(json.dumps(cfg))
    return tmp_path, cfg


def stream(*members):
    """A tar stream of (name, kind, data): kind file, symlink, hardlink, dir, fifo."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w|") as t:
        for name, kind, data in members:
            ti = tarfile.TarInfo(name)
            ti.mode = 0o644
            if kind == "file":
                ti.size = len(data)
                t.addfile(ti, io.BytesIO(data))
                continue
            ti.type = {"symlink": tarfile.SYMTYPE, "hardlink": tarfile.LNKTYPE, "dir": tarfile.DIRTYPE,
                       "fifo": tarfile.FIFOTYPE}[kind]
            ti.linkname = data.decode() if data else ""
            t.addfile(ti)
    return io.BytesIO(buf.getvalue())


def tree(root):
    return sorted(os.path.relpath(os.path.join(d, n), root) for d, dirs, files in os.walk(root)
                  for n in dirs + files)


def test_receive_writes_regular_files_into_the_instance_dir(host):
    root, cfg = host
    out = io.BytesIO()
    src = stream(("disk.qcow2", "file", b"qcow"), ("nvram.fd", "file", b"n"))
    raw = src.getvalue()
    assert fp.receive(cfg, "instance", "web01", src, out) == 2
    assert (root / "inst" / "web01" / "disk.qcow2").read_bytes() == b"qcow"
    assert oct(os.stat(root / "inst" / "web01").st_mode & 0o777) == oct(0o750 & ~_umask())
    alloc = [os.stat(root / "inst" / "web01" / n).st_blocks * 512 for n in ("disk.qcow2", "nvram.fd")]
    # one line per file, then the whole stream as read (end blocks and padding included)
    assert [json.loads(x) for x in out.getvalue().splitlines()] == [
        {"path": str(root / "inst" / "web01" / "disk.qcow2"), "size": 4, "allocated_bytes": alloc[0]},
        {"path": str(root / "inst" / "web01" / "nvram.fd"), "size": 1, "allocated_bytes": alloc[1]},
        {"stream_sha256": hashlib.sha256(raw).hexdigest(), "stream_bytes": len(raw)}]
    assert tree(root / "inst") == ["web01", "web01/disk.qcow2", "web01/nvram.fd"]     # no temporary left


def _umask():
    m = os.umask(0)
    os.umask(m)
    return m


def test_receive_of_tpm_state_keeps_its_directories(host):
    root, cfg = host
    fp.receive(cfg, "tpm", UUID, stream(("tpm2/tpm2-00.permall", "file", b"state"), ("tpm2/.lock", "file", b"")),
               io.BytesIO())
    assert (root / "tpm" / UUID / "tpm2" / "tpm2-00.permall").read_bytes() == b"state"
    assert fp.verify(cfg, "tpm", UUID, "tpm2/tpm2-00.permall")["size"] == 5


@pytest.mark.parametrize("name, kind, data, why", [
    ("../escape", "file", b"x", "part '..' is not allowed"),
    ("../../escape", "file", b"x", "part '..' is not allowed"),
    ("/tmp/escape", "file", b"x", "absolute file name"),
    ("a/escape", "file", b"x", "at most 1 part"),
    ("a b", "file", b"x", "not allowed"),
    ("escape", "symlink", b"/etc/passwd", "a symbolic link; only regular files"),
    ("escape", "symlink", b"../../outside", "a symbolic link"),
    ("escape", "hardlink", b"/etc/passwd", "a hard link"),
    ("escape", "dir", b"", "a directory"),
    ("escape", "fifo", b"", "a fifo"),
])
def test_receive_refuses_members_before_writing_them(host, name, kind, data, why):
    root, cfg = host
    with pytest.raises(fp.Refused, match=why):
        fp.receive(cfg, "instance", "web01", stream((name, kind, data)), io.BytesIO())
    assert tree(root / "inst") == ["web01"] and tree(root / "outside") == []
    assert not os.path.lexists(root / "escape") and not os.path.lexists("/tmp/escape")


def test_a_refused_member_stops_the_stream_after_the_good_ones(host):
    root, cfg = host
    with pytest.raises(fp.Refused, match="symbolic link"):
        fp.receive(cfg, "instance", "web01", stream(("ok.raw", "file", b"1"), ("disk.qcow2", "symlink", b"/etc"),
                                                    ("later.raw", "file", b"2")), io.BytesIO())
    assert tree(root / "inst") == ["web01", "web01/ok.raw"]


def test_receive_replaces_a_symlink_left_in_place_never_follows_it(host):
    root, cfg = host
    (root / "outside" / "victim").write_bytes(b"other guest's disk")
    (root / "inst" / "web01").mkdir()
    os.symlink(str(root / "outside" / "victim"), str(root / "inst" / "web01" / "disk.qcow2"))
    fp.receive(cfg, "instance", "web01", stream(("disk.qcow2", "file", b"new")), io.BytesIO())
    assert (root / "outside" / "victim").read_bytes() == b"other guest's disk"
    assert not os.path.islink(root / "inst" / "web01" / "disk.qcow2")
    assert (root / "inst" / "web01" / "disk.qcow2").read_bytes() == b"new"


@pytest.mark.parametrize("area, key, link, name", [
    ("instance", "web01", "inst/web01", "disk.qcow2"),
    ("tpm", UUID, "tpm/" + UUID, "tpm2/s"),
    ("tpm", UUID, "tpm/%s/tpm2" % UUID, "tpm2/s"),
])
def test_a_symlinked_directory_is_never_entered(host, area, key, link, name):
    root, cfg = host
    (root / link).parent.mkdir(parents=True, exist_ok=True)
    os.symlink(str(root / "outside"), str(root / link))
    with pytest.raises(fp.Failed, match="not a directory one can receive into"):
        fp.receive(cfg, area, key, stream((name, "file", b"x")), io.BytesIO())
    with pytest.raises(fp.Failed, match="not a directory one can receive into"):
        fp.verify(cfg, area, key, name)
    assert tree(root / "outside") == []


@pytest.mark.parametrize("data, why", [
    (b"", "not a tar stream"),
    (b"garbage" * 200, "not a tar stream"),
])
def test_receive_of_no_tar_stream_fails(host, data, why):
    root, cfg = host
    with pytest.raises(fp.Failed, match=why):
        fp.receive(cfg, "instance", "web01", io.BytesIO(data), io.BytesIO())


def test_a_truncated_stream_leaves_no_file(host):
    root, cfg = host
    whole = stream(("disk.raw", "file", os.urandom(100000))).getvalue()
    with pytest.raises(fp.Failed, match="ended inside a file|broken tar stream"):
        fp.receive(cfg, "instance", "web01", io.BytesIO(whole[:50000]), io.BytesIO())
    assert tree(root / "inst") == ["web01"]


def test_a_stream_with_no_file_fails(host):
    root, cfg = host
    with pytest.raises(fp.Failed, match="no file"):
        fp.receive(cfg, "instance", "web01", stream(), io.BytesIO())


def test_no_tpm_directory_configured(host):
    root, cfg = host
    with pytest.raises(fp.Refused, match="no swtpm_dir"):
        fp.receive(dict(cfg, swtpm_dir=None), "tpm", UUID, stream(("a", "file", b"")), io.BytesIO())


def test_verify(host):
    root, cfg = host
    d = root / "inst" / "web01"
    d.mkdir()
    with open(d / "disk.raw", "wb") as f:
        f.truncate(8 << 20)
        f.seek(4 << 20)
        f.write(b"data")
    got = fp.verify(cfg, "instance", "web01", "disk.raw")
    import hashlib
    assert got == {"path": str(d / "disk.raw"), "sha256": hashlib.sha256((d / "disk.raw").read_bytes()).hexdigest(),
                   "size": 8 << 20, "allocated_bytes": os.stat(d / "disk.raw").st_blocks * 512}
    os.symlink(str(root / "ferry-peer.json"), str(d / "link"))
    (d / "sub").mkdir()
    os.mkfifo(str(d / "fifo"))
    for name, why in (("link", "symlinks are not followed"), ("sub", "not a regular file"), ("fifo", "not a regular file"),
                      ("none", "no such file")):
        with pytest.raises(fp.Failed, match=why):
            fp.verify(cfg, "instance", "web01", name)
    with pytest.raises(fp.Failed, match="no such directory"):
        fp.verify(cfg, "instance", "web02", "disk.raw")
    assert not (root / "inst" / "web02").exists()          # verify creates nothing


def test_cache_read(host):
    root, cfg = host
    (root / "cache" / (SHA + ".qcow2")).write_bytes(b"base" * 1000)
    out = io.BytesIO()
    assert fp.cache_read(cfg, SHA + ".qcow2", out) == 4000 and out.getvalue() == b"base" * 1000
    os.symlink(str(root / "ferry-peer.json"), str(root / "cache" / (SHA + ".iso")))
    with pytest.raises(fp.Failed, match="symlinks are not followed"):
        fp.cache_read(cfg, SHA + ".iso", io.BytesIO())
    with pytest.raises(fp.Failed, match="no such file"):
        fp.cache_read(cfg, SHA + ".raw", io.BytesIO())
    with pytest.raises(fp.Refused):
        fp.cache_read(cfg, "../ferry-peer.json", io.BytesIO())


# --- main: how sshd runs it ----------------------------------------------------------------------

class Run(object):
    def __init__(self, root, command=None, argv=(), stdin=b""):
        self.execs = []
        self.out, self.err = io.BytesIO(), io.StringIO()
        env = {"SSH_CLIENT": "127.0.1.21 40000 2222"}
        if command is not None:
            env["SSH_ORIGINAL_COMMAND"] = command
        self.rc = fp.main(["--config", str(root / "ferry-peer.json")] + list(argv), env, io.BytesIO(stdin),
                          self.out, self.err, execv=lambda path, args: self.execs.append(args))


@pytest.mark.parametrize("command, rc, err", [
    ("virsh -c qemu:///session list", 2, "ferry-peer: refused: unknown verb 'virsh'"),
    (None, 2, "ferry-peer: refused: no command"),
    ("receive ../..", 2, "ferry-peer: refused: not an instance name: '../..'"),
    ("verify web01 disk.qcow2", 1, "ferry-peer: verify failed: "),
    ("cache-read %s.qcow2" % SHA, 1, "ferry-peer: cache-read failed: %s.qcow2: no such file" % SHA),
])
def test_main_exit_status_and_message(host, command, rc, err):
    r = Run(host[0], command)
    assert (r.rc, r.out.getvalue()) == (rc, b"") and r.err.getvalue().startswith(err), r.err.getvalue()
    assert not r.execs


def test_main_verify_answers_one_json_line(host):
    root, cfg = host
    (root / "inst" / "web01").mkdir()
    (root / "inst" / "web01" / "disk.qcow2").write_bytes(b"x")
    r = Run(root, "verify web01 disk.qcow2")
    assert r.rc == 0 and json.loads(r.out.getvalue())["size"] == 1


def test_main_receive_reexecutes_itself_with_the_checked_request(host):
    """So that its command line names the instance (recover.yml's pkill finds it)."""
    root, _ = host
    r = Run(root, "'receive' web01")
    assert r.rc == 0 and len(r.execs) == 1
    args = r.execs[0]
    assert args[1:3] == ["-I", os.path.abspath(fp.__file__)]
    assert args[3:] == ["--config", str(root / "ferry-peer.json"), "receive", "web01"]
    # which then serves it (argv checked the same way), and a refusal is the same from argv
    r = Run(root, argv=args[5:], stdin=stream(("disk.qcow2", "file", b"d")).getvalue())
    assert r.rc == 0 and (root / "inst" / "web01" / "disk.qcow2").read_bytes() == b"d" and not r.execs
    r = Run(root, argv=["receive", "../.."])
    assert r.rc == 2 and "refused" in r.err.getvalue()


def test_main_without_config_fails(tmp_path):
    r = Run(tmp_path, "verify web01 disk.qcow2")
    assert r.rc == 1 and "ferry-peer.json" in r.err.getvalue()


def test_the_forced_command_runs_as_a_file(host):
    """The installed file: shebang, executable, the config next to it by default."""
    import shutil
    import subprocess
    root, cfg = host
    exe = root / "ferry-peer"
    shutil.copy(fp.__file__, exe)
    os.chmod(exe, 0o755)
    with open(fp.__file__) as f:
        assert f.readline() == "#!/usr/bin/python3 -I\n"
    (root / "inst" / "web01").mkdir()
    (root / "inst" / "web01" / "a").write_bytes(b"1")
    env = {"SSH_ORIGINAL_COMMAND": "verify web01 a", "PATH": "/usr/bin:/bin"}
    p = subprocess.run([str(exe)], env=env, capture_output=True, text=True)
    assert p.returncode == 0 and json.loads(p.stdout)["path"] == str(root / "inst" / "web01" / "a"), p.stderr
    p = subprocess.run([str(exe)], env=dict(env, SSH_ORIGINAL_COMMAND="id; virsh list"), capture_output=True,
                       text=True)
    assert p.returncode == 2 and p.stdout == "" and p.stderr == "ferry-peer: refused: unknown verb 'id;' (verbs: " \
        "cache-read, go, receive, receive-tpm, verify, verify-tpm)\n"
    # receive through the re-executed process, as sshd would run it
    p = subprocess.run([str(exe)], env=dict(env, SSH_ORIGINAL_COMMAND="receive web02"), capture_output=True,
                       input=stream(("disk.raw", "file", b"abc")).getvalue())
    assert p.returncode == 0, p.stderr
    assert (root / "inst" / "web02" / "disk.raw").read_bytes() == b"abc"


def test_receive_syncs_each_file_before_its_name_and_the_directory_after(host, monkeypatch):
    """What arrived is on disk before the source can be deleted: each file is synced under its
    temporary name, then the directory once the file has its own name."""
    root, cfg = host
    seen = []
    real = os.fsync

    def fsync(fd):
        path = os.readlink("/proc/self/fd/%d" % fd)
        seen.append((os.path.basename(path), sorted(os.listdir(path)) if os.path.isdir(path) else None))
        real(fd)
    monkeypatch.setattr(fp.os, "fsync", fsync)
    assert fp.receive(cfg, "instance", "web01", stream(("disk.qcow2", "file", b"qcow")), io.BytesIO()) == 1
    assert len(seen) == 2, seen
    assert seen[0][0].endswith("disk.qcow2") and seen[0][0] != "disk.qcow2" and seen[0][1] is None
    assert seen[1] == ("web01", ["disk.qcow2"])
