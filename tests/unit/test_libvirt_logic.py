"""Domain logic over the libvirt wrapper: XML parsing, capabilities, metadata, planning, stopping."""

import xml.etree.ElementTree as ET

import pytest
from ansible.module_utils.ferry_libvirt import (
    choose_domain_type,
    parse_capabilities,
    parse_domain_xml,
    plan_domain,
    stop_domain,
    summary,
    wait_state,
    with_metadata,
)
from ansible.module_utils.ferry_metadata import NAMESPACE, ROOT_TAG, encode

FERRY_TAG = "{%s}%s" % (NAMESPACE, ROOT_TAG)
LIBOSINFO_NS = "http://libosinfo.org/xmlns/libvirt/domain/1.0"
LIBOSINFO = ('<libosinfo:libosinfo xmlns:libosinfo="%s"><libosinfo:os id="http://debian.org/debian/12"/>'
             '</libosinfo:libosinfo>' % LIBOSINFO_NS)


def domain_xml(vcpus=1, memory="<memory unit='KiB'>524288</memory>", metadata=None, extra_meta="",
               dtype="kvm", disks=None):
    """A domain as libvirt returns it (memory in KiB) or as a template renders it."""
    if disks is None:
        disks = """
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2' cache='none'/>
      <source file='/var/lib/ferry/instances/web01/disk.qcow2'/>
      <target dev='vda' bus='virtio'/>
    </disk>"""
    meta = ""
    if metadata is not None or extra_meta:
        meta = "<metadata>%s%s</metadata>" % (extra_meta, encode(metadata) if metadata is not None else "")
    return """<domain type='%s'>
  <name>web01</name>
  <uuid>0f4f3f0e-7a54-4b7d-9d7e-1f2a3b4c5d6e</uuid>
  %s
  %s
  <vcpu placement='static'>%d</vcpu>
  <os><type arch='x86_64' machine='pc-q35-7.2'>hvm</type></os>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>%s
    <interface type='user'><model type='virtio'/></interface>
  </devices>
</domain>""" % (dtype, meta, memory, vcpus, disks)


# ---------------------------------------------------------------- parse_domain_xml

@pytest.mark.parametrize("memory, mib", [
    pytest.param("<memory unit='KiB'>524288</memory>", 512, id="KiB"),
    pytest.param("<memory>1048576</memory>", 1024, id="no-unit-is-KiB"),
    pytest.param("<memory unit='k'>262144</memory>", 256, id="k"),
    pytest.param("<memory unit='MiB'>2048</memory>", 2048, id="MiB"),
    pytest.param("<memory unit='M'>1536</memory>", 1536, id="M"),
    pytest.param("<memory unit='GiB'>2</memory>", 2048, id="GiB"),
    pytest.param("<memory unit='G'>4</memory>", 4096, id="G"),
    pytest.param("<memory unit='b'>1073741824</memory>", 1024, id="b"),
    pytest.param("<memory unit='bytes'>536870912</memory>", 512, id="bytes"),
    pytest.param("<memory unit='KiB'>1000000</memory>", 977, id="KiB-rounded"),
    pytest.param("", 0, id="no-memory-element"),
])
def test_parse_memory_units(memory, mib):
    assert parse_domain_xml(domain_xml(memory=memory))["memory_mb"] == mib


@pytest.mark.parametrize("memory, mib", [
    # libvirt's documented units (formatdomain "Memory Allocation"): decimal KB/MB/GB/TB and T/TiB
    pytest.param("<memory unit='KB'>2048000</memory>", 1953, id="KB"),
    pytest.param("<memory unit='MB'>2000</memory>", 1907, id="MB"),
    pytest.param("<memory unit='GB'>2</memory>", 1907, id="GB"),
    pytest.param("<memory unit='T'>1</memory>", 1048576, id="T"),
    pytest.param("<memory unit='TiB'>1</memory>", 1048576, id="TiB"),
])
def test_parse_memory_other_libvirt_units(memory, mib):
    assert parse_domain_xml(domain_xml(memory=memory))["memory_mb"] == mib


