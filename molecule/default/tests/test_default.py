"""molecule verify: where converge left mol-web1, read on the hypervisors themselves.

testinfra's ansible backend with the lab inventory (molecule.yml verifier options) opens an ssh
connection to each lab host as that host's own user, through the host's own sshd, so `virsh -c
qemu:///session` talks to that host's session libvirt and `qemu-img` sees that host's files.
Nothing here goes through ferry's modules or filters.
"""

import json
import os
import shlex
import xml.etree.ElementTree as ET

import pytest
from testinfra.utils.ansible_runner import AnsibleRunner

INSTANCE = "mol-web1"
FLAVOR = {"name": "m1.medium", "vcpus": 2, "memory_mb": 256, "disk_gb": 3}
OLD_FLAVOR = "m1.small"
URI = "qemu:///session"
FERRY_NS = "https://ferry.invalid/xmlns/instance/1.0"

INVENTORY = os.environ.get("FERRY_LAB_INVENTORY") or os.path.join(
    os.environ.get("MOLECULE_PROJECT_DIRECTORY", os.getcwd()), "inventories", "lab"
)
RUNNER = AnsibleRunner(INVENTORY)


def virsh(*args):
    return "virsh -q -c %s %s" % (URI, " ".join(shlex.quote(a) for a in args))


@pytest.fixture(scope="module")
def lab():
    """{name: {host (testinfra), vars, az}} for every hypervisor; az = its AZ group."""
    inv = RUNNER.inventory
    assert "hypervisors" in inv, "no hypervisors in %s: is the lab up (molecule create)?" % INVENTORY
    az_groups = inv["hypervisors"]["children"]
    hosts = {}
    for name in RUNNER.get_hosts("hypervisors"):
        azs = [g for g in az_groups if name in inv[g].get("hosts", [])]
        assert len(azs) == 1, "%s is in AZ groups %s" % (name, azs)
        hosts[name] = {"host": RUNNER.get_host(name), "vars": RUNNER.get_variables(name), "az": azs[0]}
    assert len(hosts) >= 2, "the lab inventory lists %s" % sorted(hosts)
    return hosts


@pytest.fixture(scope="module")
def domains(lab):
    """{hypervisor: [names of every domain it defines]}, each read as that host's user."""
    found = {}
    for name, h in lab.items():
        user = h["host"].check_output("id -un")
        assert user == h["vars"]["ansible_user"], "on %s: logged in as %s" % (name, user)
        found[name] = h["host"].check_output(virsh("list", "--all", "--name")).split()
    return found


@pytest.fixture(scope="module")
def where(domains):
    hosts = sorted(n for n, names in domains.items() if INSTANCE in names)
    assert len(hosts) == 1, "%s is defined on %s (expected exactly one hypervisor)" % (INSTANCE, hosts)
    return hosts[0]


@pytest.fixture(scope="module")
def domxml(lab, where):
    return ET.fromstring(lab[where]["host"].check_output(virsh("dumpxml", INSTANCE)))


@pytest.fixture(scope="module")
def metadata(domxml):
    """ferry's metadata in the domain XML, as {key: text or {key: text}}."""
    root = domxml.find("metadata/{%s}instance" % FERRY_NS)
    assert root is not None, "no ferry metadata in %s's domain XML" % INSTANCE

    def value(el):
        return (
            {c.tag.split("}")[1]: value(c) for c in el}
            if el.get("type") == "dict"
            else (None if el.get("type") == "none" else el.text)
        )

    return {c.tag.split("}")[1]: value(c) for c in root}


def test_exactly_one_hypervisor_defines_it(domains, where):
    others = [n for n, names in domains.items() if n != where and INSTANCE in names]
    assert others == []


def test_dominfo_running_with_the_new_flavor(lab, where):
    out = lab[where]["host"].check_output(virsh("dominfo", INSTANCE))
    info = {k.strip(): v.strip() for k, v in (line.split(":", 1) for line in out.splitlines() if ":" in line)}
    assert info["State"] == "running"
    assert int(info["CPU(s)"]) == FLAVOR["vcpus"]
    assert info["Max memory"] == "%d KiB" % (FLAVOR["memory_mb"] * 1024)
    assert info["Used memory"] == "%d KiB" % (FLAVOR["memory_mb"] * 1024)


def test_disk_is_an_overlay_on_the_hosts_cached_base(lab, where, domxml):
    h = lab[where]
    sources = [d.find("source").get("file") for d in domxml.findall("devices/disk[@device='disk']")]
    assert len(sources) == 1, sources
    disk = sources[0]
    assert disk.startswith(h["vars"]["ferry_instances_dir"].rstrip("/") + "/" + INSTANCE + "/")
    chain = json.loads(h["host"].check_output("qemu-img info -U --backing-chain --output=json -f qcow2 %s" % shlex.quote(disk)))
    assert [layer["format"] for layer in chain] == ["qcow2", "qcow2"], chain
    top, base = chain
    assert top["filename"] == disk
    assert top["virtual-size"] == FLAVOR["disk_gb"] * 1024**3
    cache_dir = h["vars"]["ferry_cache_dir"].rstrip("/")
    assert os.path.dirname(top["full-backing-filename"]) == cache_dir, top["full-backing-filename"]
    assert top.get("backing-filename-format") == "qcow2"
    assert base["filename"] == top["full-backing-filename"]
    assert "backing-filename" not in base
    assert h["host"].file(base["filename"]).is_file


def test_metadata_records_the_confirmed_resize(metadata, where):
    assert metadata["flavor"]["name"] == FLAVOR["name"]
    mig = metadata["migration"]
    assert (mig["kind"], mig["status"], mig["role"]) == ("resize", "confirmed", "target")
    assert (mig["old_flavor"], mig["new_flavor"]) == (OLD_FLAVOR, FLAVOR["name"])
    assert mig["target_host"] == where
    assert mig["source_host"] != where


def test_stayed_in_the_az_it_was_booted_in(lab, where, metadata):
    assert metadata["az"] is None, "booted with an AZ: %s" % metadata["az"]
    boot_host = metadata["migration"]["source_host"]
    assert boot_host in lab, boot_host
    assert lab[where]["az"] == lab[boot_host]["az"], "booted on %s (%s), now on %s (%s)" % (
        boot_host,
        lab[boot_host]["az"],
        where,
        lab[where]["az"],
    )
    assert metadata["host_az"] == lab[boot_host]["az"]
