"""qcow2 chain handling: argv builders, qemu-img JSON parsing (real qemu-img output), grow checks."""

import json
import re
import shutil
import struct
import subprocess

import pytest
from ansible.module_utils.ferry_qcow2 import (
    GIB,
    MIB,
    bytes_to_gib,
    check_argv,
    create_overlay_argv,
    gib_to_bytes,
    grow_check,
    info_argv,
    parse_chain,
    parse_check,
    rebase_argv,
    resize_argv,
    summarize_chain,
)

QEMU_IMG = "/usr/bin/qemu-img"


def qemu_img(argv, ok_codes=(0,)):
    """Run a ferry-built argv with the real binary; return stdout."""
    assert argv[0] == "qemu-img"
    r = subprocess.run([QEMU_IMG] + argv[1:], capture_output=True, text=True)
    assert r.returncode in ok_codes, (argv, r.returncode, r.stderr)
    return r.stdout


def create(path, size, fmt="qcow2", backing=None):
    if backing:
        argv = create_overlay_argv(str(path), str(backing), size)
    else:
        argv = ["qemu-img", "create", "-q", "-f", fmt, str(path), str(size)]
    qemu_img(argv)
    return str(path)


# ---------------------------------------------------------------- argv builders

ARGV_CASES = [
    pytest.param(info_argv("/d/disk.qcow2"),
                 ["qemu-img", "info", "--output=json", "-f", "qcow2", "--backing-chain", "-U", "/d/disk.qcow2"],
                 "qcow2", id="info-default"),
    pytest.param(info_argv("/d/disk.raw", fmt="raw", chain=False, force_share=False),
                 ["qemu-img", "info", "--output=json", "-f", "raw", "/d/disk.raw"], "raw", id="info-raw-plain"),
    pytest.param(info_argv("/d/disk.qcow2", chain=False),
                 ["qemu-img", "info", "--output=json", "-f", "qcow2", "-U", "/d/disk.qcow2"], "qcow2",
                 id="info-no-chain"),
    pytest.param(create_overlay_argv("/d/o.qcow2", "/c/base.qcow2"),
                 ["qemu-img", "create", "-q", "-f", "qcow2", "-b", "/c/base.qcow2", "-F", "qcow2", "/d/o.qcow2"],
                 "qcow2", id="create-overlay"),
    pytest.param(create_overlay_argv("/d/o.qcow2", "/c/base.raw", size_bytes=2.0 * GIB, backing_fmt="raw"),
                 ["qemu-img", "create", "-q", "-f", "qcow2", "-b", "/c/base.raw", "-F", "raw", "/d/o.qcow2",
                  str(2 * GIB)], "qcow2", id="create-overlay-sized"),
    pytest.param(rebase_argv("/d/o.qcow2", "/c/base.qcow2"),
                 ["qemu-img", "rebase", "-f", "qcow2", "-b", "/c/base.qcow2", "-F", "qcow2", "/d/o.qcow2"],
                 "qcow2", id="rebase-safe"),
    pytest.param(rebase_argv("/d/o.qcow2", "/c/base.qcow2", unsafe=True),
                 ["qemu-img", "rebase", "-f", "qcow2", "-b", "/c/base.qcow2", "-F", "qcow2", "-u", "/d/o.qcow2"],
                 "qcow2", id="rebase-unsafe"),
    pytest.param(resize_argv("/d/o.qcow2", 10 * GIB),
                 ["qemu-img", "resize", "-q", "-f", "qcow2", "/d/o.qcow2", str(10 * GIB)], "qcow2", id="resize"),
    pytest.param(check_argv("/d/o.qcow2"),
                 ["qemu-img", "check", "-f", "qcow2", "--output=json", "/d/o.qcow2"], "qcow2", id="check"),
]


@pytest.mark.parametrize("argv, expected, fmt", ARGV_CASES)
def test_argv(argv, expected, fmt):
    assert argv == expected
    assert all(isinstance(a, str) for a in argv)


@pytest.mark.parametrize("argv, expected, fmt", ARGV_CASES)
def test_argv_has_explicit_format(argv, expected, fmt):
    assert "-f" in argv
    assert argv[argv.index("-f") + 1] == fmt
    if "-b" in argv:  # a backing file always comes with its format
        assert "-F" in argv


