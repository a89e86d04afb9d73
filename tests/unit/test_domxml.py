r"""ferry_domxml: the source definition rewritten for the target host, on real samples.

tests/unit/samples/*.virt-install.xml are `virt-install --print-xml` output and
*.libvirt.xml what libvirt 9.0 returned for them (`virsh dumpxml --inactive --security-info
--migratable`) after defining them; plain-backing.libvirt.xml also carries a <backingStore>
added with virt-xml. Edge cases change one element of a sample in a `prep` step.

Made on Debian 12 (virtinst 4.1, libvirt 9.0, QEMU 7.2) with root's own libvirtd, e.g.:
  virt-install --print-xml --connect qemu:///session --import --virt-type qemu --osinfo debian11 \
    --machine q35 --check path_in_use=off --name ferry-domxml-uefi --memory 4096 \
    --vcpus 4,sockets=2,cores=2,threads=1 \
    --cpu host-model,cell0.id=0,cell0.cpus=0-1,cell0.memory=2097152,cell1.id=1,cell1.cpus=2-3,cell1.memory=2097152 \
    --boot loader=/usr/share/OVMF/OVMF_CODE_4M.fd,loader.readonly=yes,loader.type=pflash,nvram=/tmp/domxml/img/OVMF_VARS_4M.fd \
    --disk path=.../vm1-disk0.qcow2,format=qcow2,bus=virtio,boot.order=1 --disk path=.../vm1-data.raw,format=raw,bus=virtio \
    --disk path=.../install.iso,device=cdrom,bus=sata,readonly=on \
    --disk type=block,source.dev=/dev/loop7,bus=virtio,driver.type=raw \
    --disk type=network,source.protocol=rbd,source.name=pool/img,source.host0.name=ceph-mon1,source.host0.port=6789,bus=virtio \
    --network bridge=br-prod,mac=52:54:00:11:22:33,model=virtio --network bridge=br-stor,mac=52:54:00:11:22:44,model=e1000e \
    --serial file,path=/var/log/ferry/vm1-serial.log,log.file=/var/log/ferry/vm1-serial-chardev.log \
    --channel unix,target.type=virtio,target.name=org.qemu.guest_agent.0,source.mode=bind,\
      source.path=/var/lib/ferry/channels/vm1.agent \
    --tpm emulator,model=tpm-crb,version=2.0 --graphics vnc,password=s3cret,listen=127.0.0.1 \
    --rng /dev/urandom --watchdog i6300esb,action=reset
then `virsh define`, `virsh metadata --config --uri http://example.org/xmlns/acme/1.0 --key acme --set ...`
and `virsh dumpxml --inactive --security-info --migratable`. kernel-boot: --memory memory=2048,maxMemory=8192,
maxMemory.slots=16 --vcpus 2,maxvcpus=4 --cpu qemu64,cell0... --cputune vcpupin0/1 --boot kernel=,initrd=,dtb=,
kernel_args= --disk device=cdrom --filesystem --network network=default / type=direct / bridge= --console file
--parallel file --channel unix (no path) --graphics vnc,listens0.type=socket,listens0.socket=...; plain: --vcpus
4,sockets=1,cores=2,threads=2 --cputune vcpupin0.vcpu=3 --graphics none --serial pty.
"""

import shutil
import subprocess
import uuid
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from ansible.module_utils import ferry_domxml as dx
from ansible.module_utils.ferry_domxml import Refused

SAMPLES = Path(__file__).parent / "samples"
ALL_SAMPLES = sorted(p.name for p in SAMPLES.glob("*.xml"))
UEFI = "uefi-tpm.libvirt.xml"
KERNEL = "kernel-boot.libvirt.xml"
PLAIN = "plain-backing.libvirt.xml"
PLAIN_VI = "plain.virt-install.xml"
ACME = "http://example.org/xmlns/acme/1.0"
LIBOSINFO = "http://libosinfo.org/xmlns/libvirt/domain/1.0"


def text(name):
    return (SAMPLES / name).read_text()


def tree(name, prep=None):
    root = dx.parse(text(name))
    if prep:
        prep(root)
    return root


def diff(before, after):
    """(removed, added) canonical lines."""
    a, b = set(dx.canonical(before).splitlines()), set(dx.canonical(after).splitlines())
    return sorted(a - b), sorted(b - a)


# preps: one change each to a real sample
def drop(path):
    def prep(root):
        parent = root.find(path.rsplit("/", 1)[0]) if "/" in path else root
        for elem in parent.findall(path.rsplit("/", 1)[-1]):
            parent.remove(elem)
    return prep


def set_attr(path, **attrs):
    def prep(root):
        for k, v in attrs.items():
            root.find(path).set(k, v)
    return prep


def add_child(path, xml):
    def prep(root):
        root.find(path).append(ET.fromstring(xml))
    return prep


def both(*preps):
    def prep(root):
        for p in preps:
            p(root)
    return prep


# ---------------------------------------------------------------- parse / to_text / canonical

@pytest.mark.parametrize("name", ALL_SAMPLES)
def test_round_trip_keeps_every_element_and_attribute(name):
    assert dx.canonical(dx.to_text(dx.parse(text(name)))) == dx.canonical(text(name))


def test_round_trip_keeps_foreign_metadata_and_its_prefixes():
    out = dx.to_text(dx.parse(text(UEFI)))
    assert 'xmlns:acme="%s"' % ACME in out and 'xmlns:libosinfo="%s"' % LIBOSINFO in out
    assert "<acme:project id=\"42\">payments</acme:project>" in out
    meta = ET.fromstring(out).find("metadata")
    assert meta.find("{%s}tenant/{%s}project" % (ACME, ACME)).text == "payments"
    assert meta.find("{%s}libosinfo/{%s}os" % (LIBOSINFO, LIBOSINFO)).get("id") == "http://debian.org/debian/11"


