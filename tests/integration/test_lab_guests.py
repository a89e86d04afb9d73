"""The lab's real guests (tests/integration/guests.py), made and checked through each host's own
virt-install / virsh / qemu-img, without ferry: a small Linux guest under the probed domain type
(boots, reads the marker written into its data disk, powers off on `virsh shutdown`) and an
operator-style guest with several disks and two NICs on the host's own bridges.

Cheap: one guest of each kind per module (module-scoped fixtures), removed afterwards together
with the storage pools virt-install made and the images it used.
"""

import time

import pytest

from tests.integration import guests, lab

LINUX_HOST = "hv-a2"
# hv-b2 names its bridges fbr2-*: the per-host network map is exercised
REALISTIC_HOST = "hv-b2"


def _cleanup(host, names):
    for n in names:
        guests.undefine(host, n)
    guests.remove_pools(host)


@pytest.fixture(scope="module")
def linux_guest():
    name = lab.unique("lg")
    marker = "ferry-%s" % name
    try:
        g = guests.define_linux_guest(LINUX_HOST, name, data_format="raw", marker=marker)
        yield dict(g, marker=marker)
    finally:
        _cleanup(LINUX_HOST, [name])


@pytest.fixture(scope="module")
def realistic_guest():
    name = lab.unique("rg")
    try:
        yield guests.define_realistic_guest(REALISTIC_HOST, name)
    finally:
        _cleanup(REALISTIC_HOST, [name])
        guests.remove_images(REALISTIC_HOST)


def _wait_state(host, name, wanted, timeout):
    deadline = time.monotonic() + timeout
    while True:
        state = lab.domain_state(host, name)
        if state == wanted or time.monotonic() >= deadline:
            return state
        time.sleep(0.5)


def test_linux_guest_boots_under_probed_type_and_reads_marker(linux_guest):
    host, name = LINUX_HOST, linux_guest["name"]
    dtype = lab.inventory()[2][host]["ferry_domain_type"]
    assert dtype in ("kvm", "qemu")
    assert "<domain type='%s'" % dtype in lab.virsh(host, "dumpxml", name)
    assert guests.console_marker(host, linux_guest["console"]) == linux_guest["marker"]
    console = guests.console_text(host, linux_guest["console"])
    assert "FERRY-BOOT-OK" in console
    assert "FERRY-DISK:/dev/vda" in console
    assert lab.domain_state(host, name) == "running"


def test_linux_guest_powers_off_on_virsh_shutdown(linux_guest):
    host, name = LINUX_HOST, linux_guest["name"]
    assert guests.console_marker(host, linux_guest["console"]) is not None  # booted, acpid listening
    # the init prints FERRY-READY once acpid listens
    deadline = time.monotonic() + 30
    while "FERRY-READY" not in guests.console_text(host, linux_guest["console"]) and time.monotonic() < deadline:
        time.sleep(0.5)
    started = time.monotonic()
    lab.virsh(host, "shutdown", name)
    assert _wait_state(host, name, "shut off", 30) == "shut off"
    assert time.monotonic() - started < 30
    assert "FERRY-POWEROFF" in guests.console_text(host, linux_guest["console"])


def test_qcow2_marker_written_while_stopped_is_read_at_boot():
    host, name = LINUX_HOST, lab.unique("lq")
    try:
        g = guests.define_linux_guest(host, name, data_format="qcow2", start=False)
        assert lab.domain_state(host, name) == "shut off"
        assert lab.qemu_img_info(host, g["data"])[0]["format"] == "qcow2"
        guests.write_marker(host, g["data"], "qcow2", "second marker")
        lab.virsh(host, "start", name)
        assert guests.console_marker(host, g["console"]) == "second marker"
    finally:
        _cleanup(host, [name])


def test_realistic_guest_runs_with_nics_on_host_bridges_and_all_disks(realistic_guest):
    host, name = REALISTIC_HOST, realistic_guest["name"]
    hv = lab.inventory()[2][host]
    assert _wait_state(host, name, "running", 10) == "running"
    # both NICs on this host's bridges (hv-b2: fbr2-front / fbr2-back), with their fixed MACs
    ifaces = [line.split() for line in lab.virsh(host, "domiflist", name).splitlines() if line.strip()]
    got = sorted((f[1], f[2], f[3], f[4]) for f in ifaces)
    want = sorted(("bridge", n["bridge"], n["model"], n["mac"]) for n in realistic_guest["nics"])
    assert got == want
    assert {n["bridge"] for n in realistic_guest["nics"]} == set(hv["ferry_host_networks"])
    assert {n["network"]: n["bridge"] for n in realistic_guest["nics"]} == hv["ferry_network_map"]
    # every disk attached, at the target reported
    blk = [line.split() for line in lab.virsh(host, "domblklist", "--details", name).splitlines() if line.strip()]
    attached = {(f[1], f[2], f[3]) for f in blk}
    for d in realistic_guest["disks"]:
        assert (d["device"], d["target"], d["path"]) in attached
    assert len(attached) == 4
    # the root overlay's base lies outside ferry's cache; data written by qemu-io is there
    root = realistic_guest["disks"][0]
    chain = lab.qemu_img_info(host, root["path"])
    assert [c["filename"] for c in chain] == [root["path"], root["backing"]]
    assert not root["backing"].startswith(hv["ferry_cache_dir"])
    lab.ssh(host, "qemu-io -U -r -f qcow2 -c 'read -P 0x11 32M 1M' %s | grep -q 'read 1048576'" % root["path"])
    raw = realistic_guest["disks"][2]
    assert lab.ssh(host, "stat -c %%s %s" % raw["path"]).strip() == str(64 * 1024 * 1024)
    assert int(lab.ssh(host, "du -k %s" % raw["path"]).split()[0]) < 1024  # sparse
