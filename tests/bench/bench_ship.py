"""Benchmark (not a test): ferry's delta shipping vs Nova-2014's flatten-and-copy, on the real lab.

One guest (named bench-ship-*) is booted from a base image and a delta of known size is written
into its overlay with qemu-io while it is stopped.  Then, --runs times, on the same pair of hosts:

  nova-2014  done by hand, with the guest stopped: on the source host, as its user,
             `qemu-img convert -f qcow2 -O qcow2` (flatten overlay + base); then rsync of the
             flattened file to the target host's user with ferry's own rsync options.  Hosts may
             run only each other's peer dispatcher (no rsync server), so the copy runs here as
             root with the controller's key, reading the source host's file where it lies (every
             lab host is on this machine): the same rsync over ssh into the target's sshd, only the
             sending process is root's.  Convert and copy are timed separately (on the source host,
             here); bytes come from `rsync --stats`.  The flattened copies are deleted on both hosts
             after each run.
  ferry      the real `playbooks/migrate.yml` (ferry_auto_confirm=true) through ansible-runner;
             bytes, downtime and the ship phase come from the move result ("Sum up the move") and
             the ship task's result.

The guest moves source -> target with each ferry run, so the next run goes the other way.  With
--bwlimit-mbit > 0 both shipping steps are run again paced: the baseline by rsync's own --bwlimit,
ferry by its ferry_bwlimit variable (ferry_ship paces its stream): an EMULATED slower link, each
sender pacing itself, not a real network limit.

    .venv/bin/python tests/bench/bench_ship.py [--image fat] [--delta-mb 8] [--runs 3] [--bwlimit-mbit 200]

Migrations run with ferry_shutdown_timeout=0 (forced stop), so the downtime figures measure
ferry's own steps, not the guest's shutdown (the lab guests' boot sector does honour an ACPI
shutdown, in about 1.5 s).
Default hosts are hv-a1 <-> hv-b1 (so ferry_allow_cross_az=true, which changes nothing in the
shipping): the integration tests running on the same lab fill hv-a2's RAM and take hv-b2's sshd down.
The guest and every file created on the hosts are removed at the end (also on failure or ^C).
"""

import argparse
import json
import os
import shlex
import statistics
import subprocess
import sys
import time
import uuid

import ansible.module_utils

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
_MU = os.path.join(ROOT, "plugins", "module_utils")
if _MU not in ansible.module_utils.__path__:
    ansible.module_utils.__path__.append(_MU)
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from ansible.module_utils import ferry_ship

from tests.integration import lab

MIB = 1024 ** 2
SHIP_TASK = "Ship the guest's files host to host (holes kept, checksums compared)"
MOVE_TASK = "Sum up the move"

# Runs on a lab host (its own python3): the steps in order, each timed there, stop at the first failure.
REMOTE_TIMER = r"""
import json, subprocess, sys, time
out = []
for step in json.load(sys.stdin):
    t0 = time.monotonic()
    p = subprocess.run(step["argv"], capture_output=True, text=True)
    out.append({"name": step["name"], "seconds": time.monotonic() - t0, "rc": p.returncode,
                "stdout": p.stdout[-20000:], "stderr": p.stderr[-4000:]})
    if p.returncode:
        break
print(json.dumps(out))
"""


def ssh_argv(host):
    _, hvvars, hosts = lab.inventory()
    h = hosts[host]
    return (["ssh", "-i", hvvars["ansible_ssh_private_key_file"]] + shlex.split(hvvars["ansible_ssh_common_args"])
            + ["-p", str(hvvars["ansible_port"]), "%s@%s" % (h["ansible_user"], h["ansible_host"])])


def timed_here(name, argv, timeout):
    """Run argv on this machine (as root); {seconds, rc, stdout, stderr} like timed_on's steps."""
    t0 = time.monotonic()
    p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    done = {"name": name, "seconds": time.monotonic() - t0, "rc": p.returncode, "stdout": p.stdout[-20000:],
            "stderr": p.stderr[-4000:]}
    if p.returncode != 0:
        raise RuntimeError("here: %s -> %s" % (" ".join(map(shlex.quote, argv)), p.stderr.strip()))
    return done