@pytest.mark.parametrize("a, b, same", [
    pytest.param("<d a='1' b='2'><x/></d>", '<d b="2" a="1">\n  <x/>\n</d>', True, id="attr-order-whitespace"),
    pytest.param("<d><p:x xmlns:p='urn:u'/></d>", "<d xmlns:q='urn:u'><q:x/></d>", True, id="prefix-free"),
    pytest.param("<d><x/><y/></d>", "<d><y/><x/></d>", True, id="order-of-different-tags"),
    pytest.param("<d><x a='1'/><x a='2'/></d>", "<d><x a='2'/><x a='1'/></d>", False, id="order-of-same-tags"),
    pytest.param("<d a='1'/>", "<d a='2'/>", False, id="attr-value"),
    pytest.param("<d>1</d>", "<d> 1 </d>", True, id="text-strip"),
    pytest.param("<d><x/></d>", "<d><x/><x/></d>", False, id="extra-element"),
])
def test_canonical(a, b, same):
    assert (dx.canonical(a) == dx.canonical(b)) is same


def test_canonical_lines_carry_path_attrs_and_text():
    lines = dx.canonical(text(KERNEL)).splitlines()
    assert "/domain/vcpu[1] @current='2' @placement='static' text='4'" in lines
    assert "/domain/devices[1]/interface[3]/source[1] @bridge='br-prod'" in lines
    assert lines == sorted(lines)


# ---------------------------------------------------------------- disks / root_disk

def test_disks_uefi_sample():
    got = {d["target"]: d for d in dx.disks(tree(UEFI))}
    assert [d["index"] for d in dx.disks(tree(UEFI))] == [0, 1, 2, 3, 4]
    assert got["vda"] == {"index": 0, "type": "file", "device": "disk", "bus": "virtio", "target": "vda",
                          "path": "/tmp/domxml/img/vm1-disk0.qcow2", "format": "qcow2", "readonly": False,
                          "shareable": False, "boot_order": 1}
    assert (got["vdb"]["path"], got["vdb"]["format"], got["vdb"]["boot_order"]) == ("/tmp/domxml/img/vm1-data.raw", "raw", None)
    assert (got["vdc"]["type"], got["vdc"]["path"]) == ("block", "/dev/loop7")
    assert (got["vdd"]["type"], got["vdd"]["path"]) == ("network", "rbd:pool/img")
    assert (got["sda"]["device"], got["sda"]["bus"], got["sda"]["readonly"]) == ("cdrom", "sata", True)


def test_disks_empty_cdrom_has_no_path():
    sda = [d for d in dx.disks(tree(KERNEL)) if d["target"] == "sda"][0]
    assert (sda["device"], sda["path"], sda["readonly"]) == ("cdrom", None, True)


@pytest.mark.parametrize("name, prep, disk, want", [
    pytest.param(UEFI, None, None, "vda", id="boot-order"),
    pytest.param(KERNEL, None, None, "vda", id="first-disk-device"),
    pytest.param(UEFI, None, "vdb", "vdb", id="named"),
    pytest.param(UEFI, both(set_attr("./devices/disk[1]/boot", order="3"),
                            add_child("./devices/disk[2]", "<boot order='2'/>")), None, "vdb", id="lowest-order"),
    pytest.param(UEFI, set_attr("./devices/disk[1]/boot", order="9"), None, "vda", id="only-ordered-disk"),
    pytest.param(UEFI, drop("devices/disk[@device='disk']"), None, None, id="cdrom-only"),
    pytest.param(KERNEL, both(drop("devices/disk[@device='disk']"), add_child("./devices/disk", "<boot order='1'/>")),
                 None, None, id="cdrom-with-boot-order-is-not-root"),
])
def test_root_disk(name, prep, disk, want):
    got = dx.root_disk(tree(name, prep), disk)
    assert (got["target"] if got else None) == want


def test_root_disk_unknown_name():
    with pytest.raises(ValueError, match="vdz"):
        dx.root_disk(tree(UEFI), "vdz")


# ---------------------------------------------------------------- set_disk_source

@pytest.mark.parametrize("name, target, path, fmt, want_type, want_format", [
    pytest.param(UEFI, "vdd", "/srv/vdd.raw", None, "file", "raw", id="network-to-file"),
    pytest.param(UEFI, "vdc", "/srv/vdc.qcow2", "qcow2", "file", "qcow2", id="block-to-file-format"),
    pytest.param(UEFI, "vda", "/srv/vda.qcow2", None, "file", "qcow2", id="file-keeps-format"),
    pytest.param(PLAIN, "vda", "/srv/vda.qcow2", "qcow2", "file", "qcow2", id="drops-backingStore"),
    pytest.param(KERNEL, "sda", "/srv/boot.iso", "raw", "file", "raw", id="empty-cdrom"),
])
def test_set_disk_source(name, target, path, fmt, want_type, want_format):
    root = tree(name)
    dx.set_disk_source(root, target, path, fmt)
    got = dx.root_disk(root, target)
    assert (got["type"], got["path"], got["format"]) == (want_type, path, want_format)
    disk = [d for d in root.findall("./devices/disk") if d.find("target").get("dev") == target][0]
    assert ET.tostring(disk.find("source"), encoding="unicode").strip() == '<source file="%s" />' % path
    assert disk.find("backingStore") is None and disk.find(".//host") is None
    removed, added = diff(text(name), dx.to_text(root))
    assert all("/disk[" in line for line in removed + added)


def test_set_disk_source_only_changes_that_disk():
    removed, added = diff(text(UEFI), dx.to_text(dx.set_disk_source(tree(UEFI), "vdd", "/srv/vdd.raw")))
    assert removed == ["/domain/devices[1]/disk[4] @device='disk' @type='network'",
                       "/domain/devices[1]/disk[4]/source[1] @name='pool/img' @protocol='rbd'",
                       "/domain/devices[1]/disk[4]/source[1]/host[1] @name='ceph-mon1' @port='6789'"]
    assert added == ["/domain/devices[1]/disk[4] @device='disk' @type='file'",
                     "/domain/devices[1]/disk[4]/source[1] @file='/srv/vdd.raw'"]


