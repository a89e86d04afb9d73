"""Real guests on the lab: a guest defined by virt-install (not by ferry) with every kind of disk,
two bridged NICs, a serial file and a channel is adopted, migrated, confirmed, resized, reverted,
migrated again and confirmed.  After each step every assertion goes through the hosts' own tools:
`virsh dumpxml --inactive --security-info` compared with the guest's definition before the step
under a mask written here by hand (not ferry's own list of rewrites), `qemu-img compare` of every
disk against a flattened copy taken before the step, and what is left on each host.
"""

import os
import re
import shlex
import subprocess
import time
import xml.etree.ElementTree as ET

import pytest

from tests.integration import guests, lab

FERRY_NS = "https://ferry.invalid/xmlns/instance/1.0"
# The lab's bridges, by logical network (roles/lab: hv-b2 names its bridges differently).
LOGICAL = {"fbr-front": "front", "fbr-back": "back", "fbr2-front": "front", "fbr2-back": "back"}


def dumpxml(host, name):
    return lab.virsh(host, "dumpxml", "--inactive", "--security-info", name)


def masked(xml_text, resized=False):
    """The definition with what a move is documented to change masked out, by hand:
    ferry's metadata; every disk's source path and backing chain (disks land in the target's
    instance dir and cache); file serial/console source paths; the unix channel's socket path;
    bridge names (compared by logical network); and on a resize vCPU and memory."""
    root = ET.fromstring(xml_text)
    meta = root.find("metadata")
    if meta is not None:
        for el in list(meta):
            if el.tag.startswith("{%s}" % FERRY_NS):
                meta.remove(el)
        if not list(meta):
            root.remove(meta)
    for disk in root.findall("./devices/disk"):
        for bs in disk.findall("backingStore"):
            disk.remove(bs)
        src = disk.find("source")
        if src is not None and "file" in src.attrib:
            src.set("file", "<path>")
    for kind in ("serial", "console"):
        for dev in root.findall("./devices/%s" % kind):
            src = dev.find("source")
            if src is not None and "path" in src.attrib:
                src.set("path", "<path>")
    for ch in root.findall("./devices/channel"):
        src = ch.find("source")
        if src is not None:
            src.attrib.pop("path", None)
    for nic in root.findall("./devices/interface"):
        src = nic.find("source")
        if src is not None and "bridge" in src.attrib:
            src.set("bridge", LOGICAL.get(src.get("bridge"), src.get("bridge")))
    if resized:
        for tag in ("vcpu", "memory", "currentMemory"):
            el = root.find(tag)
            if el is not None:
                el.text = "<resized>"
                el.attrib.pop("current", None)
    return canonical(root)


def canonical(el, path=""):
    lines = []
    here = "%s/%s" % (path, el.tag)
    attrs = " ".join("%s=%r" % kv for kv in sorted(el.attrib.items()))
    text = (el.text or "").strip()
    lines.append("%s [%s] %s" % (here, attrs, text))
    for child in el:
        lines.extend(canonical(child, here))
    return lines


def differences(before, after, resized=False):
    a, b = masked(before, resized), masked(after, resized)
    return [ln for ln in a if ln not in b] + ["+ " + ln for ln in b if ln not in a]


def disks_of(host, name):
    """{target: (path, format, device)} from the host's own virsh."""
    root = ET.fromstring(dumpxml(host, name))
    out = {}
    for d in root.findall("./devices/disk"):
        src, drv = d.find("source"), d.find("driver")
        out[d.find("target").get("dev")] = ((src.get("file") or src.get("dev")) if src is not None else None,
                                            drv.get("type") if drv is not None else None, d.get("device"))
    return out


def references(host, name, tag):
    """Flattened copies (guest-visible content) of every disk, taken as root before a step."""
    os.makedirs(lab.REF_DIR, mode=0o755, exist_ok=True)
    os.chmod(lab.REF_DIR, 0o755)
    refs = {}
    for target, (path, fmt, _device) in disks_of(host, name).items():
        ref = os.path.join(lab.REF_DIR, "%s-%s-%s.raw" % (name, tag, target))
        subprocess.run(["qemu-img", "convert", "-U", "-f", fmt, "-O", "raw", path, ref], check=True)
        os.chmod(ref, 0o644)
        refs[target] = ref
    return refs


def assert_same_disks(host, name, refs):
    now = disks_of(host, name)
    assert set(now) == set(refs), (now, refs)
    for target, (path, fmt, _) in now.items():
        out = lab.ssh(host, "qemu-img compare -U -f %s -F raw %s %s; echo rc=$?"
                      % (fmt, shlex.quote(path), shlex.quote(refs[target])), check=False)
        assert "rc=0" in out, "disk %s (%s) on %s differs: %s" % (target, path, host, out)


