"""Table-driven tests of adopting a guest ferry did not boot (ferry_move.adoption_metadata) and of the
resize's root-disk check on the guest's real root disk (ferry_move.root_errors)."""

import pytest

from ansible.module_utils import ferry_metadata, ferry_move, ferry_qcow2

GIB = 1024 ** 3
CACHE = "/var/lib/ferry/cache"
SHA_A, SHA_B = "a" * 64, "b" * 64
FLAVORS = {
    "m1.tiny": {"vcpus": 1, "memory_mb": 512, "disk_gb": 1},
    "m1.small": {"vcpus": 1, "memory_mb": 2048, "disk_gb": 10, "extra_specs": {"hw:cpu_policy": "shared"}},
    "m1.medium": {"vcpus": 2, "memory_mb": 4096, "disk_gb": 20},
    "m1.medium-b": {"vcpus": 2, "memory_mb": 4096, "disk_gb": 20},
}
HOST = {"name": "hv1", "az": "az1"}


def disk(target, path, fmt="qcow2", dtype="file", device="disk", boot=None, readonly=False):
    if dtype == "network":
        source = "<source protocol='rbd' name='%s'/>" % path
    elif path is None:
        source = ""
    else:
        source = "<source %s='%s'/>" % ({"file": "file", "block": "dev"}[dtype], path)
    return """
    <disk type='%s' device='%s'>
      <driver name='qemu' type='%s'/>
      %s
      <target dev='%s' bus='virtio'/>%s%s
    </disk>""" % (dtype, device, fmt, source, target, "\n      <readonly/>" if readonly else "",
                  "\n      <boot order='%d'/>" % boot if boot else "")


def dom(devices, vcpus=1, memory="2097152", unit="KiB"):
    return """<domain type='kvm'>
  <name>web1</name>
  <uuid>0b6a4f1e-3c8d-4f4e-9b3e-6f1f3c2d9a11</uuid>
  <memory unit='%s'>%s</memory>
  <currentMemory unit='%s'>%s</currentMemory>
  <vcpu placement='static'>%d</vcpu>
  <os>
    <type arch='x86_64' machine='pc-q35-7.2'>hvm</type>
    <boot dev='hd'/>
  </os>
  <cpu mode='host-model' check='partial'/>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>%s
    <interface type='bridge'>
      <mac address='52:54:00:6b:3c:58'/>
      <source bridge='br0'/>
      <model type='virtio'/>
    </interface>
  </devices>
</domain>
""" % (unit, memory, unit, memory, vcpus, devices)


def chain(vsize, *paths):
    layers = [{"path": p, "format": "qcow2", "virtual_size": vsize, "actual_size": 0,
               "backing_file": paths[i + 1] if i + 1 < len(paths) else None,
               "backing_format": "qcow2" if i + 1 < len(paths) else None} for i, p in enumerate(paths)]
    return ferry_qcow2.summarize_chain(layers)


ROOT = "/var/lib/ferry/instances/web1/disk.qcow2"
ONE_DISK = dom(disk("vda", ROOT))


def guest(xml=ONE_DISK, chains=None, hashes=None, root_disk=None):
    return {"xml": xml, "chains": chains if chains is not None else {"vda": chain(10 * GIB, ROOT)},
            "hashes": hashes or {}, "cfg": {"cache_dir": CACHE, "root_disk": root_disk}}


# ---------------------------------------------------------------- flavor

@pytest.mark.parametrize("xml,vsize,expect", [
    (dom(disk("vda", ROOT), 1, "2097152"), 10 * GIB, {"name": "m1.small", "vcpus": 1, "memory_mb": 2048, "disk_gb": 10}),
    (dom(disk("vda", ROOT), 1, "2", "GiB"), 10 * GIB, {"name": "m1.small", "vcpus": 1, "memory_mb": 2048, "disk_gb": 10}),
    (dom(disk("vda", ROOT), 1, "524288"), GIB, {"name": "m1.tiny", "vcpus": 1, "memory_mb": 512, "disk_gb": 1}),
    # two identical catalogue entries: the first by name
    (dom(disk("vda", ROOT), 2, "4194304"), 20 * GIB,
     {"name": "m1.medium", "vcpus": 2, "memory_mb": 4096, "disk_gb": 20}),
    # the root's size is rounded up to whole GiB: 10 GiB and a byte is not m1.small
    (dom(disk("vda", ROOT), 1, "2097152"), 10 * GIB + 1,
     {"name": "custom-1c-2048m-11g", "vcpus": 1, "memory_mb": 2048, "disk_gb": 11, "custom": True}),
    (dom(disk("vda", ROOT), 1, "2097152"), 9 * GIB + 1, {"name": "m1.small", "vcpus": 1, "memory_mb": 2048, "disk_gb": 10}),
    (dom(disk("vda", ROOT), 3, "2097152"), 10 * GIB,
     {"name": "custom-3c-2048m-10g", "vcpus": 3, "memory_mb": 2048, "disk_gb": 10, "custom": True}),
    (dom(disk("vda", ROOT), 1, "1048576"), 10 * GIB,
     {"name": "custom-1c-1024m-10g", "vcpus": 1, "memory_mb": 1024, "disk_gb": 10, "custom": True}),
])
def test_adoption_flavor(xml, vsize, expect):
    meta = ferry_move.adoption_metadata(guest(xml, {"vda": chain(vsize, ROOT)}), HOST, FLAVORS, {})
    assert meta["flavor"] == expect      # extra specs stay in the catalogue