def test_set_disk_source_keeps_seclabel_and_startup_policy():
    root = tree(UEFI, both(set_attr("./devices/disk[1]/source", startupPolicy="optional"),
                           add_child("./devices/disk[1]/source", "<seclabel model='dac' relabel='no'/>")))
    dx.set_disk_source(root, "vda", "/srv/vda.qcow2")
    src = root.find("./devices/disk[1]/source")
    assert src.get("startupPolicy") == "optional" and src.find("seclabel").get("relabel") == "no"


def test_set_disk_source_unknown_disk():
    with pytest.raises(KeyError, match="vdz"):
        dx.set_disk_source(tree(UEFI), "vdz", "/x")


# ---------------------------------------------------------------- set_vcpus

def _topology(root):
    t = root.find("./cpu/topology")
    return None if t is None else {k: int(v) for k, v in t.attrib.items()}


@pytest.mark.parametrize("name, prep, n, vcpu_attrs, topology, cells", [
    pytest.param(UEFI, None, 8, {"placement": "static"}, {"sockets": 4, "dies": 1, "cores": 2, "threads": 1},
                 ["0-3", "4-7"], id="up-sockets-two-cells"),
    pytest.param(UEFI, None, 2, {"placement": "static"}, {"sockets": 1, "dies": 1, "cores": 2, "threads": 1},
                 ["0", "1"], id="down-sockets-two-cells"),
    pytest.param(UEFI, None, 6, {"placement": "static"}, {"sockets": 3, "dies": 1, "cores": 2, "threads": 1},
                 ["0-2", "3-5"], id="six-two-cells"),
    pytest.param(UEFI, drop("cpu/topology"), 2, {"placement": "static"}, None, ["0", "1"], id="no-topology"),
    pytest.param(PLAIN, None, 8, {"placement": "static"}, {"sockets": 2, "dies": 1, "cores": 2, "threads": 2},
                 [], id="up-sockets-threads"),
    pytest.param(PLAIN, None, 6, {"placement": "static"}, {"sockets": 1, "dies": 1, "cores": 3, "threads": 2},
                 [], id="cores-when-one-socket"),
    pytest.param(PLAIN, drop("cputune"), 2, {"placement": "static"}, {"sockets": 1, "dies": 1, "cores": 1, "threads": 2},
                 [], id="down-cores"),
    pytest.param(PLAIN_VI, drop("cputune"), 2, {}, {"sockets": 1, "dies": 1, "cores": 1, "threads": 2}, [],
                 id="virt-install-xml"),
    pytest.param(KERNEL, None, 3, {"placement": "static", "current": "3"}, None, ["0-2"], id="current-one-cell"),
    pytest.param(KERNEL, None, 8, {"placement": "static", "current": "8"}, None, ["0-7"], id="up-one-cell"),
    pytest.param(KERNEL, None, 2, {"placement": "static", "current": "2"}, None, ["0-1"], id="keeps-pins-below-n"),
    pytest.param(KERNEL, drop("cputune"), 1, {"placement": "static", "current": "1"}, None, ["0"], id="one-vcpu-cell"),
])
def test_set_vcpus(name, prep, n, vcpu_attrs, topology, cells):
    root = tree(name, prep)
    before = dx.to_text(root)
    dx.set_vcpus(root, n)
    assert root.find("vcpu").text == str(n) and dict(root.find("vcpu").attrib) == vcpu_attrs
    assert _topology(root) == topology
    assert [c.get("cpus") for c in root.findall("./cpu/numa/cell")] == cells
    removed, added = diff(before, dx.to_text(root))
    assert {line.split(" ")[0] for line in removed} == {line.split(" ")[0] for line in added}
    assert all(line.startswith(("/domain/vcpu[1]", "/domain/cpu[1]/topology", "/domain/cpu[1]/numa"))
               for line in added)


@pytest.mark.parametrize("name, prep, n, reason", [
    pytest.param(UEFI, None, 3, r"topology sockets=2,dies=1,cores=2,threads=1 cannot hold 3 vCPUs", id="topology-odd"),
    pytest.param(UEFI, None, 5, r"cannot hold 5 vCPUs", id="topology-five"),
    pytest.param(PLAIN, drop("cputune"), 3, r"cores=2,threads=2 cannot hold 3", id="threads-2"),
    pytest.param(PLAIN, None, 2, r"vcpupin> refers to vCPU 3", id="vcpupin-beyond"),
    pytest.param(KERNEL, None, 1, r"vcpupin> refers to vCPU 1", id="vcpupin-beyond-current"),
    pytest.param(UEFI, drop("cpu/topology"), 3, r"3 vCPUs do not split evenly over 2 NUMA cells", id="numa-uneven-n"),
    pytest.param(UEFI, both(set_attr("./cpu/numa/cell[1]", cpus="0,2"), set_attr("./cpu/numa/cell[2]", cpus="1,3")),
                 8, r"not evenly in contiguous ranges", id="numa-interleaved"),
    pytest.param(UEFI, both(set_attr("./cpu/numa/cell[1]", cpus="0-2"), set_attr("./cpu/numa/cell[2]", cpus="3")),
                 8, r"split vCPUs as 0-2, 3", id="numa-unequal"),
    pytest.param(UEFI, add_child(".", "<vcpus><vcpu id='0' enabled='yes'/></vcpus>"), 8, r"<vcpus>", id="vcpus-list"),
    pytest.param(KERNEL, add_child("./cputune", "<vcpusched vcpus='0-3' scheduler='fifo' priority='1'/>"), 2,
                 r"vcpusched> refers to vCPU 2,3", id="vcpusched-beyond"),
    pytest.param(UEFI, None, 0, r"at least one", id="zero"),
])
def test_set_vcpus_refused(name, prep, n, reason):
    root = tree(name, prep)
    before = dx.to_text(root)
    with pytest.raises(Refused, match=reason):
        dx.set_vcpus(root, n)
    assert dx.to_text(root) == before  # refused means untouched


