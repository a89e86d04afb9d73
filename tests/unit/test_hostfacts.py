"""Host facts: capacity capping, usage, claims, and gather() over a fake libvirt client."""

import json
import os
import subprocess

import pytest
from ansible.module_utils.ferry_hostfacts import (
    effective_capacity,
    free_capacity,
    gather,
    instance_usage,
    read_claims,
)
from ansible.module_utils.ferry_metadata import encode
from ansible.module_utils.ferry_qcow2 import GIB, MIB

# ---------------------------------------------------------------- effective_capacity

REAL = {"vcpus": 8, "memory_mb": 16000, "disk_gb": 100.0}


@pytest.mark.parametrize("declared, real, expected", [
    pytest.param({"vcpus": 2, "memory_mb": 2048, "disk_gb": 20}, REAL,
                 {"vcpus": 2, "memory_mb": 2048, "disk_gb": 20}, id="declared-below-real"),
    pytest.param({"vcpus": 16, "memory_mb": 32000, "disk_gb": 500}, REAL,
                 {"vcpus": 8, "memory_mb": 16000, "disk_gb": 100.0}, id="declared-capped-by-real"),
    pytest.param({"vcpus": 4, "memory_mb": 64000, "disk_gb": 10}, REAL,
                 {"vcpus": 4, "memory_mb": 16000, "disk_gb": 10}, id="mixed"),
    pytest.param({"vcpus": 0, "memory_mb": None, "disk_gb": 0}, REAL, REAL, id="zero-and-none-mean-real"),
    pytest.param({}, REAL, REAL, id="nothing-declared"),
    pytest.param({"vcpus": 2, "memory_mb": 2048, "disk_gb": 20}, {"vcpus": 8, "memory_mb": 16000, "disk_gb": None},
                 {"vcpus": 2, "memory_mb": 2048, "disk_gb": 20}, id="missing-real-keeps-declared"),
    pytest.param({"vcpus": 2, "memory_mb": 2048, "disk_gb": 20}, {},
                 {"vcpus": 2, "memory_mb": 2048, "disk_gb": 20}, id="no-real-at-all"),
    pytest.param({"vcpus": 2, "memory_mb": 2048, "disk_gb": 20, "extra": 1}, REAL,
                 {"vcpus": 2, "memory_mb": 2048, "disk_gb": 20}, id="unknown-keys-dropped"),
    pytest.param({"vcpus": 8, "memory_mb": 16000, "disk_gb": 100}, REAL,
                 {"vcpus": 8, "memory_mb": 16000, "disk_gb": 100}, id="equal"),
])
def test_effective_capacity(declared, real, expected):
    assert effective_capacity(declared, real) == expected


# ---------------------------------------------------------------- usage and free

@pytest.mark.parametrize("instances, expected", [
    ([], {"vcpus": 0, "memory_mb": 0, "disk_gb": 0.0, "instances": 0}),
    ([{"vcpus": 2, "memory_mb": 1024, "disk_gb": 10.5}],
     {"vcpus": 2, "memory_mb": 1024, "disk_gb": 10.5, "instances": 1}),
    ([{"vcpus": 1, "memory_mb": 512, "disk_gb": 2}, {"vcpus": 2, "memory_mb": 1536, "disk_gb": 3.25}],
     {"vcpus": 3, "memory_mb": 2048, "disk_gb": 5.25, "instances": 2}),
    ([{"vcpus": None, "memory_mb": None, "disk_gb": None}, {}],
     {"vcpus": 0, "memory_mb": 0, "disk_gb": 0.0, "instances": 2}),
    ([{"vcpus": "2", "memory_mb": "256", "disk_gb": "1.5"}],
     {"vcpus": 2, "memory_mb": 256, "disk_gb": 1.5, "instances": 1}),
])
def test_instance_usage(instances, expected):
    assert instance_usage(instances) == expected