def test_adoption_flavor_without_a_root_disk():
    xml = dom(disk("sda", None, "raw", device="cdrom", readonly=True))
    meta = ferry_move.adoption_metadata(guest(xml, {}), HOST, FLAVORS, {})
    assert meta["flavor"]["name"] == "custom-1c-2048m-0g" and meta["flavor"]["custom"] is True
    assert meta["image"] is None and meta["disk_paths"] == {}


def test_adoption_flavor_from_the_boot_disk_not_the_first():
    xml = dom(disk("vda", "/data/web1/data.qcow2") + disk("vdb", ROOT, boot=1))
    chains = {"vda": chain(20 * GIB, "/data/web1/data.qcow2"), "vdb": chain(10 * GIB, ROOT)}
    assert ferry_move.adoption_metadata(guest(xml, chains), HOST, FLAVORS, {})["flavor"]["name"] == "m1.small"
    # and ferry_root_disk overrides the boot order
    meta = ferry_move.adoption_metadata(guest(xml, chains, root_disk="vda"), HOST, FLAVORS, {})
    assert meta["flavor"]["disk_gb"] == 20


# ---------------------------------------------------------------- image

CACHED = CACHE + "/" + SHA_A + ".qcow2"
OUTSIDE = "/images/debian-12.qcow2"


@pytest.mark.parametrize("chain_,hashes,image_shas,expect", [
    (chain(10 * GIB, ROOT, CACHED), {}, {"debian-12": {"sha256": SHA_A, "url": "http://x/d.qcow2"}},
     {"name": "debian-12", "sha256": SHA_A}),
    (chain(10 * GIB, ROOT, CACHED), {}, {"debian-12": SHA_A}, {"name": "debian-12", "sha256": SHA_A}),
    (chain(10 * GIB, ROOT, CACHED), {}, {"zz": SHA_A, "debian-12": {"sha256": SHA_A}},
     {"name": "debian-12", "sha256": SHA_A}),                                      # first by name
    (chain(10 * GIB, ROOT, CACHED), {}, {"debian-12": {"sha256": SHA_B}}, {"name": None, "sha256": SHA_A}),
    (chain(10 * GIB, ROOT, CACHED), {}, {}, {"name": None, "sha256": SHA_A}),
    (chain(10 * GIB, ROOT, CACHED), {}, None, {"name": None, "sha256": SHA_A}),
    (chain(10 * GIB, ROOT, CACHED), {}, {"broken": None, "debian-12": SHA_A}, {"name": "debian-12", "sha256": SHA_A}),
    (chain(10 * GIB, ROOT, OUTSIDE), {OUTSIDE: SHA_B}, {"ubuntu": {"sha256": SHA_B}}, {"name": "ubuntu", "sha256": SHA_B}),
    (chain(10 * GIB, ROOT, OUTSIDE), {}, {"ubuntu": {"sha256": SHA_B}}, None),    # base not hashed: unknown
    (chain(10 * GIB, ROOT), {}, {"debian-12": SHA_A}, None),                      # no backing file
    (chain(10 * GIB, ROOT, "/images/mid.qcow2", CACHED), {}, {"debian-12": SHA_A},
     {"name": "debian-12", "sha256": SHA_A}),                                      # the deepest layer
])
def test_adoption_image(chain_, hashes, image_shas, expect):
    meta = ferry_move.adoption_metadata(guest(chains={"vda": chain_}, hashes=hashes), HOST, FLAVORS, image_shas)
    assert meta["image"] == expect


def test_adoption_image_of_the_root_disk_only():
    xml = dom(disk("vda", ROOT, boot=1) + disk("vdb", "/data/web1/data.qcow2"))
    chains = {"vda": chain(10 * GIB, ROOT), "vdb": chain(10 * GIB, "/data/web1/data.qcow2", CACHED)}
    assert ferry_move.adoption_metadata(guest(xml, chains), HOST, FLAVORS, {"debian-12": SHA_A})["image"] is None


