"""Real guests made on a lab host WITHOUT ferry: the host's own virt-install / virsh / qemu-img,
run as the host's user over its own sshd (lab.ssh), as an operator would.

- define_linux_guest(): the lab's small Linux guest (cloud kernel + busybox initramfs from
  /var/lib/ferry-lab/linux, built by the lab role) with one data disk.  Its /init prints
  FERRY-BOOT-OK, then FERRY-MARKER:<text> read from sector 0 of the data disk, on the serial
  console (a file), and powers off on the ACPI power button (virsh shutdown).  The guest has one
  virtio disk, so the data disk is /dev/vda in the guest (the init reads /dev/vdb when a guest
  has two virtio disks, else /dev/vda).  No NIC (--network none): it needs none.
- define_realistic_guest(): an operator-style guest: qcow2 root overlay on a base outside
  ferry's cache, a standalone qcow2 data disk, a sparse raw disk, a read-only cdrom ISO, two
  virtio NICs with fixed MACs on the host's front/back bridges, a serial file and a guest-agent
  channel (socket <instance dir>/qga.sock).  It boots the tiny base's boot sector (which idles) and runs.

virt-install makes a storage pool for each directory it meets: remove_pools() removes them.
"""

import hashlib
import shlex
import time

from tests.integration import lab

LINUX_DIR = "/var/lib/ferry-lab/linux"
STORE_DIR = "/var/lib/ferry-lab/store"
URI = "qemu:///session"


def host_vars(host):
    return lab.inventory()[2][host]


def domain_type(host):
    """The domain type the lab probed for this host (kvm only if /dev/kvm boots Linux)."""
    return host_vars(host).get("ferry_domain_type", "qemu")


def _q(s):
    return shlex.quote(str(s))


def _virt_install(host, args, start=True):
    base = ["virt-install", "--connect", URI, "--import", "--noautoconsole",
            "--osinfo", "detect=on,require=off", "--virt-type", domain_type(host), "--graphics", "none"]
    cmd = " ".join(_q(a) for a in base + args)
    if start:
        return lab.ssh(host, cmd)
    # defined, not started: let virt-install write the XML and define that
    return lab.ssh(host, "set -e; x=$(mktemp); %s --print-xml > $x; virsh -q -c %s define $x; rm -f $x"
                   % (cmd, URI))


def write_marker(host, path, fmt, marker):
    """Write `marker` (NUL-padded to 512 bytes) into sector 0 of a stopped guest's disk."""
    raw = marker.encode() if isinstance(marker, str) else bytes(marker)
    if len(raw) >= 512 or b"\n" in raw or b"\0" in raw:
        raise ValueError("a marker is one line of less than 512 bytes")
    sector = "t=$(mktemp); head -c 512 /dev/zero > $t; printf %%s %s | dd of=$t conv=notrunc status=none; " % _q(
        raw.decode())
    if fmt == "raw":
        write = "dd if=$t of=%s bs=512 count=1 conv=notrunc status=none" % _q(path)
    elif fmt == "qcow2":
        write = 'qemu-io -f qcow2 -c "write -s $t 0 512" %s >/dev/null' % _q(path)
    else:
        raise ValueError("format %r" % fmt)
    lab.ssh(host, "set -e; " + sector + write + "; rm -f $t")


def console_marker(host, console_path, timeout=60, after=None):
    """The last FERRY-MARKER:<text> on the guest's serial console (polls up to `timeout` s).

    `after`: only count markers after that many FERRY-BOOT-OK lines (a log kept across boots).
    """
    deadline = time.monotonic() + timeout
    while True:
        out = lab.ssh(host, "cat %s 2>/dev/null || true" % _q(console_path))
        lines = [ln.rstrip("\r") for ln in out.splitlines()]
        if after:
            boots = [i for i, ln in enumerate(lines) if ln == "FERRY-BOOT-OK"]
            lines = lines[boots[after] + 1:] if len(boots) > after else []
        found = [ln[len("FERRY-MARKER:"):] for ln in lines if ln.startswith("FERRY-MARKER:")]
        if found:
            return found[-1]
        if time.monotonic() >= deadline:
            return None
        time.sleep(1)