# ---------------------------------------------------------------- set_memory

@pytest.mark.parametrize("name, prep, mib, cells", [
    pytest.param(UEFI, None, 8192, ["4194304", "4194304"], id="two-cells-up"),
    pytest.param(UEFI, None, 1024, ["524288", "524288"], id="two-cells-down"),
    pytest.param(KERNEL, None, 4096, ["4194304"], id="one-cell-under-maxMemory"),
    pytest.param(KERNEL, None, 8192, ["8388608"], id="equal-to-maxMemory"),
    pytest.param(PLAIN, None, 3072, [], id="no-numa"),
    pytest.param(PLAIN_VI, None, 2048, [], id="virt-install-no-unit"),
    pytest.param(KERNEL, set_attr("./maxMemory", unit="GiB"), 4096, ["4194304"], id="maxMemory-in-GiB"),
])
def test_set_memory(name, prep, mib, cells):
    root = tree(name, prep)
    before = dx.to_text(root)
    dx.set_memory(root, mib)
    for tag in ("memory", "currentMemory"):
        assert (root.find(tag).text, root.find(tag).get("unit")) == (str(mib * 1024), "KiB")
    assert [c.get("memory") for c in root.findall("./cpu/numa/cell")] == cells
    assert all(c.get("unit") == "KiB" for c in root.findall("./cpu/numa/cell"))
    removed, added = diff(before, dx.to_text(root))
    assert all(line.startswith(("/domain/memory[1]", "/domain/currentMemory[1]", "/domain/cpu[1]/numa"))
               for line in removed + added)
    if root.find("maxMemory") is not None:
        assert root.find("maxMemory").get("slots") == "16"


@pytest.mark.parametrize("name, prep, mib, reason", [
    pytest.param(KERNEL, None, 8193, r"maxMemory is 8388608 KiB, less than the 8389632 KiB", id="over-maxMemory"),
    pytest.param(UEFI, set_attr("./cpu/numa/cell[2]", memory="1", unit="GiB"), 8192, r"unequal memory \(2097152, 1048576 KiB\)",
                 id="unequal-cells"),
    pytest.param(UEFI, add_child("./cpu/numa", "<cell id='2' cpus='4' memory='2097152' unit='KiB'/>"), 1,
                 r"1024 KiB do not split evenly over 3 NUMA cells", id="three-cells"),
    pytest.param(KERNEL, add_child("./devices", "<memory model='dimm'><target><size unit='MiB'>512</size>"
                                   "<node>0</node></target></memory>"), 4096, r"memory devices", id="dimm"),
    pytest.param(UEFI, None, 0, r"needs memory", id="zero"),
])
def test_set_memory_refused(name, prep, mib, reason):
    root = tree(name, prep)
    before = dx.to_text(root)
    with pytest.raises(Refused, match=reason):
        dx.set_memory(root, mib)
    assert dx.to_text(root) == before


@pytest.mark.parametrize("value, unit, kib", [
    ("4194304", None, 4194304), ("4194304", "KiB", 4194304), ("4096", "MiB", 4194304), ("4", "G", 4194304),
    ("4294967296", "b", 4194304), ("1024000", "KB", 1000000), ("1", "TiB", 1073741824),
])
def test_to_kib(value, unit, kib):
    assert dx.to_kib(value, unit) == kib


@pytest.mark.parametrize("cpuset, ids", [
    ("0-3", {0, 1, 2, 3}), ("0", {0}), ("0-3,^2,6", {0, 1, 3, 6}), ("1,3", {1, 3}), ("", set()),
])
def test_parse_cpuset(cpuset, ids):
    assert dx.parse_cpuset(cpuset) == ids


# ---------------------------------------------------------------- paths / rewrite_paths

EXPECTED_PATHS = {
    UEFI: [
        ("loader", "/usr/share/OVMF/OVMF_CODE_4M.fd", "os/loader"),
        ("nvram", "/tmp/domxml/img/OVMF_VARS_4M.fd", "os/nvram"),
        ("emulator", "/usr/bin/qemu-system-x86_64", "devices/emulator"),
        ("disk", "/tmp/domxml/img/vm1-disk0.qcow2", "devices/disk[target=vda]/source/@file"),
        ("disk", "/tmp/domxml/img/vm1-data.raw", "devices/disk[target=vdb]/source/@file"),
        ("disk", "/dev/loop7", "devices/disk[target=vdc]/source/@dev"),
        ("disk", "/tmp/domxml/img/install.iso", "devices/disk[target=sda]/source/@file"),
        ("serial_file", "/var/log/ferry/vm1-serial.log", "devices/serial[1]/source/@path"),
        ("chardev_log", "/var/log/ferry/vm1-serial-chardev.log", "devices/serial[1]/log/@file"),
        ("console_file", "/var/log/ferry/vm1-serial.log", "devices/console[1]/source/@path"),
        ("chardev_log", "/var/log/ferry/vm1-serial-chardev.log", "devices/console[1]/log/@file"),
        ("channel_unix", "/var/lib/ferry/channels/vm1.agent", "devices/channel[1]/source/@path"),
        ("tpm", None, "devices/tpm[1]"),
        ("rng", "/dev/urandom", "devices/rng[1]/backend"),
    ],
    KERNEL: [
        ("kernel", "/var/lib/ferry/kernels/vmlinuz-6.1", "os/kernel"),
        ("initrd", "/var/lib/ferry/kernels/initrd.img-6.1", "os/initrd"),
        ("dtb", "/var/lib/ferry/kernels/board.dtb", "os/dtb"),
        ("emulator", "/usr/bin/qemu-system-x86_64", "devices/emulator"),
        ("disk", "/tmp/domxml/img/vm1-disk0.qcow2", "devices/disk[target=vda]/source/@file"),
        ("serial_file", "/var/log/ferry/vm2-console.log", "devices/serial[1]/source/@path"),
        ("parallel_file", "/var/log/ferry/vm2-parallel.log", "devices/parallel[1]/source/@path"),
        ("console_file", "/var/log/ferry/vm2-console.log", "devices/console[1]/source/@path"),
        ("graphics_socket", "/var/lib/ferry/vm2-vnc.sock", "devices/graphics[1]/@socket"),
        ("filesystem", "/srv/ferry/share", "devices/filesystem[1]/source/@dir"),
    ],
    PLAIN: [
        ("emulator", "/usr/bin/qemu-system-x86_64", "devices/emulator"),
        ("disk", "/tmp/domxml/img/vm1-disk0.qcow2", "devices/disk[target=vda]/source/@file"),
        ("backing_store", "/tmp/domxml/img/base.qcow2", "devices/disk[target=vda]/backingStore/source/@file"),
    ],
}


