"""Issue 2: the lab, host facts and boot, checked on the real lab through each host's own libvirt."""

import os
import shlex
import subprocess
import time

import pytest

from tests.integration import lab

FLAVORS = {"m1.small": (1, 128, 2), "m1.medium": (2, 256, 3)}


@pytest.mark.matrix
def test_lab_second_run_changes_nothing():
    r = lab.ok(lab.run_playbook("lab.yml"))
    assert r.changed_count() == 0, "lab.yml changed something on a second run: %s" % r.stats.get("changed")


@pytest.mark.parametrize("host,flavor", [("hv-a2", "m1.small"), ("hv-b1", "m1.medium")])
def test_boot_on_given_host(guest_name, host, flavor):
    name = guest_name()
    lab.ok(lab.run_playbook("boot.yml", instance=name, flavor=flavor, image="tiny", host=host))
    # the guest runs in that host's own libvirt, with the flavor's vCPUs and RAM
    info = lab.dominfo(host, name)
    vcpus, ram, disk_gb = FLAVORS[flavor]
    assert info["state"] == "running"
    assert (info["vcpus"], info["memory_mb"]) == (vcpus, ram)
    # and on no other host
    for other in ("hv-a1", "hv-a2", "hv-b1", "hv-b2"):
        if other != host:
            assert lab.domain_state(other, name) == "absent"
    # its disk is an overlay on the cached base whose sha256 matches the store's manifest
    _, _, hosts = lab.inventory()
    disk = "%s/%s/disk.qcow2" % (hosts[host]["ferry_instances_dir"], name)
    chain = lab.qemu_img_info(host, disk)
    assert len(chain) == 2
    assert chain[0]["virtual-size"] == disk_gb * 1024 ** 3
    base = chain[0]["full-backing-filename"]
    assert os.path.dirname(base) == hosts[host]["ferry_cache_dir"]
    sha = lab.ssh(host, "sha256sum " + shlex.quote(base)).split()[0]
    assert sha == lab.manifest()["images"]["tiny"]["sha256"]
    assert os.path.basename(base) == sha + ".qcow2"
    # the metadata says what it is
    xml = lab.virsh(host, "dumpxml", name)
    assert "<ferry:name type=\"str\">%s</ferry:name>" % flavor in xml


def test_boot_without_host_is_scheduled_and_recorded(guest_name):
    name = guest_name()
    r = lab.ok(lab.run_playbook("boot.yml", instance=name, flavor="m1.small", image="tiny", az="az2"))
    target = r.task_result("Schedule (filters, then weighers)")["host"]
    assert target in ("hv-b1", "hv-b2")
    assert lab.domain_state(target, name) == "running"
    xml = lab.virsh(target, "dumpxml", name)
    assert '<ferry:az type="str">az2</ferry:az>' in xml


@pytest.mark.parametrize("kw,expect", [
    ({"instance": "-bad", "flavor": "m1.small", "image": "tiny"}, "instance name '-bad' is invalid"),
    ({"instance": "ok1", "flavor": "m9.huge", "image": "tiny"}, "unknown flavor 'm9.huge'"),
    ({"instance": "ok2", "flavor": "m1.small", "image": "nosuch"}, "unknown image 'nosuch'"),
    ({"instance": "ok3", "flavor": "m1.small", "image": "tiny", "host": "hv-z9"}, "unknown host 'hv-z9'"),
])
def test_boot_refuses_bad_input_before_touching_anything(kw, expect):
    r = lab.run_playbook("boot.yml", **kw)
    assert r.rc != 0
    assert any(expect in m for m in r.failures()), r.failures()
    for host in ("hv-a1", "hv-a2", "hv-b1", "hv-b2"):
        assert lab.domain_state(host, kw["instance"]) == "absent"