def console_text(host, console_path):
    return lab.ssh(host, "cat %s 2>/dev/null || true" % _q(console_path))


def define_linux_guest(host, name, data_format="raw", marker=None, start=True, writer=False):
    """The lab's small Linux guest on `host`: 256 MiB, 1 vCPU, one virtio data disk (64 MiB,
    raw or qcow2) whose sector 0 holds `marker` (written before it boots), serial console to a
    file, no NIC.  With `writer`, it writes sequence-numbered blocks to the disk while it runs
    (see roles/lab/files/linux_init.sh).  Returns its paths."""
    hv = host_vars(host)
    d = "%s/%s" % (hv["ferry_instances_dir"], name)
    data = "%s/data.%s" % (d, data_format)
    console = "%s/console.log" % d
    lab.ssh(host, "set -e; mkdir -p %s; qemu-img create -q -f %s %s 64M" % (_q(d), _q(data_format), _q(data)))
    if marker is not None:
        write_marker(host, data, data_format, marker)
    _virt_install(host, [
        "--name", name, "--memory", "256", "--vcpus", "1",
        "--boot", "kernel=%s/vmlinuz,initrd=%s/initrd.img,kernel_args=console=ttyS0%s"
        % (LINUX_DIR, LINUX_DIR, " ferry_writer" if writer else ""),
        "--disk", "path=%s,format=%s,bus=virtio" % (data, data_format),
        "--serial", "file,path=%s" % console,
        "--network", "none",
    ], start=start)
    return {"name": name, "host": host, "dir": d, "data": data, "format": data_format, "console": console,
            "kernel": LINUX_DIR + "/vmlinuz", "initrd": LINUX_DIR + "/initrd.img"}


def guest_macs(name):
    """Two fixed MACs for a guest, derived from its name (52:54:00 = qemu's prefix)."""
    h = hashlib.sha256(name.encode()).hexdigest()
    return ["52:54:00:%s:%s:%02x" % (h[0:2], h[2:4], i) for i in (1, 2)]


def images_dir(host):
    return "%s/images" % host_vars(host)["ferry_host_root"]


