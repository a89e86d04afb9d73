"""roles/domain/templates/domain.xml.j2 (boot's domain): every value it interpolates is escaped, so a
name or path with <, &, " or ' cannot change the document.  Rendered with jinja2 and ferry's own
filter plugins (as Ansible's template lookup would), then parsed."""

import glob
import importlib.util
import os
import xml.etree.ElementTree as ET

import jinja2
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TEMPLATE_DIR = os.path.join(ROOT, "roles", "domain", "templates")


def _filters():
    out = {}
    for path in sorted(glob.glob(os.path.join(ROOT, "plugins", "filter", "*.py"))):
        spec = importlib.util.spec_from_file_location("ferry_tpl_" + os.path.basename(path)[:-3], path)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        out.update(mod.FilterModule().filters())
    return out


def render(**values):
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATE_DIR), trim_blocks=True,
                             undefined=jinja2.StrictUndefined)
    env.filters.update(_filters())
    base = {"ferry_domain_type": "kvm", "ferry_domain_name": "web01", "ferry_domain_uuid": "",
            "ferry_domain_flavor": {"vcpus": 1, "memory_mb": 128}, "ferry_domain_machine": "pc",
            "ferry_domain_disk": "/var/lib/ferry/instances/web01/disk.qcow2"}
    base.update(values)
    return env.get_template("domain.xml.j2").render(**base)


def test_plain_values_render_as_before():
    root = ET.fromstring(render())
    assert root.get("type") == "kvm" and root.findtext("name") == "web01"
    assert root.findtext("memory") == "128" and root.findtext("vcpu") == "1"
    assert root.find("os/type").get("machine") == "pc"
    assert root.find("devices/disk/source").get("file") == "/var/lib/ferry/instances/web01/disk.qcow2"
    assert root.find("uuid") is None


HOSTILE = [
    ("ferry_domain_name", "x</name><devices><hostdev mode='subsystem'/></devices><name>y"),
    ("ferry_domain_name", "a&b<c>\"d'e"),
    ("ferry_domain_disk", '/i/x"/><source file="/etc/shadow'),
    ("ferry_domain_disk", "/i/a&amp;b'c"),
    ("ferry_domain_machine", 'pc">hvm</type><kernel>/boot/evil</kernel><type arch="x86_64'),
    ("ferry_domain_type", 'kvm"><devices/><x y="'),
    ("ferry_domain_uuid", "1</uuid><devices/><uuid>2"),
]


@pytest.mark.parametrize("var, value", HOSTILE)
def test_hostile_values_stay_values(var, value):
    root = ET.fromstring(render(**{var: value}))
    where = {"ferry_domain_name": lambda r: r.findtext("name"),
             "ferry_domain_disk": lambda r: r.find("devices/disk/source").get("file"),
             "ferry_domain_machine": lambda r: r.find("os/type").get("machine"),
             "ferry_domain_type": lambda r: r.get("type"),
             "ferry_domain_uuid": lambda r: r.findtext("uuid")}
    assert where[var](root) == value
    # the document's shape is the template's: one of each element, nothing added
    assert [el.tag for el in root] == ["name"] + (["uuid"] if var == "ferry_domain_uuid" else []) + [
        "memory", "currentMemory", "vcpu", "os", "features", "on_poweroff", "on_reboot", "on_crash", "devices"]
    assert [el.tag for el in root.find("devices")] == ["disk"]
    assert root.find("os/kernel") is None and len(root.findall("devices/disk/source")) == 1


def test_hostile_flavor_numbers_stay_values():
    root = ET.fromstring(render(ferry_domain_flavor={"vcpus": "1</vcpu><vcpu>64", "memory_mb": "1<x/>"}))
    assert root.findtext("vcpu") == "1</vcpu><vcpu>64" and root.findtext("memory") == "1<x/>"
