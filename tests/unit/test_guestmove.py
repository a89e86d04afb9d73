"""Table-driven tests of ferry_guestmove: what a move does with each file of a guest's definition.

Domain XMLs are built inline, shaped like `virsh dumpxml --inactive` output; chains are
ferry_qcow2.summarize_chain() dicts as the inspecting module passes them.
"""

import os

import pytest

from ansible.module_utils import ferry_domxml, ferry_guestmove, ferry_qcow2, ferry_ship

GIB = 1024 ** 3
MIB = 1024 ** 2
SRC_CACHE = "/var/lib/ferry/cache"
SRC_INST = "/var/lib/ferry/instances"
TGT_CACHE = "/srv/ferry/cache"
TGT_INST = "/srv/ferry/instances"
SHA_A, SHA_B, SHA_C, SHA_D, SHA_E, SHA_F = (c * 64 for c in "abcdef")
TARGET = {"cache_dir": TGT_CACHE, "instances_dir": TGT_INST}
TDIR = TGT_INST + "/vm1"


# ---------------------------------------------------------------- builders

def disk_xml(target, path=None, fmt="qcow2", dtype="file", device="disk", readonly=False, shareable=False,
             boot=None, bus="virtio"):
    if path is None:
        source = ""
    elif dtype == "network":
        source = "<source protocol='rbd' name='%s'><host name='ceph-mon1' port='6789'/></source>" % path
    elif dtype == "volume":
        pool, _, vol = path.partition("/")
        source = "<source pool='%s' volume='%s'/>" % (pool, vol)
    else:
        source = "<source %s='%s'/>" % ({"file": "file", "block": "dev", "dir": "dir"}[dtype], path)
    return """
    <disk type='%s' device='%s'>
      <driver name='qemu' type='%s'/>
      %s
      <target dev='%s' bus='%s'/>%s%s%s
    </disk>""" % (dtype, device, fmt, source, target, bus,
                  "\n      <readonly/>" if readonly else "", "\n      <shareable/>" if shareable else "",
                  "\n      <boot order='%d'/>" % boot if boot else "")


SERIAL_AND_CHANNEL = """
    <serial type='file'>
      <source path='/var/log/ferry/vm1-serial.log'/>
      <log file='/var/log/ferry/vm1-chardev.log'/>
      <target type='isa-serial' port='0'><model name='isa-serial'/></target>
    </serial>
    <console type='file'>
      <source path='/var/log/ferry/vm1-serial.log'/>
      <log file='/var/log/ferry/vm1-chardev.log'/>
      <target type='serial' port='0'/>
    </console>
    <channel type='unix'>
      <source mode='bind' path='/var/lib/libvirt/qemu/channel/target/vm1.org.qemu.guest_agent.0'/>
      <target type='virtio' name='org.qemu.guest_agent.0'/>
      <address type='virtio-serial' controller='0' bus='0' port='1'/>
    </channel>"""

UEFI_KERNEL_OS = """
    <loader readonly='yes' type='pflash'>/usr/share/OVMF/OVMF_CODE_4M.fd</loader>
    <nvram template='/usr/share/OVMF/OVMF_VARS_4M.fd'>/var/lib/libvirt/qemu/nvram/vm1_VARS.fd</nvram>
    <kernel>/boot/guests/vmlinuz-6.1.0-13-amd64</kernel>
    <initrd>/boot/guests/initrd.img-6.1.0-13-amd64</initrd>
    <cmdline>console=ttyS0 root=/dev/vda1</cmdline>"""


def dom(devices="", os_extra="", name="vm1", vcpus=2, memory_kib=2097152, nics=""):
    return """<domain type='kvm'>
  <name>%s</name>
  <uuid>5f0c1c2e-8d3b-4b8e-9a55-0e2f4f6a7b10</uuid>
  <memory unit='KiB'>%d</memory>
  <currentMemory unit='KiB'>%d</currentMemory>
  <vcpu placement='static'>%d</vcpu>
  <os>
    <type arch='x86_64' machine='pc-q35-7.2'>hvm</type>%s
  </os>
  <features><acpi/><apic/></features>
  <cpu mode='host-model' check='partial'/>
  <clock offset='utc'/>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>%s%s
    <graphics type='vnc' port='-1' autoport='yes'/>
  </devices>
</domain>
""" % (name, memory_kib, memory_kib, vcpus, os_extra, devices, nics)


def layer(path, fmt="qcow2", vsize=10 * GIB, actual=200 * MIB, backing=None, bfmt=None):
    return {"path": path, "format": fmt, "virtual_size": vsize, "actual_size": actual,
            "backing_file": backing, "backing_format": bfmt}


def chain(*specs):
    """chain((top, fmt, vsize, actual), (base, fmt, ...), ...) as summarize_chain builds it; only the path
    is required (format qcow2, 10 GiB virtual, 200 MiB allocated by default)."""
    full = [tuple(spec) + ("qcow2", 10 * GIB, 200 * MIB)[len(spec) - 1:] for spec in specs]
    layers = [layer(path, fmt, vsize, actual, *(full[i + 1][:2] if i + 1 < len(full) else (None, None)))
              for i, (path, fmt, vsize, actual) in enumerate(full)]
    return ferry_qcow2.summarize_chain(layers)


def cfg(**kw):
    base = {"cache_dir": SRC_CACHE, "instances_dir": SRC_INST, "shared_storage": ["/mnt/shared"],
            "allowed": None, "name": "vm1", "root_disk": None}
    base.update(kw)
    return base


def one_disk(xml):
    return ferry_domxml.disks(ferry_domxml.parse(dom(xml)))[0]


# ---------------------------------------------------------------- small helpers

@pytest.mark.parametrize("path,prefixes,expect", [
    ("/mnt/shared/vm1/disk.qcow2", ["/mnt/shared"], True),
    ("/mnt/shared", ["/mnt/shared"], True),
    ("/mnt/shared/", ["/mnt/shared"], True),
    ("/mnt/shared/x", ["/mnt/shared/"], True),
    ("/mnt/shared2/x", ["/mnt/shared"], False),
    ("/mnt/sharedx", ["/mnt/shared"], False),
    ("/mnt/shared/../etc/passwd", ["/mnt/shared"], False),
    ("/mnt//shared/./a", ["/mnt/shared"], True),
    ("/a/b", ["/x", "/a"], True),
    ("/anything", ["/"], True),
    ("/a/b", [], False),
    ("/a/b", None, False),
    ("", ["/"], False),
    (None, ["/"], False),
])
def test_under(path, prefixes, expect):
    assert ferry_guestmove.under(path, prefixes) is expect