@pytest.mark.parametrize("name", sorted(EXPECTED_PATHS))
def test_paths_lists_every_kind(name):
    got = dx.paths(tree(name))
    assert [(p["kind"], p["path"], p["element"]) for p in got] == EXPECTED_PATHS[name]
    assert all(p["target"] for p in got if p["kind"] in ("disk", "backing_store"))


def test_paths_extras():
    uefi = {p["kind"]: p for p in dx.paths(tree(UEFI))}
    assert uefi["tpm"] == {"kind": "tpm", "path": None, "element": "devices/tpm[1]", "model": "tpm-crb",
                           "backend": "emulator"}
    assert [p["target"] for p in dx.paths(tree(KERNEL)) if p["kind"] == "filesystem"] == ["share0"]


@pytest.mark.parametrize("xml, kind, path", [
    pytest.param("<nvram template='/usr/share/OVMF/OVMF_VARS_4M.fd' type='file'><source file='/v/VARS.fd'/></nvram>",
                 "nvram", "/v/VARS.fd", id="nvram-source"),
    pytest.param("<nvram template='/usr/share/OVMF/OVMF_VARS_4M.fd'>/v/VARS.fd</nvram>",
                 "nvram_template", "/usr/share/OVMF/OVMF_VARS_4M.fd", id="nvram-template"),
])
def test_paths_nvram_forms(xml, kind, path):
    root = tree(UEFI, both(drop("os/nvram"), add_child("./os", xml)))
    assert {(p["kind"], p["path"]) for p in dx.paths(root) if p["kind"].startswith("nvram")} >= {(kind, path)}


def test_paths_tpm_passthrough_and_graphics_listen_socket():
    root = tree(KERNEL, both(add_child("./devices", "<tpm model='tpm-tis'><backend type='passthrough'>"
                                       "<device path='/dev/tpm0'/></backend></tpm>"),
                             add_child("./devices/graphics", "<listen type='socket' socket='/var/lib/ferry/vm2-vnc.sock'/>")))
    got = [(p["kind"], p["path"], p["element"]) for p in dx.paths(root)]
    assert ("tpm", "/dev/tpm0", "devices/tpm[1]/backend/device/@path") in got
    assert ("graphics_socket", "/var/lib/ferry/vm2-vnc.sock", "devices/graphics[1]/listen[1]/@socket") in got


@pytest.mark.parametrize("name, mapping, drop_kinds, changes", [
    pytest.param(UEFI, {"/usr/share/OVMF/OVMF_CODE_4M.fd": "/usr/share/edk2/OVMF_CODE.fd",
                        "/tmp/domxml/img/OVMF_VARS_4M.fd": "/var/lib/ferry/vm1/VARS.fd",
                        "/var/log/ferry/vm1-serial.log": "/srv/log/vm1.log",
                        "/tmp/domxml/img/vm1-disk0.qcow2": "/not/for/disks"},
                 ("channel_unix", "graphics_socket"),
                 [("loader", "/usr/share/OVMF/OVMF_CODE_4M.fd", "/usr/share/edk2/OVMF_CODE.fd"),
                  ("nvram", "/tmp/domxml/img/OVMF_VARS_4M.fd", "/var/lib/ferry/vm1/VARS.fd"),
                  ("serial_file", "/var/log/ferry/vm1-serial.log", "/srv/log/vm1.log"),
                  ("console_file", "/var/log/ferry/vm1-serial.log", "/srv/log/vm1.log"),
                  ("channel_unix", "/var/lib/ferry/channels/vm1.agent", None)], id="uefi-map-and-drop"),
    pytest.param(UEFI, None, (), [], id="nothing"),
    pytest.param(UEFI, {"/usr/bin/qemu-system-x86_64": "/usr/libexec/qemu-kvm", "/dev/urandom": "/dev/hwrng"}, (),
                 [("emulator", "/usr/bin/qemu-system-x86_64", "/usr/libexec/qemu-kvm"),
                  ("rng", "/dev/urandom", "/dev/hwrng")], id="emulator-and-rng"),
    pytest.param(UEFI, {"/var/log/ferry/vm1-serial-chardev.log": "/srv/log/chardev.log"}, (),
                 [("chardev_log", "/var/log/ferry/vm1-serial-chardev.log", "/srv/log/chardev.log")] * 2, id="chardev-log"),
    pytest.param(KERNEL, {"/var/lib/ferry/kernels/vmlinuz-6.1": "/k/vmlinuz",
                          "/var/lib/ferry/kernels/initrd.img-6.1": "/k/initrd",
                          "/var/lib/ferry/kernels/board.dtb": "/k/board.dtb", "/srv/ferry/share": "/srv/share2",
                          "/var/log/ferry/vm2-parallel.log": "/p.log"}, ("graphics_socket",),
                 [("kernel", "/var/lib/ferry/kernels/vmlinuz-6.1", "/k/vmlinuz"),
                  ("initrd", "/var/lib/ferry/kernels/initrd.img-6.1", "/k/initrd"),
                  ("dtb", "/var/lib/ferry/kernels/board.dtb", "/k/board.dtb"),
                  ("parallel_file", "/var/log/ferry/vm2-parallel.log", "/p.log"),
                  ("graphics_socket", "/var/lib/ferry/vm2-vnc.sock", None),
                  ("filesystem", "/srv/ferry/share", "/srv/share2")], id="kernel-boot"),
    pytest.param(KERNEL, {"/var/lib/ferry/vm2-vnc.sock": "/run/vnc.sock"}, (),
                 [("graphics_socket", "/var/lib/ferry/vm2-vnc.sock", "/run/vnc.sock")], id="socket-mapped-not-dropped"),
    pytest.param(PLAIN, {"/tmp/domxml/img/base.qcow2": "/b.qcow2"}, (), [], id="backing-store-left-to-set_disk_source"),
])
def test_rewrite_paths(name, mapping, drop_kinds, changes):
    root = tree(name)
    assert dx.rewrite_paths(root, mapping, drop_kinds) == changes
    after = {(p["kind"], p["element"]): p["path"] for p in dx.paths(root)}
    for kind, old, new in changes:
        if new is not None:
            assert new in after.values() and old not in [v for (k, _e), v in after.items() if k == kind]
        else:
            assert old not in after.values()
    assert [d for d in dx.disks(root)] == dx.disks(tree(name))  # disks never move here