# ---------------------------------------------------------------- parse_chain on real qemu-img output

@pytest.mark.parametrize("depth, sizes_mib", [
    pytest.param(1, [64], id="single"),
    pytest.param(2, [64, 64], id="overlay-on-base"),
    pytest.param(2, [64, 128], id="overlay-grown"),
    pytest.param(3, [32, 64, 96], id="three-deep"),
])
def test_parse_chain_real(tmp_path, depth, sizes_mib):
    # sizes_mib: base first; each overlay may be larger than its backing file
    paths = []
    for i, size in enumerate(sizes_mib):
        path = tmp_path / ("layer%d.qcow2" % i)
        create(path, size * MIB, backing=paths[-1] if paths else None)
        paths.append(str(path))
    top = paths[-1]
    layers = parse_chain(qemu_img(info_argv(top)))

    assert len(layers) == depth
    assert [layer["path"] for layer in layers] == list(reversed(paths))
    assert [layer["virtual_size"] for layer in layers] == [s * MIB for s in reversed(sizes_mib)]
    assert all(layer["format"] == "qcow2" for layer in layers)
    assert all(layer["actual_size"] > 0 for layer in layers)
    for upper, lower in zip(layers, layers[1:]):
        assert upper["backing_file"] == lower["path"]
        assert upper["backing_format"] == "qcow2"
    assert layers[-1]["backing_file"] is None
    assert layers[-1]["backing_format"] is None

    summary = summarize_chain(layers)
    assert summary["top"] == top
    assert summary["base"] == (paths[0] if depth > 1 else None)
    assert summary["depth"] == depth
    assert summary["virtual_size"] == sizes_mib[-1] * MIB
    assert summary["layers"] == layers


def test_parse_chain_relative_backing_is_resolved(tmp_path):
    base = create(tmp_path / "base.qcow2", 64 * MIB)
    top = str(tmp_path / "top.qcow2")
    # a relative backing name (as a rebase -u onto a sibling leaves it) resolves against the overlay's dir
    qemu_img(["qemu-img", "create", "-q", "-f", "qcow2", "-b", "base.qcow2", "-F", "qcow2", top])
    layers = parse_chain(qemu_img(info_argv(top)))
    assert layers[0]["backing_file"] == base
    assert layers[1]["path"] == base


def test_parse_chain_real_without_backing_chain_flag(tmp_path):
    base = create(tmp_path / "base.qcow2", 64 * MIB)
    top = create(tmp_path / "top.qcow2", None, backing=base)
    layers = parse_chain(qemu_img(info_argv(top, chain=False)))  # a single JSON object, not a list
    assert len(layers) == 1
    assert layers[0]["path"] == top
    assert layers[0]["backing_file"] == base


def test_parse_chain_real_raw(tmp_path):
    path = create(tmp_path / "disk.raw", 8 * MIB, fmt="raw")
    layers = parse_chain(qemu_img(info_argv(path, fmt="raw")))
    assert layers == [{"path": path, "format": "raw", "virtual_size": 8 * MIB,
                       "actual_size": layers[0]["actual_size"], "backing_file": None, "backing_format": None}]


def test_rebase_argv_real(tmp_path):
    base = create(tmp_path / "base.qcow2", 64 * MIB)
    cache = tmp_path / "cache"
    cache.mkdir()
    cached = str(cache / "base.qcow2")
    shutil.copy(base, cached)
    top = create(tmp_path / "top.qcow2", None, backing=base)
    qemu_img(rebase_argv(top, cached, unsafe=True))
    qemu_img(resize_argv(top, 128 * MIB))
    layers = parse_chain(qemu_img(info_argv(top)))
    assert [layer["path"] for layer in layers] == [top, cached]
    assert layers[0]["virtual_size"] == 128 * MIB