@pytest.mark.parametrize("path,cache_dir,expect", [
    (SRC_CACHE + "/" + SHA_A + ".qcow2", SRC_CACHE, SHA_A),
    (SRC_CACHE + "/" + SHA_A, SRC_CACHE, SHA_A),
    (SRC_CACHE + "/" + SHA_A + ".iso", SRC_CACHE + "/", SHA_A),
    (SRC_CACHE + "//" + SHA_A + ".qcow2", SRC_CACHE, SHA_A),
    (SRC_CACHE + "/sub/" + SHA_A + ".qcow2", SRC_CACHE, None),    # not directly in the cache
    ("/images/" + SHA_A + ".qcow2", SRC_CACHE, None),            # named like one, elsewhere
    (SRC_CACHE + "/debian-12.qcow2", SRC_CACHE, None),           # in the cache, not sha-named
    (SRC_CACHE + "/" + SHA_A.upper() + ".qcow2", SRC_CACHE, None),
    (SRC_CACHE + "/" + SHA_A[:63] + ".qcow2", SRC_CACHE, None),
    (SRC_CACHE + "/" + SHA_A + ".tar.gz", SRC_CACHE, None),
    (SRC_CACHE + "/" + SHA_A + ".qcow2", None, None),
    (None, SRC_CACHE, None),
])
def test_cache_sha_of(path, cache_dir, expect):
    assert ferry_guestmove.cache_sha_of(path, cache_dir) == expect


@pytest.mark.parametrize("path,fmt,expect", [
    ("/images/debian-12.qcow2", None, ".qcow2"),
    ("/images/debian-12.qcow2", "raw", ".qcow2"),     # its own extension wins
    ("/isos/install.iso", "raw", ".iso"),
    ("/images/base", "raw", ".raw"),
    ("/images/base", None, ".img"),
    ("/boot/vmlinuz-6.1.0-13-amd64", "kernel", ".kernel"),   # '.0-13-amd64' is no extension
    ("/boot/initrd.img-6.1.0-13-amd64", "initrd", ".initrd"),
    ("/x/disk.verylongext", "qcow2", ".qcow2"),   # more than 8 characters
    ("/x/.hidden", "raw", ".raw"),
    (None, None, ".img"),
])
def test_cache_ext(path, fmt, expect):
    assert ferry_guestmove.cache_ext(path, fmt) == expect


# ---------------------------------------------------------------- classify_disk

INST_DISK = SRC_INST + "/vm1/disk.qcow2"
WHOLE = chain((INST_DISK,))
OVERLAY = chain((INST_DISK,), (SRC_CACHE + "/" + SHA_A + ".qcow2",))
DEEP = chain((INST_DISK,), ("/images/mid.qcow2",), ("/images/base.qcow2",))


@pytest.mark.parametrize("xml,chain_,conf,kind,reason", [
    (disk_xml("sda", None, "raw", device="cdrom", readonly=True, bus="sata"), None, cfg(), "empty", None),
    (disk_xml("vdb", "/dev/vg0/vm1-data", "raw", dtype="block"), None, cfg(),
     "refuse", "disk vdb (block /dev/vg0/vm1-data): ferry cannot copy a block disk"),
    (disk_xml("vdb", "pool/vm1-data", "raw", dtype="network"), None, cfg(),
     "refuse", "disk vdb (network rbd:pool/vm1-data): ferry cannot copy a network disk"),
    (disk_xml("vdb", "default/vm1-data.qcow2", dtype="volume"), None, cfg(),
     "refuse", "disk vdb (volume default/vm1-data.qcow2): ferry cannot copy a volume disk"),
    (disk_xml("vdb", "/mnt/shared/luns/vm1", "raw", dtype="block"), None, cfg(), "shared", None),
    (disk_xml("vdb", "/mnt/shared/luns/vm1", "raw", dtype="block", device="lun"), None, cfg(), "shared", None),
    (disk_xml("vdb", "/mnt/shared/vm1/data.qcow2"), None, cfg(), "shared", None),
    # network disks are refused even when their name looks like a shared path
    (disk_xml("vdb", "/mnt/shared/x", "raw", dtype="network"), None, cfg(), "refuse", "cannot copy a network disk"),
    (disk_xml("sda", "/isos/install.iso", "raw", device="cdrom", readonly=True, bus="sata"), chain(("/isos/i.iso", "raw")),
     cfg(), "cache", None),
    (disk_xml("vdb", "/images/tools.qcow2", readonly=True), chain(("/images/tools.qcow2",)), cfg(), "cache", None),
    # read-only wins over the adoption record: the image is brought by sha256, not copied from its place
    (disk_xml("vdb", "/images/tools.qcow2", readonly=True), None, cfg(allowed=[]), "cache", None),
    (disk_xml("vdb", "/data/vm1/cluster.raw", "raw", shareable=True), chain(("/data/vm1/cluster.raw", "raw")), cfg(),
     "refuse", "disk vdb (file /data/vm1/cluster.raw): a shareable disk must be on storage declared"),
    (disk_xml("vdb", "/mnt/shared/cluster.raw", "raw", shareable=True), None, cfg(), "shared", None),
    (disk_xml("vdb", "/data/vm1/moved.qcow2"), chain(("/data/vm1/moved.qcow2",)),
     cfg(allowed=["/data/vm1/disk.qcow2"]),
     "refuse", "path not recorded for this guest at adoption (/data/vm1/disk.qcow2); re-run adopt.yml"),
    (disk_xml("vdb", "/data/vm1/moved.qcow2"), chain(("/data/vm1/moved.qcow2",)), cfg(allowed=[]),
     "refuse", "at adoption (none)"),
    (disk_xml("vdb", "/data/vm1/disk.qcow2"), chain(("/data/vm1/disk.qcow2",)),
     cfg(allowed=["/data/vm1//disk.qcow2"]), "whole", None),
    (disk_xml("vda", INST_DISK), WHOLE, cfg(allowed=[]), "whole", None),      # inside the instance dir
    (disk_xml("vda", SRC_INST + "/vm10/disk.qcow2"), WHOLE, cfg(allowed=[]), "refuse", "not recorded"),
    (disk_xml("vda", SRC_INST + "/vm1/../vm2/disk.qcow2"), WHOLE, cfg(allowed=[]), "refuse", "not recorded"),
    (disk_xml("vda", "/anywhere/disk.qcow2"), WHOLE, cfg(allowed=None), "whole", None),  # no adoption record
    (disk_xml("vda", INST_DISK), None, cfg(), "refuse", "disk vda (file %s): qemu-img could not read it" % INST_DISK),
    (disk_xml("vda", INST_DISK), WHOLE, cfg(), "whole", None),
    (disk_xml("vda", INST_DISK, "raw"), chain((INST_DISK, "raw")), cfg(), "whole", None),
    (disk_xml("vda", INST_DISK), OVERLAY, cfg(), "overlay", None),
    (disk_xml("vda", INST_DISK), DEEP, cfg(),
     "refuse", "disk vda (file %s): backing chain of 3 layers" % INST_DISK),
])
def test_classify_disk(xml, chain_, conf, kind, reason):
    got_kind, got_reason = ferry_guestmove.classify_disk(one_disk(xml), chain_, conf)
    assert got_kind == kind
    if reason is None:
        assert got_reason is None
    else:
        assert reason in got_reason


def test_classify_refusal_suggests_shared_storage():
    _, reason = ferry_guestmove.classify_disk(one_disk(disk_xml("vdb", "/dev/sdb", "raw", dtype="block")), None, cfg())
    assert "ferry_shared_storage" in reason


# ---------------------------------------------------------------- needs_hash

