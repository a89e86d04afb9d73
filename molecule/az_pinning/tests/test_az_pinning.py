"""molecule verify (az_pinning): mol-az1, booted on hv-b1 without an AZ, then resized and migrated
with no AZ and no target named, never left hv-b1's AZ.  The AZ of a host is read from the lab
inventory (its AZ group and its ferry_az), where the guest is from every host's own virsh, its
files from every host's filesystem (molecule/shared/labinfra.py)."""


import pytest

import labinfra

INSTANCE = "mol-az1"
BOOT_HOST = "hv-b1"


@pytest.fixture(scope="module")
def boot_az(lab):
    """The AZ of the host the guest was booted on, as the inventory gives it."""
    h = lab[BOOT_HOST]
    assert h["vars"]["ferry_az"] == h["az"], "%s: ferry_az %s, AZ group %s" % (BOOT_HOST, h["vars"]["ferry_az"], h["az"])
    return h["az"]


def test_defined_on_one_host_of_the_boot_hosts_az(lab, domains, where, boot_az):
    assert lab[where]["az"] == boot_az, "%s is on %s (%s); booted on %s (%s)" % (
        INSTANCE, where, lab[where]["az"], BOOT_HOST, boot_az)
    assert lab[where]["vars"]["ferry_az"] == boot_az


def test_no_host_of_another_az_has_a_domain_or_files_of_it(lab, domains, boot_az):
    others = sorted(n for n in lab if lab[n]["az"] != boot_az)
    assert others, "the lab has a single AZ: nothing to tell apart"
    assert [n for n in others if INSTANCE in domains[n]] == []
    assert [n for n in others if lab[n]["host"].file(labinfra.instance_dir(lab, n, INSTANCE)).exists] == []


def test_only_its_host_keeps_an_instance_dir(lab, where):
    kept = sorted(n for n in lab if lab[n]["host"].file(labinfra.instance_dir(lab, n, INSTANCE)).exists)
    assert kept == [where]


def test_running_with_the_resized_flavor(lab, where):
    # m1.medium (lab group_vars flavors.yml)
    assert labinfra.running_shape(lab[where]["host"], INSTANCE) == ("running", 2, 256, 256)


def test_metadata_no_az_asked_and_the_migration_stayed_in_the_az(lab, where, metadata, boot_az):
    assert metadata["az"] is None, "booted with an AZ: %s" % metadata["az"]
    assert metadata["host_az"] == boot_az
    assert metadata["flavor"]["name"] == "m1.medium"
    mig = metadata["migration"]
    assert (mig["kind"], mig["status"], mig["role"]) == ("migrate", "confirmed", "target")
    assert mig["target_host"] == where
    assert mig["source_host"] != where
    assert lab[mig["source_host"]]["az"] == boot_az, "migrated from %s (%s)" % (
        mig["source_host"], lab[mig["source_host"]]["az"])
