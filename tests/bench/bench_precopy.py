"""Benchmark (not a test): downtime with and without pre-copy, against the size of the delta.

For each delta size, a guest (bench-pc-*) is booted from the tiny base on hv-a1 and that many MiB
of random data are written into its overlay with qemu-io while it is stopped; it is started and
migrated to hv-b1 (ferry_allow_cross_az: the integration tests use hv-a2/hv-b2), once without
pre-copy and once (a second guest, same delta) with it.  Every move uses ferry_shutdown_timeout=0
(forced stop: the figures are ferry's own steps, not a guest's shutdown).  Downtime is the move
result's: from the stop request to the guest running on the target.  Printed side by side, with
the bytes shipped before and after the stop; the guests are deleted at the end.

    .venv/bin/python tests/bench/bench_precopy.py [--sizes 64,256,1024]

The lab's links are loopback (no emulated bandwidth here: see bench_links.py for shaped links).
"""

import argparse
import datetime
import os
import shlex
import sys
import time
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from tests.integration import lab  # noqa: E402

SRC, DST = "hv-a1", "hv-b1"
MIB = 1024 ** 2


def booted(size_mb):
    name = "bench-pc-%s" % uuid.uuid4().hex[:8]
    lab.ok(lab.run_playbook("boot.yml", instance=name, flavor="m1.small", image="tiny", host=SRC))
    lab.virsh(SRC, "destroy", name)
    disk = lab.disk_path(SRC, name)
    chunk = 64
    cmds = " ".join("-c 'write -P %d %dM %dM'" % ((i * 7 + 11) % 251, 4 + i * chunk, chunk)
                    for i in range(max(1, size_mb // chunk)))
    # patterned writes are not compressed by the ship; random would cost the same on the wire
    lab.ssh(SRC, "qemu-io -f qcow2 %s %s >/dev/null" % (cmds, shlex.quote(disk)))
    lab.virsh(SRC, "start", name)
    return name


def move(name, precopy):
    t0 = time.monotonic()
    r = lab.ok(lab.run_playbook("migrate.yml", instance=name, target_host=DST, ferry_allow_cross_az=True,
                                ferry_shutdown_timeout=0, ferry_precopy=precopy, ferry_auto_confirm=True))
    res = r.task_result("Sum up the move")["ansible_facts"]["ferry_move_result"]
    res["wall_s"] = round(time.monotonic() - t0, 1)
    # inside the stop window: what the modules themselves took, the rest is Ansible's own
    ship = r.task_results("Ship the guest's files host to host (holes kept, checksums compared)")
    res["ship_module_s"] = (ship[-1].get("seconds") or 0.0) if ship else 0.0
    res["finish_parts_s"] = r.task_result(
        "Rebase, grow and check the disks, define and start the guest on the target (one call)").get("seconds") or {}
    res["trace"] = trace(r)
    return res


def trace(r):
    """Every task the controller started inside the stop window, with the seconds until the next one
    started (ansible-runner's event times): where the downtime goes, task by task."""
    starts = [(e["event_data"].get("task", ""), datetime.datetime.fromisoformat(e["created"]))
              for e in r.events if e.get("event") == "playbook_on_task_start" and e.get("created")]
    names = [n for n, _ in starts]
    try:
        a = len(names) - names[::-1].index("Note the time the target was ready")
        b = names.index("Note the time the guest ran on the target", a)
    except ValueError:
        return []
    return [(starts[i][0], (starts[i + 1][1] - starts[i][1]).total_seconds()) for i in range(a, b)]


def window(res):
    """The stop window, part by part: the three tasks, the stream and the finish's own parts."""
    ph = res["phases_s"]
    parts = res["finish_parts_s"]
    return ("stop %.2f | ship %.2f (stream %.2f) | finish task %.2f (%s)"
            % (ph["stop_guest"] or 0, ph["ship_delta"] or 0, res["ship_module_s"], ph["rebase_define_start"] or 0,
               ", ".join("%s %.2f" % kv for kv in parts.items())))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="64,256,1024", help="delta sizes, MiB")
    ap.add_argument("--trace", action="store_true", help="print every task of each stop window with its time")
    args = ap.parse_args()
    sizes = [int(x) for x in args.sizes.split(",")]
    t_start = time.monotonic()
    names, rows = [], []
    try:
        for size in sizes:
            out = {}
            for precopy in (False, True):
                name = booted(size)
                names.append(name)
                out[precopy] = move(name, precopy)
            rows.append((size, out[False], out[True]))
            print("delta %5d MiB: downtime without pre-copy %6.2f s, with %6.2f s (%.1fx); bytes after the stop "
                  "%d vs %d; before it %d; wall %.1f vs %.1f s"
                  % (size, out[False]["downtime_s"], out[True]["downtime_s"],
                     out[False]["downtime_s"] / max(out[True]["downtime_s"], 1e-3),
                     out[False]["final_bytes"], out[True]["final_bytes"], out[True]["precopy_bytes"],
                     out[False]["wall_s"], out[True]["wall_s"]), flush=True)
            for precopy in (False, True):
                print("    %-11s %s" % ("pre-copy:" if precopy else "no pre-copy:", window(out[precopy])), flush=True)
                if args.trace:
                    for task, secs in out[precopy]["trace"]:
                        print("        %6.2f s  %s" % (secs, task))
    finally:
        for n in names:
            lab.run_playbook("delete.yml", instance=n, ferry_delete_takeover=True)
    print()
    print("| delta (MiB) | downtime, no pre-copy (s) | downtime, pre-copy (s) | ratio | "
          "MiB after the stop (no / with) | MiB before the stop (with) |")
    print("|---|---|---|---|---|---|")
    for size, a, b in rows:
        print("| %d | %.2f | %.2f | %.1fx | %.1f / %.2f | %.1f |" % (
            size, a["downtime_s"], b["downtime_s"], a["downtime_s"] / max(b["downtime_s"], 1e-3),
            a["final_bytes"] / MIB, b["final_bytes"] / MIB, b["precopy_bytes"] / MIB))
    flat = [b["downtime_s"] for _, _, b in rows]
    print("\npre-copy downtime from %d to %d MiB: %.2f .. %.2f s (spread %.0f%% of the smallest)"
          % (sizes[0], sizes[-1], min(flat), max(flat), 100.0 * (max(flat) - min(flat)) / max(min(flat), 1e-3)))
    print("bench ran %.0f s" % (time.monotonic() - t_start))


if __name__ == "__main__":
    main()
