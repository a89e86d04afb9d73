import pytest


@pytest.mark.parametrize("make, ext, problems", [
    pytest.param(["qemu-img", "create", "-q", "-f", "qcow2", "{p}", "16M"], ".qcow2", [], id="plain-qcow2"),
    pytest.param(["qemu-img", "create", "-q", "-f", "raw", "{p}", "16M"], ".iso", [], id="raw-iso"),
    pytest.param(["qemu-img", "create", "-q", "-f", "raw", "{p}", "16M"], ".qcow2", ["format raw, expected qcow2"],
                 id="raw-named-qcow2"),
    pytest.param(["qemu-img", "create", "-q", "-f", "qcow2", "-F", "raw", "-b", "/etc/hostname", "{p}", "16M"],
                 ".qcow2", ["has a backing file of its own (/etc/hostname)"], id="own-backing-file"),
    pytest.param(["qemu-img", "create", "-q", "-f", "qcow2", "-o", "data_file={p}.data", "{p}", "16M"], ".qcow2",
                 ["has an external data file ({p}.data)"], id="external-data-file"),
])
def test_image_problems_on_real_images(tmp_path, make, ext, problems):
    """Real images made by qemu-img, probed by qemu-img info without -f, as ferry_base_image does."""
    import json
    import subprocess
    from ansible.module_utils import ferry_imagecache
    p = str(tmp_path / "img")
    subprocess.run([a.format(p=p) for a in make], check=True)
    info = json.loads(subprocess.run(["qemu-img", "info", "--output=json", p], check=True, capture_output=True,
                                     text=True).stdout)
    assert ferry_imagecache.image_problems(info, ferry_imagecache.expected_format(ext)) == \
        [x.format(p=p) for x in problems]


K = 1024


@pytest.mark.parametrize("extents, size", [
    pytest.param([(0, 4 * K)], 4 << 20, id="head-then-zeros"),
    pytest.param([(3 << 20, 100 * K), (9 << 20, 1)], 9 * (1 << 20) + 1, id="data-at-the-end"),
    pytest.param([], 2 << 20, id="all-zeros"),
    pytest.param([(0, 3 << 20)], (3 << 20) + 5, id="dense-odd-tail"),
])
def test_stream_to_file_sparse_keeps_content_and_skips_zeros(tmp_path, extents, size):
    """The source fallback writes what a peer's cache-read sends with holes for zeros (as rsync --sparse did)."""
    import hashlib
    import io
    import os
    from ansible.module_utils import ferry_imagecache
    data = bytearray(size)
    for off, n in extents:
        data[off:off + n] = os.urandom(n)
    n, sha = ferry_imagecache.stream_to_file(io.BytesIO(bytes(data)), str(tmp_path / "f"), sparse=True)
    assert (n, sha) == (size, hashlib.sha256(data).hexdigest())
    assert (tmp_path / "f").read_bytes() == bytes(data)
    written = sum(-(-n // (64 * K)) * 64 * K for _, n in extents) + 64 * K * len(extents)
    assert os.stat(tmp_path / "f").st_blocks * 512 <= written + 64 * K


SHA = "cd" * 32


@pytest.mark.parametrize("source, expect", [
    ("hv-a1:/var/lib/ferry/cache/%s.qcow2" % SHA, ["ssh", "-o", "BatchMode=yes", "hv-a1", "cache-read %s.qcow2" % SHA]),
    ("hv-a1.example.org:/c/%s.iso" % SHA, ["ssh", "-o", "BatchMode=yes", "hv-a1.example.org", "cache-read %s.iso" % SHA]),
    ("hv-a1:/srv/templates/debian.qcow2", "serves only its image cache"),
    ("hv-a1:/c/%s.qcow2;id" % SHA, "serves only its image cache"),
    ("/c/%s.qcow2" % SHA, "must be host:path"),
    ("hv-a1:", "must be host:path"),
])
def test_base_image_source_fallback_asks_the_peer_dispatcher(source, expect):
    import ferry_base_image
    if isinstance(expect, str):
        with pytest.raises(ValueError, match=expect):
            ferry_base_image.source_argv(source)
    else:
        assert ferry_base_image.source_argv(source) == expect


def test_commit_syncs_the_file_before_naming_it_and_the_directory_after(tmp_path, monkeypatch):
    import hashlib
    import os

    from ansible.module_utils import ferry_imagecache as cache
    tmp = tmp_path / "x.part-1"
    tmp.write_bytes(b"base")
    sha = hashlib.sha256(b"base").hexdigest()
    final = tmp_path / (sha + ".qcow2")
    seen, real = [], os.fsync

    def fsync(fd):
        path = os.readlink("/proc/self/fd/%d" % fd)
        seen.append((os.path.basename(path), sorted(os.listdir(path)) if os.path.isdir(path) else None))
        real(fd)
    monkeypatch.setattr(cache.os, "fsync", fsync)
    cache.commit(str(tmp), str(final), sha, sha)
    assert seen == [("x.part-1", None), (tmp_path.name, [final.name])]
    assert oct(final.stat().st_mode & 0o777) == "0o444" and final.read_bytes() == b"base"
    with pytest.raises(ValueError, match="checksum mismatch"):
        tmp.write_bytes(b"other")
        cache.commit(str(tmp), str(tmp_path / "y.qcow2"), sha, "0" * 64)
    assert not tmp.exists()