@pytest.mark.parametrize("devices,os_extra,chains,expect", [
    (disk_xml("vda", INST_DISK), "", {"vda": WHOLE}, []),
    (disk_xml("vda", INST_DISK), "", {"vda": OVERLAY}, []),                         # base named by its sha
    (disk_xml("vda", INST_DISK), "", {"vda": chain((INST_DISK,), ("/images/debian-12.qcow2",))},
     ["/images/debian-12.qcow2"]),
    (disk_xml("vda", INST_DISK), "", {"vda": DEEP}, []),                             # refused: nothing to hash
    (disk_xml("sda", "/isos/install.iso", "raw", device="cdrom", readonly=True, bus="sata"), "", {},
     ["/isos/install.iso"]),
    (disk_xml("sda", SRC_CACHE + "/" + SHA_C + ".iso", "raw", device="cdrom", readonly=True, bus="sata"), "", {}, []),
    (disk_xml("sda", "/mnt/shared/install.iso", "raw", device="cdrom", readonly=True, bus="sata"), "", {}, []),
    (disk_xml("sda", None, "raw", device="cdrom", readonly=True, bus="sata"), "", {}, []),
    ("", UEFI_KERNEL_OS, {}, ["/boot/guests/initrd.img-6.1.0-13-amd64", "/boot/guests/vmlinuz-6.1.0-13-amd64",
                              "/usr/share/OVMF/OVMF_CODE_4M.fd"]),                   # not nvram: it ships
    ("", "\n    <kernel>/mnt/shared/vmlinuz</kernel>\n    <initrd>%s/%s</initrd>" % (SRC_CACHE, SHA_E), {}, []),
    # two overlays on one base, and the base again as a read-only disk: hashed once
    (disk_xml("vda", INST_DISK) + disk_xml("vdb", SRC_INST + "/vm1/b.qcow2")
     + disk_xml("vdc", "/images/debian-12.qcow2", readonly=True), "",
     {"vda": chain((INST_DISK,), ("/images/debian-12.qcow2",)),
      "vdb": chain((SRC_INST + "/vm1/b.qcow2",), ("/images/debian-12.qcow2",))},
     ["/images/debian-12.qcow2"]),
])
def test_needs_hash(devices, os_extra, chains, expect):
    assert ferry_guestmove.needs_hash(dom(devices, os_extra), chains, cfg()) == expect


# ---------------------------------------------------------------- plan: one guest with every kind of file

CACHED_BASE = SRC_CACHE + "/" + SHA_A + ".qcow2"
OUTSIDE_BASE = "/images/debian-12.qcow2"
FULL_DEVICES = (
    disk_xml("vda", SRC_INST + "/vm1/disk.qcow2", boot=1)                 # overlay on a cached base
    + disk_xml("vdb", "/data/vm1/disk.qcow2")                             # same basename, overlay, base outside
    + disk_xml("vdc", "/data/vm1/scratch.raw", "raw")                     # raw
    + disk_xml("vdd", "/data/vm1/data.qcow2")                             # standalone qcow2
    + disk_xml("vde", "/data/vm1/logs.qcow2")                             # overlay sharing vdb's base
    + disk_xml("sda", "/isos/install.iso", "raw", device="cdrom", readonly=True, bus="sata")
    + disk_xml("sdb", None, "raw", device="cdrom", readonly=True, bus="sata")
    + SERIAL_AND_CHANNEL)
FULL_XML = dom(FULL_DEVICES, UEFI_KERNEL_OS)
FULL_CHAINS = {
    "vda": chain((SRC_INST + "/vm1/disk.qcow2", "qcow2", 10 * GIB, 300 * MIB), (CACHED_BASE, "qcow2", 10 * GIB, GIB)),
    "vdb": chain(("/data/vm1/disk.qcow2", "qcow2", 20 * GIB, 100 * MIB), (OUTSIDE_BASE, "qcow2", 20 * GIB, 2 * GIB)),
    "vdc": chain(("/data/vm1/scratch.raw", "raw", 2 * GIB, 50 * MIB)),
    "vdd": chain(("/data/vm1/data.qcow2", "qcow2", 4 * GIB, 10 * MIB)),
    "vde": chain(("/data/vm1/logs.qcow2", "qcow2", 20 * GIB, 1 * MIB), (OUTSIDE_BASE, "qcow2", 20 * GIB, 2 * GIB)),
    "sda": chain(("/isos/install.iso", "raw", GIB, GIB)),
}
FULL_HASHES = {OUTSIDE_BASE: SHA_B, "/isos/install.iso": SHA_C, "/boot/guests/vmlinuz-6.1.0-13-amd64": SHA_D,
               "/boot/guests/initrd.img-6.1.0-13-amd64": SHA_E, "/usr/share/OVMF/OVMF_CODE_4M.fd": SHA_F}


@pytest.fixture(scope="module")
def full_plan():
    assert ferry_guestmove.needs_hash(FULL_XML, FULL_CHAINS, cfg()) == sorted(FULL_HASHES)
    return ferry_guestmove.plan(FULL_XML, FULL_CHAINS, FULL_HASHES, cfg(), TARGET)


def test_plan_full_no_refusals_root_and_shared(full_plan):
    assert full_plan["refusals"] == []
    assert full_plan["root"] == "vda"
    assert full_plan["shared"] == []


def test_plan_full_ship(full_plan):
    assert [(s["target"], s["src"], s["dest"], s["mode"], s["format"], s["allocated_bytes"])
            for s in full_plan["ship"]] == [
        ("vda", SRC_INST + "/vm1/disk.qcow2", TDIR + "/vda-disk.qcow2", "overlay", "qcow2", 300 * MIB),
        ("vdb", "/data/vm1/disk.qcow2", TDIR + "/vdb-disk.qcow2", "overlay", "qcow2", 100 * MIB),
        ("vdc", "/data/vm1/scratch.raw", TDIR + "/scratch.raw", "whole", "raw", 50 * MIB),
        ("vdd", "/data/vm1/data.qcow2", TDIR + "/data.qcow2", "whole", "qcow2", 10 * MIB),
        ("vde", "/data/vm1/logs.qcow2", TDIR + "/logs.qcow2", "overlay", "qcow2", 1 * MIB),
        ("nvram", "/var/lib/libvirt/qemu/nvram/vm1_VARS.fd", TDIR + "/vm1_VARS.fd", "whole", "raw", 0),
    ]
    assert full_plan["allocated_bytes"] == (300 + 100 + 50 + 10 + 1) * MIB
    dests = [s["dest"] for s in full_plan["ship"]]
    assert len(set(dests)) == len(dests)
    # where each lands as the target's peer dispatcher names it: the instance dir, by file name
    assert [s["peer"] for s in full_plan["ship"]] == [{"area": "instance", "key": "vm1", "name": os.path.basename(d)}
                                                      for d in dests]
    assert all(ferry_ship.peer_dest(s, "vm1") == s["peer"] for s in full_plan["ship"])


