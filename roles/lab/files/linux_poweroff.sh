#!/bin/sh
# busybox acpid runs this on the ACPI power button (virsh shutdown)
echo "FERRY-POWEROFF" > /dev/console
sync
poweroff -f