# A hard-coded sample (qemu-img 7.2, overlay on a cached base, the backing name stored relative).
SAMPLE_CHAIN = """[
    {
        "backing-filename-format": "qcow2",
        "virtual-size": 10737418240,
        "filename": "/var/lib/ferry/instances/web01/disk.qcow2",
        "cluster-size": 65536,
        "format": "qcow2",
        "actual-size": 52559872,
        "format-specific": {"type": "qcow2", "data": {"compat": "1.1", "compression-type": "zlib",
            "lazy-refcounts": false, "refcount-bits": 16, "corrupt": false, "extended-l2": false}},
        "full-backing-filename": "/var/lib/ferry/_base/3b4c8d2e.qcow2",
        "backing-filename": "../_base/3b4c8d2e.qcow2",
        "dirty-flag": false
    },
    {
        "virtual-size": 2147483648,
        "filename": "/var/lib/ferry/_base/3b4c8d2e.qcow2",
        "cluster-size": 65536,
        "format": "qcow2",
        "actual-size": 306118656,
        "format-specific": {"type": "qcow2", "data": {"compat": "1.1", "compression-type": "zlib",
            "lazy-refcounts": false, "refcount-bits": 16, "corrupt": false, "extended-l2": false}},
        "dirty-flag": false
    }
]"""


def test_parse_chain_sample():
    assert parse_chain(SAMPLE_CHAIN) == [
        {"path": "/var/lib/ferry/instances/web01/disk.qcow2", "format": "qcow2", "virtual_size": 10 * GIB,
         "actual_size": 52559872, "backing_file": "/var/lib/ferry/_base/3b4c8d2e.qcow2",
         "backing_format": "qcow2"},
        {"path": "/var/lib/ferry/_base/3b4c8d2e.qcow2", "format": "qcow2", "virtual_size": 2 * GIB,
         "actual_size": 306118656, "backing_file": None, "backing_format": None},
    ]


@pytest.mark.parametrize("item, key, expected", [
    ({"filename": "a", "backing-filename": "b"}, "backing_file", "b"),  # no full- name: fall back
    ({"filename": "a", "backing-filename": "b", "full-backing-filename": "/x/b"}, "backing_file", "/x/b"),
    ({"filename": "a"}, "virtual_size", 0),
    ({"filename": "a"}, "actual_size", 0),
    ({"filename": "a", "virtual-size": "1024"}, "virtual_size", 1024),
])
def test_parse_chain_fields(item, key, expected):
    assert parse_chain(json.dumps(item))[0][key] == expected


@pytest.mark.parametrize("layers, expected", [
    ([], {"top": None, "base": None, "virtual_size": 0, "depth": 0, "layers": []}),
    ([{"path": "/t", "virtual_size": 5}], {"top": "/t", "base": None, "virtual_size": 5, "depth": 1}),
    ([{"path": "/t", "virtual_size": 9}, {"path": "/b", "virtual_size": 3}],
     {"top": "/t", "base": "/b", "virtual_size": 9, "depth": 2}),
    ([{"path": "/t", "virtual_size": 9}, {"path": "/m", "virtual_size": 4}, {"path": "/b", "virtual_size": 3}],
     {"top": "/t", "base": "/b", "virtual_size": 9, "depth": 3}),
])
def test_summarize_chain(layers, expected):
    out = summarize_chain(layers)
    assert {k: out[k] for k in expected} == expected
    assert out["layers"] == layers


# ---------------------------------------------------------------- parse_check

def _set_refcount(path, cluster, value):
    """Write one 16-bit refcount in a qcow2 v3 image (to make real leaks and corruptions)."""
    with open(path, "r+b") as f:
        header = f.read(104)
        refcount_table = struct.unpack(">Q", header[48:56])[0]
        assert struct.unpack(">I", header[96:100])[0] == 4  # refcount_order 4: 16-bit refcounts
        f.seek(refcount_table)
        block = struct.unpack(">Q", f.read(8))[0]
        f.seek(block + 2 * cluster)
        f.write(struct.pack(">H", value))


def _clean(path):
    pass


def _leak(path):
    with open(path, "ab") as f:  # one more cluster in the file, referenced by nothing
        f.write(b"\0" * 65536)
    _set_refcount(path, 4, 1)


def _corrupt(path):
    _set_refcount(path, 0, 0)  # the header cluster is in use but counted free


