#!/bin/bash
# Which domain type can run the lab's Linux guest here?  Boots LINUX_DIR/{vmlinuz,initrd.img}
# once with -accel kvm (the guest prints FERRY-BOOT-OK and, with ferry_probe, powers off), then
# once with TCG (which must work), timing both.  Writes kvm|qemu to OUT, details to OUT.log.
#   probe_domain_type.sh LINUX_DIR OUT [KVM_TIMEOUT]
set -u
dir=$1 out=$2 limit=${3:-20}
work=$(mktemp -d /tmp/ferry-probe.XXXXXX)
trap 'rm -rf "$work"' EXIT
boot() {  # boot ACCEL TIMEOUT -> prints seconds; rc 0 when FERRY-BOOT-OK was seen
    local accel=$1 t=$2 start end
    start=$(date +%s.%N)
    timeout "$t" qemu-system-x86_64 -accel "$accel" -m 256 -nodefaults -no-reboot -display none \
        -kernel "$dir/vmlinuz" -initrd "$dir/initrd.img" -append "console=ttyS0 ferry_probe" \
        -serial "file:$work/$accel.log" -monitor none >"$work/$accel.err" 2>&1
    end=$(date +%s.%N)
    awk -v s="$start" -v e="$end" 'BEGIN {printf "%.1f", e - s}'
    grep -aq FERRY-BOOT-OK "$work/$accel.log"
}
kvm_s=$(boot kvm "$limit") && kvm=yes || kvm=no
tcg_s=$(boot tcg 120) && tcg=yes || tcg=no
{
    echo "kvm: boot-ok=$kvm seconds=$kvm_s (timeout ${limit}s)"
    echo "tcg: boot-ok=$tcg seconds=$tcg_s"
} >"$out.log"
if [ "$tcg" != yes ]; then
    cat "$out.log" "$work/tcg.err" >&2; tail -20 "$work/tcg.log" >&2
    echo "TCG did not boot the lab's Linux guest" >&2
    exit 1
fi
[ "$kvm" = yes ] && echo kvm >"$out" || echo qemu >"$out"
cat "$out.log"
