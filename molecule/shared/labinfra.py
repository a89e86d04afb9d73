"""What every scenario's testinfra verification reads on the lab's hypervisors themselves.

testinfra's ansible backend with the lab inventory (.config/molecule/config.yml verifier options)
opens an ssh connection to each lab host as that host's own user, through the host's own sshd, so
`virsh -c qemu:///session` talks to that host's session libvirt and `qemu-img` sees that host's
files.  Nothing here goes through ferry's modules or filters.  molecule/conftest.py puts this
folder on sys.path and hands its fixtures to every scenario's tests; a test module names its guest
(`INSTANCE = "mol-web1"`) and imports this module for the helpers.

Fixtures: lab (every hypervisor), domains (what each defines), and for the module's INSTANCE:
where (the one hypervisor defining it), domxml (its live definition there), metadata (ferry's).
"""

import json
import os
import shlex
import xml.etree.ElementTree as ET

import pytest
from testinfra.utils.ansible_runner import AnsibleRunner

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
def where(request, domains):
    """The one hypervisor that defines the test module's INSTANCE."""
    return only_host(domains, request.module.INSTANCE)


@pytest.fixture(scope="module")
def domxml(request, lab, where):
    return read_domxml(lab[where]["host"], request.module.INSTANCE)


@pytest.fixture(scope="module")
def metadata(domxml):
    return ferry_metadata(domxml)


def defined_on(domains, instance):
    """The hypervisors that define `instance`, sorted."""
    return sorted(n for n, names in domains.items() if instance in names)


def only_host(domains, instance):
    hosts = defined_on(domains, instance)
    assert len(hosts) == 1, "%s is defined on %s (expected exactly one hypervisor)" % (instance, hosts)
    return hosts[0]


def dominfo(host, instance):
    out = host.check_output(virsh("dominfo", instance))
    return {k.strip(): v.strip() for k, v in (line.split(":", 1) for line in out.splitlines() if ":" in line)}


def running_shape(host, instance):
    """(state, vCPUs, max memory MiB, current memory MiB) as `virsh dominfo` gives them."""
    info = dominfo(host, instance)
    mib = [int(info[k].split()[0]) // 1024 for k in ("Max memory", "Used memory")]
    return (info["State"], int(info["CPU(s)"]), mib[0], mib[1])


def read_domxml(host, instance):
    return ET.fromstring(host.check_output(virsh("dumpxml", instance)))


def ferry_metadata(xml):
    """ferry's metadata in a domain XML, as {key: text or {key: text}}."""
    root = xml.find("metadata/{%s}instance" % FERRY_NS)
    assert root is not None, "no ferry metadata in the domain XML of %s" % xml.findtext("name")

    def value(el):
        return (
            {c.tag.split("}")[1]: value(c) for c in el}
            if el.get("type") == "dict"
            else (None if el.get("type") == "none" else el.text)
        )

    return {c.tag.split("}")[1]: value(c) for c in root}


def disk_sources(xml):
    """The file of every disk device (not cdroms), in the definition's order."""
    return [d.find("source").get("file") for d in xml.findall("devices/disk[@device='disk']")]


def backing_chain(host, disk, fmt="qcow2"):
    return json.loads(host.check_output(
        "qemu-img info -U --backing-chain --output=json -f %s %s" % (fmt, shlex.quote(disk))))


def instance_dir(lab, name, instance):
    return "%s/%s" % (lab[name]["vars"]["ferry_instances_dir"].rstrip("/"), instance)
