"""molecule verify: where converge left mol-web1, read on the hypervisors themselves (through the
hosts' own virsh and qemu-img over the lab's ssh: molecule/shared/labinfra.py)."""

import os


import labinfra

INSTANCE = "mol-web1"
FLAVOR = {"name": "m1.medium", "vcpus": 2, "memory_mb": 256, "disk_gb": 3}
OLD_FLAVOR = "m1.small"


def test_exactly_one_hypervisor_defines_it(domains, where):
    assert labinfra.defined_on(domains, INSTANCE) == [where]


def test_dominfo_running_with_the_new_flavor(lab, where):
    shape = ("running", FLAVOR["vcpus"], FLAVOR["memory_mb"], FLAVOR["memory_mb"])
    assert labinfra.running_shape(lab[where]["host"], INSTANCE) == shape


def test_disk_is_an_overlay_on_the_hosts_cached_base(lab, where, domxml):
    h = lab[where]
    sources = labinfra.disk_sources(domxml)
    assert len(sources) == 1, sources
    disk = sources[0]
    assert disk.startswith(labinfra.instance_dir(lab, where, INSTANCE) + "/")
    chain = labinfra.backing_chain(h["host"], disk)
    assert [layer["format"] for layer in chain] == ["qcow2", "qcow2"], chain
    top, base = chain
    assert top["filename"] == disk
    assert top["virtual-size"] == FLAVOR["disk_gb"] * 1024**3
    cache_dir = h["vars"]["ferry_cache_dir"].rstrip("/")
    assert os.path.dirname(top["full-backing-filename"]) == cache_dir, top["full-backing-filename"]
    assert top.get("backing-filename-format") == "qcow2"
    assert base["filename"] == top["full-backing-filename"]
    assert "backing-filename" not in base
    assert h["host"].file(base["filename"]).is_file


def test_metadata_records_the_confirmed_resize(metadata, where):
    assert metadata["flavor"]["name"] == FLAVOR["name"]
    mig = metadata["migration"]
    assert (mig["kind"], mig["status"], mig["role"]) == ("resize", "confirmed", "target")
    assert (mig["old_flavor"], mig["new_flavor"]) == (OLD_FLAVOR, FLAVOR["name"])
    assert mig["target_host"] == where
    assert mig["source_host"] != where


def test_stayed_in_the_az_it_was_booted_in(lab, where, metadata):
    assert metadata["az"] is None, "booted with an AZ: %s" % metadata["az"]
    boot_host = metadata["migration"]["source_host"]
    assert boot_host in lab, boot_host
    assert lab[where]["az"] == lab[boot_host]["az"], "booted on %s (%s), now on %s (%s)" % (
        boot_host,
        lab[boot_host]["az"],
        where,
        lab[where]["az"],
    )
    assert metadata["host_az"] == lab[boot_host]["az"]
