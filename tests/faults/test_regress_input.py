"""Regression tests for issue 8's bad-input paths, on the real lab: bad names and flags are refused
in every operator playbook before anything is touched, with a message naming the variable, and
confirm deletes no path the guest's metadata names outside its instance dir (path #11)."""

import os
import re
import xml.etree.ElementTree as ET

import pytest

from tests.integration import lab

HOSTS = ("hv-a1", "hv-a2", "hv-b1", "hv-b2")
BAD = ("a/b", "..", "x y", "x;id", "$(id)")

# Every playbook's own variables (README, "Using ferry"), then the ones every playbook reads (the
# hosts' facts take ferry_shared_storage; the per-host paths come from the inventory, and given
# as extra vars here they override each host's).
EVERY = ("ferry_shared_storage", "ferry_instances_dir", "ferry_cache_dir", "ferry_claims_dir")
MOVE_VARS = ("target_host", "ferry_target_az", "ferry_allow_cross_az", "ferry_allow_resize_to_same_host",
             "ferry_auto_confirm", "ferry_adopt", "ferry_shutdown_timeout", "ferry_bwlimit", "ferry_root_disk")
PLAYBOOK_VARS = {
    "boot.yml": ("instance", "flavor", "image", "host", "az", "server_group", "server_group_policy",
                 "ferry_default_schedule_zone", "ferry_boot_ignore_unreachable", "ferry_shutdown_timeout"),
    "resize.yml": ("instance", "flavor") + MOVE_VARS,
    "migrate.yml": ("instance",) + MOVE_VARS,
    "plan.yml": ("instance", "flavor", "target_host", "ferry_target_az", "ferry_allow_cross_az",
                 "ferry_allow_resize_to_same_host", "ferry_adopt", "ferry_root_disk"),
    "confirm.yml": ("instance",),
    "revert.yml": ("instance", "ferry_shutdown_timeout"),
    "recover.yml": ("instance",),
    "delete.yml": ("instance",),
    "adopt.yml": ("instance", "host", "ferry_root_disk"),
    "status.yml": (),
}


def lab_state():
    """What a refused run must leave as it was: every host's domains (with their state), instance
    dirs, cache and claims, read on the hosts themselves."""
    _, _, hosts = lab.inventory()
    state = {}
    for h in HOSTS:
        hv = hosts[h]
        state[h] = (lab.virsh(h, "list", "--all"),
                    lab.ssh(h, "ls -A %s %s %s" % (hv["ferry_instances_dir"], hv["ferry_cache_dir"],
                                                 hv["ferry_claims_dir"])))
    return state


def named(var, msg):
    """The message names the variable (as a word of its own, not as a part of a longer name)."""
    return re.search(r"(?<![A-Za-z0-9_])%s(?![A-Za-z0-9_])" % re.escape(var), msg) is not None


@pytest.mark.parametrize("playbook", sorted(PLAYBOOK_VARS))
def test_bad_names_refused_before_anything_is_touched(playbook):
    """One batch per playbook: every variable it takes set to each bad name in turn."""
    before = lab_state()
    for bad in BAD:
        extravars = {v: bad for v in PLAYBOOK_VARS[playbook] + EVERY}
        r = lab.run_playbook(playbook, **extravars)
        msg = "\n".join(r.failures())
        assert r.rc != 0, "%s with %r: not refused\n%s" % (playbook, bad, r.stdout[-3000:])
        missing = [v for v in extravars if not named(v, msg)]
        assert not missing, "%s with %r: the refusal does not name %s: %s" % (playbook, bad, missing, msg)
        # refused by the first play, on the controller: no hypervisor was even contacted
        touched = sorted({e["event_data"].get("host") for e in r.events} & set(HOSTS))
        assert not touched, "%s with %r: ran tasks on %s before refusing" % (playbook, bad, touched)
    assert lab_state() == before


def test_bad_flag_value_refused_not_read_as_false(guest_name):
    """A flag that is not a boolean (a typo) is refused, not silently taken as false.  (Already so
    before issue 8's work: the move role's argument spec refuses it, after the hosts' facts.)"""
    name = guest_name("flag")
    lab.ok(lab.run_playbook("boot.yml", instance=name, flavor="m1.small", image="tiny", host="hv-b1"))
    before = lab_state()
    r = lab.run_playbook("migrate.yml", instance=name, ferry_auto_confirm="ture")
    assert r.rc != 0 and any(named("ferry_auto_confirm", m) and "boolean" in m for m in r.failures()), r.failures()
    assert lab_state() == before