def test_plan_full_cache(full_plan):
    by_sha = {(c["sha256"], c["ext"]): c for c in full_plan["cache"]}
    assert len(by_sha) == len(full_plan["cache"]) == 6
    assert by_sha[(SHA_A, ".qcow2")] == {"sha256": SHA_A, "src": CACHED_BASE, "ext": ".qcow2", "format": "qcow2",
                                         "for": ["base of vda"], "path": TGT_CACHE + "/" + SHA_A + ".qcow2"}
    # one base under two overlays: fetched once, for both
    assert by_sha[(SHA_B, ".qcow2")] == {"sha256": SHA_B, "src": OUTSIDE_BASE, "ext": ".qcow2", "format": "qcow2",
                                         "for": ["base of vdb", "base of vde"],
                                         "path": TGT_CACHE + "/" + SHA_B + ".qcow2"}
    assert by_sha[(SHA_C, ".iso")] == {"sha256": SHA_C, "src": "/isos/install.iso", "ext": ".iso", "format": "raw",
                                       "for": ["disk sda"], "path": TGT_CACHE + "/" + SHA_C + ".iso"}
    assert by_sha[(SHA_D, ".kernel")]["for"] == ["kernel"]
    assert by_sha[(SHA_E, ".initrd")]["for"] == ["initrd"]
    assert by_sha[(SHA_F, ".fd")] == {"sha256": SHA_F, "src": "/usr/share/OVMF/OVMF_CODE_4M.fd", "ext": ".fd",
                                      "format": None, "for": ["loader"], "path": TGT_CACHE + "/" + SHA_F + ".fd"}
    assert [c["sha256"] for c in full_plan["cache"]].count(SHA_B) == 1


def test_plan_full_rebase(full_plan):
    assert full_plan["rebase"] == [
        {"target": "vda", "path": TDIR + "/vda-disk.qcow2", "base_sha256": SHA_A,
         "base_path": TGT_CACHE + "/" + SHA_A + ".qcow2", "base_format": "qcow2", "source_base": CACHED_BASE},
        {"target": "vdb", "path": TDIR + "/vdb-disk.qcow2", "base_sha256": SHA_B,
         "base_path": TGT_CACHE + "/" + SHA_B + ".qcow2", "base_format": "qcow2", "source_base": OUTSIDE_BASE},
        {"target": "vde", "path": TDIR + "/logs.qcow2", "base_sha256": SHA_B,
         "base_path": TGT_CACHE + "/" + SHA_B + ".qcow2", "base_format": "qcow2", "source_base": OUTSIDE_BASE},
    ]


def test_plan_full_disk_map(full_plan):
    assert full_plan["disk_map"] == {
        "vda": {"path": TDIR + "/vda-disk.qcow2", "format": "qcow2"},
        "vdb": {"path": TDIR + "/vdb-disk.qcow2", "format": "qcow2"},
        "vdc": {"path": TDIR + "/scratch.raw", "format": "raw"},
        "vdd": {"path": TDIR + "/data.qcow2", "format": "qcow2"},
        "vde": {"path": TDIR + "/logs.qcow2", "format": "qcow2"},
        "sda": {"path": TGT_CACHE + "/" + SHA_C + ".iso", "format": "raw"},
    }   # the empty cdrom sdb keeps its definition


def test_plan_full_path_map(full_plan):
    assert full_plan["path_map"] == {
        "/usr/share/OVMF/OVMF_CODE_4M.fd": TGT_CACHE + "/" + SHA_F + ".fd",
        "/var/lib/libvirt/qemu/nvram/vm1_VARS.fd": TDIR + "/vm1_VARS.fd",
        "/boot/guests/vmlinuz-6.1.0-13-amd64": TGT_CACHE + "/" + SHA_D + ".kernel",
        "/boot/guests/initrd.img-6.1.0-13-amd64": TGT_CACHE + "/" + SHA_E + ".initrd",
        "/var/log/ferry/vm1-serial.log": TDIR + "/vm1-serial.log",
        "/var/log/ferry/vm1-chardev.log": TDIR + "/vm1-chardev.log",
        # a unix socket with an explicit path goes into the instance dir (a generated one can be too long)
        "/var/lib/libvirt/qemu/channel/target/vm1.org.qemu.guest_agent.0": TDIR + "/vm1.org.qemu.guest_agent.0",
    }


def test_plan_full_source_files(full_plan):
    assert full_plan["source_files"] == [SRC_INST + "/vm1/disk.qcow2", "/data/vm1/disk.qcow2", "/data/vm1/scratch.raw",
                                         "/data/vm1/data.qcow2", "/data/vm1/logs.qcow2",
                                         "/var/lib/libvirt/qemu/nvram/vm1_VARS.fd"]


def test_plan_full_applies_to_target_definition(full_plan):
    """The plan's maps are what target_definition takes: every host path ends up on the target's side."""
    xml, _changes = ferry_domxml.target_definition(FULL_XML, disk_map=full_plan["disk_map"],
                                                   path_map=full_plan["path_map"])
    left = [p for p in ferry_domxml.paths(ferry_domxml.parse(xml))
            if p["kind"] not in ("emulator", "nvram_template") and p["path"]]
    assert left and all(p["path"].startswith("/srv/ferry/") for p in left), left


@pytest.mark.parametrize("devices,os_extra,chains,hashes,conf,expect", [
    (disk_xml("vda", INST_DISK), "", {"vda": chain((INST_DISK,), ("/images/b.qcow2",))}, {}, cfg(),
     ["no sha256 for /images/b.qcow2"]),
    (disk_xml("sda", "/isos/x.iso", "raw", device="cdrom", readonly=True), "", {}, {}, cfg(),
     ["no sha256 for /isos/x.iso"]),
    ("", "\n    <kernel>/boot/vmlinuz</kernel>", {}, {}, cfg(), ["no sha256 for /boot/vmlinuz"]),
    (disk_xml("vda", INST_DISK), "", {"vda": WHOLE}, {}, cfg(root_disk="vdz"),
     ["no disk with target dev 'vdz' in the definition"]),
    (disk_xml("vda", INST_DISK) + disk_xml("vdb", "/dev/sdb", "raw", dtype="block"), "", {"vda": WHOLE}, {}, cfg(),
     ["disk vdb (block /dev/sdb): ferry cannot copy a block disk"]),
    (disk_xml("vda", INST_DISK) + "\n    <tpm model='tpm-crb'><backend type='emulator' version='2.0'/></tpm>", "",
     {"vda": WHOLE}, {}, cfg(), ["TPM emulator (tpm-crb)"]),
    (disk_xml("vda", INST_DISK) + """
    <filesystem type='mount' accessmode='passthrough'>
      <source dir='/srv/export'/><target dir='export'/>
    </filesystem>""", "", {"vda": WHOLE}, {}, cfg(), ["filesystem passthrough of /srv/export"]),
    (disk_xml("vda", INST_DISK) + """
    <filesystem type='mount' accessmode='passthrough'>
      <source dir='/mnt/shared/export'/><target dir='export'/>
    </filesystem>""", "", {"vda": WHOLE}, {}, cfg(), []),
    (disk_xml("vda", INST_DISK), "", {"vda": DEEP}, {}, cfg(), ["backing chain of 3 layers"]),
])
def test_plan_refusals(devices, os_extra, chains, hashes, conf, expect):
    got = ferry_guestmove.plan(dom(devices, os_extra), chains, hashes, conf, TARGET)["refusals"]
    assert len(got) == len(expect)
    for want, have in zip(expect, got):
        assert want in have