def test_rewrite_paths_drop_channel_keeps_bind_mode():
    root = tree(UEFI)
    dx.rewrite_paths(root, {})
    src = root.find("./devices/channel/source")
    assert dict(src.attrib) == {"mode": "bind"}
    assert root.find("./devices/channel/target").get("name") == "org.qemu.guest_agent.0"


def test_rewrite_paths_drop_graphics_socket_stays_on_a_socket():
    root = tree(KERNEL)
    dx.rewrite_paths(root, {})
    gfx = root.find("./devices/graphics")
    assert dict(gfx.attrib) == {"type": "vnc"}
    assert [dict(li.attrib) for li in gfx.findall("listen")] == [{"type": "socket"}]


def test_rewrite_paths_drop_keeps_vnc_password_and_tcp_listen():
    root = tree(UEFI)
    dx.rewrite_paths(root, {})
    gfx = root.find("./devices/graphics")
    assert gfx.get("passwd") == "s3cret" and [li.get("type") for li in gfx.findall("listen")] == ["address"]


# ---------------------------------------------------------------- networks

def test_networks():
    assert dx.networks(tree(UEFI)) == [
        {"type": "bridge", "source": "br-prod", "mac": "52:54:00:11:22:33", "model": "virtio"},
        {"type": "bridge", "source": "br-stor", "mac": "52:54:00:11:22:44", "model": "e1000e"},
    ]
    assert dx.networks(tree(KERNEL)) == [
        {"type": "network", "source": "default", "mac": "52:54:00:aa:bb:01", "model": "virtio"},
        {"type": "direct", "source": "eth0", "mac": "52:54:00:aa:bb:02", "model": "e1000"},
        {"type": "bridge", "source": "br-prod", "mac": "52:54:00:aa:bb:03", "model": "e1000"},
    ]


@pytest.mark.parametrize("name, source_map, target_map, changes, sources", [
    pytest.param(UEFI, {"prod": "br-prod", "storage": "br-stor"}, {"prod": "br0", "storage": "br1"},
                 [("52:54:00:11:22:33", "br-prod", "br0"), ("52:54:00:11:22:44", "br-stor", "br1")],
                 ["br0", "br1"], id="both-renamed"),
    pytest.param(UEFI, {"prod": "br-prod", "storage": "br-stor"}, {"prod": "br0"},
                 [("52:54:00:11:22:33", "br-prod", "br0")], ["br0", "br-stor"], id="target-lacks-key-keeps"),
    pytest.param(UEFI, {"prod": "br-prod"}, {"prod": "br0", "storage": "br1"},
                 [("52:54:00:11:22:33", "br-prod", "br0")], ["br0", "br-stor"], id="not-in-source-map-keeps"),
    pytest.param(UEFI, {"prod": "br-prod"}, {"prod": "br-prod"}, [], ["br-prod", "br-stor"], id="same-name"),
    pytest.param(UEFI, None, None, [], ["br-prod", "br-stor"], id="no-maps"),
    pytest.param(UEFI, {}, {"prod": "br0"}, [], ["br-prod", "br-stor"], id="empty-source-map"),
    pytest.param(UEFI, {"prod": "br-prod", "prod2": "br-prod"}, {"prod": "br0", "prod2": "br0"},
                 [("52:54:00:11:22:33", "br-prod", "br0")], ["br0", "br-stor"], id="two-keys-agree"),
    pytest.param(KERNEL, {"nat": "default", "lan": "br-prod", "uplink": "eth0"},
                 {"nat": "ferry-nat", "lan": "br9", "uplink": "eth9"},
                 [("52:54:00:aa:bb:01", "default", "ferry-nat"), ("52:54:00:aa:bb:03", "br-prod", "br9")],
                 ["ferry-nat", "eth0", "br9"], id="network-and-bridge-not-direct"),
])
def test_map_networks(name, source_map, target_map, changes, sources):
    root = tree(name)
    assert dx.map_networks(root, source_map, target_map) == changes
    assert [n["source"] for n in dx.networks(root)] == sources
    assert [n["mac"] for n in dx.networks(root)] == [n["mac"] for n in dx.networks(tree(name))]


def test_map_networks_ambiguous_refused():
    with pytest.raises(Refused, match=r"52:54:00:11:22:33: bridge 'br-prod' is a and b"):
        dx.map_networks(tree(UEFI), {"a": "br-prod", "b": "br-prod"}, {"a": "br0", "b": "br1"})


# ---------------------------------------------------------------- requirements