def define_realistic_guest(host, name):
    """An operator-style multi-disk, two-NIC guest (see module docstring), running.  Returns
    {"name", "dir", "console", "disks": [{target, path, format, device, ...}], "nics": [...]}."""
    hv = host_vars(host)
    d = "%s/%s" % (hv["ferry_instances_dir"], name)
    img = images_dir(host)
    base = "%s/tiny-base.qcow2" % img
    iso = "%s/tools.iso" % img
    root = "%s/root.qcow2" % d
    data = "%s/data.qcow2" % d
    rawd = "%s/scratch.raw" % d
    console = "%s/console.log" % d
    nets = hv["ferry_network_map"]
    macs = guest_macs(name)
    # the base lives outside ferry's cache; one copy per host, shared by realistic guests
    lab.ssh(host, "set -e; mkdir -p %(img)s %(d)s; "
                  "[ -e %(base)s ] || { cp %(store)s/tiny.qcow2 %(base)s.tmp && mv %(base)s.tmp %(base)s; }; "
                  "if [ ! -e %(iso)s ]; then t=$(mktemp -d); echo 'ferry lab tools' > $t/README.TXT; "
                  "genisoimage -quiet -o %(iso)s.tmp -V FERRYTOOLS -r -J $t && mv %(iso)s.tmp %(iso)s; rm -rf $t; fi; "
                  "qemu-img create -q -f qcow2 -F qcow2 -b %(base)s %(root)s; "
                  "qemu-io -f qcow2 -c 'write -P 0x11 32M 1M' -c 'write -P 0x12 100M 64k' %(root)s >/dev/null; "
                  "qemu-img create -q -f qcow2 %(data)s 32M; "
                  "qemu-io -f qcow2 -c 'write -P 0x21 0 1M' -c 'write -P 0x22 20M 512k' %(data)s >/dev/null; "
                  "truncate -s 64M %(raw)s; "
                  "qemu-io -f raw -c 'write -P 0x31 0 64k' -c 'write -P 0x32 10M 64k' -c 'write -P 0x33 63M 4k' "
                  "%(raw)s >/dev/null"
                  % {"img": _q(img), "d": _q(d), "base": _q(base), "store": STORE_DIR, "iso": _q(iso),
                     "root": _q(root), "data": _q(data), "raw": _q(rawd)})
    _virt_install(host, [
        "--name", name, "--memory", "128", "--vcpus", "1",
        "--disk", "path=%s,format=qcow2,bus=virtio" % root,
        "--disk", "path=%s,format=qcow2,bus=virtio" % data,
        "--disk", "path=%s,format=raw,bus=virtio" % rawd,
        "--disk", "path=%s,device=cdrom,readonly=on" % iso,
        "--network", "bridge=%s,model=virtio,mac=%s" % (nets["front"], macs[0]),
        "--network", "bridge=%s,model=virtio,mac=%s" % (nets["back"], macs[1]),
        "--serial", "file,path=%s" % console,
        # an explicit socket in the instance dir: libvirt's session default
        # (~/.config/libvirt/qemu/channel/target/domain-N-<name>/...) passes the 108-byte limit
        "--channel", "unix,mode=bind,path=%s/qga.sock,target.type=virtio,target.name=org.qemu.guest_agent.0" % d,
    ])
    disks = [
        {"target": "vda", "path": root, "format": "qcow2", "device": "disk", "backing": base,
         "backing_format": "qcow2"},
        {"target": "vdb", "path": data, "format": "qcow2", "device": "disk", "virtual_mb": 32},
        {"target": "vdc", "path": rawd, "format": "raw", "device": "disk", "virtual_mb": 64, "sparse": True},
        {"target": None, "path": iso, "format": "raw", "device": "cdrom", "readonly": True},
    ]
    # the targets libvirt gave them (the cdrom's bus depends on the machine type)
    targets = {}
    for line in lab.virsh(host, "domblklist", "--details", name).splitlines():
        f = line.split()
        if len(f) == 4:
            targets[f[3]] = f[2]
    for disk in disks:
        disk["target"] = targets.get(disk["path"], disk["target"])
    return {
        "name": name, "host": host, "dir": d, "console": console, "disks": disks,
        "channel": "%s/qga.sock" % d,
        "nics": [{"network": "front", "bridge": nets["front"], "mac": macs[0], "model": "virtio"},
                 {"network": "back", "bridge": nets["back"], "mac": macs[1], "model": "virtio"}],
    }


def undefine(host, name):
    """Destroy and undefine the guest (with its NVRAM if any) and delete its instance dir."""
    lab.virsh(host, "destroy", name, check=False)
    lab.virsh(host, "undefine", "--nvram", name, check=False)
    if lab.domain_state(host, name) != "absent":
        lab.virsh(host, "undefine", name, check=False)
    lab.ssh(host, "rm -rf %s" % _q("%s/%s" % (host_vars(host)["ferry_instances_dir"], name)))


def remove_pools(host):
    """Destroy and undefine the storage pools (virt-install makes one per directory it meets)
    whose target lies under the host's root.  Their directories and files are left alone."""
    root = host_vars(host)["ferry_host_root"].rstrip("/") + "/"
    removed = []
    for pool in lab.virsh(host, "pool-list", "--all", "--name").split():
        xml = lab.virsh(host, "pool-dumpxml", pool, check=False)
        start = xml.find("<path>")
        path = xml[start + 6:xml.find("</path>")] if start >= 0 else ""
        if (path.rstrip("/") + "/").startswith(root):
            lab.virsh(host, "pool-destroy", pool, check=False)
            lab.virsh(host, "pool-undefine", pool, check=False)
            removed.append(pool)
    return removed


def remove_images(host):
    """Delete the host's images dir (realistic guests' base copy and ISO)."""
    lab.ssh(host, "rm -rf %s" % _q(images_dir(host)))