def test_parse_domain_xml_full():
    disks = """
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2'/>
      <source file='/srv/i/web01/disk.qcow2'/>
      <backingStore type='file'>
        <format type='qcow2'/>
        <source file='/srv/cache/base.qcow2'/>
      </backingStore>
      <target dev='vda' bus='virtio'/>
    </disk>
    <disk type='file' device='cdrom'>
      <driver name='qemu' type='raw'/>
      <source file='/srv/iso/seed.iso'/>
      <target dev='sda' bus='sata'/>
      <readonly/>
    </disk>
    <disk type='file'>
      <driver name='qemu' type='raw'/>
      <source file='/srv/i/web01/data.raw'/>
      <target dev='vdb' bus='virtio'/>
    </disk>
    <disk type='file' device='floppy'>
      <target dev='fda' bus='fdc'/>
    </disk>
    <disk type='block' device='disk'>
      <source dev='/dev/vg0/web01'/>
      <target dev='vdc' bus='virtio'/>
    </disk>"""
    meta = {"az": "az1", "flavor": {"name": "m1.small"}}
    parsed = parse_domain_xml(domain_xml(vcpus=2, metadata=meta, extra_meta=LIBOSINFO, disks=disks))
    assert parsed == {
        "name": "web01",
        "uuid": "0f4f3f0e-7a54-4b7d-9d7e-1f2a3b4c5d6e",
        "domain_type": "kvm",
        "vcpus": 2,
        "memory_mb": 512,
        "disks": [  # every <disk>, with what a move needs to tell them apart
            {"path": "/srv/i/web01/disk.qcow2", "format": "qcow2", "target": "vda", "type": "file",
             "device": "disk", "readonly": False, "shareable": False},
            {"path": "/srv/iso/seed.iso", "format": "raw", "target": "sda", "type": "file",
             "device": "cdrom", "readonly": True, "shareable": False},
            {"path": "/srv/i/web01/data.raw", "format": "raw", "target": "vdb", "type": "file",
             "device": "disk", "readonly": False, "shareable": False},
            {"path": None, "format": None, "target": "fda", "type": "file",
             "device": "floppy", "readonly": False, "shareable": False},
            {"path": "/dev/vg0/web01", "format": None, "target": "vdc", "type": "block",
             "device": "disk", "readonly": False, "shareable": False},
        ],
        "metadata": meta,
    }


@pytest.mark.parametrize("dtype, vcpu_xml, expected_vcpus", [
    ("qemu", "<vcpu>3</vcpu>", 3),
    ("kvm", "<vcpu placement='static' current='1'>4</vcpu>", 4),
    ("kvm", "", 0),
])
def test_parse_domain_type_and_vcpus(dtype, vcpu_xml, expected_vcpus):
    xml = "<domain type='%s'><name>x</name>%s<memory unit='MiB'>64</memory></domain>" % (dtype, vcpu_xml)
    parsed = parse_domain_xml(xml)
    assert (parsed["domain_type"], parsed["vcpus"], parsed["disks"], parsed["metadata"]) == (dtype, expected_vcpus,
                                                                                            [], {})


# ---------------------------------------------------------------- capabilities

CAPS_KVM = """<capabilities>
  <host>
    <uuid>3e5f0a2c-1b7d-4c9e-8f00-6a1b2c3d4e5f</uuid>
    <cpu>
      <arch>x86_64</arch>
      <model>Skylake-Client-IBRS</model>
      <vendor>Intel</vendor>
      <topology sockets='1' dies='1' cores='4' threads='2'/>
      <feature name='vmx'/>
    </cpu>
    <power_management><suspend_mem/></power_management>
    <migration_features><live/><uri_transports><uri_transport>tcp</uri_transport></uri_transports></migration_features>
    <topology><cells num='1'><cell id='0'><memory unit='KiB'>16252928</memory></cell></cells></topology>
    <secmodel><model>none</model><doi>0</doi></secmodel>
  </host>
  <guest>
    <os_type>hvm</os_type>
    <arch name='i686'>
      <wordsize>32</wordsize>
      <emulator>/usr/bin/qemu-system-i386</emulator>
      <machine maxCpus='255'>pc-i440fx-7.2</machine>
      <machine canonical='pc-i440fx-7.2' maxCpus='255'>pc</machine>
      <machine maxCpus='1'>isapc</machine>
      <domain type='qemu'/>
      <domain type='kvm'/>
    </arch>
    <features><pae/><nonpae/><acpi default='on' toggle='yes'/></features>
  </guest>
  <guest>
    <os_type>hvm</os_type>
    <arch name='x86_64'>
      <wordsize>64</wordsize>
      <emulator>/usr/bin/qemu-system-x86_64</emulator>
      <machine maxCpus='255'>pc-i440fx-7.2</machine>
      <machine canonical='pc-i440fx-7.2' maxCpus='255'>pc</machine>
      <machine maxCpus='288'>pc-q35-7.2</machine>
      <machine canonical='pc-q35-7.2' maxCpus='288'>q35</machine>
      <machine maxCpus='255'>pc-i440fx-6.2</machine>
      <domain type='qemu'/>
      <domain type='kvm'/>
    </arch>
    <features><acpi default='on' toggle='yes'/><apic default='on' toggle='no'/></features>
  </guest>
  <guest>
    <os_type>hvm</os_type>
    <arch name='aarch64'>
      <wordsize>64</wordsize>
      <emulator>/usr/bin/qemu-system-aarch64</emulator>
      <machine maxCpus='512'>virt-7.2</machine>
      <machine canonical='virt-7.2' maxCpus='512'>virt</machine>
      <domain type='qemu'/>
    </arch>
  </guest>
</capabilities>"""

