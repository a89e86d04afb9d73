"""molecule verify (revert): mol-rv1 was migrated, then the migration reverted.  The source runs
again as it was (same definition's flavor, same disk, identical content: `qemu-img compare` against
the reference converge flattened before the move), and the target's copy is gone (its virsh, its
instance dir, its claims).  Read on the hosts themselves (molecule/shared/labinfra.py)."""

import os
import shlex

import pytest

import labinfra

INSTANCE = "mol-rv1"
SOURCE = "hv-a1"


@pytest.fixture(scope="module")
def migration(domxml):
    return labinfra.ferry_metadata(domxml)["migration"]


@pytest.fixture(scope="module")
def target(lab, migration):
    assert migration["source_host"] == SOURCE
    assert migration["target_host"] in lab and migration["target_host"] != SOURCE, migration
    return migration["target_host"]


def test_only_the_source_defines_it(domains):
    assert labinfra.defined_on(domains, INSTANCE) == [SOURCE]


def test_the_source_runs_with_its_old_flavor(lab):
    # m1.small (lab group_vars flavors.yml), as booted
    assert labinfra.running_shape(lab[SOURCE]["host"], INSTANCE) == ("running", 1, 128, 128)


def test_metadata_records_the_reverted_migration(migration):
    assert (migration["kind"], migration["status"]) == ("migrate", "reverted")


def test_the_source_disk_is_its_own_overlay_on_the_source_cache(lab, domxml):
    h = lab[SOURCE]
    disk = "%s/disk.qcow2" % labinfra.instance_dir(lab, SOURCE, INSTANCE)
    assert labinfra.disk_sources(domxml) == [disk]
    top, base = labinfra.backing_chain(h["host"], disk)
    assert os.path.dirname(top["full-backing-filename"]) == h["vars"]["ferry_cache_dir"].rstrip("/")
    assert "backing-filename" not in base


def test_the_source_disk_content_is_identical_to_the_reference(lab):
    h = lab[SOURCE]
    disk = "%s/disk.qcow2" % labinfra.instance_dir(lab, SOURCE, INSTANCE)
    ref = "%s/molecule/%s-ref.qcow2" % (h["vars"]["ferry_host_root"], INSTANCE)
    assert h["host"].file(ref).is_file, "no reference %s (converge takes it before the move)" % ref
    # -U: the guest runs and holds its disk's lock; it only idles and writes nothing
    res = h["host"].run("qemu-img compare -U -f qcow2 -F qcow2 %s %s" % (shlex.quote(disk), shlex.quote(ref)))
    assert res.rc == 0, "qemu-img compare: rc %d %s %s" % (res.rc, res.stdout, res.stderr)
    assert "Images are identical" in res.stdout


def test_the_target_keeps_no_domain_no_instance_dir_no_claim(lab, domains, target):
    t = lab[target]
    assert INSTANCE not in domains[target]
    assert not t["host"].file(labinfra.instance_dir(lab, target, INSTANCE)).exists
    claims = t["host"].check_output("ls -A %s" % shlex.quote(t["vars"]["ferry_claims_dir"])).split()
    assert [c for c in claims if c.startswith(INSTANCE)] == []