@pytest.mark.parametrize("capacity, used, expected", [
    ({"vcpus": 4, "memory_mb": 4096, "disk_gb": 40}, {"vcpus": 0, "memory_mb": 0, "disk_gb": 0.0, "instances": 0},
     {"vcpus": 4, "memory_mb": 4096, "disk_gb": 40}),
    ({"vcpus": 4, "memory_mb": 4096, "disk_gb": 40}, {"vcpus": 3, "memory_mb": 1024, "disk_gb": 12.5, "instances": 2},
     {"vcpus": 1, "memory_mb": 3072, "disk_gb": 27.5}),
    # over-commit shows as negative free, it is not clamped
    ({"vcpus": 2, "memory_mb": 1024, "disk_gb": 10}, {"vcpus": 3, "memory_mb": 2048, "disk_gb": 10, "instances": 3},
     {"vcpus": -1, "memory_mb": -1024, "disk_gb": 0}),
])
def test_free_capacity(capacity, used, expected):
    assert free_capacity(capacity, used) == expected


# ---------------------------------------------------------------- read_claims

def _write(d, files):
    for name, content in files.items():
        if isinstance(content, bytes):
            (d / name).write_bytes(content)
        else:
            (d / name).write_text(content)


@pytest.mark.parametrize("files, expected", [
    pytest.param({}, [], id="empty-dir"),
    pytest.param({"c1.json": json.dumps({"instance": "web01", "vcpus": 1})}, [{"instance": "web01", "vcpus": 1}],
                 id="one"),
    pytest.param({"b.json": '{"id": "b"}', "a.json": '{"id": "a"}'}, [{"id": "a"}, {"id": "b"}], id="sorted-by-name"),
    pytest.param({"ok.json": '{"id": "ok"}', "broken.json": '{"id": ', "empty.json": ""}, [{"id": "ok"}],
                 id="invalid-json-skipped"),
    pytest.param({"ok.json": '{"id": "ok"}', "latin1.json": b'{"id": "\xff\xfe"}'}, [{"id": "ok"}],
                 id="undecodable-skipped"),
    pytest.param({"ok.json": '{"id": "ok"}', "note.txt": '{"id": "txt"}', "c.json.tmp": '{"id": "tmp"}',
                  "lock": ""}, [{"id": "ok"}], id="non-json-names-ignored"),
])
def test_read_claims(tmp_path, files, expected):
    _write(tmp_path, files)
    assert read_claims(str(tmp_path)) == [dict(c, expired=False) for c in expected]


@pytest.mark.parametrize("claim,now,expired", [
    ({"id": "a"}, 100.0, False),                      # no expiry: counts until released
    ({"id": "a", "expires": 150.0}, 100.0, False),
    ({"id": "a", "expires": 150.0}, 150.0, True),
    ({"id": "a", "expires": 150.0}, 200.0, True),
])
def test_read_claims_marks_expired(tmp_path, claim, now, expired):
    _write(tmp_path, {"c.json": json.dumps(claim)})
    assert read_claims(str(tmp_path), now=now)[0]["expired"] is expired


@pytest.mark.parametrize("claims_dir", [None, "", "/nonexistent/ferry/claims"])
def test_read_claims_without_dir(claims_dir):
    assert read_claims(claims_dir) == []


def test_read_claims_dir_is_a_file(tmp_path):
    f = tmp_path / "claims"
    f.write_text("{}")
    assert read_claims(str(f)) == []


# ---------------------------------------------------------------- gather()