CAPS_TCG_ONLY = CAPS_KVM.replace("<domain type='kvm'/>", "")


@pytest.mark.parametrize("caps, expected", [
    pytest.param(CAPS_KVM, {"arch": "x86_64", "domain_types": ["kvm", "qemu"],
                            "machine_types": ["pc", "pc-i440fx-6.2", "pc-i440fx-7.2", "pc-q35-7.2", "q35"]},
                 id="kvm-and-qemu"),
    pytest.param(CAPS_TCG_ONLY, {"arch": "x86_64", "domain_types": ["qemu"],
                                 "machine_types": ["pc", "pc-i440fx-6.2", "pc-i440fx-7.2", "pc-q35-7.2", "q35"]},
                 id="tcg-only"),
    pytest.param(CAPS_KVM.replace("<arch>x86_64</arch>", "<arch>aarch64</arch>"),
                 {"arch": "aarch64", "domain_types": ["qemu"], "machine_types": ["virt", "virt-7.2"]},
                 id="other-host-arch"),
    pytest.param("<capabilities><host><cpu><arch>s390x</arch></cpu></host></capabilities>",
                 {"arch": "s390x", "domain_types": [], "machine_types": []}, id="no-guests"),
])
def test_parse_capabilities(caps, expected):
    assert parse_capabilities(caps) == expected


def test_parse_capabilities_alias_and_canonical_both_listed():
    machines = parse_capabilities(CAPS_KVM)["machine_types"]
    assert "isapc" not in machines  # i686-only
    assert "virt" not in machines  # aarch64-only
    assert {"q35", "pc-q35-7.2", "pc", "pc-i440fx-7.2"} <= set(machines)


@pytest.mark.parametrize("domain_types, kvm_usable, expected", [
    (["kvm", "qemu"], True, "kvm"),
    (["kvm", "qemu"], False, "qemu"),
    (["qemu"], True, "qemu"),
    (["qemu"], False, "qemu"),
    ([], True, "qemu"),
    (["kvm"], True, "kvm"),
])
def test_choose_domain_type(domain_types, kvm_usable, expected):
    assert choose_domain_type(domain_types, kvm_usable) == expected


@pytest.mark.parametrize("caps, kvm_usable, expected", [
    (CAPS_KVM, True, "kvm"), (CAPS_KVM, False, "qemu"), (CAPS_TCG_ONLY, True, "qemu"),
])
def test_choose_domain_type_from_capabilities(caps, kvm_usable, expected):
    assert choose_domain_type(parse_capabilities(caps)["domain_types"], kvm_usable) == expected


# ---------------------------------------------------------------- with_metadata

OTHER_NS = "https://tool.invalid/ns/1"
OTHER = '<tool:state xmlns:tool="%s"><tool:az>keep-me</tool:az></tool:state>' % OTHER_NS
NEW_META = {"az": "az2", "flavor": {"name": "m1.large", "vcpus": 2}, "migration": None}