def stop_guest(host, name):
    if lab.domain_state(host, name) == "running":
        lab.virsh(host, "destroy", name)


@pytest.fixture(scope="module")
def realistic():
    name = lab.unique("vi")
    g = guests.define_realistic_guest("hv-b1", name)
    yield g
    lab.run_playbook("delete.yml", instance=name)
    for h in ("hv-b1", "hv-b2"):
        guests.undefine(h, name)
        guests.remove_pools(h)


def test_realistic_guest_adopt_move_resize_revert_confirm(realistic):
    name = realistic["name"]
    disks0 = disks_of("hv-b1", name)
    iso = [p for p, f, dev in disks0.values() if dev == "cdrom"][0]
    base = realistic["disks"][0]["backing"]
    writable_b1 = [p for p, f, dev in disks0.values() if dev == "disk"]

    # adopt: --check records nothing, then metadata only (the rest of the definition is untouched)
    xml0 = dumpxml("hv-b1", name)
    lab.ok(lab.run_playbook("adopt.yml", check=True, instance=name))
    assert dumpxml("hv-b1", name) == xml0
    lab.ok(lab.run_playbook("adopt.yml", instance=name))
    xml1 = dumpxml("hv-b1", name)
    assert FERRY_NS in xml1 and differences(xml0, xml1) == []
    assert "custom-1c-128m-1g" in xml1  # no catalogue flavor has 1 GiB root, 128 MiB

    # migrate to hv-b2 (another bridge naming: the network map is used)
    stop_guest("hv-b1", name)  # the guest is stopped: content is stable for the reference copies
    refs = references("hv-b1", name, "m1")
    lab.virsh("hv-b1", "start", name)
    r = lab.ok(lab.run_playbook("migrate.yml", instance=name, target_host="hv-b2"))
    ship = r.task_result("Ship the guest's files host to host (holes kept, checksums compared)")
    # what must travel: the overlay's, the standalone qcow2's and the raw disk's allocated data
    # (st_blocks on the source, each file's own), and nothing of the base or the ISO
    must = 0
    for p in writable_b1:  # measured here, on the source, by the host's own stat
        blocks, bsize = lab.ssh("hv-b1", "stat -c '%%b %%B' %s" % shlex.quote(p)).split()
        must += int(blocks) * int(bsize)
    assert sorted(os.path.basename(f["src"]) for f in ship["files"]) == ["data.qcow2", "root.qcow2", "scratch.raw"]
    assert abs(ship["bytes_sent"] - must) <= 0.05 * must, (ship["bytes_sent"], must)
    for f in ship["files"]:
        assert f["dest_allocated_bytes"] <= f["allocated_bytes"] + 1024 ** 2, f  # holes stayed holes
    xml2 = dumpxml("hv-b2", name)
    assert differences(xml1, xml2) == [], differences(xml1, xml2)
    assert lab.domain_state("hv-b2", name) == "running"
    assert_same_disks("hv-b2", name, refs)
    bridges = re.findall(r"<source bridge='([^']+)'", xml2)
    assert sorted(bridges) == ["fbr2-back", "fbr2-front"]
    lab.ok(lab.run_playbook("confirm.yml", instance=name))
    assert lab.domain_state("hv-b1", name) == "absent"
    for p in writable_b1:
        assert not lab.exists("hv-b1", p), p
    assert lab.exists("hv-b1", iso) and lab.exists("hv-b1", base)
    disks2 = disks_of("hv-b2", name)
    hv2 = lab.inventory()[2]["hv-b2"]
    for target, (p, _f, dev) in disks2.items():
        want = hv2["ferry_cache_dir"] if dev == "cdrom" else "%s/%s/" % (hv2["ferry_instances_dir"], name)
        assert p.startswith(want), (target, p)

    # resize back to hv-b1 (m1.medium: 2 vCPUs, 256 MiB, root 3 GiB; the other disks keep their size)
    stop_guest("hv-b2", name)
    refs = references("hv-b2", name, "r1")
    lab.virsh("hv-b2", "start", name)
    before_resize = dumpxml("hv-b2", name)
    lab.ok(lab.run_playbook("resize.yml", instance=name, flavor="m1.medium", target_host="hv-b1"))
    xml3 = dumpxml("hv-b1", name)
    assert differences(before_resize, xml3, resized=True) == []
    info = lab.dominfo("hv-b1", name)
    assert (info["vcpus"], info["memory_mb"]) == (2, 256)
    vda = disks_of("hv-b1", name)["vda"][0]
    assert lab.qemu_img_info("hv-b1", vda)[0]["virtual-size"] == 3 * 1024 ** 3
    # revert: the source's definition is restored exactly (ferry's metadata aside), content too
    lab.ok(lab.run_playbook("revert.yml", instance=name))
    assert lab.domain_state("hv-b1", name) == "absent"
    xml4 = dumpxml("hv-b2", name)
    assert differences(before_resize, xml4) == []
    assert masked(before_resize) == masked(xml4)
    assert_same_disks("hv-b2", name, refs)

    # migrate again and confirm
    stop_guest("hv-b2", name)
    refs = references("hv-b2", name, "m2")
    lab.virsh("hv-b2", "start", name)
    lab.ok(lab.run_playbook("migrate.yml", instance=name, target_host="hv-b1"))
    xml5 = dumpxml("hv-b1", name)
    assert differences(xml4, xml5) == []
    assert_same_disks("hv-b1", name, refs)
    writable_b2 = [p for p, f, dev in disks_of("hv-b2", name).values() if dev == "disk"]
    lab.ok(lab.run_playbook("confirm.yml", instance=name))
    assert lab.domain_state("hv-b2", name) == "absent"
    for p in writable_b2:
        assert not lab.exists("hv-b2", p), p
    assert lab.domain_state("hv-b1", name) == "running"

    # the comparison is not blind: one undocumented change (a MAC, an on_crash action) is caught
    for old, new in (("<on_crash>destroy</on_crash>", "<on_crash>restart</on_crash>"),
                     (realistic["nics"][0]["mac"], "52:54:00:de:ad:01")):
        assert old in xml5
        assert differences(xml4, xml5.replace(old, new)) != []