def test_plan_shared_disks_stay():
    xml = dom(disk_xml("vda", "/mnt/shared/vm1/disk.qcow2", boot=1)
              + disk_xml("vdb", "/mnt/shared/luns/vm1", "raw", dtype="block"))
    p = ferry_guestmove.plan(xml, {}, {}, cfg(), TARGET)
    assert p["refusals"] == [] and p["ship"] == [] and p["disk_map"] == {} and p["source_files"] == []
    assert p["shared"] == [{"target": "vda", "path": "/mnt/shared/vm1/disk.qcow2", "type": "file"},
                           {"target": "vdb", "path": "/mnt/shared/luns/vm1", "type": "block"}]
    assert p["root"] == "vda"


def test_plan_root_by_boot_order_and_by_name():
    xml = dom(disk_xml("vda", "/data/vm1/data.qcow2") + disk_xml("vdb", INST_DISK, boot=1))
    chains = {"vda": chain(("/data/vm1/data.qcow2",)), "vdb": WHOLE}
    assert ferry_guestmove.plan(xml, chains, {}, cfg(), TARGET)["root"] == "vdb"
    assert ferry_guestmove.plan(xml, chains, {}, cfg(root_disk="vda"), TARGET)["root"] == "vda"
    assert ferry_guestmove.plan(dom(disk_xml("sda", None, "raw", device="cdrom", readonly=True)), {}, {},
                                cfg(), TARGET)["root"] is None


def test_plan_base_in_raw_format_rebased_as_raw():
    base = "/images/base"
    xml = dom(disk_xml("vda", INST_DISK))
    p = ferry_guestmove.plan(xml, {"vda": chain((INST_DISK,), (base, "raw"))}, {base: SHA_B}, cfg(), TARGET)
    assert p["cache"][0]["ext"] == ".raw" and p["cache"][0]["format"] == "raw"
    assert p["rebase"][0]["base_format"] == "raw"
    assert p["rebase"][0]["base_path"] == TGT_CACHE + "/" + SHA_B + ".raw"


def test_plan_dest_names_unique_across_disks_and_nvram():
    """Dest names stay unique when a disk's own name is what another's prefixed name would be."""
    xml = dom(disk_xml("vda", "/a/disk.qcow2") + disk_xml("vdb", "/b/disk.qcow2") + disk_xml("vdc", "/c/vda-disk.qcow2"),
              "\n    <nvram>/d/disk.qcow2</nvram>")
    chains = {t: chain((p,)) for t, p in (("vda", "/a/disk.qcow2"), ("vdb", "/b/disk.qcow2"),
                                          ("vdc", "/c/vda-disk.qcow2"))}
    p = ferry_guestmove.plan(xml, chains, {}, cfg(), TARGET)
    dests = [s["dest"] for s in p["ship"]]
    assert len(dests) == 4
    assert len(set(dests)) == len(dests), dests


def test_plan_relocated_files_unique():
    serials = "".join("""
    <serial type='file'>
      <source path='/var/log/%s/console.log'/>
      <target type='isa-serial' port='%d'><model name='isa-serial'/></target>
    </serial>""" % (d, i) for i, d in enumerate(("a", "b")))
    p = ferry_guestmove.plan(dom(serials), {}, {}, cfg(), TARGET)
    assert len(set(p["path_map"].values())) == 2, p["path_map"]


def test_plan_readonly_overlay_brings_or_refuses_its_base():
    ro = "/images/tools-overlay.qcow2"
    xml = dom(disk_xml("vda", INST_DISK) + disk_xml("vdb", ro, readonly=True))
    chains = {"vda": WHOLE, "vdb": chain((ro,), ("/images/tools-base.qcow2",))}
    hashes = {ro: SHA_C, "/images/tools-base.qcow2": SHA_D}
    p = ferry_guestmove.plan(xml, chains, hashes, cfg(), TARGET)
    assert any("vdb" in r for r in p["refusals"]) or any(c["sha256"] == SHA_D for c in p["cache"])


# ---------------------------------------------------------------- purge_plan

PURGE_XML = dom(
    disk_xml("vda", SRC_INST + "/vm1/disk.qcow2", boot=1)
    + disk_xml("vdb", "/data/vm1/data.raw", "raw")
    + disk_xml("vdc", "/images/tools.qcow2", readonly=True)
    + disk_xml("vdd", "/data/cluster.raw", "raw", shareable=True)
    + disk_xml("sda", "/isos/install.iso", "raw", device="cdrom", readonly=True, bus="sata")
    + disk_xml("sdb", None, "raw", device="cdrom", readonly=True, bus="sata")
    + disk_xml("fda", "/data/vm1/boot.img", "raw", device="floppy", bus="fdc")
    + disk_xml("vde", SRC_CACHE + "/" + SHA_A + ".qcow2")
    + disk_xml("vdf", "/mnt/shared/vm1/shared.qcow2")
    + disk_xml("vdg", "/dev/vg0/vm1", "raw", dtype="block")
    + disk_xml("vdh", "/data/common.qcow2")
    + SERIAL_AND_CHANNEL,
    UEFI_KERNEL_OS)
OTHER_XML = dom(disk_xml("vda", "/data//common.qcow2"), name="vm2")


@pytest.fixture(scope="module")
def purged():
    delete, kept = ferry_guestmove.purge_plan(PURGE_XML, {"vm2": OTHER_XML}, SRC_CACHE, ["/mnt/shared"])
    return delete, dict(kept)


@pytest.mark.parametrize("path,why", [
    (SRC_INST + "/vm1/disk.qcow2", None),
    ("/data/vm1/data.raw", None),
    ("/var/lib/libvirt/qemu/nvram/vm1_VARS.fd", None),
    ("/images/tools.qcow2", "read-only or shareable"),
    ("/data/cluster.raw", "read-only or shareable"),
    ("/isos/install.iso", "read-only or shareable"),
    ("/data/vm1/boot.img", "read-only or shareable"),
    (SRC_CACHE + "/" + SHA_A + ".qcow2", "in the image cache"),
    ("/mnt/shared/vm1/shared.qcow2", "on shared storage"),
    ("/data/common.qcow2", "used by domain vm2"),
])
def test_purge_plan(purged, path, why):
    delete, kept = purged
    if why is None:
        assert path in delete and path not in kept
    else:
        assert path not in delete and kept[path] == why


@pytest.mark.parametrize("path", [
    "/dev/vg0/vm1", "/usr/share/OVMF/OVMF_CODE_4M.fd", "/usr/share/OVMF/OVMF_VARS_4M.fd",
    "/boot/guests/vmlinuz-6.1.0-13-amd64", "/boot/guests/initrd.img-6.1.0-13-amd64",
    "/var/log/ferry/vm1-serial.log", "/usr/bin/qemu-system-x86_64",
])
def test_purge_plan_never_touches(purged, path):
    delete, kept = purged
    assert path not in delete and path not in kept