@pytest.mark.parametrize("xml, foreign", [
    pytest.param(domain_xml(), [], id="no-metadata-element"),
    pytest.param(domain_xml(extra_meta=LIBOSINFO), [LIBOSINFO_NS], id="foreign-only"),
    pytest.param(domain_xml(metadata={"az": "az1", "stale": True}), [], id="replaces-ferry"),
    pytest.param(domain_xml(metadata={"az": "az1"}, extra_meta=LIBOSINFO + OTHER), [LIBOSINFO_NS, OTHER_NS],
                 id="replaces-ferry-keeps-foreign"),
    pytest.param(domain_xml().replace("<metadata>", "").replace("</domain>", "<metadata>%s%s</metadata></domain>"
                                                                 % (encode({"az": "a"}), encode({"az": "b"}))),
                 [], id="duplicate-ferry-elements"),
])
def test_with_metadata(xml, foreign):
    out = with_metadata(xml, NEW_META)
    root = ET.fromstring(out)
    metas = root.findall("metadata")
    assert len(metas) == 1
    children = list(metas[0])
    assert [c.tag for c in children].count(FERRY_TAG) == 1
    assert sorted(c.tag.split("}")[0][1:] for c in children if c.tag != FERRY_TAG) == sorted(foreign)
    assert parse_domain_xml(out)["metadata"] == NEW_META
    if OTHER_NS in foreign:
        assert root.findtext("metadata/{%s}state/{%s}az" % (OTHER_NS, OTHER_NS)) == "keep-me"
    # the rest of the domain is untouched
    before, after = summary(xml), summary(out)
    assert {k: v for k, v in before.items() if k != "metadata"} == {k: v for k, v in after.items() if k != "metadata"}


def test_with_metadata_empty_dict_leaves_empty_ferry_element():
    out = with_metadata(domain_xml(metadata={"az": "az1"}), {})
    assert parse_domain_xml(out)["metadata"] == {}
    assert ET.fromstring(out).find("metadata/" + FERRY_TAG) is not None


def test_with_metadata_is_idempotent():
    once = with_metadata(domain_xml(extra_meta=LIBOSINFO), NEW_META)
    assert with_metadata(once, NEW_META) == once


# ---------------------------------------------------------------- plan_domain

META = {"az": "az1", "flavor": {"name": "m1.small"}}
META2 = {"az": "az1", "flavor": {"name": "m1.large"}}
XML_LIVE = domain_xml(vcpus=1, metadata=META)  # as libvirt reports it: KiB
XML_SAME = domain_xml(vcpus=1, memory="<memory unit='MiB'>512</memory>")  # as the template renders it: MiB
XML_BIGGER = domain_xml(vcpus=2, memory="<memory unit='MiB'>1024</memory>")


def current(state, xml=XML_LIVE):
    return {"name": "web01", "uuid": "0f4f3f0e-7a54-4b7d-9d7e-1f2a3b4c5d6e", "state": state, "xml": xml,
            "persistent": True}


PLAN_CASES = [
    # (current state or None, xml, metadata, wanted state) -> actions
    pytest.param(None, None, None, "absent", [], id="absent-already"),
    pytest.param(None, XML_SAME, META, "absent", [], id="absent-already-xml-ignored"),
    pytest.param("running", None, None, "absent", ["stop", "undefine"], id="absent-running"),
    pytest.param("paused", None, None, "absent", ["stop", "undefine"], id="absent-paused"),
    pytest.param("shutoff", None, None, "absent", ["undefine"], id="absent-shutoff"),
    pytest.param(None, XML_SAME, META, "running", ["define", "start"], id="new-running"),
    pytest.param(None, XML_SAME, META, "defined", ["define"], id="new-defined"),
    pytest.param(None, XML_SAME, None, "shutoff", ["define"], id="new-shutoff"),
    pytest.param("running", XML_SAME, META, "running", [], id="same-running"),
    pytest.param("running", XML_SAME, None, "running", [], id="same-keeps-metadata"),
    pytest.param("shutoff", XML_SAME, META, "defined", [], id="same-defined"),
    pytest.param("running", XML_SAME, META2, "running", ["set_metadata"], id="metadata-only"),
    pytest.param("shutoff", XML_SAME, META2, "running", ["set_metadata", "start"], id="metadata-and-start"),
    pytest.param("running", XML_BIGGER, META2, "running", ["define"], id="resize-running"),
    pytest.param("shutoff", XML_BIGGER, META2, "running", ["define", "start"], id="resize-stopped"),
    pytest.param("running", XML_BIGGER, None, "shutoff", ["stop", "define"], id="resize-and-stop"),
    pytest.param("running", domain_xml(dtype="qemu"), META, "running", ["define"], id="domain-type-change"),
    pytest.param("running", domain_xml(disks=""), META, "running", ["define"], id="disk-change"),
    pytest.param("running", None, None, "running", [], id="nothing-asked"),
    pytest.param("shutoff", None, None, "running", ["start"], id="start"),
    pytest.param("crashed", None, None, "running", ["start"], id="start-crashed"),
    pytest.param("running", None, None, "shutoff", ["stop"], id="stop"),
    pytest.param("paused", None, None, "shutoff", ["stop"], id="stop-paused"),
    pytest.param("shutoff", None, None, "shutoff", [], id="stopped-already"),
    pytest.param("crashed", None, None, "shutoff", [], id="crashed-counts-as-stopped"),
    pytest.param("running", None, None, "defined", [], id="defined-leaves-running"),
    pytest.param("running", None, META, "running", [], id="metadata-same"),
    pytest.param("running", None, META2, "running", ["set_metadata"], id="metadata-changed"),
    pytest.param("running", None, META2, "shutoff", ["stop", "set_metadata"], id="metadata-and-stop"),
    pytest.param("shutoff", None, {}, "shutoff", ["set_metadata"], id="metadata-cleared"),
]


