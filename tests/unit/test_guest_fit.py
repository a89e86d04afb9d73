"""ferry_libvirt.guest_fit: the verdict ferry_guest_fit gives for another host and ferry_guest
(fit=true) for the source, from one function (a fake libvirt client: pure logic)."""

import sys

from ansible.module_utils import ferry_libvirt


class Client(object):
    def __init__(self, caps_error=None, cpu="identical"):
        self.caps_error, self.cpu, self.calls = caps_error, cpu, []

    def domain_capabilities(self, emulator, arch, machine, domain_type):
        self.calls.append(("caps", emulator, arch, machine, domain_type))
        if self.caps_error:
            raise RuntimeError(self.caps_error)
        return "<domainCapabilities/>"

    def compare_cpu(self, xml, emulator, arch, machine, domain_type):
        self.calls.append(("cpu", xml))
        return self.cpu


REQ = {"emulator": sys.executable, "arch": "x86_64", "machine": "pc", "domain_type": "qemu",
       "cpu": {"xml": "<cpu><model>Haswell</model></cpu>", "model": "Haswell", "mode": "custom"}}


def test_a_host_that_runs_it_says_ok_and_its_cpu_verdict():
    c = Client(cpu="superset")
    assert ferry_libvirt.guest_fit(c, REQ) == {"domcaps": "ok", "cpu": "superset"}
    assert c.calls[0] == ("caps", sys.executable, "x86_64", "pc", "qemu")


def test_no_cpu_model_no_cpu_question():
    c = Client()
    req = dict(REQ, cpu={"mode": "host-model"})
    assert ferry_libvirt.guest_fit(c, req) == {"domcaps": "ok", "cpu": "n/a"}
    assert [k for k, *_ in c.calls] == ["caps"]


def test_missing_emulator_and_refused_machine_are_named():
    out = ferry_libvirt.guest_fit(Client(), dict(REQ, emulator="/nonexistent/qemu-system-x86_64"))
    assert out == {"domcaps": "emulator /nonexistent/qemu-system-x86_64 is not on this host", "cpu": "n/a"}
    out = ferry_libvirt.guest_fit(Client(caps_error="unsupported machine pc-q35-9.9"), REQ)
    assert out["domcaps"].startswith("libvirt offers no qemu domain for arch x86_64 machine pc: unsupported machine")
    assert out["cpu"] == "n/a"