def test_purge_plan_exact_delete_list(purged):
    assert purged[0] == [SRC_INST + "/vm1/disk.qcow2", "/data/vm1/data.raw", "/var/lib/libvirt/qemu/nvram/vm1_VARS.fd"]


def test_purge_plan_nvram_of_another_domain_kept():
    other = dom("", "\n    <nvram>/var/lib/libvirt/qemu/nvram/vm1_VARS.fd</nvram>", name="vm2")
    delete, kept = ferry_guestmove.purge_plan(dom("", UEFI_KERNEL_OS), {"vm2": other}, SRC_CACHE, [])
    assert delete == [] and kept == [("/var/lib/libvirt/qemu/nvram/vm1_VARS.fd", "used by domain vm2")]


# ---------------------------------------------------------------- networks and fit

@pytest.mark.parametrize("name,source_map,target_map,expect", [
    ("br-prod", {"prod": "br-prod"}, {"prod": "br0"}, "br0"),
    ("br-prod", {"prod": "br-prod"}, {"prod": "br-prod"}, "br-prod"),
    ("br-prod", {"prod": "br-prod"}, {"stor": "br1"}, "br-prod"),     # target lacks the logical name
    ("br-other", {"prod": "br-prod"}, {"prod": "br0"}, "br-other"),   # not mapped on the source
    ("br-prod", None, {"prod": "br0"}, "br-prod"),
    ("br-prod", {"prod": "br-prod"}, None, "br-prod"),
    ("br-prod", {"a": "br-prod", "b": "br-prod"}, {"b": "br9"}, "br9"),  # the key the target has
])
def test_mapped_network(name, source_map, target_map, expect):
    assert ferry_guestmove.mapped_network(name, source_map, target_map) == expect


def requirements_of(*nics):
    xml = dom(nics="".join("""
    <interface type='%s'>
      <mac address='52:54:00:11:22:%02x'/>
      <source %s='%s'/>
      <model type='virtio'/>
    </interface>""" % (t, i, t if t != "direct" else "dev", s) for i, (t, s) in enumerate(nics)))
    return ferry_domxml.requirements(ferry_domxml.parse(xml))


OK = {"cpu": "identical", "domcaps": "ok"}
NETS = {"src": {"declared": ["br-prod", "default"], "map": {"prod": "br-prod"}},
        "t1": {"declared": ["br0", "default"], "map": {"prod": "br0"}},
        "t2": {"declared": ["br-prod"], "map": {}},
        "t3": {"declared": None, "map": {}}}


@pytest.mark.parametrize("nics,target_fit,target,expect", [
    ([("bridge", "br-prod")], OK, "t1", None),                                 # mapped to br0, which t1 has
    ([("bridge", "br-prod"), ("network", "default")], OK, "t1", None),
    ([("network", "default")], OK, "t2", "lacks network default (ferry_host_networks: br-prod)"),
    ([("bridge", "br-stor"), ("network", "default")], OK, "t2",
     "lacks networks br-stor, default (ferry_host_networks: br-prod)"),
    ([("bridge", "br-prod")], OK, "t3", "lacks network br-prod (ferry_host_networks: none declared)"),
    ([], OK, "t3", None),                                                      # no NIC: nothing to prove
    ([("direct", "eth0")], OK, "t3", None),                                    # macvtap devs are not checked
    ([("bridge", "br-prod")], OK, "t9", "lacks network br-prod (ferry_host_networks: none declared)"),
    ([], {"cpu": "identical", "domcaps": "machine type pc-q35-8.2 not offered"}, "t1",
     "machine type pc-q35-8.2 not offered"),
    ([], {"cpu": "incompatible: missing features avx512f", "domcaps": "ok"}, "t1",
     "guest CPU incompatible: missing features avx512f here (libvirt), identical on the source src"),
    ([], {"cpu": "superset", "domcaps": "ok"}, "t1", None),
    ([], {"cpu": "identical"}, "t1", None),
    ([], {"cpu": "error: cannot compare"}, "t1", "guest CPU error: cannot compare here"),
    ([], {"unreachable": True, "msg": "ssh: connection refused"}, "t1",
     "could not check the guest's definition there: ssh: connection refused"),
    ([], {"failed": True}, "t1", "could not check the guest's definition there: no answer"),
    ([], None, "t1", "could not check the guest's definition there: no answer"),
    ([("bridge", "br-stor")], {"cpu": "incompatible", "domcaps": "no kvm"}, "t1",
     "no kvm; lacks network br-stor (ferry_host_networks: br0, default); guest CPU incompatible here"),
])
def test_fit_reasons(nics, target_fit, target, expect):
    out = ferry_guestmove.fit_reasons(requirements_of(*nics), "src", {"src": OK, target: target_fit}, NETS)
    if expect is None:
        assert out[target] is None
    else:
        assert out[target] is not None and out[target].startswith(expect)


def test_fit_reasons_network_mapped_shows_both_names():
    reqs = requirements_of(("bridge", "br-prod"))
    nets = dict(NETS, t1={"declared": ["br1"], "map": {"prod": "br0"}})
    out = ferry_guestmove.fit_reasons(reqs, "src", {"src": OK, "t1": OK}, nets)
    assert out["t1"] == "lacks network br-prod (br0 here) (ferry_host_networks: br1)"


@pytest.mark.parametrize("source_cpu,target_cpu,refused", [
    ("identical", "identical", False),
    ("identical", "superset", False),
    ("superset", "identical", False),
    ("identical", "incompatible", True),
    ("incompatible: x", "incompatible: y", False),    # no worse than the source itself
    ("incompatible", "weird", False),
    ("identical", "weird", True),
    (None, "incompatible", True),                       # unknown on the source counts as fitting
    (None, None, False),
])
def test_fit_reasons_cpu_relative_to_source(source_cpu, target_cpu, refused):
    fits = {"src": {"cpu": source_cpu, "domcaps": "ok"}, "t1": {"cpu": target_cpu, "domcaps": "ok"}}
    out = ferry_guestmove.fit_reasons(requirements_of(), "src", fits, {})
    assert (out["t1"] is not None) is refused
    if refused:
        assert "guest CPU" in out["t1"]


# ---------------------------------------------------------------- real_disk_gb

@pytest.mark.parametrize("root_gb,expect", [(10, 10 + 20 + 2 + 4 + 20), (0, 46), (None, 46), (12.5, 58.5)])
def test_real_disk_gb_full(full_plan, root_gb, expect):
    # vda is the root (counted at the flavor's size); vdb, vdc, vdd, vde count by virtual size;
    # the ISO (cache), the empty cdrom and the nvram do not count
    assert ferry_guestmove.real_disk_gb(FULL_CHAINS, full_plan, "vda", root_gb) == expect


