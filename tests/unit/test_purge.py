"""library/ferry_purge.py's purge() on real files with a fake libvirt client: it deletes nothing outside
the guest's instance dir and recorded paths (issue 8 #11), in both modes, and fails saying why."""

import os

import ferry_purge
import pytest
from ansible.module_utils import ferry_metadata


class Failed(Exception):
    pass


class FakeModule(object):
    def __init__(self, params, check_mode=False):
        self.params = dict({"uri": "qemu:///session", "shared_storage": [], "files": None}, **params)
        self.check_mode = check_mode

    def fail_json(self, **kw):
        raise Failed(kw)


def domain_xml(name, disks=(), nvram=None, meta=None):
    parts = ["<domain type='kvm'><name>%s</name>" % name]
    if meta is not None:
        parts.append("<metadata>%s</metadata>" % ferry_metadata.encode(meta))
    parts.append("<os><type>hvm</type>%s</os><devices>" % ("<nvram>%s</nvram>" % nvram if nvram else ""))
    for i, path in enumerate(disks):
        parts.append("<disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='%s'/>"
                     "<target dev='vd%s'/></disk>" % (path, "abcdef"[i]))
    parts.append("</devices></domain>")
    return "".join(parts)


class FakeClient(object):
    def __init__(self, domains):
        self.domains = domains  # name -> {state, xml}
        self.undefined = []

    def domain(self, name):
        d = self.domains.get(name)
        return dict(d, name=name) if d else None

    def domain_names(self):
        return list(self.domains)

    def undefine(self, name):
        self.undefined.append(name)
        del self.domains[name]


@pytest.fixture
def host(tmp_path, monkeypatch):
    """A host's layout: instances dir with web01 (and another guest), cache, a file outside."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    idir = tmp_path / "instances"
    for rel in ("web01/disk.qcow2", "web01/disk-1234.qcow2", "web01/pre-resize-1234.xml", "web02/disk.qcow2",
                "web01x/disk.qcow2"):
        (idir / rel).parent.mkdir(parents=True, exist_ok=True)
        (idir / rel).write_text("x")
    (tmp_path / "cache").mkdir()
    (tmp_path / "outside.img").write_text("keep")
    (tmp_path / "srv").mkdir()
    (tmp_path / "srv" / "web01.qcow2").write_text("adopted")
    nv = tmp_path / "config" / "libvirt" / "qemu" / "nvram"
    nv.mkdir(parents=True)
    (nv / "web01_VARS.fd").write_text("vars")
    return tmp_path


def params(root, **kw):
    return dict({"name": "web01", "cache_dir": str(root / "cache"), "instances_dir": str(root / "instances")}, **kw)


def run(root, client, check_mode=False, **kw):
    return ferry_purge.purge(FakeModule(params(root, **kw), check_mode), client)


@pytest.mark.parametrize("rel, why", [
    ("outside.img", "lies outside"),
    ("instances/web02/disk.qcow2", "lies outside"),
    ("instances/web01x/disk.qcow2", "lies outside"),
    ("instances/web01/../web02/disk.qcow2", "contains '..'"),
    ("instances/web01", "lies outside"),
])
def test_files_outside_the_guest_are_refused_and_nothing_is_deleted(host, rel, why):
    idir = host / "instances" / "web01"
    client = FakeClient({"web01": {"state": "running", "xml": domain_xml("web01", [str(idir / "disk-1234.qcow2")])}})
    victim = str(host / rel)
    with pytest.raises(Failed) as e:
        run(host, client, files=[str(idir / "disk.qcow2"), victim])
    assert why in e.value.args[0]["msg"] and "refusing to delete anything of web01" in e.value.args[0]["msg"]
    assert os.path.exists(victim)  # nothing deleted, the guest's own file neither
    assert (idir / "disk.qcow2").exists() and (host / "instances" / "web02" / "disk.qcow2").exists()


def test_files_of_the_guest_are_deleted(host):
    idir = host / "instances" / "web01"
    client = FakeClient({"web01": {"state": "running", "xml": domain_xml("web01", [str(idir / "disk-1234.qcow2")])}})
    out = run(host, client, files=[str(idir / "disk.qcow2"), str(idir / "pre-resize-1234.xml")])
    assert out["changed"] and not (idir / "disk.qcow2").exists() and not (idir / "pre-resize-1234.xml").exists()
    assert (idir / "disk-1234.qcow2").exists()


def test_files_recorded_for_the_guest_are_accepted(host):
    """An adopted guest's old root disk (its disk_paths) may lie outside the instance dir."""
    idir = host / "instances" / "web01"
    adopted = str(host / "srv" / "web01.qcow2")
    xml = domain_xml("web01", [str(idir / "disk-1234.qcow2")], meta={"disk_paths": {"vda": adopted}})
    out = run(host, FakeClient({"web01": {"state": "running", "xml": xml}}), files=[adopted])
    assert out["deleted"] == [adopted] and not os.path.exists(adopted)