@pytest.mark.parametrize("state, xml, metadata, wanted, actions", PLAN_CASES)
def test_plan_domain_actions(state, xml, metadata, wanted, actions):
    cur = current(state) if state else None
    got, before, after = plan_domain(cur, xml, metadata, wanted)
    assert got == actions
    assert before == (summary(cur["xml"]) if cur else None)
    if wanted == "absent":
        assert after is None
    elif not any(a in got for a in ("define", "set_metadata")):
        assert after == before
    else:
        assert after != before
        if metadata is not None:
            assert after["metadata"] == metadata


@pytest.mark.parametrize("xml, metadata, after_vcpus, after_meta", [
    (XML_BIGGER, META2, 2, META2),
    (XML_BIGGER, None, 2, META),  # no metadata given: the domain's own is carried over
    (None, META2, 1, META2),
])
def test_plan_domain_after(xml, metadata, after_vcpus, after_meta):
    _, before, after = plan_domain(current("shutoff"), xml, metadata, "defined")
    assert before["vcpus"] == 1 and before["metadata"] == META
    assert after["vcpus"] == after_vcpus
    assert after["memory_mb"] == (1024 if xml == XML_BIGGER else 512)
    assert after["metadata"] == after_meta


@pytest.mark.parametrize("xml, metadata, wanted", [
    (None, None, "running"),
    (None, None, "defined"),
    (None, None, "shutoff"),
    (None, META, "running"),
    (None, META, "defined"),
])
def test_plan_domain_missing_domain_without_xml(xml, metadata, wanted):
    with pytest.raises(LookupError):
        plan_domain(None, xml, metadata, wanted)


# ---------------------------------------------------------------- stop_domain / wait_state

class FakeClock(object):
    def __init__(self):
        self.now = 1000.0
        self.sleeps = []

    def clock(self):
        return self.now

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += seconds


class FakeClient(object):
    """A domain whose ACPI shutdown takes `polls_to_stop` state polls, or is ignored (None)."""

    def __init__(self, state, polls_to_stop=None, exists=True):
        self.state = state
        self.polls_to_stop = polls_to_stop
        self.exists = exists
        self.calls = []
        self._countdown = None

    def domain(self, name):
        if not self.exists:
            return None
        if self._countdown is not None:
            if self._countdown <= 0:
                self.state = "shutoff"
                self._countdown = None
            else:
                self._countdown -= 1
        return {"name": name, "uuid": "u", "state": self.state, "xml": "<domain/>", "persistent": True}

    def domain_state(self, name):
        d = self.domain(name)
        return d["state"] if d else "absent"

    def shutdown(self, name):
        self.calls.append(("shutdown", name))
        if self.polls_to_stop is not None:
            self._countdown = self.polls_to_stop

    def destroy(self, name):
        self.calls.append(("destroy", name))
        self.state = "shutoff"
        self._countdown = None