def test_same_host_confirm_deletes_nothing_outside_the_guest(guest_name):
    """A same-host resize records old_disk/old_xml in the guest's metadata; confirm deletes them.
    Pointed (by an edit of the metadata) at files of another guest and outside the instances dir,
    confirm must refuse, delete neither, and leave the move unconfirmed."""
    name = guest_name("conf")
    _, _, hosts = lab.inventory()
    idir = hosts["hv-a1"]["ferry_instances_dir"]
    # a file of another guest, reached through '..' from this guest's own dir, and one outside
    other_dir = "%s/%s-victim" % (idir, name)
    victims = ["%s/disk.qcow2" % other_dir, "%s/victim-%s.xml" % (hosts["hv-a1"]["ferry_host_root"], name)]
    lab.ssh("hv-a1", "mkdir -p %s && echo keep > %s && echo keep > %s" % (other_dir, victims[0], victims[1]))
    try:
        lab.ok(lab.run_playbook("boot.yml", instance=name, flavor="m1.small", image="tiny", host="hv-a1"))
        lab.ok(lab.run_playbook("resize.yml", instance=name, flavor="m1.medium", target_host="hv-a1",
                                ferry_allow_resize_to_same_host=True))
        uri = "https://ferry.invalid/xmlns/instance/1.0"
        meta = ET.fromstring(lab.virsh("hv-a1", "metadata", name, "--uri", uri, "--config"))
        for el in meta.iter():  # as virDomainSetMetadata takes it: libvirt adds the namespace
            el.tag = el.tag.split("}", 1)[-1]
        assert meta.find("old_disk") is not None and meta.find("old_xml") is not None, ET.tostring(meta)
        original = ET.tostring(meta, encoding="unicode")
        old_files = [meta.find("old_disk").text, meta.find("old_xml").text]
        meta.find("old_disk").text = "%s/%s/../%s-victim/disk.qcow2" % (idir, name, name)
        meta.find("old_xml").text = victims[1]
        forged = ET.tostring(meta, encoding="unicode")
        for where in ("--config", "--live"):
            lab.virsh("hv-a1", "metadata", name, "--uri", uri, "--key", "ferry", "--set", forged, where)
        r = lab.run_playbook("confirm.yml", instance=name)
        assert all(lab.exists("hv-a1", v) for v in victims), "confirm deleted a file outside %s/%s" % (idir, name)
        msg = "\n".join(r.failures())
        assert r.rc != 0 and "outside" in msg and victims[1] in msg, msg
        xml = lab.virsh("hv-a1", "dumpxml", "--inactive", name)
        assert 'status type="str">finished' in xml  # refused before the move was marked confirming
        assert lab.dominfo("hv-a1", name)["state"] == "running"
        # with the metadata as the resize wrote it, confirm deletes the guest's own old files only
        for where in ("--config", "--live"):
            lab.virsh("hv-a1", "metadata", name, "--uri", uri, "--key", "ferry", "--set", original, where)
        lab.ok(lab.run_playbook("confirm.yml", instance=name))
        assert not any(lab.exists("hv-a1", f) for f in old_files), old_files
        assert all(lab.exists("hv-a1", v) for v in victims)
        assert lab.dominfo("hv-a1", name)["state"] == "running"
    finally:
        lab.ssh("hv-a1", "rm -rf %s %s" % (other_dir, victims[1]))


def _decoys(host, specs):
    """Start processes on `host`, as its own user, whose command lines look like a ship's two ends;
    returns {label: pid}.  `receive`: the target's peer dispatcher (`.../ferry-peer --config F receive
    NAME`, a python sleeping under that argv); `tar`: the source's reader (a real `tar --create`,
    blocked opening a FIFO nobody reads, so it never touches the disk it names)."""
    pids = {}
    for label, (kind, arg) in specs.items():
        if kind == "receive":
            cmd = ("nohup python3 -c 'import time; time.sleep(600)' /opt/x/ferry-peer --config /tmp/x.json receive %s"
                   % arg)
        else:
            fifo = "/tmp/ferry-decoy-%s.fifo" % label
            cmd = ("rm -f {f}; mkfifo {f}; nohup tar --create --file {f} --directory {d} --sparse -- {b}"
                   .format(f=fifo, d=os.path.dirname(arg), b=os.path.basename(arg)))
        out = lab.ssh(host, "%s >/dev/null 2>&1 </dev/null & echo $!" % cmd)
        pids[label] = int(out.split()[-1])
    return pids


def _alive(host, pid):
    return lab.ssh(host, "kill -0 %d 2>/dev/null && echo yes || echo no" % pid).strip() == "yes"


def test_recover_stops_only_this_guests_ship(guest_name):
    """#11: recover.yml stops an interrupted ship's two ends by their command lines; the instance
    name went into that pattern unescaped, so recovering `rp.X` also killed `rpxX`'s ship (a `.`
    matches any character).  Decoys with both names run on both hosts; recover of the dotted guest
    stops its own (positive control) and leaves the other guest's."""
    from tests.faults.test_fault_points import killed
    base = guest_name("rp")
    name = base.replace("-", ".")     # rp.<hex>: a name with a regex metacharacter
    other = base.replace("-", "x")    # rpx<hex>: what the unescaped pattern also matched
    guest_name_cleanup = name
    lab.ok(lab.run_playbook("boot.yml", instance=name, flavor="m1.small", image="tiny", host="hv-b1"))
    try:
        killed("migrate.yml", "after-claim", instance=name, target_host="hv-b2")
        src_disk = lab.disk_path("hv-b1", name)
        dst = _decoys("hv-b2", {"mine": ("receive", name), "other": ("receive", other)})
        src = _decoys("hv-b1", {"mine": ("tar", src_disk), "other": ("tar", src_disk.replace(name, other))})
        try:
            assert all(_alive("hv-b2", p) for p in dst.values()) and all(_alive("hv-b1", p) for p in src.values())
            r = lab.ok(lab.run_playbook("recover.yml", instance=name))
            assert "rollback" in r.stdout
            assert not _alive("hv-b2", dst["mine"]), "recover left this guest's receiving end running"
            assert not _alive("hv-b1", src["mine"]), "recover left this guest's reading end running"
            assert _alive("hv-b2", dst["other"]), "recover of %s killed %s's receiving end" % (name, other)
            assert _alive("hv-b1", src["other"]), "recover of %s killed %s's reading end" % (name, other)
            assert lab.dominfo("hv-b1", name)["state"] == "running"
        finally:
            for host, pids in (("hv-b2", dst), ("hv-b1", src)):
                lab.ssh(host, "kill %s 2>/dev/null; rm -f /tmp/ferry-decoy-*.fifo; true"
                        % " ".join(str(p) for p in pids.values()), check=False)
    finally:
        lab.run_playbook("delete.yml", instance=guest_name_cleanup, ferry_delete_takeover=True)
