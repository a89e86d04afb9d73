"""A guest that writes while it is moved: the lab's real Linux guest (virt-install, under TCG)
writes sequence-numbered 512-byte blocks to its disk, one `dd oflag=direct conv=fsync,notrunc` per
block, and prints FERRY-ACK:<n> on its serial console once each write returned.  ferry stops it
with an ACPI shutdown (the guest stops its writer, marks the disk, powers off), ships it and starts
it on the target, where the writer sees the mark and writes nothing more.  Every number the guest
acknowledged before the stop must be on the target's disk, for a migration and for a resize."""

import re
import shlex
import time

import pytest

from tests.integration import guests, lab

SOURCE, TARGET = "hv-b1", "hv-b2"


def acks(host, console):
    out = lab.ssh(host, "cat %s 2>/dev/null || true" % shlex.quote(console))
    return [int(n) for n in re.findall(r"^FERRY-ACK:(\d+)\r?$", out, re.M)], out


def blocks_on(host, disk, upto):
    """{n: text} of the sequence blocks 1..upto as the host's own dd reads them from the raw disk."""
    out = lab.ssh(host, "dd if=%s bs=512 skip=8 count=%d status=none | tr '\\000' '\\n'"
                  % (shlex.quote(disk), upto))
    return {int(m.group(1)): m.group(0) for m in re.finditer(r"FERRY-SEQ:(\d{8})", out)}


@pytest.mark.parametrize("playbook,extra", [
    ("migrate.yml", {}),
    pytest.param("resize.yml", {"flavor": "m1.large"}, marks=pytest.mark.matrix),
    # pre-copy: the raw data disk is frozen and ships while the guest writes to a snapshot overlay;
    # the overlay ships after the stop and is folded into data.raw on the target
    ("migrate.yml", {"ferry_precopy": True}),
])
def test_every_acknowledged_write_reaches_the_target(guest_name, playbook, extra):
    name = guest_name("wr")
    g = guests.define_linux_guest(SOURCE, name, data_format="raw", writer=True)
    deadline = time.monotonic() + 180
    while len(acks(SOURCE, g["console"])[0]) < 15:
        assert time.monotonic() < deadline, acks(SOURCE, g["console"])[1][-2000:]
        time.sleep(1)
    lab.ok(lab.run_playbook(playbook, instance=name, target_host=TARGET, **extra))
    acked, console = acks(SOURCE, g["console"])
    assert "FERRY-WRITER-STOPPED" in console, console[-2000:]  # stopped by the ACPI shutdown
    assert acked == list(range(1, len(acked) + 1)), acked
    disk = lab.disk_path(TARGET, name, "data.raw")
    assert lab.exists(TARGET, disk)
    found = blocks_on(TARGET, disk, len(acked) + 50)
    missing = [n for n in acked if n not in found]
    print("\n%s: %d writes acknowledged before the stop, %d on the target's disk, %d missing"
          % (playbook, len(acked), len([n for n in acked if n in found]), len(missing)))
    assert not missing, "acknowledged writes missing on the target: %s" % missing[:20]
    # the guest runs on the target and writes nothing more there (its disk is marked)
    assert lab.dominfo(TARGET, name)["state"] == "running"
    tgt_console = lab.disk_path(TARGET, name, "console.log")
    assert guests.console_marker(TARGET, tgt_console, timeout=120) is not None
    assert "FERRY-WRITER-IDLE" in lab.ssh(TARGET, "cat %s" % shlex.quote(tgt_console))