@pytest.mark.parametrize("ship,chains,root,root_gb,expect", [
    ([], {}, None, 5, 5.0),
    ([{"target": "vda"}], {"vda": {"virtual_size": 40 * GIB}}, "vda", 10, 10.0),
    ([{"target": "vda"}, {"target": "vdb"}], {"vda": {"virtual_size": GIB}, "vdb": {"virtual_size": 512 * MIB}},
     "vda", 1, 1.5),
    ([{"target": "vdb"}], {"vdb": {"virtual_size": 1}}, "vda", 1, 1.0),        # rounded to 3 decimals
    ([{"target": "vdb"}], {}, "vda", 1, 1.0),                                   # no chain: nothing known
    ([{"target": "nvram"}], {"nvram": {"virtual_size": GIB}}, "vda", 1, 1.0),
])
def test_real_disk_gb(ship, chains, root, root_gb, expect):
    assert ferry_guestmove.real_disk_gb(chains, {"ship": ship}, root, root_gb) == expect


def test_unused_files_keeps_what_a_domain_uses():
    other = ("<domain><name>b</name><devices><disk type='file' device='disk'><source file='/i/a/old.qcow2'/>"
             "<target dev='vda'/></disk></devices></domain>")
    delete, kept = ferry_guestmove.unused_files(["/i/a/old.qcow2", "/i/a/pre.xml", "/c/x.qcow2", "/nfs/d.raw"],
                                   {"b": other}, "/c", ["/nfs"])
    assert delete == ["/i/a/pre.xml"]
    assert [k for k, _ in kept] == ["/i/a/old.qcow2", "/c/x.qcow2", "/nfs/d.raw"]


TPM_XML = """<domain type='qemu'><name>vm1</name><uuid>11111111-2222-3333-4444-555555555555</uuid>
  <memory unit='KiB'>65536</memory><vcpu>1</vcpu><os><type arch='x86_64' machine='pc'>hvm</type></os>
  <devices>
    <disk type='file' device='disk'><driver name='qemu' type='raw'/>
      <source file='/srv/ferry/instances/vm1/disk.raw'/><target dev='vda' bus='virtio'/></disk>
    <tpm model='tpm-crb'><backend type='emulator' version='2.0'/></tpm>
  </devices></domain>"""


@pytest.mark.parametrize("tpm_files, swtpm, ships, refused", [
    pytest.param(["tpm2/tpm2-00.permall"], "/t/swtpm", [
        ("/s/swtpm/11111111-2222-3333-4444-555555555555/tpm2/tpm2-00.permall",
         "/t/swtpm/11111111-2222-3333-4444-555555555555/tpm2/tpm2-00.permall")], False, id="state-copied-by-uuid"),
    pytest.param([], "/t/swtpm", [], False, id="never-started-nothing-to-copy"),
    pytest.param(None, "/t/swtpm", [], True, id="source-state-unknown"),
    pytest.param(["tpm2/tpm2-00.permall"], None, [], True, id="target-state-dir-unknown"),
])
def test_plan_tpm_emulator_state(tpm_files, swtpm, ships, refused):
    conf = {"cache_dir": "/c", "instances_dir": "/srv/ferry/instances", "shared_storage": [], "allowed": None,
            "name": "vm1", "root_disk": None, "tpm_dir": "/s/swtpm/11111111-2222-3333-4444-555555555555"}
    if tpm_files is not None:
        conf["tpm_files"] = tpm_files
    chains = {"vda": ferry_qcow2.summarize_chain([{"path": "/srv/ferry/instances/vm1/disk.raw", "format": "raw",
                                                   "virtual_size": 1 << 30, "actual_size": 4096}])}
    p = ferry_guestmove.plan(TPM_XML, chains, {}, conf, {"cache_dir": "/tc", "instances_dir": "/ti",
                                                         "swtpm_dir": swtpm})
    assert [(s["src"], s["dest"]) for s in p["ship"] if s["target"] == "tpm"] == ships
    assert any("TPM" in r for r in p["refusals"]) is refused
    for s in p["ship"]:
        if s["target"] == "tpm":
            assert s["peer"] == {"area": "tpm", "key": "11111111-2222-3333-4444-555555555555",
                                 "name": "tpm2/tpm2-00.permall"}
            assert ferry_ship.peer_dest(s, "vm1") == s["peer"]


# --- a real definition from the lab: the operator-style guest virt-install made on hv-b1 ----------

LAB = os.path.join(os.path.dirname(os.path.abspath(__file__)), "samples", "lab-realistic.libvirt.xml")
SRC = "/var/lib/ferry-lab/hosts/hv-b1"
TGT = "/var/lib/ferry-lab/hosts/hv-b2"


def lab_plan():
    with open(LAB) as f:
        xml = f.read()
    layer = {"format": "qcow2", "virtual_size": 1 << 30, "actual_size": 1 << 20}
    chains = {
        "vda": ferry_qcow2.summarize_chain([dict(layer, path=SRC + "/instances/sample-vi/root.qcow2"),
                                            dict(layer, path=SRC + "/images/tiny-base.qcow2")]),
        "vdb": ferry_qcow2.summarize_chain([dict(layer, path=SRC + "/instances/sample-vi/data.qcow2")]),
        "vdc": ferry_qcow2.summarize_chain([dict(layer, format="raw", path=SRC + "/instances/sample-vi/scratch.raw")]),
        "hda": ferry_qcow2.summarize_chain([dict(layer, format="raw", path=SRC + "/images/tools.iso")]),
    }
    hashes = {SRC + "/images/tiny-base.qcow2": "b" * 64, SRC + "/images/tools.iso": "c" * 64}
    conf = {"cache_dir": SRC + "/cache", "instances_dir": SRC + "/instances", "shared_storage": [],
            "allowed": None, "name": "sample-vi", "root_disk": None}
    return xml, ferry_guestmove.plan(xml, chains, hashes, conf, {"cache_dir": TGT + "/cache",
                                                                 "instances_dir": TGT + "/instances"})


def test_lab_sample_plan_and_rewrite_touch_only_the_documented_lines():
    xml, p = lab_plan()
    assert p["refusals"] == [] and p["root"] == "vda"
    assert [(s["target"], s["mode"]) for s in p["ship"]] == [("vda", "overlay"), ("vdb", "whole"), ("vdc", "whole")]
    assert [c["for"] for c in p["cache"]] == [["base of vda"], ["disk hda"]]
    out, changes = ferry_domxml.target_definition(
        xml, vcpus=2, memory_mib=256, disk_map=p["disk_map"], path_map=p["path_map"],
        source_net_map={"front": "fbr-front", "back": "fbr-back"}, target_net_map={"front": "fbr2-front",
                                                                                  "back": "fbr2-back"})
    before, after = set(ferry_domxml.canonical(xml).splitlines()), set(ferry_domxml.canonical(out).splitlines())
    changed = sorted(line.split(" ")[0] for line in before ^ after)
    assert changed == sorted([
        "/domain/currentMemory[1]", "/domain/currentMemory[1]", "/domain/memory[1]", "/domain/memory[1]",
        "/domain/vcpu[1]", "/domain/vcpu[1]",
        "/domain/devices[1]/disk[1]/source[1]", "/domain/devices[1]/disk[1]/source[1]",
        "/domain/devices[1]/disk[2]/source[1]", "/domain/devices[1]/disk[2]/source[1]",
        "/domain/devices[1]/disk[3]/source[1]", "/domain/devices[1]/disk[3]/source[1]",
        "/domain/devices[1]/disk[4]/source[1]", "/domain/devices[1]/disk[4]/source[1]",
        "/domain/devices[1]/interface[1]/source[1]", "/domain/devices[1]/interface[1]/source[1]",
        "/domain/devices[1]/interface[2]/source[1]", "/domain/devices[1]/interface[2]/source[1]",
        "/domain/devices[1]/serial[1]/source[1]", "/domain/devices[1]/serial[1]/source[1]",
        "/domain/devices[1]/console[1]/source[1]", "/domain/devices[1]/console[1]/source[1]",
        "/domain/devices[1]/channel[1]/source[1]", "/domain/devices[1]/channel[1]/source[1]",
    ]), changes
    assert SRC not in out  # nothing of the source host's layout is left
    assert "52:54:00:5f:af:01" in out and "be21cac9-021d-48f8-a2a4-0dd5d8a62a71" in out