def test_requirements_uefi():
    req = dx.requirements(tree(UEFI))
    cpu = req.pop("cpu")
    assert req == {"domain_type": "qemu", "arch": "x86_64", "machine": "pc-q35-7.2",
                   "emulator": "/usr/bin/qemu-system-x86_64", "bridges": ["br-prod", "br-stor"], "networks": [],
                   "direct_devs": []}
    assert (cpu["mode"], cpu["model"]) == ("host-model", None)
    assert dx.canonical(cpu["xml"]) == dx.canonical(ET.tostring(ET.fromstring(text(UEFI)).find("cpu")).decode())


def test_requirements_kernel_and_plain():
    req = dx.requirements(tree(KERNEL))
    assert (req["bridges"], req["networks"], req["direct_devs"]) == (["br-prod"], ["default"], ["eth0"])
    assert (req["cpu"]["mode"], req["cpu"]["model"], req["machine"]) == ("custom", "qemu64", "pc-i440fx-7.2")
    assert dx.requirements(tree(PLAIN_VI))["cpu"]["mode"] == "custom"  # virt-install's <cpu> without mode
    assert dx.requirements(tree(KERNEL, drop("cpu")))["cpu"] == {"mode": None, "model": None, "xml": None}


# ---------------------------------------------------------------- target_definition

def test_target_definition_uefi_changes_only_intended_lines():
    out, changes = dx.target_definition(
        text(UEFI), vcpus=8, memory_mib=8192,
        disk_map={"vdd": {"path": "/var/lib/ferry/instances/vm1/vdd.raw", "format": "raw"},
                  "vda": {"path": "/var/lib/ferry/instances/vm1/vda.qcow2"}},
        path_map={"/usr/share/OVMF/OVMF_CODE_4M.fd": "/usr/share/edk2/ovmf/OVMF_CODE.fd",
                  "/tmp/domxml/img/OVMF_VARS_4M.fd": "/var/lib/ferry/instances/vm1/VARS.fd"},
        source_net_map={"prod": "br-prod", "storage": "br-stor"}, target_net_map={"prod": "br0"})
    removed, added = diff(text(UEFI), out)
    assert removed == [
        "/domain/cpu[1]/numa[1]/cell[1] @cpus='0-1' @id='0' @memory='2097152' @unit='KiB'",
        "/domain/cpu[1]/numa[1]/cell[2] @cpus='2-3' @id='1' @memory='2097152' @unit='KiB'",
        "/domain/cpu[1]/topology[1] @cores='2' @dies='1' @sockets='2' @threads='1'",
        "/domain/currentMemory[1] @unit='KiB' text='4194304'",
        "/domain/devices[1]/channel[1]/source[1] @mode='bind' @path='/var/lib/ferry/channels/vm1.agent'",
        "/domain/devices[1]/disk[1]/source[1] @file='/tmp/domxml/img/vm1-disk0.qcow2'",
        "/domain/devices[1]/disk[4] @device='disk' @type='network'",
        "/domain/devices[1]/disk[4]/source[1] @name='pool/img' @protocol='rbd'",
        "/domain/devices[1]/disk[4]/source[1]/host[1] @name='ceph-mon1' @port='6789'",
        "/domain/devices[1]/interface[1]/source[1] @bridge='br-prod'",
        "/domain/memory[1] @unit='KiB' text='4194304'",
        "/domain/os[1]/loader[1] @readonly='yes' @type='pflash' text='/usr/share/OVMF/OVMF_CODE_4M.fd'",
        "/domain/os[1]/nvram[1] text='/tmp/domxml/img/OVMF_VARS_4M.fd'",
        "/domain/vcpu[1] @placement='static' text='4'",
    ]
    assert added == [
        "/domain/cpu[1]/numa[1]/cell[1] @cpus='0-3' @id='0' @memory='4194304' @unit='KiB'",
        "/domain/cpu[1]/numa[1]/cell[2] @cpus='4-7' @id='1' @memory='4194304' @unit='KiB'",
        "/domain/cpu[1]/topology[1] @cores='2' @dies='1' @sockets='4' @threads='1'",
        "/domain/currentMemory[1] @unit='KiB' text='8388608'",
        "/domain/devices[1]/channel[1]/source[1] @mode='bind'",
        "/domain/devices[1]/disk[1]/source[1] @file='/var/lib/ferry/instances/vm1/vda.qcow2'",
        "/domain/devices[1]/disk[4] @device='disk' @type='file'",
        "/domain/devices[1]/disk[4]/source[1] @file='/var/lib/ferry/instances/vm1/vdd.raw'",
        "/domain/devices[1]/interface[1]/source[1] @bridge='br0'",
        "/domain/memory[1] @unit='KiB' text='8388608'",
        "/domain/os[1]/loader[1] @readonly='yes' @type='pflash' text='/usr/share/edk2/ovmf/OVMF_CODE.fd'",
        "/domain/os[1]/nvram[1] text='/var/lib/ferry/instances/vm1/VARS.fd'",
        "/domain/vcpu[1] @placement='static' text='8'",
    ]
    assert changes == [
        "vcpus: 4 -> 8",
        "memory: 4096 MiB -> 8192 MiB",
        "disk vdd: rbd:pool/img (raw) -> /var/lib/ferry/instances/vm1/vdd.raw (raw)",
        "disk vda: /tmp/domxml/img/vm1-disk0.qcow2 (qcow2) -> /var/lib/ferry/instances/vm1/vda.qcow2 (qcow2)",
        "loader: /usr/share/OVMF/OVMF_CODE_4M.fd -> /usr/share/edk2/ovmf/OVMF_CODE.fd",
        "nvram: /tmp/domxml/img/OVMF_VARS_4M.fd -> /var/lib/ferry/instances/vm1/VARS.fd",
        "channel_unix: /var/lib/ferry/channels/vm1.agent -> (generated by libvirt)",
        "interface 52:54:00:11:22:33: br-prod -> br0",
    ]
    assert 'xmlns:acme="%s"' % ACME in out  # foreign metadata rides along


