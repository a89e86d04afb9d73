"""Issue 10: drain a host (evacuate.yml), disable/enable it, on the real lab.

hv-a1 (az1) holds three small guests (one stopped) and one large guest; hv-a2, the only other host
of az1, is pre-filled so that the three small guests fit there but the large one no longer does
once two of them have landed.  Everything is checked through the hosts' own virsh and qemu-img
and the disabled record read on the host itself, never through ferry's own report alone.
"""

import json
import os
import shlex
import time

import pytest

from tests.integration import lab
from tests.integration.test_plan_html import chromium_check

SMALL = ("m1.small", 1, 128)


def boot(name, host, flavor="m1.small", **kw):
    if host:
        kw["host"] = host
    return lab.ok(lab.run_playbook("boot.yml", instance=name, flavor=flavor, image="tiny", **kw))


def names_on(host):
    return set(lab.virsh(host, "list", "--all", "--name").split())


def record(host):
    """The disabled record on the host, read as the host's user (None when absent)."""
    _, _, hosts = lab.inventory()
    path = os.path.join(hosts[host]["ferry_claims_dir"], ".host-disabled")
    out = lab.ssh(host, "cat %s 2>/dev/null || true" % shlex.quote(path)).strip()
    return json.loads(out) if out else None


@pytest.fixture
def enable_afterwards():
    """Whatever happens, hv-a1 takes guests again at the end (the lab is left as found)."""
    yield
    lab.run_playbook("enable_host.yml", host="hv-a1")