def timed_on(host, steps, timeout):
    """Run [(name, argv)] on `host` as its user; {name: {seconds, rc, stdout, stderr}}."""
    payload = json.dumps([{"name": n, "argv": a} for n, a in steps])
    p = subprocess.run(ssh_argv(host) + ["python3 -c " + shlex.quote(REMOTE_TIMER)], input=payload,
                       capture_output=True, text=True, timeout=timeout)
    if p.returncode != 0:
        raise RuntimeError("on %s: timer failed (rc %d): %s" % (host, p.returncode, p.stderr.strip()))
    done = {s["name"]: s for s in json.loads(p.stdout)}
    for name, argv in steps:
        if name not in done or done[name]["rc"] != 0:
            err = done.get(name, {}).get("stderr", "not run")
            raise RuntimeError("on %s: %s -> %s" % (host, " ".join(map(shlex.quote, argv)), err.strip()))
    return done


class Bench(object):
    def __init__(self, args):
        self.args = args
        _, _, self.hosts = lab.inventory()
        self.name = "bench-ship-%s" % uuid.uuid4().hex[:8]
        self.scratch = {h: "%s/%s" % (self.hosts[h]["ferry_host_root"], self.name)
                        for h in (args.source, args.target)}
        self.where = args.source          # host the guest currently runs on
        self.bw_kib = int(args.bwlimit_mbit * 1e6 / 8 / 1024) if args.bwlimit_mbit > 0 else 0
        self.runs = {"loopback": [], "emulated": []}
        self.commands = {}
        self.info = {}
        self.problems = []

    def other(self, host):
        return self.args.target if host == self.args.source else self.args.source

    # -- set-up ---------------------------------------------------------------------------------
    def boot_with_delta(self):
        a = self.args
        lab.ok(lab.run_playbook("boot.yml", instance=self.name, flavor=a.flavor, image=a.image, host=a.source))
        for h in self.scratch:
            lab.ssh(h, "mkdir -p -m 0700 %s" % shlex.quote(self.scratch[h]))
        disk = lab.disk_path(a.source, self.name)
        chain = lab.qemu_img_info(a.source, disk)
        vsize = chain[0]["virtual-size"]
        first = (a.delta_mb + 1) // 2          # over the base's data: the overlay shadows the base
        second = a.delta_mb - first            # past it, at half the virtual size
        if MIB + first * MIB > vsize // 2 or second * MIB > vsize // 2:
            raise SystemExit("--delta-mb %d does not fit a %d MiB disk" % (a.delta_mb, vsize // MIB))
        lab.virsh(a.source, "destroy", self.name)
        cmds = ["-c %s" % shlex.quote("write -P 90 1M %dM" % first)]
        if second:
            cmds.append("-c %s" % shlex.quote("write -P 91 %d %dM" % (vsize // 2, second)))
        qemu_io = "qemu-io -f qcow2 %s %s" % (" ".join(cmds), shlex.quote(disk))
        lab.ssh(a.source, qemu_io)
        lab.virsh(a.source, "start", self.name)
        chain = lab.qemu_img_info(a.source, disk)
        self.commands["delta"] = "on %s, guest stopped: %s" % (a.source, qemu_io)
        self.info.update(virtual_size=vsize, base_bytes=chain[1]["actual-size"],
                         overlay_bytes=chain[0]["actual-size"])

    # -- the two ways ---------------------------------------------------------------------------
    def baseline(self, bw_kib):
        """Nova 2014 by hand: flatten on the source, rsync the flattened image to the target."""
        src, dst = self.where, self.other(self.where)
        disk = lab.disk_path(src, self.name)
        flat_src = "%s/disk.qcow2_rbase" % self.scratch[src]
        flat_dst = "%s/disk.qcow2_rbase" % self.scratch[dst]
        convert = ["qemu-img", "convert", "-f", "qcow2", "-O", "qcow2", disk, flat_src]
        ssh = " ".join(map(shlex.quote, ssh_argv(dst)[:-1]))
        rsync = ferry_ship.rsync_argv(flat_src, "%s:%s" % (ssh_argv(dst)[-1], flat_dst), bw_kib, ssh=ssh)
        lab.virsh(src, "destroy", self.name)  # stopped, as for any cold move (no OS: forced)
        try:
            done = timed_on(src, [("convert", convert)], timeout=900)
            done["copy"] = timed_here("copy", rsync, timeout=900)
            # untimed sanity check: a complete, standalone image arrived
            info = json.loads(lab.ssh(dst, "qemu-img info --output=json -f qcow2 " + shlex.quote(flat_dst)))
            if "backing-filename" in info or info["virtual-size"] != self.info["virtual_size"]:
                raise RuntimeError("flattened copy on %s is not standalone: %s" % (dst, info))
            flat_bytes = int(lab.ssh(src, "stat -c %s " + shlex.quote(flat_src)).strip())
        finally:
            lab.ssh(src, "rm -f " + shlex.quote(flat_src), check=False)
            lab.ssh(dst, "rm -f " + shlex.quote(flat_dst), check=False)
            lab.virsh(src, "start", self.name, check=False)
        key = "nova_bw" if bw_kib else "nova"
        self.commands.setdefault(key, ["on %s as its user: %s" % (src, " ".join(map(shlex.quote, convert))),
                                       "then here, as root: %s" % " ".join(map(shlex.quote, rsync))])
        stats = ferry_ship.parse_stats(done["copy"]["stdout"])
        return {"dir": "%s->%s" % (src, dst), "convert_s": done["convert"]["seconds"],
                "copy_s": done["copy"]["seconds"], "copy_bytes": stats["bytes_sent"], "flat_bytes": flat_bytes}

    def ferry(self, bw_kib, **run_kw):
        """migrate.yml of the guest to the other host; run_kw for lab.run_playbook (inventory, binary)."""
        src, dst = self.where, self.other(self.where)
        extra = {"instance": self.name, "target_host": dst, "ferry_auto_confirm": True, "ferry_shutdown_timeout": 0}
        if self.hosts[src]["az"] != self.hosts[dst]["az"]:
            extra["ferry_allow_cross_az"] = True
        if bw_kib:
            extra["ferry_bwlimit"] = bw_kib
        t0 = time.monotonic()
        r = lab.ok(lab.run_playbook("migrate.yml", **run_kw, **extra))
        wall = time.monotonic() - t0
        res = r.task_result(MOVE_TASK)["ansible_facts"]["ferry_move_result"]
        ship = r.task_result(SHIP_TASK)
        if (res["source"], res["target"]) != (src, dst):
            raise RuntimeError("ferry moved %s -> %s, expected %s -> %s" % (res["source"], res["target"], src, dst))
        self.where = dst
        key = "ferry_bw" if bw_kib else "ferry"
        self.commands.setdefault(key, [
            "ansible-playbook playbooks/migrate.yml " + " ".join("-e %s=%s" % (k, str(v).lower() if isinstance(v, bool)
                                                                              else v) for k, v in extra.items())
            + "   (via ansible-runner; instance/hosts as in this run)",
            "its ship step, on %s: %s | %s" % (src, " ".join(map(shlex.quote, ferry_ship.tar_create_argv(
                lab.disk_path(src, self.name), "disk.qcow2"))), " ".join(map(shlex.quote, ferry_ship.receive_argv(
                    dst, {"area": "instance", "key": self.name, "name": "disk.qcow2"}))))])
        return {"dir": "%s->%s" % (src, dst), "bytes": res["bytes_shipped"], "rsync_s": ship["seconds"],
                "ship_phase_s": res["phases_s"]["ship_delta"], "downtime_s": res["downtime_s"],
                "total_s": res["total_s"], "playbook_s": wall, "overlay_file": ship["file_bytes"],
                "overlay_alloc": ship["allocated_bytes"], "base_from": res["base_image"]}

    def run(self):
        for i in range(self.args.runs):
            for link, bw in (("loopback", 0), ("emulated", self.bw_kib)):
                if link == "emulated" and not bw:
                    continue
                nova = self.baseline(bw)
                fer = self.ferry(bw)
                self.runs[link].append({"nova": nova, "ferry": fer})
                print("  run %d %-8s nova %s: convert %.2fs copy %.2fs %s B | ferry %s: send %.2fs phase %.2fs %s B"
                      % (i + 1, link, nova["dir"], nova["convert_s"], nova["copy_s"], f"{nova['copy_bytes']:,}",
                         fer["dir"], fer["rsync_s"], fer["ship_phase_s"], f"{fer['bytes']:,}"), flush=True)

    def present_on(self):
        """Hosts still holding the guest; raises when one cannot be asked."""
        return [h for h in self.scratch if self.name in lab.virsh(h, "list", "--all", "--name").split()]

    def cleanup(self):
        # a host may be briefly unreachable (tests on the same lab restart sshds): retry a while
        for _ in range(8):
            r = lab.run_playbook("delete.yml", instance=self.name)
            try:
                if not self.present_on():
                    break
            except AssertionError:
                pass
            time.sleep(10)
        else:
            self.problems.append("delete.yml %s did not remove it: %s" % (self.name, r.failures()))
        for h, d in self.scratch.items():
            lab.ssh(h, "rm -rf " + shlex.quote(d), check=False)
        for h in self.scratch:
            try:
                left = lab.ssh(h, "ls -d %s %s/%s 2>/dev/null; true" % (
                    shlex.quote(self.scratch[h]), shlex.quote(self.hosts[h]["ferry_instances_dir"]), self.name)).strip()
                left += (" domain " + self.name) if h in self.present_on() else ""
            except AssertionError as e:
                left = "could not check (%s)" % e
            if left:
                self.problems.append("left on %s: %s" % (h, left))


# -- report -------------------------------------------------------------------------------------
def med(values):
    return statistics.median(values) if values else float("nan")


def secs(values):
    return "%.2f (%.2f-%.2f)" % (med(values), min(values), max(values))


def nbytes(values):
    m = med(values)
    return "%s (%.1f MiB)" % (f"{int(m):,}", m / MIB)


def table(rows, header):
    widths = [max(len(str(r[i])) for r in [header] + rows) for i in range(len(header))]

    def line(r):
        return "  ".join(str(c).ljust(w) if i < 2 else str(c).rjust(w) for i, (c, w) in enumerate(zip(r, widths))).rstrip()

    return "\n".join([line(header), line(["-" * w for w in widths])] + [line(r) for r in rows])


def report(b, argv, wall):
    a = b.args
    print()
    print("command: .venv/bin/python tests/bench/bench_ship.py " + " ".join(argv))
    print("settings: image=%s flavor=%s delta=%d MiB runs=%d hosts=%s(%s)<->%s(%s) bwlimit=%s"
          % (a.image, a.flavor, a.delta_mb, a.runs, a.source, b.hosts[a.source]["az"], a.target, b.hosts[a.target]["az"],
             "%g Mbit/s = --bwlimit=%d KiB/s" % (a.bwlimit_mbit, b.bw_kib) if b.bw_kib else "off"))
    print("guest %s: virtual %d MiB, base %s B allocated, overlay after the delta %s B allocated"
          % (b.name, b.info["virtual_size"] // MIB, f"{b.info['base_bytes']:,}", f"{b.info['overlay_bytes']:,}"))
    print("delta written with: " + b.commands["delta"])
    rows, ratios, notes = [], [], []
    for link in ("loopback", "emulated"):
        runs = b.runs[link]
        if not runs:
            continue
        f = [r["ferry"] for r in runs]
        n = [r["nova"] for r in runs]
        tag = "loopback" if link == "loopback" else "EMULATED %g Mbit/s*" % a.bwlimit_mbit
        fk, nk = ("ferry", "nova") if link == "loopback" else ("ferry_bw", "nova_bw")
        fb, nb = [x["bytes"] for x in f], [x["copy_bytes"] for x in n]
        both = [x["convert_s"] + x["copy_s"] for x in n]
        rows += [
            [tag, "ferry: tar --sparse stream (ship step)", nbytes(fb), secs([x["rsync_s"] for x in f]), "[%s]" % fk],
            [tag, "ferry: ship_delta phase (stream + sha256 both ends + Ansible)", nbytes(fb),
             secs([x["ship_phase_s"] for x in f]), "[%s]" % fk],
            [tag, "ferry: downtime (stop -> running on target)", "-", secs([x["downtime_s"] for x in f]), "[%s]" % fk],
            [tag, "ferry: whole migrate.yml, total_s of the move", "-", secs([x["total_s"] for x in f]), "[%s]" % fk],
            [tag, "nova-2014: qemu-img convert (flatten, local)", "0", secs([x["convert_s"] for x in n]), "[%s]" % nk],
            [tag, "nova-2014: rsync of the flattened image", nbytes(nb), secs([x["copy_s"] for x in n]), "[%s]" % nk],
            [tag, "nova-2014: flatten + copy", nbytes(nb), secs(both), "[%s]" % nk],
        ]
        f_rsync, f_phase = med([x["rsync_s"] for x in f]), med([x["ship_phase_s"] for x in f])
        ratios.append("%-22s bytes %5.1fx | time: copy vs send %4.1fx, flatten+copy vs ferry's send %4.1fx, "
                      "flatten+copy vs ferry's whole ship_delta phase %4.1fx"
                      % (tag + ":", med(nb) / med(fb), med([x["copy_s"] for x in n]) / f_rsync, med(both) / f_rsync,
                         med(both) / f_phase))
        notes.append("%s runs: nova %s; ferry %s; flattened file %s B; overlay shipped %s B (allocated %s B); "
                     "base on target from: %s" % (
                         link, ", ".join(x["dir"] for x in n), ", ".join(x["dir"] for x in f),
                         "/".join(f"{x['flat_bytes']:,}" for x in n), "/".join(f"{x['overlay_file']:,}" for x in f),
                         "/".join(f"{x['overlay_alloc']:,}" for x in f), "/".join(str(x["base_from"]) for x in f)))
    print()
    print(table(rows, ["link", "method / step", "bytes on the wire", "seconds median (min-max)", "cmd"]))
    print()
    print("ratios baseline/ferry (medians):")
    for r in ratios:
        print("  " + r)
    print()
    print("commands:")
    for key in ("ferry", "nova", "ferry_bw", "nova_bw"):
        for i, c in enumerate(b.commands.get(key, [])):
            print("  %-10s %s" % ("[%s]" % key if i == 0 else "", c))
    print()
    for note in notes:
        print("  " + note)
    print("  bytes: baseline = rsync --stats 'Total bytes sent' (protocol level, before ssh); ferry = the tar "
          "stream its ship module counted (bytes_shipped); seconds timed around each command (convert on the "
          "source host, the baseline's copy here) "
          "(ferry's send: the ship task's `seconds`); phase/downtime from the move result.")
    if b.bw_kib:
        print("  * EMULATED link: rsync paces itself with --bwlimit=%d KiB/s over loopback (ferry's ship module "
              "paces its stream to ferry_bwlimit); "
              "no real link, no latency, no tc. Flatten is local, so it is timed again but not limited." % b.bw_kib)
    print("  caveats: page cache warm (base read before), shared lab (other tests may run concurrently), "
          "guest stopped by force (ferry_shutdown_timeout=0), so downtime excludes a graceful shutdown.")
    footer(wall, b.problems)


def footer(wall, problems):
    print("wall time of the whole benchmark: %.0f s" % wall)
    for p in problems:
        print("PROBLEM: " + p)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image", default="fat", help="base image from the store (default fat)")
    parser.add_argument("--delta-mb", type=int, default=8, help="MiB written into the overlay (default 8)")
    parser.add_argument("--runs", type=int, default=3, help="runs per method, median reported (default 3)")
    parser.add_argument("--bwlimit-mbit", type=float, default=200,
                        help="also run both shipping steps under rsync --bwlimit at this rate; 0 = skip (default 200)")
    parser.add_argument("--flavor", default="m1.small")
    parser.add_argument("--source", default="hv-a1")
    parser.add_argument("--target", default="hv-b1")
    args = parser.parse_args(argv)
    if args.runs < 1 or args.delta_mb < 1 or args.source == args.target:
        parser.error("need --runs >= 1, --delta-mb >= 1 and two different hosts")
    if not os.path.exists(lab.INVENTORY):
        parser.error("the lab is not up (no %s): run `make lab`" % lab.INVENTORY)
    full = ["--image", args.image, "--delta-mb", str(args.delta_mb), "--runs", str(args.runs),
            "--bwlimit-mbit", "%g" % args.bwlimit_mbit]
    for opt, default in (("flavor", "m1.small"), ("source", "hv-a1"), ("target", "hv-b1")):
        if getattr(args, opt) != default:
            full += ["--" + opt, getattr(args, opt)]
    t0 = time.monotonic()
    b = Bench(args)
    print("bench guest %s on %s (%s, %s), delta %d MiB" % (b.name, args.source, args.image, args.flavor, args.delta_mb),
          flush=True)
    failed = None
    try:
        b.boot_with_delta()
        b.run()
    except (Exception, KeyboardInterrupt) as e:  # report what ran, clean up, then fail
        failed = e
        b.problems.append("aborted: %s: %s" % (type(e).__name__, str(e)[-2000:]))
    finally:
        b.cleanup()
    if b.runs["loopback"]:
        report(b, full, time.monotonic() - t0)
    else:
        for p in b.problems:
            print("PROBLEM: " + p)
    return 1 if failed or b.problems else 0


if __name__ == "__main__":
    sys.exit(main())