CAPS_XML = """<capabilities>
  <host>
    <uuid>2c1e5c3a-0000-4000-8000-000000000001</uuid>
    <cpu><arch>x86_64</arch><model>Skylake-Client-IBRS</model></cpu>
  </host>
  <guest>
    <os_type>hvm</os_type>
    <arch name='x86_64'>
      <wordsize>64</wordsize>
      <emulator>/usr/bin/qemu-system-x86_64</emulator>
      <machine maxCpus='255'>pc-i440fx-7.2</machine>
      <machine canonical='pc-i440fx-7.2' maxCpus='255'>pc</machine>
      <machine maxCpus='288'>pc-q35-7.2</machine>
      <machine canonical='pc-q35-7.2' maxCpus='288'>q35</machine>
      <domain type='qemu'/>
      <domain type='kvm'/>
    </arch>
  </guest>
</capabilities>
"""


def dom_xml(name, vcpus, mem_kib, disks, meta=None, dtype="kvm"):
    disk_xml = "".join(
        "<disk type='file' device='%s'><driver name='qemu' type='%s'/><source file='%s'/>"
        "<target dev='%s' bus='virtio'/></disk>" % (dev, fmt, path, tgt)
        for dev, fmt, path, tgt in disks)
    meta_xml = "<metadata>%s</metadata>" % encode(meta) if meta is not None else ""
    return ("<domain type='%s'><name>%s</name><uuid>uuid-%s</uuid>%s<memory unit='KiB'>%d</memory>"
            "<vcpu placement='static'>%d</vcpu><devices>%s</devices></domain>"
            % (dtype, name, name, meta_xml, mem_kib, vcpus, disk_xml))


class FakeClient(object):
    def __init__(self, domains, node=None, caps=CAPS_XML):
        self._domains = domains
        self._node = node or {"arch": "x86_64", "memory_mb": 15872, "cpus": 8}
        self._caps = caps
        self.asked = []

    def node(self):
        return dict(self._node)

    def capabilities_xml(self):
        return self._caps

    def domain_names(self):
        return sorted(self._domains)

    def domain(self, name):
        self.asked.append(name)
        d = self._domains.get(name)
        return dict(d) if d else None


class FakeQemuImg(object):
    """Answers `qemu-img info` from a table {path: (rc, stdout, stderr)} and records every argv."""

    def __init__(self, answers):
        self.answers = answers
        self.calls = []

    def __call__(self, argv):
        self.calls.append(argv)
        return self.answers[argv[-1]]


def chain_json(*layers):
    out = []
    for i, (path, size) in enumerate(layers):
        item = {"filename": path, "format": "qcow2", "virtual-size": size, "actual-size": 196608}
        if i + 1 < len(layers):
            item.update({"full-backing-filename": layers[i + 1][0], "backing-filename": layers[i + 1][0],
                         "backing-filename-format": "qcow2"})
        out.append(item)
    return json.dumps(out)


@pytest.fixture
def lab(tmp_path):
    """A host with four domains on tmp_path storage: managed+running, unmanaged, missing disk, broken disk."""
    storage = tmp_path / "instances"
    storage.mkdir()
    base = str(tmp_path / "base.qcow2")
    web = str(storage / "web01.qcow2")
    data = str(storage / "web01-data.raw")
    db = str(storage / "db01.qcow2")
    broken = str(storage / "broken.qcow2")
    for p in (web, data, db, broken):
        open(p, "w").close()
    meta = {"flavor": {"name": "m1.small", "vcpus": 1}, "image": {"name": "tiny"}, "az": "az1",
            "server_group": "sg1", "migration": {"id": "m1", "role": "source", "status": "resize_finished"},
            "task_state": "resize_finish"}
    domains = {
        "web01": {"name": "web01", "uuid": "uuid-web01", "state": "running", "persistent": True,
                  "xml": dom_xml("web01", 1, 524288, [("disk", "qcow2", web, "vda"), ("disk", "raw", data, "vdb"),
                                                      ("cdrom", "raw", "/iso/seed.iso", "sda")], meta)},
        "db01": {"name": "db01", "uuid": "uuid-db01", "state": "shutoff", "persistent": True,
                 "xml": dom_xml("db01", 2, 1048576, [("disk", "qcow2", db, "vda")], dtype="qemu")},
        "gone": {"name": "gone", "uuid": "uuid-gone", "state": "shutoff", "persistent": True,
                 "xml": dom_xml("gone", 1, 262144, [("disk", "qcow2", str(storage / "missing.qcow2"), "vda")],
                                {"az": "az2"})},
        "bad": {"name": "bad", "uuid": "uuid-bad", "state": "crashed", "persistent": True,
                "xml": dom_xml("bad", 1, 262144, [("disk", "qcow2", broken, "vda")])},
    }
    qemu = FakeQemuImg({
        web: (0, chain_json((web, 2 * GIB), (base, GIB)), ""),
        data: (0, chain_json((data, 512 * MIB)), ""),
        db: (0, chain_json((db, 3 * GIB)), ""),
        broken: (1, "", "qemu-img: Could not open 'broken.qcow2': Image is not in qcow2 format\n"),
    })
    claims = tmp_path / "claims"
    claims.mkdir()
    (claims / "c1.json").write_text(json.dumps({"instance": "new01", "vcpus": 1, "memory_mb": 256}))
    (claims / "c2.json").write_text("{not json")
    return {"client": FakeClient(domains), "qemu": qemu, "storage": str(storage), "claims": str(claims),
            "paths": {"web": web, "data": data, "db": db, "base": base, "broken": broken}}