def test_target_definition_same_size_changes_nothing_but_generated_paths():
    out, changes = dx.target_definition(text(PLAIN), vcpus=4, memory_mib=1024)
    assert changes == [] and dx.canonical(out) == dx.canonical(text(PLAIN))
    out, changes = dx.target_definition(text(KERNEL), vcpus=4, memory_mib=2048)
    assert changes == ["graphics_socket: /var/lib/ferry/vm2-vnc.sock -> (generated by libvirt)"]


def test_target_definition_kernel_boot():
    out, changes = dx.target_definition(
        text(KERNEL), vcpus=2, memory_mib=4096, disk_map={"vda": {"path": "/srv/vm2/vda.raw", "format": "raw"}},
        path_map={"/var/lib/ferry/kernels/vmlinuz-6.1": "/boot/vmlinuz"},
        source_net_map={"nat": "default"}, target_net_map={"nat": "ferry-nat"})
    removed, added = diff(text(KERNEL), out)
    assert [line.split(" ")[0] for line in added] == [
        "/domain/cpu[1]/numa[1]/cell[1]", "/domain/currentMemory[1]", "/domain/devices[1]/disk[1]/driver[1]",
        "/domain/devices[1]/disk[1]/source[1]", "/domain/devices[1]/graphics[1]", "/domain/devices[1]/graphics[1]/listen[1]",
        "/domain/devices[1]/interface[1]/source[1]", "/domain/memory[1]", "/domain/os[1]/kernel[1]", "/domain/vcpu[1]",
    ]
    assert "/domain/vcpu[1] @current='2' @placement='static' text='2'" in added
    assert len(removed) == len(added) - 1  # the generated-socket <listen> is the one new element


@pytest.mark.parametrize("kwargs, error", [
    pytest.param({"vcpus": 3}, Refused, id="vcpus-refused"),
    pytest.param({"memory_mib": 1 << 20, "vcpus": 8}, Refused, id="memory-over-max"),
    pytest.param({"disk_map": {"vdz": {"path": "/x"}}}, KeyError, id="unknown-disk"),
])
def test_target_definition_errors(kwargs, error):
    name = KERNEL if "memory_mib" in kwargs else UEFI
    with pytest.raises(error):
        dx.target_definition(text(name), **kwargs)


# ---------------------------------------------------------------- libvirt accepts the output

URI = "qemu:///session"


def _virsh(*args, check=True, timeout=60):
    return subprocess.run(["virsh", "-c", URI, *args], capture_output=True, text=True, timeout=timeout, check=check)


def _libvirt_reachable():
    if not shutil.which("virsh"):
        return False
    try:
        probe = _virsh("version", check=False, timeout=15)
    except (OSError, subprocess.SubprocessError):
        return False
    return probe.returncode == 0 and "QEMU" in probe.stdout


LIBVIRT_CASES = [
    pytest.param(UEFI, {"vcpus": 8, "memory_mib": 8192, "disk_map": {"vdd": {"path": "{tmp}/vdd.raw", "format": "raw"}},
                        "path_map": {"/tmp/domxml/img/OVMF_VARS_4M.fd": "{tmp}/VARS.fd"},
                        "source_net_map": {"prod": "br-prod"}, "target_net_map": {"prod": "br-ferry-test"}},
                 # libvirt drops the channel's now path-less <source mode='bind'/> and generates the path at start
                 ["/domain/devices[1]/channel[1]/source[1] @mode='bind'"], [], id="uefi-tpm-numa"),
    pytest.param(KERNEL, {"vcpus": 3, "memory_mib": 3072, "disk_map": {"vda": {"path": "{tmp}/vda.raw", "format": "raw"}},
                          "path_map": {"/var/lib/ferry/kernels/vmlinuz-6.1": "{tmp}/vmlinuz"},
                          "source_net_map": {"nat": "default"}, "target_net_map": {"nat": "ferry-test-net"}},
                 # current= equal to the maximum is libvirt's default, which it does not write
                 ["/domain/vcpu[1] @current='3' @placement='static' text='3'"],
                 ["/domain/vcpu[1] @placement='static' text='3'"], id="kernel-boot-socket-vnc"),
]


@pytest.mark.skipif(not _libvirt_reachable(), reason="no libvirt daemon reachable at %s" % URI)
@pytest.mark.parametrize("name, kwargs, only_ours, only_libvirts", LIBVIRT_CASES)
def test_libvirt_defines_rewritten_definition(tmp_path, name, kwargs, only_ours, only_libvirts):
    kwargs = {k: _fill(v, str(tmp_path)) for k, v in kwargs.items()}
    out, _changes = dx.target_definition(text(name), **kwargs)
    root = dx.parse(out)
    dom = "ferry-domxml-test-%s" % uuid.uuid4().hex[:8]
    root.find("name").text = dom
    root.find("uuid").text = str(uuid.uuid4())
    out = dx.to_text(root)
    xml_file = tmp_path / "dom.xml"
    xml_file.write_text(out)
    _virsh("define", str(xml_file))
    try:
        dumped = _virsh("dumpxml", "--inactive", "--security-info", "--migratable", dom).stdout
    finally:
        _virsh("undefine", "--keep-nvram", dom, check=False)
    # libvirt takes the definition as written, but for what it normalises itself
    assert diff(out, dumped) == (only_ours, only_libvirts)
    back = dx.parse(dumped)
    assert dx.vcpu_count(back) == kwargs["vcpus"] and dx.memory_kib(back) == kwargs["memory_mib"] * 1024
    for dev, spec in kwargs["disk_map"].items():
        got = dx.root_disk(back, dev)
        assert (got["type"], got["path"], got["format"]) == ("file", spec["path"], spec["format"])
    assert set(kwargs["target_net_map"].values()) <= {n["source"] for n in dx.networks(back)}
    if name == UEFI:
        assert back.find("./metadata/{%s}tenant/{%s}project" % (ACME, ACME)).text == "payments"


def _fill(value, tmp):
    if isinstance(value, dict):
        return {k: _fill(v, tmp) for k, v in value.items()}
    return value.replace("{tmp}", tmp) if isinstance(value, str) else value
