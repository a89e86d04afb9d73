"""molecule real_guest: the lab's Linux guest, made and removed exactly as the lab's integration
tests do (tests/integration/guests.py: virt-install as the host's user, over the host's sshd).

    linux_guest.py define HOST NAME MARKER [TIMEOUT]  define and start it on HOST with MARKER on its
                                                      data disk, wait until its console shows it
    linux_guest.py wait HOST NAME MARKER [TIMEOUT]    wait until its console on HOST shows FERRY-BOOT-OK
                                                      then MARKER (exit 1 after TIMEOUT seconds)
    linux_guest.py remove NAME                        on every host: destroy, undefine, delete its
                                                      instance dir and virt-install's storage pool for it

Run with the controller's Python from anywhere: the repository root is put on sys.path.
"""

import json
import os
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, os.pardir))
sys.path.insert(0, ROOT)

from tests.integration import guests, lab  # noqa: E402


def console_path(host, name):
    return "%s/%s/console.log" % (guests.host_vars(host)["ferry_instances_dir"], name)


def wait(host, name, marker, timeout):
    seen = guests.console_marker(host, console_path(host, name), timeout=timeout)
    booted = "FERRY-BOOT-OK" in guests.console_text(host, console_path(host, name)).split()
    if not booted or seen != marker:
        print("%s on %s: console shows boot=%s marker=%r, expected %r" % (name, host, booted, seen, marker))
        return 1
    print(json.dumps({"host": host, "console": console_path(host, name), "marker": seen}))
    return 0


def remove(name):
    for host in sorted(lab.inventory()[2]):
        d = "%s/%s" % (guests.host_vars(host)["ferry_instances_dir"], name)
        guests.undefine(host, name)
        for pool in lab.virsh(host, "pool-list", "--all", "--name").split():
            if "<path>%s</path>" % d in lab.virsh(host, "pool-dumpxml", pool, check=False):
                lab.virsh(host, "pool-destroy", pool, check=False)
                lab.virsh(host, "pool-undefine", pool, check=False)
    return 0


def main(argv):
    cmd, args = argv[1], argv[2:]
    if cmd == "define":
        host, name, marker = args[:3]
        guests.define_linux_guest(host, name, data_format="raw", marker=marker)
        return wait(host, name, marker, int(args[3]) if len(args) > 3 else 240)
    if cmd == "wait":
        host, name, marker = args[:3]
        return wait(host, name, marker, int(args[3]) if len(args) > 3 else 240)
    if cmd == "remove":
        return remove(args[0])
    raise SystemExit(__doc__)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
