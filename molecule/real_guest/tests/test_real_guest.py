"""molecule verify (real_guest): mol-rg1, the lab's Linux guest defined with virt-install on hv-a1,
was migrated to hv-a2 and confirmed.  It runs there and booted there: its console (a file in hv-a2's
instance dir) shows FERRY-BOOT-OK and the marker its init read from sector 0 of its data disk
(tests/integration/guests.py).  Read on the hosts themselves (molecule/shared/labinfra.py)."""

import shlex


import labinfra

INSTANCE = "mol-rg1"
SOURCE, TARGET = "hv-a1", "hv-a2"
MARKER = "mol-rg1-data-disk"  # converge.yml's mol_rg_marker


def under(lab, host, kind):
    return lab[host]["vars"]["ferry_%s_dir" % kind].rstrip("/") + "/"


def test_defined_on_the_target_only(domains):
    assert labinfra.defined_on(domains, INSTANCE) == [TARGET]


def test_running_on_the_target(lab):
    # 1 vCPU, 256 MiB: what virt-install gave it (tests/integration/guests.py), kept by the move
    assert labinfra.running_shape(lab[TARGET]["host"], INSTANCE) == ("running", 1, 256, 256)


def test_the_source_keeps_no_instance_dir(lab):
    assert not lab[SOURCE]["host"].file(labinfra.instance_dir(lab, SOURCE, INSTANCE)).exists


def test_kernel_and_initrd_from_the_targets_cache(lab, domxml):
    for tag in ("kernel", "initrd"):
        path = domxml.findtext("os/" + tag)
        assert path and path.startswith(under(lab, TARGET, "cache")), "%s: %s" % (tag, path)
        assert lab[TARGET]["host"].file(path).is_file


def test_data_disk_on_the_target_holds_the_marker(lab, domxml):
    (disk,) = labinfra.disk_sources(domxml)
    assert disk.startswith(labinfra.instance_dir(lab, TARGET, INSTANCE) + "/")
    sector = lab[TARGET]["host"].check_output("head -c 512 %s | tr -d '\\000'" % shlex.quote(disk))
    assert sector == MARKER


def test_console_on_the_target_shows_the_boot_and_the_marker(lab, domxml):
    (console,) = [s.find("source").get("path") for s in domxml.findall("devices/serial[@type='file']")]
    assert console.startswith(labinfra.instance_dir(lab, TARGET, INSTANCE) + "/")
    lines = [ln.rstrip("\r") for ln in lab[TARGET]["host"].file(console).content_string.splitlines()]
    assert "FERRY-BOOT-OK" in lines, "no boot on %s's console:\n%s" % (TARGET, "\n".join(lines[-20:]))
    after_boot = lines[lines.index("FERRY-BOOT-OK") + 1:]
    markers = [ln[len("FERRY-MARKER:"):] for ln in after_boot if ln.startswith("FERRY-MARKER:")]
    assert markers == [MARKER], "\n".join(lines[-20:])


def test_metadata_records_the_confirmed_migration(domxml):
    mig = labinfra.ferry_metadata(domxml)["migration"]
    assert (mig["kind"], mig["status"], mig["source_host"], mig["target_host"]) == (
        "migrate", "confirmed", SOURCE, TARGET)