@pytest.mark.parametrize("damage, rc, ok, corruptions, leaks", [
    pytest.param(_clean, 0, True, 0, 0, id="clean"),
    pytest.param(_leak, 3, True, 0, 1, id="leak"),
    pytest.param(_corrupt, 2, False, 1, 0, id="corrupt"),
])
def test_parse_check_real(tmp_path, damage, rc, ok, corruptions, leaks):
    path = create(tmp_path / "disk.qcow2", 16 * MIB)
    damage(path)
    got_ok, summary = parse_check(qemu_img(check_argv(path), ok_codes=(rc,)))
    assert got_ok is ok
    assert summary["corruptions"] == corruptions
    assert summary["leaks"] == leaks
    assert summary["check_errors"] == 0
    assert summary["image_end_offset"] > 0


@pytest.mark.parametrize("data, ok, summary", [
    ({"image-end-offset": 262144, "total-clusters": 2048, "check-errors": 0, "filename": "d", "format": "qcow2"},
     True, {"corruptions": 0, "leaks": 0, "check_errors": 0, "image_end_offset": 262144}),
    ({"image-end-offset": 327680, "check-errors": 0, "leaks": 3},
     True, {"corruptions": 0, "leaks": 3, "check_errors": 0, "image_end_offset": 327680}),
    ({"image-end-offset": 262144, "check-errors": 0, "corruptions": 2},
     False, {"corruptions": 2, "leaks": 0, "check_errors": 0, "image_end_offset": 262144}),
    ({"check-errors": 1}, False, {"corruptions": 0, "leaks": 0, "check_errors": 1, "image_end_offset": None}),
    ({"check-errors": 0, "corruptions-fixed": 1, "corruptions": 0},
     False, {"corruptions": 1, "leaks": 0, "check_errors": 0, "image_end_offset": None}),
])
def test_parse_check_samples(data, ok, summary):
    assert parse_check(json.dumps(data)) == (ok, summary)


# ---------------------------------------------------------------- sizes and grow_check

@pytest.mark.parametrize("gib, n", [(0, 0), (1, GIB), (2.5, 2 * GIB + GIB // 2), ("10", 10 * GIB), (0.001, 1073742)])
def test_gib_to_bytes(gib, n):
    assert gib_to_bytes(gib) == n


@pytest.mark.parametrize("n, gib", [(0, 0.0), (GIB, 1.0), (GIB // 2, 0.5), (20 * GIB, 20.0)])
def test_bytes_to_gib(n, gib):
    assert bytes_to_gib(n) == gib


@pytest.mark.parametrize("current, wanted, expected", [
    (10 * GIB, 20 * GIB, "grow"),
    (10 * GIB, 10 * GIB + 1, "grow"),
    (2 * GIB + 512 * MIB, 3 * GIB, "grow"),
    (0, 1, "grow"),
    (10 * GIB, 10 * GIB, "same"),
    (0, 0, "same"),
])
def test_grow_check(current, wanted, expected):
    assert grow_check(current, wanted) == expected


@pytest.mark.parametrize("current, wanted, current_text, wanted_text", [
    (20 * GIB, 10 * GIB, "20.00", "10.00"),
    (10 * GIB, 1 * GIB, "10.00", "1.00"),
    (2 * GIB + 512 * MIB, 2 * GIB, "2.50", "2.00"),
])
def test_grow_check_refuses_shrink(current, wanted, current_text, wanted_text):
    with pytest.raises(ValueError, match="shrink") as exc:
        grow_check(current, wanted)
    msg = str(exc.value)
    assert current_text in msg and wanted_text in msg
    assert msg.index(current_text) < msg.index(wanted_text)


@pytest.mark.parametrize("current, wanted", [
    pytest.param(10 * GIB, 10 * GIB - MIB, id="1MiB-smaller"),
    pytest.param(10 * GIB + 4 * MIB, 10 * GIB, id="image-4MiB-over-flavor"),
])
def test_grow_check_small_shrink_message_tells_sizes_apart(current, wanted):
    # The message must let the operator see two different sizes, not "10.00 GiB ... 10.00 GiB".
    with pytest.raises(ValueError) as exc:
        grow_check(current, wanted)
    msg = str(exc.value)
    numbers = re.findall(r"\d+(?:\.\d+)?", msg)
    assert len(set(numbers)) >= 2, msg