@pytest.mark.matrix  # make test drains a host with the molecule scenario `evacuate`
def test_evacuate_drains_the_host_within_its_az(guest_name, enable_afterwards, tmp_path):
    t0 = time.time()
    foreign = (names_on("hv-a1") | names_on("hv-a2"))
    assert not foreign, "az1 must be empty for this test (leftover guests: %s)" % sorted(foreign)
    assert record("hv-a1") is None
    # hv-a2 (1024 MiB) keeps 640 MiB free: room for three m1.small (384), and for the m1.large (512)
    # alone, but not for the large one after two small ones
    boot(guest_name("evfill"), "hv-a2", flavor="m1.medium")
    boot(guest_name("evfill"), "hv-a2", flavor="m1.small")
    small = [guest_name("evac%d" % i) for i in (1, 2, 3)]  # sorted before the large one: it moves last
    big = guest_name("evacz")
    for n in small:
        boot(n, "hv-a1")
    boot(big, "hv-a1", flavor="m1.large")
    refs = {n: lab.write_pattern("hv-a1", n, seed=0x30 + i) for i, n in enumerate(small)}
    stopped = small[1]
    lab.virsh("hv-a1", "shutdown", stopped)
    for _ in range(60):
        if lab.domain_state("hv-a1", stopped) == "shut off":
            break
        time.sleep(1)
    assert lab.domain_state("hv-a1", stopped) == "shut off"
    big_xml = lab.virsh("hv-a1", "dumpxml", "--inactive", big)
    t_setup = time.time()

    # --check plans the whole drain, guests one after another, and touches nothing
    html = str(tmp_path / "drain-plan.html")
    before = {h: lab.virsh(h, "list", "--all") for h in ("hv-a1", "hv-a2")}
    r = lab.ok(lab.run_playbook("evacuate.yml", check=True, host="hv-a1", reason="drain test",
                                ferry_evacuate_plan_html=html))
    plan = r.task_result("Place the guests one after another, each seeing the placements before it")
    steps = {s["instance"]: s for s in plan["ansible_facts"]["ferry_evacuate_plan"]}
    assert [steps[n]["host"] for n in small] == ["hv-a2"] * 3
    assert steps[stopped]["state"] == "shutoff"
    # the large guest would fit hv-a2 alone: refused only because it sees the three placed before it
    assert steps[big]["host"] is None
    assert "RamFilter removed hv-a2" in steps[big]["report_text"], steps[big]["report_text"]
    assert record("hv-a1") is None
    assert {h: lab.virsh(h, "list", "--all") for h in ("hv-a1", "hv-a2")} == before
    text = chromium_check(html, tmp_path)
    for n in small + [big, "hv-a1", "hv-a2", "hv-b1", "hv-b2", "RamFilter", "AvailabilityZoneFilter"]:
        assert n in text
    t_check = time.time()

    # the real drain: the host disabled on itself, each guest migrated by its own migrate run
    r = lab.run_playbook("evacuate.yml", host="hv-a1", reason="drain test", ferry_evacuate_parallel=2)
    t_run = time.time()
    assert r.rc != 0, "the host is not empty (the large guest stays): the run must say so"
    msg = "\n".join(r.failures())
    assert "hv-a1 is disabled but not drained" in msg and big in msg, msg
    res = r.task_result("Sum up the evacuation")["ansible_facts"]["ferry_evacuate_result"]
    assert sorted(m["instance"] for m in res["moved"]) == sorted(small)
    assert {m["target"] for m in res["moved"]} == {"hv-a2"}
    assert [f["instance"] for f in res["failed"]] == [big]
    assert "No valid host" in res["failed"][0]["reason"] and "hv-a2" in res["failed"][0]["reason"]
    shown = "\n".join(r.task_result("Report each guest's result")["msg"])
    assert "%s: stays on hv-a1: " % big in shown
    print("\n" + shown)

    # recorded on the host itself, with reason, time and controller
    rec = record("hv-a1")
    assert rec["reason"] == "drain test" and rec["by"] == "evacuate" and rec["controller"]
    assert t_check - 5 <= rec["since"] <= t_run
    # each small guest is on hv-a2 in the state it had, with the same disk content; the source copy
    # is kept stopped until confirm (the moves end `finished`, as Nova's)
    for n in small:
        want = "shut off" if n == stopped else "running"
        assert lab.dominfo("hv-a2", n)["state"] == want, n
        assert lab.domain_state("hv-a1", n) == "shut off"
        assert 'status type="str">finished' in lab.virsh("hv-a2", "dumpxml", n)
        out = lab.compare("hv-a2", lab.disk_path("hv-a2", n), refs[n])
        assert "Images are identical" in out and "rc=0" in out, out
    # the guest that cannot fit is untouched: running on hv-a1, definition unchanged
    assert lab.dominfo("hv-a1", big)["state"] == "running"
    assert lab.domain_state("hv-a2", big) == "absent"
    assert lab.virsh("hv-a1", "dumpxml", "--inactive", big) == big_xml

    # a later boot skips the disabled host; naming it is refused by the ComputeFilter, even with
    # the inventory's switch forced on
    skip = guest_name("evboot")
    r = boot(skip, None, flavor="m1.tiny", az="az1")
    assert r.task_result("Schedule (filters, then weighers)")["host"] == "hv-a2"
    assert lab.domain_state("hv-a1", skip) == "absent"
    refused = guest_name("evboot")
    r = lab.run_playbook("boot.yml", instance=refused, flavor="m1.tiny", image="tiny", host="hv-a1",
                         ferry_host_enabled=True)
    assert r.rc != 0
    assert any("ComputeFilter removed hv-a1: disabled (drain test)" in m for m in r.failures()), r.failures()
    assert lab.domain_state("hv-a1", refused) == "absent"

    # disable_host.yml on a disabled host keeps the first record
    lab.ok(lab.run_playbook("disable_host.yml", host="hv-a1", reason="another reason"))
    assert record("hv-a1")["reason"] == "drain test"

    # enable_host.yml puts it back: the record is gone and a boot may land there again
    lab.ok(lab.run_playbook("enable_host.yml", host="hv-a1"))
    assert record("hv-a1") is None
    back = guest_name("evback")
    boot(back, "hv-a1", flavor="m1.tiny")
    assert lab.dominfo("hv-a1", back)["state"] == "running"

    # confirm the moves: the source copies go, the guests stay on hv-a2 as they were
    for n in small:
        lab.ok(lab.run_playbook("confirm.yml", instance=n))
        assert lab.domain_state("hv-a1", n) == "absent"
    assert lab.dominfo("hv-a2", stopped)["state"] == "shut off"
    print("\ntimings: setup %.0f s, --check %.0f s, evacuate %.0f s, rest %.0f s"
          % (t_setup - t0, t_check - t_setup, t_run - t_check, time.time() - t_run))


@pytest.mark.parametrize("playbook, kw, expect", [
    ("evacuate.yml", {}, "host: required, not given"),
    ("evacuate.yml", {"host": "hv-zz"}, "host: unknown host 'hv-zz'"),
    ("evacuate.yml", {"host": "hv-a1", "ferry_evacuate_parallel": 0}, "ferry_evacuate_parallel: 0 is below 1"),
    ("evacuate.yml", {"host": "hv-a1", "ferry_evacuate_confirm": "ture"}, "ferry_evacuate_confirm: 'ture' is not a boolean"),
    ("disable_host.yml", {"host": "hv-a1", "reason": "a\nb"}, "reason: 'a\\nb' contains a control character"),
    ("disable_host.yml", {"host": "a/b"}, "host: host name 'a/b' is invalid"),
    ("enable_host.yml", {"host": "hv-zz"}, "host: unknown host 'hv-zz'"),
])
def test_bad_input_refused_before_anything_is_touched(playbook, kw, expect):
    r = lab.run_playbook(playbook, **kw)
    assert r.rc != 0
    msg = "\n".join(r.failures())
    assert "Refused before anything was touched" in msg and expect in msg, msg
    # the first play failed: no hypervisor was contacted
    assert not [e for e in r.events if (e.get("event_data") or {}).get("host", "localhost") != "localhost"
                and e.get("event", "").startswith("runner_on_")]
    assert record("hv-a1") is None