def test_precopy_split_freezes_shipped_disks_and_ships_their_overlays_after_the_stop():
    from ansible.module_utils import ferry_guestmove as gm
    plan = {"ship": [
        {"target": "vda", "src": "/s/web/disk.qcow2", "dest": "/t/web/disk.qcow2", "mode": "overlay", "format": "qcow2",
         "peer": {"area": "instance", "key": "web", "name": "disk.qcow2"}},
        {"target": "vdb", "src": "/srv/data.raw", "dest": "/t/web/data.raw", "mode": "whole", "format": "raw",
         "peer": {"area": "instance", "key": "web", "name": "data.raw"}},
        {"target": "nvram", "src": "/s/nv/web_VARS.fd", "dest": "/t/web/web_VARS.fd", "mode": "whole", "format": "raw",
         "peer": {"area": "instance", "key": "web", "name": "web_VARS.fd"}}]}
    out = gm.precopy_split(plan, "3f1c0a52", "/s/web")
    assert out["snapshot"] == [{"target": "vda", "overlay": "/s/web/precopy-3f1c0a52-vda.qcow2"},
                               {"target": "vdb", "overlay": "/s/web/precopy-3f1c0a52-vdb.qcow2"}]
    assert [e["src"] for e in out["bulk"]] == ["/s/web/disk.qcow2", "/srv/data.raw"]
    assert [(e["src"], e["dest"], e["peer"]["name"]) for e in out["final"]] == [
        ("/s/web/precopy-3f1c0a52-vda.qcow2", "/t/web/precopy-3f1c0a52-vda.qcow2", "precopy-3f1c0a52-vda.qcow2"),
        ("/s/web/precopy-3f1c0a52-vdb.qcow2", "/t/web/precopy-3f1c0a52-vdb.qcow2", "precopy-3f1c0a52-vdb.qcow2"),
        ("/s/nv/web_VARS.fd", "/t/web/web_VARS.fd", "web_VARS.fd")]
    assert out["fold"] == [{"top": "/t/web/precopy-3f1c0a52-vda.qcow2", "into": "/t/web/disk.qcow2", "format": "qcow2"},
                           {"top": "/t/web/precopy-3f1c0a52-vdb.qcow2", "into": "/t/web/data.raw", "format": "raw"}]


def test_precopy_split_in_three_rounds_ships_each_frozen_layer_and_folds_them_oldest_first():
    from ansible.module_utils import ferry_guestmove as gm
    plan = {"ship": [
        {"target": "vda", "src": "/s/web/disk.qcow2", "dest": "/t/web/disk.qcow2", "mode": "overlay", "format": "qcow2",
         "peer": {"area": "instance", "key": "web", "name": "disk.qcow2"}},
        {"target": "nvram", "src": "/s/nv/web_VARS.fd", "dest": "/t/web/web_VARS.fd", "mode": "whole", "format": "raw",
         "peer": {"area": "instance", "key": "web", "name": "web_VARS.fd"}}]}
    out = gm.precopy_split(plan, "3f1c0a52", "/s/web", layers=3)
    names = ["precopy-3f1c0a52-vda.qcow2", "precopy-3f1c0a52-vda-r2.qcow2", "precopy-3f1c0a52-vda-r3.qcow2"]
    # round k freezes what the guest wrote (its new overlay is layer k) and ships what that froze
    assert [r["snapshot"] for r in out["rounds"]] == [[{"target": "vda", "overlay": "/s/web/" + n}] for n in names]
    assert [[e["src"] for e in r["bulk"]] for r in out["rounds"]] == [
        ["/s/web/disk.qcow2"], ["/s/web/" + names[0]], ["/s/web/" + names[1]]]
    assert out["rounds"][1]["bulk"][0]["peer"] == {"area": "instance", "key": "web", "name": names[0]}
    # after the stop: the top layer and the nvram only
    assert [e["src"] for e in out["final"]] == ["/s/web/" + names[2], "/s/nv/web_VARS.fd"]
    assert out["fold"] == [{"top": "/t/web/" + n, "into": "/t/web/disk.qcow2", "format": "qcow2"} for n in names]
    assert (out["snapshot"], out["bulk"]) == (out["rounds"][0]["snapshot"], out["rounds"][0]["bulk"])


def test_flatten_plan_ships_each_overlay_flattened_and_drops_its_base():
    """Transfer mode flatten (Nova 2014, the benchmark's baseline): an overlay ships as its flattened
    copy under its own name, is not rebased, and its base no longer goes to the target's cache;
    a base still needed by something else (here the cdrom's image) stays."""
    from ansible.module_utils import ferry_guestmove as gm
    plan = {"ship": [
        {"target": "vda", "src": "/s/web/disk.qcow2", "dest": "/t/web/disk.qcow2", "mode": "overlay", "format": "qcow2",
         "peer": {"area": "instance", "key": "web", "name": "disk.qcow2"}},
        {"target": "vdb", "src": "/s/web/data.raw", "dest": "/t/web/data.raw", "mode": "whole", "format": "raw",
         "peer": {"area": "instance", "key": "web", "name": "data.raw"}}],
        "rebase": [{"target": "vda", "path": "/t/web/disk.qcow2", "base_sha256": "ab"}],
        "cache": [{"sha256": "ab", "for": ["base of vda"]}, {"sha256": "cd", "for": ["disk sda", "base of vda"]}],
        "disk_map": {"vda": {"path": "/t/web/disk.qcow2"}}}
    out = gm.flatten_plan(plan, "3f1c0a52", "/s/web")
    assert out["flatten"] == [{"target": "vda", "src": "/s/web/disk.qcow2", "flat": "/s/web/flat-3f1c0a52-vda.qcow2",
                               "format": "qcow2"}]
    assert [(e["src"], e["dest"], e["mode"], e["peer"]["name"]) for e in out["ship"]] == [
        ("/s/web/flat-3f1c0a52-vda.qcow2", "/t/web/disk.qcow2", "whole", "disk.qcow2"),
        ("/s/web/data.raw", "/t/web/data.raw", "whole", "data.raw")]
    assert out["rebase"] == []
    assert out["cache"] == [{"sha256": "cd", "for": ["disk sda"]}]
    assert out["disk_map"] == plan["disk_map"] and plan["ship"][0]["src"] == "/s/web/disk.qcow2"  # input kept