def _statvfs_gb(path):
    st = os.statvfs(path)
    return round(st.f_blocks * st.f_frsize / float(GIB), 3)


@pytest.mark.parametrize("declared, kvm_usable, domain_type", [
    ({"vcpus": 4, "memory_mb": 4096, "disk_gb": 40}, True, "kvm"),
    ({"vcpus": 4, "memory_mb": 4096, "disk_gb": 40}, False, "qemu"),
    ({}, False, "qemu"),
    ({"vcpus": 64, "memory_mb": 0, "disk_gb": None}, True, "kvm"),
])
def test_gather_host_level(lab, declared, kvm_usable, domain_type):
    facts = gather(lab["client"], lab["qemu"], declared, lab["storage"], lab["claims"], kvm_usable=kvm_usable)
    real = {"vcpus": 8, "memory_mb": 15872, "disk_gb": _statvfs_gb(lab["storage"])}
    assert facts["reachable"] is True
    assert facts["arch"] == "x86_64"
    assert facts["domain_type"] == domain_type
    assert facts["hypervisor_type"] == "qemu"
    assert facts["machine_types"] == ["pc", "pc-i440fx-7.2", "pc-q35-7.2", "q35"]
    assert facts["real"] == real
    assert facts["capacity"] == effective_capacity(declared, real)
    assert facts["used"] == {"vcpus": 1 + 2 + 1 + 1, "memory_mb": 512 + 1024 + 256 + 256,
                             "disk_gb": 2.5 + 3.0, "instances": 4}
    assert facts["free"] == {k: facts["capacity"][k] - facts["used"][k] for k in ("vcpus", "memory_mb", "disk_gb")}
    assert facts["claims"] == [{"instance": "new01", "vcpus": 1, "memory_mb": 256, "expired": False}]
    assert [i["name"] for i in facts["instances"]] == ["bad", "db01", "gone", "web01"]


INSTANCE_EXPECT = [
    pytest.param("web01", {"uuid": "uuid-web01", "state": "running", "domain_type": "kvm", "vcpus": 1,
                           "memory_mb": 512, "disk_gb": 2.5, "flavor": "m1.small", "image": "tiny", "az": "az1",
                           "server_group": "sg1", "task_state": "resize_finish", "managed": True,
                           "migration": {"id": "m1", "role": "source", "status": "resize_finished"}}, id="managed"),
    pytest.param("db01", {"uuid": "uuid-db01", "state": "shutoff", "domain_type": "qemu", "vcpus": 2,
                          "memory_mb": 1024, "disk_gb": 3.0, "flavor": None, "image": None, "az": None,
                          "server_group": None, "task_state": None, "managed": False, "migration": None,
                          "metadata": {}}, id="unmanaged"),
    pytest.param("gone", {"vcpus": 1, "memory_mb": 256, "disk_gb": 0.0, "az": "az2", "managed": True,
                          "migration": None}, id="disk-missing"),
    pytest.param("bad", {"state": "crashed", "disk_gb": 0.0, "managed": False}, id="qemu-img-failed"),
]


