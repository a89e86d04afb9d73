#!/usr/bin/env python3
"""Build the lab Linux guest's initramfs: busybox-static, a few kernel modules, /init.

    make_initrd.py OUT --modules-dir DIR --busybox /bin/busybox --init linux_init.sh \
        --poweroff linux_poweroff.sh MODULE...

MODULEs are resolved with their dependencies (read from each .ko's .modinfo `depends=`) and
written to /etc/ferry/modules in load order (insmod, no modprobe).  Modules built into the
kernel (modules.builtin) are skipped.  The archive is `cpio -o -H newc --reproducible` over a
staged tree with every mtime at 0, owned by 0:0, gzip -n: the same inputs give the same bytes.
OUT is replaced only when its content changes; prints "changed" or "unchanged".
"""

import argparse
import gzip
import os
import re
import shutil
import subprocess
import sys
import tempfile


def index_modules(modules_dir):
    found = {}
    for root, _dirs, files in os.walk(modules_dir):
        for f in files:
            if f.endswith(".ko"):
                found[f[:-3].replace("-", "_")] = os.path.join(root, f)
    return found


def builtin(modules_dir):
    names = set()
    path = os.path.join(modules_dir, "modules.builtin")
    if os.path.exists(path):
        with open(path) as f:
            for line in f:
                names.add(os.path.basename(line.strip())[:-3].replace("-", "_"))
    return names


def depends(ko):
    with open(ko, "rb") as f:
        m = re.search(rb"(?:^|\0)depends=([^\0]*)\0", f.read())
    return [d.replace("-", "_") for d in m.group(1).decode().split(",") if d] if m else []


def load_order(wanted, index, built_in):
    order, seen = [], set()

    def visit(name, stack):
        name = name.replace("-", "_")
        if name in seen or name in built_in:
            return
        if name in stack:
            raise SystemExit("module dependency cycle at %s" % name)
        if name not in index:
            raise SystemExit("module %s is neither a module nor built in" % name)
        for dep in depends(index[name]):
            visit(dep, stack | {name})
        seen.add(name)
        order.append(name)

    for w in wanted:
        visit(w, frozenset())
    return order


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--modules-dir", required=True)
    ap.add_argument("--busybox", default="/bin/busybox")
    ap.add_argument("--init", required=True)
    ap.add_argument("--poweroff", required=True)
    ap.add_argument("modules", nargs="+")
    a = ap.parse_args()

    index = index_modules(a.modules_dir)
    order = load_order(a.modules, index, builtin(a.modules_dir))
    with tempfile.TemporaryDirectory(prefix="ferry-initrd-") as tmp:
        tree = os.path.join(tmp, "tree")
        for d in ("bin", "dev", "proc", "sys", "etc/ferry", "etc/acpi/PWRF", "lib/modules"):
            os.makedirs(os.path.join(tree, d))
        shutil.copyfile(a.busybox, os.path.join(tree, "bin/busybox"))
        os.symlink("busybox", os.path.join(tree, "bin/sh"))
        shutil.copyfile(a.init, os.path.join(tree, "init"))
        shutil.copyfile(a.poweroff, os.path.join(tree, "etc/acpi/PWRF/00000080"))
        for exe in ("bin/busybox", "init", "etc/acpi/PWRF/00000080"):
            os.chmod(os.path.join(tree, exe), 0o755)
        for name in order:
            shutil.copyfile(index[name], os.path.join(tree, "lib/modules", name + ".ko"))
        with open(os.path.join(tree, "etc/ferry/modules"), "w") as f:
            f.write("\n".join(order) + "\n")
        entries = []
        for root, dirs, files in os.walk(tree):
            for n in dirs + files:
                p = os.path.join(root, n)
                entries.append(os.path.relpath(p, tree))
                if not os.path.islink(p):
                    os.chmod(p, 0o755 if os.path.isdir(p) or os.access(p, os.X_OK) else 0o644)
                os.utime(p, (0, 0), follow_symlinks=False)
        os.chmod(tree, 0o755)
        os.utime(tree, (0, 0))
        listing = "".join(e + "\n" for e in ["."] + sorted(entries))
        cpio = subprocess.run(["cpio", "-o", "-H", "newc", "--reproducible", "-R", "0:0", "--quiet"],
                              input=listing.encode(), cwd=tree, capture_output=True, check=True).stdout
        data = gzip.compress(cpio, compresslevel=9, mtime=0)

    if os.path.exists(a.out):
        with open(a.out, "rb") as f:
            if f.read() == data:
                print("unchanged")
                return 0
    tmp_out = a.out + ".tmp"
    with open(tmp_out, "wb") as f:
        f.write(data)
    os.chmod(tmp_out, 0o644)
    os.replace(tmp_out, a.out)
    print("changed (modules: %s)" % " ".join(order))
    return 0


if __name__ == "__main__":
    sys.exit(main())