STOP_CASES = [
    pytest.param("shutoff", 60, 0, "already", [], 0, id="already-off"),
    pytest.param("running", 60, 0, "graceful", ["shutdown"], 0, id="graceful-immediately"),
    pytest.param("running", 60, 5, "graceful", ["shutdown"], 1.25, id="graceful-after-five-polls"),
    # the ACPI request is re-sent every 3 s (Nova's _clean_shutdown retries too)
    pytest.param("running", 60, None, "forced", ["shutdown"] * 20 + ["destroy"], 60.0, id="ignores-acpi"),
    pytest.param("paused", 5, None, "forced", ["shutdown"] * 2 + ["destroy"], 5.0, id="paused-forced"),
    pytest.param("running", 3, 100, "forced", ["shutdown", "destroy"], 3.0, id="too-slow"),
    pytest.param("running", 0, 0, "forced", ["destroy"], 0, id="zero-timeout-forces"),
    pytest.param("running", -1, 0, "forced", ["destroy"], 0, id="negative-timeout-forces"),
]
def test_stop_domain_resends_shutdown_until_the_guest_listens():
    """A guest still in its firmware drops the first ACPI event; the re-sent one stops it."""
    client, clk = FakeClient("running", None), FakeClock()
    real_shutdown = client.shutdown

    def shutdown(name):
        real_shutdown(name)
        if len(client.calls) == 2:  # the second request is heard
            client.polls_to_stop = 1
            client._countdown = 1
    client.shutdown = shutdown
    assert stop_domain(client, "web01", 60, clock=clk.clock, sleep=clk.sleep, poll=0.25) == "graceful"
    assert [c[0] for c in client.calls] == ["shutdown", "shutdown"]
    assert 3.0 <= clk.now - 1000.0 <= 4.0


@pytest.mark.parametrize("state, timeout, polls_to_stop, result, calls, max_elapsed", STOP_CASES)
def test_stop_domain(state, timeout, polls_to_stop, result, calls, max_elapsed):
    client, clk = FakeClient(state, polls_to_stop), FakeClock()
    start = clk.now
    assert stop_domain(client, "web01", timeout, clock=clk.clock, sleep=clk.sleep, poll=0.25) == result
    assert [c[0] for c in client.calls] == calls
    assert all(c[1] == "web01" for c in client.calls)
    assert client.state == ("shutoff" if result != "already" else state)
    elapsed = clk.now - start
    assert elapsed <= max_elapsed + 0.25
    if result == "forced" and timeout > 0:
        assert elapsed >= timeout  # waited the whole grace period before forcing
    assert all(s == 0.25 for s in clk.sleeps)


def test_stop_domain_missing():
    with pytest.raises(LookupError, match="web01"):
        stop_domain(FakeClient("running", exists=False), "web01", 10)


@pytest.mark.parametrize("state, wanted, timeout, expected, sleeps", [
    ("shutoff", ("shutoff",), 10, "shutoff", 0),
    ("running", ("running", "paused"), 10, "running", 0),
    ("running", ("shutoff",), 1, "running", 4),
    ("running", ("shutoff",), 0, "running", 0),
])
def test_wait_state(state, wanted, timeout, expected, sleeps):
    clk = FakeClock()
    got = wait_state(FakeClient(state), "web01", wanted, timeout, poll=0.25, clock=clk.clock, sleep=clk.sleep)
    assert got == expected
    assert len(clk.sleeps) == sleeps


def test_wait_state_absent():
    clk = FakeClock()
    assert wait_state(FakeClient("running", exists=False), "x", ("absent",), 5, clock=clk.clock,
                      sleep=clk.sleep) == "absent"


def test_watchdog_fires_only_while_a_call_outlives_its_time():
    import threading
    from ansible.module_utils.ferry_libvirt import Watchdog, _Watched
    fired = []
    done = threading.Event()
    dog = Watchdog(1, "qemu:///test", expire=lambda msg: (fired.append(msg), done.set()))

    class Conn(object):
        def quick(self):
            return 42

        def hang(self):
            done.wait(10)  # a daemon that does not answer
            return "late"

    conn = _Watched(Conn(), dog)
    assert conn.quick() == 42
    import time
    time.sleep(1.6)
    assert fired == []  # no call in progress: nothing to fire
    conn.hang()
    assert len(fired) == 1 and "did not answer hang within 1 s" in fired[0]