@pytest.mark.parametrize("name, expected", INSTANCE_EXPECT)
def test_gather_instances(lab, name, expected):
    facts = gather(lab["client"], lab["qemu"], {}, lab["storage"], lab["claims"])
    inst = {i["name"]: i for i in facts["instances"]}[name]
    assert {k: inst[k] for k in expected} == expected


def test_gather_disks(lab):
    facts = gather(lab["client"], lab["qemu"], {}, lab["storage"], lab["claims"])
    inst = {i["name"]: i for i in facts["instances"]}
    p = lab["paths"]

    web = inst["web01"]["disks"]
    assert [d["target"] for d in web] == ["vda", "vdb", "sda"]  # every <disk>, the cdrom too
    assert web[2]["device"] == "cdrom" and web[2]["error"] == "disk file missing"
    assert web[0]["chain"]["top"] == p["web"] and web[0]["chain"]["base"] == p["base"]
    assert web[0]["chain"]["depth"] == 2
    assert web[1]["chain"]["depth"] == 1 and web[1]["format"] == "raw"
    assert inst["gone"]["disks"][0]["error"] == "disk file missing"
    assert "chain" not in inst["gone"]["disks"][0]
    assert inst["bad"]["disks"][0]["error"] == "qemu-img: Could not open 'broken.qcow2': Image is not in qcow2 format"

    # qemu-img ran once per existing disk, never for the missing one, always with an explicit format
    ran = {argv[-1]: argv for argv in lab["qemu"].calls}
    assert set(ran) == {p["web"], p["data"], p["db"], p["broken"]}
    for path, argv in ran.items():
        assert argv[:3] == ["qemu-img", "info", "--output=json"]
        assert argv[argv.index("-f") + 1] == ("raw" if path == p["data"] else "qcow2")
        assert "--backing-chain" in argv


@pytest.mark.parametrize("storage, claims, declared, real_disk, disk_cap", [
    pytest.param("missing", "missing", {"vcpus": 1, "memory_mb": 512, "disk_gb": 12}, None, 12,
                 id="no-storage-dir-keeps-declared"),
    pytest.param(None, None, {"disk_gb": 12}, None, 12, id="storage-none"),
])
def test_gather_without_storage_or_claims(tmp_path, storage, claims, declared, real_disk, disk_cap):
    storage_dir = str(tmp_path / "nope") if storage == "missing" else storage
    claims_dir = str(tmp_path / "nope-claims") if claims == "missing" else claims
    facts = gather(FakeClient({}), FakeQemuImg({}), declared, storage_dir, claims_dir)
    assert facts["real"]["disk_gb"] == real_disk
    assert facts["capacity"]["disk_gb"] == disk_cap
    assert facts["claims"] == []
    assert facts["instances"] == []
    assert facts["used"] == {"vcpus": 0, "memory_mb": 0, "disk_gb": 0.0, "instances": 0}


def test_gather_arch_falls_back_to_node(tmp_path):
    caps = "<capabilities><host><cpu/></host></capabilities>"
    facts = gather(FakeClient({}, node={"arch": "aarch64", "memory_mb": 4096, "cpus": 4}, caps=caps),
                   FakeQemuImg({}), {}, str(tmp_path))
    assert facts["arch"] == "aarch64"
    assert facts["domain_type"] == "qemu"
    assert facts["machine_types"] == []


