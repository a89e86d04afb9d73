"""The host-to-host transfer primitive (ferry_ship.stream_file): real tar on real sparse files;
only ssh is replaced by a local shell running the same receiving command."""

import os
import subprocess

import pytest

from ansible.module_utils import ferry_ship


def local_popen(argv, **kw):
    """Run `ssh -o BatchMode=yes HOST CMD` as `sh -c CMD` here (what the target's shell would do)."""
    if argv[0] == "ssh":
        argv = ["sh", "-c", argv[-1]]
    return subprocess.Popen(argv, **kw)


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
])
def test_stream_sends_data_not_holes_and_keeps_holes(tmp_path, size, extents):
    src = sparse_file(str(tmp_path / "src.raw"), size, extents)
    (tmp_path / "dst").mkdir()
    dest = str(tmp_path / "dst" / "vdb-data.raw")
    seen = []
    sent = ferry_ship.stream_file(src, "target", dest, progress=seen.append, popen=local_popen)
    data = sum(n for _, n in extents)
    assert data <= sent <= data * 1.01 + 64 * 1024  # tar framing only
    with open(src, "rb") as a, open(dest, "rb") as b:
        assert a.read() == b.read()
    assert os.stat(dest).st_blocks * 512 <= os.stat(src).st_blocks * 512 + 64 * 1024
    assert seen and seen[-1] == sent


def test_stream_failure_names_both_ends(tmp_path):
    src = sparse_file(str(tmp_path / "src.raw"), 1 << 20, [(0, 4096)])
    (tmp_path / "a-file").write_text("not a directory")
    with pytest.raises(IOError, match="receiver rc"):
        ferry_ship.stream_file(src, "target", str(tmp_path / "a-file" / "x.raw"), popen=local_popen)


def test_stream_creates_the_destination_directory(tmp_path):
    src = sparse_file(str(tmp_path / "src.raw"), 1 << 20, [(0, 4096)])
    ferry_ship.stream_file(src, "target", str(tmp_path / "uuid" / "tpm2" / "x.raw"), popen=local_popen)
    assert (tmp_path / "uuid" / "tpm2" / "x.raw").read_bytes() == open(src, "rb").read()


@pytest.mark.parametrize("name", ["a b", "x;rm", "../up", "", "a|b"])
def test_unsafe_destination_names_refused(name):
    with pytest.raises(ValueError, match="unsafe destination"):
        ferry_ship.tar_create_argv("/src/disk.qcow2", name)


def test_tar_argv_and_receiver_quote_paths():
    argv = ferry_ship.tar_create_argv("/srv/vm 1/disk.qcow2", "disk.qcow2")
    assert argv[argv.index("--directory") + 1] == "/srv/vm 1" and argv[-2:] == ["--", "disk.qcow2"]
    assert "--sparse" in argv and "--hole-detection=seek" in argv
    assert ferry_ship.tar_extract_remote("/i/we b") == ("mkdir -p '/i/we b' && tar --extract --sparse "
                                                        "--no-same-owner --file=- --directory '/i/we b'")
    assert ferry_ship.remote_stat_argv("h", "/p q")[-1] == "sha256sum -- '/p q' && stat -c '%s %b %B' -- '/p q'"


def test_parse_remote_stat():
    out = "%s  /p\n1048576 2048 512\n" % ("a" * 64)
    assert ferry_ship.parse_remote_stat(out) == {"sha256": "a" * 64, "size": 1048576, "allocated_bytes": 1048576}


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
        ferry_ship.stream_file(src, "target", str(tmp_path / "x.raw"), popen=refusing)