# ---------------------------------------------------------------- disk paths, AZ and the rest

def test_adoption_disk_paths_file_disks_only():
    xml = dom(disk("vda", ROOT, boot=1)
              + disk("vdb", "/data/web1/data.raw", "raw")
              + disk("vdc", "/dev/vg0/web1", "raw", dtype="block")
              + disk("vdd", "pool/web1", "raw", dtype="network")
              + disk("sda", "/isos/install.iso", "raw", device="cdrom", readonly=True)
              + disk("sdb", None, "raw", device="cdrom", readonly=True))
    meta = ferry_move.adoption_metadata(guest(xml), HOST, FLAVORS, {})
    assert meta["disk_paths"] == {"vda": ROOT, "vdb": "/data/web1/data.raw", "sda": "/isos/install.iso"}


@pytest.mark.parametrize("host,az", [({"name": "hv1", "az": "az1"}, "az1"), ({"name": "hv2", "az": None}, None),
                                     ({"name": "hv3"}, None)])
def test_adoption_az_and_record(host, az):
    meta = ferry_move.adoption_metadata(guest(), host, FLAVORS, {}, now="2024-05-01T10:00:00Z")
    assert meta["az"] == meta["host_az"] == az
    assert meta["adopted"] == {"host": host["name"], "at": "2024-05-01T10:00:00Z"}
    assert (meta["server_group"], meta["migration"], meta["task_state"]) == (None, None, None)


def test_adoption_metadata_is_storable():
    """What adopt.yml writes round-trips through ferry_metadata (flat dicts of scalars)."""
    meta = ferry_move.adoption_metadata(guest(chains={"vda": chain(10 * GIB, ROOT, CACHED)}), HOST, FLAVORS,
                                        {"debian-12": SHA_A}, now="2024-05-01T10:00:00Z")
    assert ferry_metadata.decode(ferry_metadata.encode(meta)) == meta


# ---------------------------------------------------------------- root_errors

TWO_DISKS = dom(disk("vda", "/data/web1/big.qcow2", boot=2) + disk("vdb", ROOT, boot=1))
TWO_CHAINS = {"vda": chain(50 * GIB, "/data/web1/big.qcow2"), "vdb": chain(10 * GIB, ROOT)}


@pytest.mark.parametrize("xml,chains,root_disk,disk_gb,kind,expect", [
    (TWO_DISKS, TWO_CHAINS, None, 20, "resize", []),                  # the 50 GiB disk is not the root
    (TWO_DISKS, TWO_CHAINS, None, 10, "resize", []),                  # same size: no shrink
    (TWO_DISKS, TWO_CHAINS, None, 5, "resize",
     ["disk shrink refused: root disk vdb is 10.0 GiB, flavor m1.x has 5 GiB"]),
    (TWO_DISKS, TWO_CHAINS, "vda", 20, "resize",
     ["disk shrink refused: root disk vda is 50.0 GiB, flavor m1.x has 20 GiB"]),
    (TWO_DISKS, TWO_CHAINS, None, 5, "migrate", []),                  # a migration keeps the flavor
    (dom(disk("vda", "/data/web1/big.qcow2") + disk("vdb", ROOT)), TWO_CHAINS, None, 20, "resize",
     ["disk shrink refused: root disk vda is 50.0 GiB"]),             # no boot order: the first disk
    (dom(disk("sda", "/isos/i.iso", "raw", device="cdrom", readonly=True, boot=1) + disk("vda", ROOT)),
     {"vda": chain(10 * GIB, ROOT)}, None, 5, "resize",
     ["disk shrink refused: root disk vda is 10.0 GiB"]),             # a cdrom is never the root disk
    (TWO_DISKS, {}, None, 1, "resize", []),                           # no chain (shared, block): size unknown
    (dom(disk("sda", None, "raw", device="cdrom", readonly=True)), {}, None, 5, "resize",
     ["the guest has no disk to call its root disk"]),
    (dom(disk("sda", None, "raw", device="cdrom", readonly=True)), {}, None, 5, "migrate", []),
])
def test_root_errors(xml, chains, root_disk, disk_gb, kind, expect):
    errors = ferry_move.root_errors(guest(xml, chains, root_disk=root_disk), {"name": "m1.x", "disk_gb": disk_gb}, kind)
    assert len(errors) == len(expect)
    for want, got in zip(expect, errors):
        assert got.startswith(want)


def test_root_errors_unknown_root_disk_name():
    with pytest.raises(ValueError, match="no disk with target dev 'vdz'"):
        ferry_move.root_errors(guest(TWO_DISKS, TWO_CHAINS, root_disk="vdz"), {"name": "m1.x", "disk_gb": 5}, "resize")