def test_gather_with_real_qemu_img(tmp_path):
    """The fake client, but disks are real images and run_qemu_img runs the real binary."""
    storage = tmp_path / "instances"
    storage.mkdir()
    base = str(tmp_path / "base.qcow2")
    top = str(storage / "web01.qcow2")
    subprocess.run(["/usr/bin/qemu-img", "create", "-q", "-f", "qcow2", base, str(GIB)], check=True)
    subprocess.run(["/usr/bin/qemu-img", "create", "-q", "-f", "qcow2", "-b", base, "-F", "qcow2", top,
                    str(2 * GIB)], check=True)

    def run_qemu_img(argv):
        r = subprocess.run(["/usr/bin/qemu-img"] + argv[1:], capture_output=True, text=True)
        return r.returncode, r.stdout, r.stderr

    client = FakeClient({"web01": {"name": "web01", "uuid": "u", "state": "running", "persistent": True,
                                   "xml": dom_xml("web01", 1, 262144, [("disk", "qcow2", top, "vda")])}})
    facts = gather(client, run_qemu_img, {"vcpus": 2, "memory_mb": 2048, "disk_gb": 20}, str(storage))
    inst = facts["instances"][0]
    assert inst["disk_gb"] == 2.0
    assert inst["disks"][0]["chain"]["top"] == top
    assert inst["disks"][0]["chain"]["base"] == base
    assert facts["used"]["disk_gb"] == 2.0
    assert facts["free"]["disk_gb"] == min(20, facts["real"]["disk_gb"]) - 2.0


@pytest.mark.parametrize("declared_type, kvm_usable, offered, expected", [
    pytest.param("qemu", True, ("qemu", "kvm"), "qemu", id="declared-qemu-beats-usable-kvm"),
    pytest.param("kvm", False, ("qemu", "kvm"), "kvm", id="declared-kvm-beats-unusable-dev"),
    pytest.param("kvm", True, ("qemu",), "qemu", id="declared-but-not-offered-falls-back"),
    pytest.param(None, True, ("qemu", "kvm"), "kvm", id="not-declared-dev-kvm-decides"),
    pytest.param(None, False, ("qemu", "kvm"), "qemu", id="not-declared-no-dev-kvm"),
])
def test_gather_declared_domain_type(tmp_path, declared_type, kvm_usable, offered, expected):
    caps = CAPS_XML.replace("      <domain type='qemu'/>\n      <domain type='kvm'/>\n",
                            "".join("      <domain type='%s'/>\n" % t for t in offered))
    facts = gather(FakeClient({}, caps=caps), FakeQemuImg({}), {}, str(tmp_path), None,
                   kvm_usable=kvm_usable, domain_type=declared_type)
    assert facts["domain_type"] == expected


@pytest.mark.parametrize("disk, shared, counts", [
    pytest.param({"type": "file", "device": "disk", "path": "/i/web/disk.qcow2"}, [], True, id="writable-file"),
    pytest.param({"type": "file", "device": "cdrom", "path": "/iso/x.iso", "readonly": True}, [], False, id="cdrom"),
    pytest.param({"type": "file", "device": "disk", "path": "/ro.img", "readonly": True}, [], False, id="readonly"),
    pytest.param({"type": "file", "device": "disk", "path": "/nfs/vm/d.raw"}, ["/nfs"], False, id="shared"),
    pytest.param({"type": "file", "device": "disk", "path": "/nfsx/d.raw"}, ["/nfs"], True, id="prefix-not-dir"),
    pytest.param({"type": "block", "device": "disk", "path": "/dev/sdb"}, [], False, id="block"),
    pytest.param({"type": "file", "device": "disk", "path": "/s/d", "shareable": True}, [], False, id="shareable"),
])
def test_counts_as_disk(disk, shared, counts):
    from ansible.module_utils.ferry_hostfacts import counts_as_disk
    assert counts_as_disk(disk, shared) is counts
