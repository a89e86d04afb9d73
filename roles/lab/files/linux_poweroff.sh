#!/bin/sh
# busybox acpid runs this on the ACPI power button (virsh shutdown)
if [ -e /run/ferry-writer-disk ]; then
    # stop the writer (its last acknowledged block is on disk), then mark the disk so a later
    # boot writes nothing
    touch /run/ferry-writer-stop
    i=0
    while [ ! -e /run/ferry-writer-stopped ] && [ $i -lt 20 ]; do sleep 0.1; i=$((i + 1)); done
    printf 'FERRY-WRITER-STOPPED\n' | dd of="$(cat /run/ferry-writer-disk)" bs=512 seek=2 count=1 \
        conv=sync,notrunc,fsync oflag=direct 2>/dev/null
    echo "FERRY-WRITER-STOPPED" > /dev/console
fi
echo "FERRY-POWEROFF" > /dev/console
sync
poweroff -f
