#!/usr/bin/env python3
"""Generate a lab base image: a qcow2 with known, seeded content.

Sector 0 is a tiny boot sector: it enables the ACPI power button on the
PIIX4 PM device (the `pc` machine), then halts until the button is pressed
and powers the guest off.  So a lab guest idles at ~0% CPU and honours a
graceful `virsh shutdown`, without any OS.  After it, `--data-mb` MiB of
pseudo-random bytes from `--seed`; the rest of the virtual disk is empty.
"""

import argparse
import os
import random
import subprocess
import tempfile

BOOT_CODE = bytes.fromhex(
    "FB"                                # sti
    "66B8400B0080"                      # mov eax, 0x80000B40 (bus0 dev1 fn3 reg 0x40: PMBASE)
    "BAF80C" "66EF"                     # mov dx, 0xcf8 ; out dx, eax
    "BAFC0C" "66ED"                     # mov dx, 0xcfc ; in eax, dx
    "25C0FF" "89C3"                     # and ax, 0xffc0 ; mov bx, ax
    "89DA" "83C202" "B80001" "EF"       # PM1_EN (base+2) = PWRBTN_EN
    "89DA" "ED" "A90001" "7503" "F4" "EBF5"   # loop: PM1_STS.PWRBTN set? else hlt
    "89DA" "83C204" "B80020" "EF"       # PM1_CNT (base+4) = SLP_EN, SLP_TYP 0: soft off
    "F4" "EBFD")                        # hlt forever


def boot_sector():
    return BOOT_CODE.ljust(510, b"\0") + b"\x55\xaa"


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("out")
    ap.add_argument("--virtual-mb", type=int, default=1024)
    ap.add_argument("--data-mb", type=int, default=16)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    if a.data_mb + 1 > a.virtual_mb:
        ap.error("--data-mb must be smaller than --virtual-mb")
    rng = random.Random(a.seed)
    fd, raw = tempfile.mkstemp(suffix=".raw", dir=os.path.dirname(os.path.abspath(a.out)))
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(boot_sector())
            f.write(b"\0" * (1024 * 1024 - 512))
            for _ in range(a.data_mb):
                f.write(rng.randbytes(1024 * 1024))
            f.truncate(a.virtual_mb * 1024 * 1024)
        tmp_out = a.out + ".tmp"
        subprocess.run(["qemu-img", "convert", "-q", "-f", "raw", "-O", "qcow2", raw, tmp_out],
                       check=True)
        os.rename(tmp_out, a.out)
    finally:
        os.unlink(raw)


if __name__ == "__main__":
    main()
