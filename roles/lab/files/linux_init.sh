#!/bin/busybox sh
# /init of the lab's Linux guest (busybox initramfs, built by roles/lab/files/make_initrd.py).
# Prints FERRY-BOOT-OK, then FERRY-MARKER:<text> read from sector 0 of the data disk
# (/dev/vdb when the guest has two virtio disks, else /dev/vda), then waits for the ACPI power
# button (virsh shutdown) and powers off cleanly.  Kernel argument ferry_probe: power off at once.
# Kernel argument ferry_writer: a writer writes block n (512 bytes "FERRY-SEQ:<n>", at sector
# n + 7 of the data disk), one `dd oflag=direct conv=fsync,notrunc` per block, 5 a second, and
# prints FERRY-ACK:<n> on the console once dd returned; on the power button it stops, marks sector 2
# FERRY-WRITER-STOPPED (a later boot, e.g. on a move's target, then writes nothing) and powers off.
/bin/busybox mkdir -p /proc /sys /dev /sbin /usr/bin /usr/sbin /tmp /run
/bin/busybox --install -s
export PATH=/sbin:/usr/sbin:/bin:/usr/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
# keep kernel chatter off the console from here on: our lines must stay whole
echo 1 > /proc/sys/kernel/printk
for m in $(cat /etc/ferry/modules); do
    insmod "/lib/modules/$m.ko" || echo "ferry-init: insmod $m failed"
done
echo "FERRY-BOOT-OK"
disk=
i=0
while [ $i -lt 30 ]; do
    if [ -b /dev/vdb ]; then disk=/dev/vdb; break; fi
    if [ -b /dev/vda ] && [ $i -ge 5 ]; then disk=/dev/vda; break; fi
    sleep 0.1
    i=$((i + 1))
done
if [ -n "$disk" ]; then
    marker=$(dd if="$disk" bs=512 count=1 2>/dev/null | tr '\000\r' '\n\n' | head -n 1)
    echo "FERRY-DISK:$disk"
    echo "FERRY-MARKER:$marker"
else
    echo "FERRY-NO-DISK"
fi
if grep -qw ferry_probe /proc/cmdline; then
    sync
    poweroff -f
fi
if [ -n "$disk" ] && grep -qw ferry_writer /proc/cmdline; then
    echo "$disk" > /run/ferry-writer-disk
    if dd if="$disk" bs=512 skip=2 count=1 2>/dev/null | grep -q FERRY-WRITER-STOPPED; then
        echo "FERRY-WRITER-IDLE"
    else
        (
            n=1
            while [ ! -e /run/ferry-writer-stop ]; do
                if printf 'FERRY-SEQ:%08d\n' $n | dd of="$disk" bs=512 seek=$((n + 7)) count=1 \
                        conv=sync,notrunc,fsync oflag=direct 2>/dev/null; then
                    echo "FERRY-ACK:$n"
                fi
                n=$((n + 1))
                sleep 0.2
            done
            touch /run/ferry-writer-stopped
        ) &
        echo "FERRY-WRITER-STARTED"
    fi
fi
# ACPI power button (virsh shutdown) -> /etc/acpi/PWRF/00000080 -> sync; poweroff -f
acpid -c /etc/acpi -l /dev/null
echo "FERRY-READY"
while true; do sleep 3600; done