def test_boot_refuses_existing_name(guest_name):
    name = guest_name()
    lab.ok(lab.run_playbook("boot.yml", instance=name, flavor="m1.small", image="tiny", host="hv-a1"))
    r = lab.run_playbook("boot.yml", instance=name, flavor="m1.small", image="tiny", host="hv-b1")
    assert r.rc != 0
    assert any("already exists on hv-a1" in m for m in r.failures())
    assert lab.domain_state("hv-b1", name) == "absent"


def _facts_by_host(result):
    hosts = result.task_result("Collect the hypervisors' facts")["ansible_facts"]["ferry_hosts"]
    return {h["name"]: h for h in hosts}


def test_host_facts_report_guests_and_capacity(guest_name):
    name = guest_name()
    lab.ok(lab.run_playbook("boot.yml", instance=name, flavor="m1.medium", image="tiny", host="hv-a1"))
    hosts = _facts_by_host(lab.ok(lab.run_playbook("status.yml")))
    _, _, inv = lab.inventory()
    for hname, h in hosts.items():
        assert h["reachable"] and h["az"] == inv[hname]["az"]
        for k in ("memory_mb", "disk_gb"):
            assert h["capacity"][k] <= inv[hname]["ferry_capacity"][k]
        assert h["domain_type"] in ("kvm", "qemu")
    inst = {i["name"]: i for i in hosts["hv-a1"]["instances"]}[name]
    assert (inst["vcpus"], inst["memory_mb"], inst["flavor"], inst["state"]) == (2, 256, "m1.medium", "running")
    assert inst["disks"][0]["chain"]["depth"] == 2
    assert hosts["hv-a1"]["used"]["memory_mb"] >= 256


def test_host_down_shows_unreachable_without_breaking_others():
    allvars, _, hosts = lab.inventory()
    root = allvars["vars"]["ferry_lab_root"]
    pidfile = "%s/sshd/hv-b2/sshd.pid" % root
    with open(pidfile) as f:
        pid = int(f.read())
    os.kill(pid, 15)
    # a host that goes down takes its open SSH sessions (and so ansible's ControlPersist
    # connections) with it
    subprocess.run(["pkill", "-f", "sshd: %s" % hosts["hv-b2"]["ansible_user"]], check=False)
    try:
        r = lab.run_playbook("status.yml")
        facts = _facts_by_host(r)
        assert facts["hv-b2"]["reachable"] is False
        assert "unreachable" in facts["hv-b2"]["disabled_reason"]
        assert all(facts[h]["reachable"] for h in ("hv-a1", "hv-a2", "hv-b1"))
        table = "\n".join(r.task_result("Show hosts and guests")["msg"])
        assert "UNREACHABLE" in table
    finally:
        subprocess.run(["/usr/sbin/sshd", "-f", "%s/sshd/hv-b2/sshd_config" % root], check=True)
    assert lab.ssh("hv-b2", "whoami").strip() == hosts["hv-b2"]["ansible_user"]


def test_boot_uses_declared_domain_type_and_honours_shutdown(guest_name):
    """boot.yml defines the guest with the host's declared ferry_domain_type (the lab probes it:
    qemu/TCG where /dev/kvm cannot run Linux); the boot-sector guest powers off on ACPI shutdown."""
    name = guest_name()
    host = "hv-a1"
    _, _, hosts = lab.inventory()
    dtype = hosts[host]["ferry_domain_type"]
    lab.ok(lab.run_playbook("boot.yml", instance=name, flavor="m1.small", image="tiny", host=host))
    assert "<domain type='%s'" % dtype in lab.virsh(host, "dumpxml", name)
    facts = _facts_by_host(lab.ok(lab.run_playbook("status.yml")))
    assert facts[host]["domain_type"] == dtype
    lab.virsh(host, "shutdown", name)
    deadline = time.monotonic() + 30
    while lab.domain_state(host, name) != "shut off" and time.monotonic() < deadline:
        time.sleep(0.5)
    assert lab.domain_state(host, name) == "shut off"