def test_guest_with_block_disk_refused_then_moves_with_shared_storage(guest_name, tmp_path):
    """A block-device disk cannot be copied: refused before anything is touched; declared as
    shared storage both hosts see (a loop device here: every lab host is this machine), it moves
    without being copied, and confirm keeps it."""
    name = guest_name("blk")
    lab.ok(lab.run_playbook("boot.yml", instance=name, flavor="m1.small", image="tiny", host="hv-a1"))
    backing = tmp_path / "lun.img"
    with open(backing, "wb") as f:
        f.truncate(16 * 1024 ** 2)
        f.seek(4096)
        f.write(b"lun data " * 100)
    dev = subprocess.run(["losetup", "--find", "--show", str(backing)], check=True, capture_output=True,
                         text=True).stdout.strip()
    try:
        os.chmod(dev, 0o666)
        xml = ("<disk type='block' device='disk'><driver name='qemu' type='raw'/><source dev='%s'/>"
               "<target dev='vdb' bus='virtio'/></disk>" % dev)
        lab.ssh("hv-a1", "f=$(mktemp); printf %%s %s > $f; virsh -q -c qemu:///session attach-device %s $f --config; "
                "rm -f $f" % (shlex.quote(xml), name))
        lab.virsh("hv-a1", "destroy", name)
        lab.virsh("hv-a1", "start", name)
        before = dumpxml("hv-a1", name)
        r = lab.run_playbook("migrate.yml", instance=name)
        assert r.rc != 0
        assert any("disk vdb (block %s)" % dev in m and "ferry_shared_storage" in m for m in r.failures()), r.failures()
        assert dumpxml("hv-a1", name) == before and lab.domain_state("hv-a2", name) == "absent"
        assert lab.domain_state("hv-a1", name) == "running"
        lab.ok(lab.run_playbook("migrate.yml", instance=name, ferry_shared_storage=[dev]))
        assert lab.domain_state("hv-a2", name) == "running"
        assert disks_of("hv-a2", name)["vdb"][0] == dev
        lab.ok(lab.run_playbook("confirm.yml", instance=name, ferry_shared_storage=[dev]))
        assert lab.domain_state("hv-a1", name) == "absent"
        assert os.path.exists(dev) and b"lun data" in open(backing, "rb").read()
    finally:
        lab.run_playbook("delete.yml", instance=name)
        subprocess.run(["losetup", "-d", dev], check=False)