def test_a_file_in_use_stays_even_inside(host):
    idir = host / "instances" / "web01"
    client = FakeClient({"web01": {"state": "running", "xml": domain_xml("web01", [str(idir / "disk-1234.qcow2")])}})
    out = run(host, client, files=[str(idir / "disk-1234.qcow2")])
    assert out["deleted"] == [] and (idir / "disk-1234.qcow2").exists()


def test_a_cached_file_is_accepted_and_kept(host):
    (host / "cache" / "base.qcow2").write_text("base")
    client = FakeClient({"web01": {"state": "running", "xml": domain_xml("web01")}})
    out = run(host, client, files=[str(host / "cache" / "base.qcow2")])
    assert out["deleted"] == [] and out["kept"][0]["why"] == "in the image cache"


def test_check_mode_refuses_too(host):
    client = FakeClient({"web01": {"state": "running", "xml": domain_xml("web01")}})
    with pytest.raises(Failed):
        run(host, client, check_mode=True, files=[str(host / "outside.img")])


@pytest.mark.parametrize("name", ["..", "a/b", "", "x;id"])
def test_a_bad_name_is_refused(host, name):
    with pytest.raises(Failed) as e:
        run(host, FakeClient({}), name=name, files=[])
    assert "name" in e.value.args[0]["msg"]
    assert (host / "instances" / "web01" / "disk.qcow2").exists()


def test_a_relative_instances_dir_is_refused(host):
    with pytest.raises(Failed) as e:
        run(host, FakeClient({}), instances_dir="instances", files=[])
    assert "instances_dir" in e.value.args[0]["msg"]


def test_definition_mode_deletes_the_guests_files(host):
    idir = host / "instances" / "web01"
    nvram = str(host / "config" / "libvirt" / "qemu" / "nvram" / "web01_VARS.fd")
    client = FakeClient({"web01": {"state": "shutoff", "xml": domain_xml("web01", [str(idir / "disk.qcow2")], nvram)}})
    out = run(host, client)
    assert client.undefined == ["web01"] and not idir.exists() and not os.path.exists(nvram)
    assert str(idir / "disk.qcow2") in out["deleted"]


@pytest.mark.parametrize("rel", ["outside.img", "instances/web02/disk.qcow2", "srv/web01.qcow2"])
def test_definition_mode_refuses_a_disk_outside_and_undefines_nothing(host, rel):
    idir = host / "instances" / "web01"
    xml = domain_xml("web01", [str(idir / "disk.qcow2"), str(host / rel)])
    client = FakeClient({"web01": {"state": "shutoff", "xml": xml}})
    with pytest.raises(Failed) as e:
        run(host, client)
    assert str(host / rel) in e.value.args[0]["msg"] and "lies outside" in e.value.args[0]["msg"]
    assert client.undefined == [] and (host / rel).exists() and (idir / "disk.qcow2").exists()


def test_definition_mode_accepts_recorded_disks(host):
    adopted = str(host / "srv" / "web01.qcow2")
    xml = domain_xml("web01", [adopted], meta={"disk_paths": {"vda": adopted}})
    client = FakeClient({"web01": {"state": "shutoff", "xml": xml}})
    out = run(host, client)
    assert adopted in out["deleted"] and not os.path.exists(adopted)


def test_definition_mode_refuses_an_nvram_elsewhere(host):
    xml = domain_xml("web01", [], nvram=str(host / "outside.img"))
    client = FakeClient({"web01": {"state": "shutoff", "xml": xml}})
    with pytest.raises(Failed):
        run(host, client)
    assert client.undefined == [] and (host / "outside.img").exists()


def test_a_purge_that_could_not_delete_a_file_changes_nothing(host, monkeypatch):
    """Checked before the undefine: a file it may not remove (its directory not writable for this
    user; root is never refused, so os.access stands in for the host user's) fails the purge whole."""
    idir = host / "instances" / "web01"
    client = FakeClient({"web01": {"state": "shutoff", "xml": domain_xml("web01", [str(idir / "disk.qcow2")])}})
    real = os.access
    monkeypatch.setattr(os, "access", lambda p, m: False if os.path.normpath(p) == str(idir) else real(p, m))
    with pytest.raises(Failed) as e:
        run(host, client)
    assert "is not writable" in e.value.args[0]["msg"] and "nothing was changed" in e.value.args[0]["msg"]
    assert "web01" in client.domains and (idir / "disk.qcow2").exists()
