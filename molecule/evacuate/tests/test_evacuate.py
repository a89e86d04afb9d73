"""molecule verify (evacuate): hv-b1 held mol-ev1, mol-ev2 (stopped) and mol-ev3 with known data;
evacuate.yml drained it with each move confirmed.  Read on the hosts themselves
(molecule/shared/labinfra.py): every guest is defined on hv-b2 only, in the same state as before
(mol-ev2 still stopped), with its flavor, its disk an overlay on hv-b2's cached base and identical
to the reference converge flattened before the drain; hv-b1 keeps nothing of them and carries the
disabled record evacuate.yml wrote (its reason, `by: evacuate`)."""

import json
import os
import shlex

import pytest

import labinfra

SOURCE, TARGET = "hv-b1", "hv-b2"
GUESTS = ("mol-ev1", "mol-ev2", "mol-ev3")
STOPPED = "mol-ev2"
REF_DIR = "/tmp/ferry-ref/molecule"


@pytest.mark.parametrize("name", GUESTS)
def test_each_guest_is_defined_on_the_other_host_of_its_az_only(lab, domains, name):
    assert labinfra.defined_on(domains, name) == [TARGET]
    assert lab[TARGET]["az"] == lab[SOURCE]["az"]


@pytest.mark.parametrize("name", GUESTS)
def test_each_guest_keeps_its_state_and_flavor(lab, name):
    state = "shut off" if name == STOPPED else "running"
    # m1.small (lab group_vars flavors.yml): 1 vCPU, 128 MiB; a stopped domain reports its maximum
    shape = labinfra.running_shape(lab[TARGET]["host"], name)
    assert shape[:3] == (state, 1, 128), shape


@pytest.mark.parametrize("name", GUESTS)
def test_each_move_is_a_confirmed_migration_from_the_drained_host(lab, name):
    migration = labinfra.ferry_metadata(labinfra.read_domxml(lab[TARGET]["host"], name))["migration"]
    assert (migration["kind"], migration["status"]) == ("migrate", "confirmed")
    assert (migration["source_host"], migration["target_host"]) == (SOURCE, TARGET)


@pytest.mark.parametrize("name", GUESTS)
def test_each_disk_is_an_overlay_on_the_target_cache_identical_to_its_reference(lab, name):
    h = lab[TARGET]
    disk = "%s/disk.qcow2" % labinfra.instance_dir(lab, TARGET, name)
    assert labinfra.disk_sources(labinfra.read_domxml(h["host"], name)) == [disk]
    top, base = labinfra.backing_chain(h["host"], disk)
    assert os.path.dirname(top["full-backing-filename"]) == h["vars"]["ferry_cache_dir"].rstrip("/")
    assert "backing-filename" not in base
    ref = "%s/%s.qcow2" % (REF_DIR, name)
    assert h["host"].file(ref).is_file, "no reference %s (converge takes it before the drain)" % ref
    # -U: a running guest holds its disk's lock; it only idles and writes nothing
    res = h["host"].run("qemu-img compare -U -f qcow2 -F qcow2 %s %s" % (shlex.quote(disk), shlex.quote(ref)))
    assert res.rc == 0, "qemu-img compare %s: rc %d %s %s" % (name, res.rc, res.stdout, res.stderr)
    assert "Images are identical" in res.stdout


def test_the_drained_host_keeps_no_domain_instance_dir_or_claim(lab, domains):
    s = lab[SOURCE]
    assert [n for n in domains[SOURCE] if n in GUESTS] == []
    for name in GUESTS:
        assert not s["host"].file(labinfra.instance_dir(lab, SOURCE, name)).exists, name
    claims = s["host"].check_output("ls -A %s" % shlex.quote(s["vars"]["ferry_claims_dir"])).split()
    assert [c for c in claims if c.startswith("mol-ev")] == []


def test_the_drained_host_carries_its_disabled_record(lab):
    s = lab[SOURCE]
    path = "%s/.host-disabled" % s["vars"]["ferry_claims_dir"].rstrip("/")
    record = json.loads(s["host"].check_output("cat %s" % shlex.quote(path)))
    assert record["reason"] == "molecule evacuate scenario"
    assert record["by"] == "evacuate"