@pytest.mark.matrix
def test_second_guest_on_same_base_ships_no_base_bytes(guest_name):
    a, b = guest_name("sb"), guest_name("sb")
    for n in (a, b):
        lab.ok(lab.run_playbook("boot.yml", instance=n, flavor="m1.small", image="fat", host="hv-b1"))
    hv = lab.inventory()[2]["hv-b2"]
    sha = lab.manifest()["images"]["fat"]["sha256"]
    lab.ssh("hv-b2", "rm -f %s/%s.qcow2" % (hv["ferry_cache_dir"], sha))
    r1 = lab.ok(lab.run_playbook("migrate.yml", instance=a, target_host="hv-b2"))
    r2 = lab.ok(lab.run_playbook("migrate.yml", instance=b, target_host="hv-b2"))
    res1 = r1.task_result("Sum up the move")["ansible_facts"]["ferry_move_result"]
    res2 = r2.task_result("Sum up the move")["ansible_facts"]["ferry_move_result"]
    assert res1["base_image"] in ("store", "source")
    assert res2["base_image"] == "cache"
    # the second move sent its overlay only: no base bytes (the fat base holds 192 MiB of data)
    assert res2["bytes_shipped"] < 16 * 1024 ** 2


def fresh_marker(host, g, name):
    """Stop the guest, write a new random marker on its data disk, start it again."""
    import uuid
    marker = "m-" + uuid.uuid4().hex
    stop_guest(host, name)
    path, fmt, _ = disks_of(host, name)["vda"]
    guests.write_marker(host, path, fmt, marker)
    lab.virsh(host, "start", name)
    return marker


@pytest.mark.matrix  # make test: the molecule scenario real_guest boots it on the target
def test_linux_guest_boots_on_the_target_and_sees_its_data():
    """The lab's real Linux guest (cloud kernel, busybox initramfs, direct kernel boot, file serial
    console) is migrated and then resized; after each move it boots on the target and prints the
    marker freshly written on its data disk before the move."""
    name = lab.unique("lx")
    g = guests.define_linux_guest("hv-a1", name, data_format="raw", marker="first")
    try:
        assert guests.console_marker("hv-a1", g["console"], timeout=90) == "first"
        marker = fresh_marker("hv-a1", g, name)
        lab.ok(lab.run_playbook("migrate.yml", instance=name, target_host="hv-a2"))
        console = "%s/%s/console.log" % (lab.inventory()[2]["hv-a2"]["ferry_instances_dir"], name)
        assert guests.console_marker("hv-a2", console, timeout=120) == marker
        kernel = re.search(r"<kernel>([^<]+)</kernel>", dumpxml("hv-a2", name)).group(1)
        assert kernel.startswith(lab.inventory()[2]["hv-a2"]["ferry_cache_dir"] + "/")
        lab.ok(lab.run_playbook("confirm.yml", instance=name))

        marker = fresh_marker("hv-a2", g, name)
        lab.ssh("hv-a2", "rm -f %s" % shlex.quote(console))
        lab.ok(lab.run_playbook("resize.yml", instance=name, flavor="m1.large", target_host="hv-a1"))
        console = "%s/%s/console.log" % (lab.inventory()[2]["hv-a1"]["ferry_instances_dir"], name)
        assert guests.console_marker("hv-a1", console, timeout=120) == marker
        info = lab.dominfo("hv-a1", name)
        assert (info["vcpus"], info["memory_mb"]) == (2, 512)
        lab.ok(lab.run_playbook("confirm.yml", instance=name))
        # the guest honours an ACPI shutdown on its new host (its acpid powers it off)
        lab.virsh("hv-a1", "shutdown", name)
        deadline = time.monotonic() + 60
        while lab.domain_state("hv-a1", name) != "shut off":
            assert time.monotonic() < deadline, "the Linux guest ignored the ACPI shutdown on the target"
            time.sleep(1)
    finally:
        lab.run_playbook("delete.yml", instance=name)
        for h in ("hv-a1", "hv-a2"):
            guests.undefine(h, name)
            guests.remove_pools(h)


def test_plan_shows_a_host_lacking_the_guests_network_and_adopts_nothing():
    """A guest (defined with plain virsh, stopped) on a bridge no host declares: plan.yml reports
    GuestDefinitionFilter removing every candidate with the reason, writes no metadata; migrate.yml
    is refused the same way before anything is touched."""
    name = lab.unique("nw")
    hv = lab.inventory()[2]["hv-a1"]
    d = "%s/%s" % (hv["ferry_instances_dir"], name)
    xml = ("<domain type='qemu'><name>%s</name><memory unit='MiB'>64</memory><vcpu>1</vcpu>"
           "<os><type arch='x86_64' machine='pc'>hvm</type></os><devices>"
           "<disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='%s/root.qcow2'/>"
           "<target dev='vda' bus='virtio'/></disk>"
           "<interface type='bridge'><mac address='52:54:00:aa:bb:01'/><source bridge='fbr-nowhere'/>"
           "<model type='virtio'/></interface></devices></domain>" % (name, d))
    lab.ssh("hv-a1", "set -e; mkdir -p %s; qemu-img create -q -f qcow2 %s/root.qcow2 64M; f=$(mktemp); "
            "printf %%s %s > $f; virsh -q -c qemu:///session define $f; rm -f $f" % (d, d, shlex.quote(xml)))
    try:
        before = dumpxml("hv-a1", name)
        r = lab.run_playbook("plan.yml", instance=name)
        text = "\n".join(r.failures()) + r.stdout
        assert "GuestDefinitionFilter removed hv-a2: lacks network fbr-nowhere" in text, text[-3000:]
        assert "would be adopted" in text
        assert dumpxml("hv-a1", name) == before
        r = lab.run_playbook("migrate.yml", instance=name)
        assert r.rc != 0 and "lacks network fbr-nowhere" in "\n".join(r.failures())
        assert lab.domain_state("hv-a2", name) == "absent"
        # status shows it as unmanaged; with ferry_adopt=false a move refuses it, pointing at adopt.yml
        table = "\n".join(lab.ok(lab.run_playbook("status.yml")).task_result("Show hosts and guests")["msg"])
        assert any(name in ln and "(unmanaged)" in ln for ln in table.splitlines()), table
        r = lab.run_playbook("migrate.yml", instance=name, ferry_adopt=False)
        assert r.rc != 0 and any("playbooks/adopt.yml -e instance=%s" % name in m for m in r.failures())
        assert dumpxml("hv-a1", name) == before
        # a network disk (rbd) cannot be copied: refused before anything is touched, naming the disk
        rbd = ("<disk type='network' device='disk'><driver name='qemu' type='raw'/>"
               "<source protocol='rbd' name='pool/%s-data'><host name='127.0.0.1' port='6789'/></source>"
               "<target dev='vdb' bus='virtio'/></disk>" % name)
        lab.ssh("hv-a1", "f=$(mktemp); printf %%s %s > $f; virsh -q -c qemu:///session attach-device %s $f --config; "
                "rm -f $f" % (shlex.quote(rbd), name))
        before = dumpxml("hv-a1", name)
        r = lab.run_playbook("migrate.yml", instance=name)
        assert r.rc != 0
        assert any("disk vdb (network rbd:pool/%s-data)" % name in m for m in r.failures()), r.failures()
        assert dumpxml("hv-a1", name) == before
    finally:
        guests.undefine("hv-a1", name)


def test_emulated_tpm_state_moves_with_the_guest():
    """A guest with an emulated TPM (virt-install --tpm emulator): libvirt keeps its state by UUID
    outside the definition; after a migration the target has the same state for the same UUID,
    and confirm removes the source's."""
    name = lab.unique("tpm")
    hv1, hv2 = (lab.inventory()[2][h] for h in ("hv-a1", "hv-a2"))
    d = "%s/%s" % (hv1["ferry_instances_dir"], name)
    lab.ssh("hv-a1", "mkdir -p %s && qemu-img create -q -f qcow2 -F qcow2 -b %s/tiny.qcow2 %s/root.qcow2"
            % (d, guests.STORE_DIR, d))
    guests._virt_install("hv-a1", ["--name", name, "--memory", "64", "--vcpus", "1", "--tpm", "emulator",
                                   "--disk", "path=%s/root.qcow2,format=qcow2,bus=virtio" % d, "--network", "none"])
    try:
        uuid = lab.virsh("hv-a1", "domuuid", name).strip()

        def state(host, hv):
            return lab.ssh(host, "sha256sum %s/.config/libvirt/qemu/swtpm/%s/tpm2/tpm2-00.permall 2>/dev/null || true"
                           % (hv["ferry_host_root"], uuid)).split()[:1]
        # swtpm rewrites its state while it runs: compare with the guest stopped (a stopped guest
        # moves stopped), then start it on the target
        lab.virsh("hv-a1", "destroy", name)
        before = state("hv-a1", hv1)
        assert before, "libvirt made no TPM state for the guest"
        lab.ok(lab.run_playbook("migrate.yml", instance=name, target_host="hv-a2"))
        assert lab.domain_state("hv-a2", name) == "shut off"
        assert state("hv-a2", hv2) == before
        lab.virsh("hv-a2", "start", name)
        assert lab.domain_state("hv-a2", name) == "running"
        before = state("hv-a2", hv2)
        assert "<tpm model=" in dumpxml("hv-a2", name)
        lab.ok(lab.run_playbook("confirm.yml", instance=name))
        assert state("hv-a1", hv1) == []
        assert state("hv-a2", hv2) == before
    finally:
        lab.run_playbook("delete.yml", instance=name)
        for h in ("hv-a1", "hv-a2"):
            guests.undefine(h, name)
            guests.remove_pools(h)
