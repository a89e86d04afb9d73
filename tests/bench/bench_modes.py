"""Benchmark (not a test): ferry's transfer against Nova's two old ones, over emulated links.

For each base size (--sizes, GiB of real allocated data: 40% random, 40% compressible text, 20%
zeros), in turn: a base image is generated into the lab's store, a guest (bench-modes-*) is booted
from it on --source (root namespace, loopback: set-up is not measured) and a delta of --delta-mb MiB
of random data is written into its overlay (half over the base's data, half past it).  Then, for
each link profile (tests/bench/netlab.py: namespaces, veth pairs shaped with tc tbf, no added
latency: this kernel has no netem), with the base NOT cached on the target and then cached, each
transfer mode of ferry moves the guest --source -> --target with `playbooks/migrate.yml` run in the
controller's namespace (every ssh and the store's HTTP cross the shaped links):

  flatten  Nova 2014: after the stop, overlay + base flattened on the source, copied whole.
  overlay  Nova since 2015: after the stop, the overlay ships, then the base is fetched.
  ferry    ferry_transfer_mode=ferry, ferry_precopy=true: the base into the target's cache and the
           bulk of the overlay while the guest runs; after the stop only what it wrote since, in the
           one-call stop window (the target's finish armed before the stop, started by the source's
           go over the host link).
  ferry2   the same with ferry_stop_window=two-calls (the controller calls the target after the
           source's call): not in the default --modes; name it to see what the one-call window saves.

The guest stops gracefully (ACPI; the lab guest's boot sector powers off at once); its own shutdown
time is measured apart (on the source, by its libvirt: the ACPI request, then its state every
10 ms until shut off) and shown beside the
downtime.  Downtime = the move result's downtime_s: from the stop request (the source's clock, in
its call) to the guest's start (the target's clock, in its finish); the lab's hosts share one
clock.  The controller's own view (downtime_controller_s, its task boundaries) is kept beside it.
After each move the target's disk
is compared with the source's (`qemu-img compare`, untimed) and the move is reverted (revert.yml,
root namespace) so every run starts alike; "not cached" deletes the base from the target's cache
first.  Bytes: the move's payload (bytes_shipped host to host, the base's size when it was fetched)
and the interfaces' counters (IP bytes into the target from the source and from the store).

--repeat N moves the guest N times in each cell of ferry's own modes (their downtime is under a
second, so one sample says little about flatness; flatten and overlay run once): the report keeps
the move with the median downtime, the median wall time, and lists every sample.

Writes <--out>/<--name>.json (every figure), .md (tables, targets) and .png (downtime and wall
time against base size, per mode, link and cache state), and prints the tables and the run's
duration.  --merge A.json B.json ... makes one report of several runs (no lab needed).  Each
size's image, guest and caches are deleted before the next size (disk space: a 16 GiB base needs
~70 GiB while it is moved).

    flock /tmp/ferry-lab.lock .venv/bin/python tests/bench/bench_modes.py [--sizes 1,4,16]
        [--profiles 1gbit,200mbit] [--modes flatten,overlay,ferry] [--delta-mb 256] [--out artifacts/bench]
        [--name bench_modes] [--no-writer] [--repeat N]
    .venv/bin/python tests/bench/bench_modes.py --merge A.json B.json [--name bench_modes]
"""

import argparse
import hashlib
import json
import os
import random
import shlex
import statistics
import subprocess
import sys
import time
import uuid

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HERE = os.path.dirname(os.path.abspath(__file__))
for p in (ROOT, HERE):
    if p not in sys.path:
        sys.path.insert(0, p)

import netlab  # noqa: E402

from tests.integration import lab  # noqa: E402

MIB, GIB = 1024 ** 2, 1024 ** 3
MODES = ("flatten", "overlay", "ferry")
EXTRA_MODES = ("ferry2",)   # ferry in the two-calls stop window
MOVE_TASK = "Sum up the move"
SHIP_PREFIX = "Ship the guest's"
WORDS = ("request", "served", "GET", "POST", "/api/v1/items", "user", "session", "cache", "miss", "hit",
         "ms", "status=200", "status=404", "worker", "queue", "commit", "rollback", "INFO", "WARN", "DEBUG")


def text_corpus(rng, size):
    """Log-like text (compresses 3-6x with zstd), `size` bytes."""
    out, n = [], 0
    while n < size:
        line = "2026-11-%02dT%02d:%02d:%02d.%03dZ host-%02d %s[%d]: %s\n" % (
            rng.randrange(1, 31), rng.randrange(24), rng.randrange(60), rng.randrange(60), rng.randrange(1000),
            rng.randrange(40), rng.choice(WORDS), rng.randrange(1 << 16),
            " ".join(rng.choice(WORDS) for _ in range(rng.randrange(4, 12))))
        out.append(line)
        n += len(line)
    return "".join(out).encode()[:size]


def make_base(path, gib, seed):
    """A bootable lab base (the lab's boot sector) with `gib` GiB of data after its first MiB:
    chunks of 1 MiB, 40% random, 40% text, 20% zeros (written as holes), in a seeded order;
    virtual size gib + 1 GiB.  Returns {virtual, random, text, zero} bytes."""
    sys.path.insert(0, os.path.join(ROOT, "roles", "lab", "files"))
    import make_image
    rng = random.Random(seed)
    corpus = text_corpus(rng, 16 * MIB)
    raw = path + ".raw"
    counts = {"random": 0, "text": 0, "zero": 0}
    with open(raw, "wb") as f:
        f.write(make_image.boot_sector())
        f.seek(MIB)
        for _ in range(gib * 1024):
            kind = rng.choices(("random", "text", "zero"), (4, 4, 2))[0]
            counts[kind] += MIB
            if kind == "random":
                f.write(rng.randbytes(MIB))
            elif kind == "text":
                off = rng.randrange(0, len(corpus) - MIB)
                f.write(corpus[off:off + MIB])
            else:
                f.seek(MIB, 1)
        f.truncate((gib + 1) * GIB)
    try:
        subprocess.run(["qemu-img", "convert", "-q", "-f", "raw", "-O", "qcow2", raw, path], check=True)
    finally:
        os.unlink(raw)
    os.chmod(path, 0o644)
    return dict(counts, virtual=(gib + 1) * GIB)


def sha256_of(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(8 * MIB), b""):
            h.update(block)
    return h.hexdigest()


def remove_guest(name):
    """delete.yml; a move this bench interrupted (^C) holds the guest's lease: recover.yml breaks it
    (its controller, this process, is gone) and settles the guest first."""
    import re
    r = lab.run_playbook("delete.yml", instance=name, ferry_delete_takeover=True)
    held = re.search(r"ferry_break_lease=([0-9a-f-]+)", " ".join(r.failures()))
    if r.rc and held:
        lab.run_playbook("recover.yml", instance=name, ferry_break_lease=held.group(1))
        r = lab.run_playbook("delete.yml", instance=name, ferry_delete_takeover=True)
    if r.rc:
        print("could not delete %s: %s" % (name, r.failures()), flush=True)


def q(s):
    return shlex.quote(str(s))


def mbit(nbytes, seconds):
    return nbytes * 8 / seconds / 1e6 if seconds and seconds > 0 else float("nan")


class Bench(object):
    def __init__(self, args):
        self.args = args
        self.allvars, _, self.hosts = lab.inventory()
        self.store = os.path.join(self.allvars["vars"]["ferry_lab_root"], "store")
        with open(os.path.join(ROOT, "inventories/lab/group_vars/all/images.yml")) as f:
            self.images = yaml.safe_load(f)["ferry_images"]
        with open(os.path.join(ROOT, "inventories/lab/group_vars/all/flavors.yml")) as f:
            self.flavors = yaml.safe_load(f)["ferry_flavors"]
        self.runs, self.sizes, self.problems, self.writer_runs = [], [], [], []
        self.tag = uuid.uuid4().hex[:6]
        self.cur = None      # the size under way: {gib, image, file, sha, name, flavor}
        self.manifest_path = os.path.join(self.store, "manifest.json")
        with open(self.manifest_path) as f:
            self.manifest_original = f.read()

    # -- per size -------------------------------------------------------------------------------
    def extra(self):
        c = self.cur
        return {"ferry_images": dict(self.images, **{c["image"]: {
                    "file": c["file"], "properties": self.images["tiny"]["properties"]}}),
                "ferry_flavors": dict(self.flavors, **{c["flavor"]: {
                    "vcpus": 1, "memory_mb": 128, "disk_gb": c["gib"] + 1, "extra_specs": {}}})}

    def setup_size(self, gib):
        a = self.args
        image = "bench-%dg-%s" % (gib, self.tag)
        self.cur = c = {"gib": gib, "image": image, "file": image + ".qcow2", "flavor": "bench.%dg" % gib,
                        "name": "bench-modes-%dg-%s" % (gib, self.tag)}
        path = os.path.join(self.store, c["file"])
        t0 = time.monotonic()
        c["content"] = make_base(path, gib, seed=gib)
        c["sha"] = sha256_of(path)
        c["base_file_bytes"] = os.path.getsize(path)
        c["base_alloc_bytes"] = os.stat(path).st_blocks * 512
        manifest = json.loads(self.manifest_original)
        manifest["images"][image] = {"file": c["file"], "sha256": c["sha"], "size": c["base_file_bytes"],
                                     "format": "qcow2"}
        with open(self.manifest_path, "w") as f:
            json.dump(manifest, f)
        c["image_s"] = time.monotonic() - t0
        lab.ok(lab.run_playbook("boot.yml", instance=c["name"], flavor=c["flavor"], image=image, host=a.source,
                                **self.extra()))
        disk = lab.disk_path(a.source, c["name"])
        half = a.delta_mb // 2
        lab.virsh(a.source, "shutdown", c["name"])
        self.wait_state(a.source, c["name"], "shut off", 60)
        rnd = "%s/bench-delta-%s" % (self.hosts[a.source]["ferry_host_root"], self.tag)
        cmd = ("set -e; head -c %dM /dev/urandom > %s; qemu-io -f qcow2 -c %s -c %s %s >/dev/null; rm -f %s"
               % (half, q(rnd), q("write -s %s 1M %dM" % (rnd, half)),
                  q("write -s %s %dM %dM" % (rnd, gib * 1024 + 256, a.delta_mb - half)), q(disk), q(rnd)))
        lab.ssh(a.source, cmd)
        chain = lab.qemu_img_info(a.source, disk)
        c["overlay_alloc_bytes"] = chain[0]["actual-size"]
        # the guest's own shutdown, by itself: ACPI power button to `shut off` (as the moves stop it)
        lab.virsh(a.source, "start", c["name"])
        time.sleep(2)
        c["shutdown_s"] = self.own_shutdown(a.source, c["name"])
        lab.virsh(a.source, "start", c["name"])
        self.sizes.append(c)
        print("size %d GiB: base %s (%.0f MiB allocated, %.0f s to make), delta %.0f MiB, guest shutdown %.2f s"
              % (gib, image, c["base_alloc_bytes"] / MIB, c["image_s"], c["overlay_alloc_bytes"] / MIB,
                 c["shutdown_s"]), flush=True)

    def own_shutdown(self, host, name):
        """The guest's own shutdown, timed on its host by its libvirt as ferry's stop sees it: the
        ACPI request, then its state every 10 ms until shut off (seconds)."""
        script = ("import libvirt, sys, time; c = libvirt.open('qemu:///session'); d = c.lookupByName(sys.argv[1]); "
                  "t0 = time.monotonic(); d.shutdown()\n"
                  "while d.state()[0] != libvirt.VIR_DOMAIN_SHUTOFF:\n"
                  "    if time.monotonic() - t0 > 120: sys.exit('no shutoff in 120 s')\n"
                  "    time.sleep(0.01)\n"
                  "print(time.monotonic() - t0)")
        return float(lab.ssh(host, "python3 -c %s %s" % (q(script), q(name))).strip().splitlines()[-1])

    def wait_state(self, host, name, state, timeout):
        deadline = time.monotonic() + timeout
        while True:
            if lab.domain_state(host, name) == state:
                return time.monotonic()
            if time.monotonic() > deadline:
                raise RuntimeError("%s on %s did not reach %s in %d s" % (name, host, state, timeout))
            time.sleep(0.05)

    def cached_path(self, host):
        return "%s/%s.qcow2" % (self.hosts[host]["ferry_cache_dir"], self.cur["sha"])

    def teardown_size(self):
        c, a = self.cur, self.args
        if c is None:
            return
        remove_guest(c["name"])
        for h in (a.source, a.target):
            lab.ssh(h, "rm -f %s" % q(self.cached_path(h)), check=False) if c.get("sha") else None
        with open(self.manifest_path, "w") as f:
            f.write(self.manifest_original)
        try:
            os.unlink(os.path.join(self.store, c["file"]))
        except FileNotFoundError:
            pass
        self.cur = None

    # -- one move -------------------------------------------------------------------------------
    def move(self, net, mode, cached):
        a, c = self.args, self.cur
        src, dst = a.source, a.target
        if not cached:
            lab.ssh(dst, "rm -f %s" % q(self.cached_path(dst)))
        elif not lab.exists(dst, self.cached_path(dst)):
            # (--cached yes: no earlier move brought it) seeded as ferry_base_image leaves it: the
            # store's file, named by its sha256, owned by the host's user, read-only
            user = self.hosts[dst]["ansible_user"]
            path = self.cached_path(dst)
            subprocess.run(["install", "-o", user, "-g", user, "-m", "0444",
                            os.path.join(self.store, c["file"]), path], check=True)
        extra = dict(self.extra(), instance=c["name"], target_host=dst,
                     ferry_transfer_mode="ferry" if mode.startswith("ferry") else mode,
                     ferry_precopy=mode.startswith("ferry"),
                     ferry_stop_window="two-calls" if mode == "ferry2" else "one-call")
        if self.hosts[src]["az"] != self.hosts[dst]["az"]:
            extra["ferry_allow_cross_az"] = True
        before = net.counters()
        t0 = time.monotonic()
        r = lab.ok(lab.run_playbook("migrate.yml", inventory=net.inventory, env=net.runner_env(), **extra))
        wall = time.monotonic() - t0
        delta = net.delta(before, after=net.counters())
        res = r.task_result(MOVE_TASK)["ansible_facts"]["ferry_move_result"]
        ships = [e["event_data"]["res"] for e in r.events if e.get("event") == "runner_on_ok"
                 and e["event_data"].get("task", "").startswith(SHIP_PREFIX)]
        stop_s = max([s.get("stop_seconds") or 0 for s in ships] or [0])
        # the target's finish: its result came back with the source's call (one call), else the
        # controller asked for it (two calls, or the one-call window's fallback)
        finish = [e["event_data"]["res"] for e in r.events if e.get("event") == "runner_on_ok"
                  and e["event_data"].get("task", "").startswith(("Rebase, grow and check the disks",
                                                                   "Wait for the target's finish"))]
        finish += [s["target_finish"] for s in ships if isinstance(s.get("target_finish"), dict)]
        # (the move result says "several" when no base was wanted at all: flatten)
        fetched = res.get("base_image") in ("store", "source", "local")
        row = {"size_gib": c["gib"], "profile": net.profile, "rate_bit": netlab.PROFILES[net.profile],
               "cached": cached, "mode": mode, "wall_s": wall, "downtime_s": res["downtime_s"],
               "downtime_controller_s": res.get("downtime_controller_s"),
               "total_s": res["total_s"], "phases_s": res["phases_s"], "bytes_shipped": res["bytes_shipped"],
               "final_bytes": res["final_bytes"], "precopy_bytes": res["precopy_bytes"],
               "precopy_rounds": res["precopy_rounds"], "base_from": res["base_image"],
               "stop_call_s": stop_s, "shutdown_s": c["shutdown_s"],
               "final_ship_s": ships[-1].get("seconds") if ships else None,
               "finish_parts_s": finish[-1].get("seconds") if finish else None,
               "wire_host_ip_bytes": delta[dst]["from"][src]["bytes"],
               "wire_store_ip_bytes": delta[dst]["from"]["store"]["bytes"],
               "base_payload_bytes": c["base_file_bytes"] if fetched else 0,
               "overlay_alloc_bytes": c["overlay_alloc_bytes"], "base_alloc_bytes": c["base_alloc_bytes"]}
        # bytes that crossed a link after the stop, and their time at the link's rate
        after_stop = {"ferry": row["final_bytes"], "ferry2": row["final_bytes"],
                      "overlay": row["bytes_shipped"] + row["base_payload_bytes"],
                      "flatten": row["bytes_shipped"]}[mode]
        row["after_stop_bytes"] = after_stop
        row["wire_after_stop_s"] = after_stop * 8 / row["rate_bit"]
        row["ferry_own_s"] = row["downtime_s"] - row["shutdown_s"] - row["wire_after_stop_s"]
        # inside the window, by the modules' own clocks: the source call's stop (request, the guest's
        # shutdown, the wait for shutoff) and stream, the target call's parts; the rest is Ansible
        # (task start-up, module payloads, the controller's tasks between them)
        # one-call: the source's call until the go (stop, stream, go) and the target's finish by the
        # hosts' clocks; the rest is the target's reaction to the go (its 10 ms poll) and gaps
        if mode.startswith("ferry") and row["final_ship_s"] is not None and row["finish_parts_s"]:
            last = ships[-1]
            row["go_s"] = (last["go_at"] - last["stop_requested_at"] - stop_s - row["final_ship_s"]
                           if last.get("go_at") else 0.0)
            row["modules_s"] = stop_s + row["final_ship_s"] + row["go_s"] + sum(row["finish_parts_s"].values())
            row["ansible_s"] = row["downtime_s"] - row["modules_s"]
        row["payload_bytes"] = row["bytes_shipped"] + row["base_payload_bytes"]
        row["must_travel_bytes"] = c["overlay_alloc_bytes"] + (0 if cached else c["base_alloc_bytes"])
        # untimed: the target's disk holds what the source's does (root here reads both hosts' files)
        tdisk, sdisk = lab.disk_path(dst, c["name"]), lab.disk_path(src, c["name"])
        p = subprocess.run(["qemu-img", "compare", "-U", "-f", "qcow2", "-F", "qcow2", tdisk, sdisk],
                           capture_output=True, text=True)
        row["identical"] = p.returncode == 0
        if p.returncode:
            self.problems.append("%s %s: target disk differs from the source's: %s" % (mode, net.profile,
                                                                                     (p.stdout + p.stderr)[-300:]))
        lab.ok(lab.run_playbook("revert.yml", instance=c["name"]))
        if lab.domain_state(src, c["name"]) != "running":
            raise RuntimeError("%s is not running on %s after the revert" % (c["name"], src))
        print("  %2d GiB %-7s %-10s %-7s wall %7.1f s  downtime %6.2f s (shutdown %.2f, wire %.2f, ferry %.2f)  "
              "payload %8.1f MiB  %s" % (c["gib"], net.profile, "cached" if cached else "not cached", mode, wall,
                                         row["downtime_s"], row["shutdown_s"], row["wire_after_stop_s"],
                                         row["ferry_own_s"], row["payload_bytes"] / MIB,
                                         "identical" if row["identical"] else "DIFFERS"), flush=True)
        return row

    # -- a guest writing during the move ---------------------------------------------------------
    def writer(self, profiles):
        """The lab's Linux guest (TCG) writing 5 sequence-numbered blocks a second to its raw data disk,
        moved by ferry (pre-copy) over each link and reverted: downtime, rounds, and whether every write
        it acknowledged before the stop is on the target's disk."""
        from tests.faults.test_writing_guest import acks as console_acks, blocks_on
        from tests.integration import guests
        a = self.args
        src, dst = a.source, a.target
        name = "bench-modes-wr-%s" % self.tag
        g = guests.define_linux_guest(src, name, data_format="raw", writer=True)
        self.writer_name = name

        def acks():
            return console_acks(src, g["console"])[0]

        def wait_acks(n, timeout=240):
            deadline = time.monotonic() + timeout
            while len(acks()) < n:
                if time.monotonic() > deadline:
                    raise RuntimeError("%s wrote %d blocks in %d s" % (name, len(acks()), timeout))
                time.sleep(1)
        try:
            wait_acks(15)
            # its own shutdown (ACPI: the writer stops, marks the disk, powers off), then a fresh start
            shutdown_s = self.own_shutdown(src, name)
            lab.ssh(src, "dd if=/dev/zero of=%s bs=512 seek=2 count=1 conv=notrunc status=none; : > %s"
                    % (q(g["data"]), q(g["console"])))
            lab.virsh(src, "start", name)
            for profile in profiles:
                wait_acks(15)
                with netlab.links(profile, say=lambda *x: None) as net:
                    extra = {"instance": name, "target_host": dst, "ferry_precopy": True}
                    if self.hosts[src]["az"] != self.hosts[dst]["az"]:
                        extra["ferry_allow_cross_az"] = True
                    t0 = time.monotonic()
                    r = lab.ok(lab.run_playbook("migrate.yml", inventory=net.inventory, env=net.runner_env(),
                                                **extra))
                    wall = time.monotonic() - t0
                res = r.task_result(MOVE_TASK)["ansible_facts"]["ferry_move_result"]
                acked = acks()
                disk = lab.disk_path(dst, name, "data.raw")
                found = blocks_on(dst, disk, len(acked) + 50)
                missing = [n for n in acked if n not in found]
                row = {"profile": profile, "wall_s": wall, "downtime_s": res["downtime_s"], "shutdown_s": shutdown_s,
                       "precopy_rounds": res["precopy_rounds"], "precopy_bytes": res["precopy_bytes"],
                       "final_bytes": res["final_bytes"], "acked": len(acked), "missing": len(missing),
                       "running_on_target": lab.domain_state(dst, name) == "running"}
                self.writer_runs.append(row)
                if missing or not row["running_on_target"]:
                    self.problems.append("writing guest over %s: %d acknowledged writes missing on the target, "
                                         "running there: %s" % (profile, len(missing), row["running_on_target"]))
                print("  writer  %-7s wall %6.1f s  downtime %5.2f s (its shutdown %.2f s)  rounds %d  "
                      "%d writes acknowledged, %d missing on the target" % (
                          profile, wall, row["downtime_s"], shutdown_s, row["precopy_rounds"], len(acked),
                          len(missing)), flush=True)
                # back to the source, writing again: the stop marked its disk (the writer then idles at
                # boot), so the revert's restart is undone, the mark cleared and the guest started again
                lab.ok(lab.run_playbook("revert.yml", instance=name))
                lab.virsh(src, "destroy", name)
                lab.ssh(src, "dd if=/dev/zero of=%s bs=512 seek=2 count=1 conv=notrunc status=none; : > %s"
                        % (q(g["data"]), q(g["console"])))
                lab.virsh(src, "start", name)
        finally:
            remove_guest(name)
            guests.remove_pools(src)

    def run(self):
        a = self.args
        for gib in a.sizes:
            try:
                self.setup_size(gib)
                for profile in a.profiles:
                    with netlab.links(profile, say=lambda *x: None) as net:
                        for cached in {"both": (False, True), "yes": (True,), "no": (False,)}[a.cached]:
                            for mode in a.modes:
                                n = a.repeat if mode.startswith("ferry") else 1
                                self.runs.append(median_row([self.move(net, mode, cached) for _ in range(n)]))
            finally:
                self.teardown_size()
        if a.writer:
            self.writer(a.profiles)


def median_row(rows):
    """One cell's row from its repeats (--repeat): the move whose downtime is the median, with the
    median wall time, and every sample kept (samples_wall_s, samples_downtime_s) for the report."""
    if len(rows) == 1:
        return rows[0]
    by_down = sorted(rows, key=lambda r: r["downtime_s"])
    row = dict(by_down[(len(rows) - 1) // 2])
    row["wall_s"] = statistics.median(r["wall_s"] for r in rows)
    row["samples_wall_s"] = [r["wall_s"] for r in rows]
    row["samples_downtime_s"] = [r["downtime_s"] for r in rows]
    row["identical"] = all(r["identical"] for r in rows)
    return row


# -- report -------------------------------------------------------------------------------------
def find(runs, **kw):
    return [r for r in runs if all(r[k] == v for k, v in kw.items())]


def targets(runs, sizes):
    """The issue's targets, as ratios from this run's figures: [(target, figure, met)]."""
    out = []
    for r in find(runs, mode="ferry"):
        ratio = r["payload_bytes"] / r["must_travel_bytes"]
        out.append(("payload <= 1.05 x must travel: ferry, %d GiB, %s, %s" % (
            r["size_gib"], r["profile"], "cached" if r["cached"] else "not cached"), "%.3f" % ratio, ratio <= 1.05))
    for r in find(runs, mode="ferry"):
        flat = find(runs, mode="flatten", size_gib=r["size_gib"], profile=r["profile"], cached=r["cached"])
        if not flat:
            continue
        f = flat[0]
        key = "%d GiB, %s" % (r["size_gib"], r["profile"])
        if r["cached"]:
            need = 10 if r["size_gib"] >= 16 else 4 if r["size_gib"] >= 4 else None
            x = f["wall_s"] / r["wall_s"]
            if need:
                out.append(("end-to-end >= %dx faster than flatten, base cached: %s" % (need, key), "%.1fx" % x,
                            x >= need))
        else:
            x = f["downtime_s"] / r["downtime_s"]
            out.append(("downtime >= 10x shorter than flatten, base not cached: %s" % key, "%.1fx" % x, x >= 10))
            y = r["wall_s"] / f["wall_s"]
            out.append(("wall <= flatten + 10%%, base not cached: %s" % key, "%.2f x flatten" % y, y <= 1.10))
        bound = r["shutdown_s"] + 1.2 * r["wire_after_stop_s"] + 1.0
        out.append(("downtime <= shutdown + 1.2 x final/rate + 1 s: %s, %s" % (key, "cached" if r["cached"] else
                                                                               "not cached"),
                    "%.2f s (bound %.2f s)" % (r["downtime_s"], bound), r["downtime_s"] <= bound))
        out.append(("ferry's own time in the stop window <= 1 s: %s, %s" % (key, "cached" if r["cached"] else
                                                                           "not cached"),
                    "%.2f s" % r["ferry_own_s"], r["ferry_own_s"] <= 1.0))
    for r in find(runs, mode="ferry"):
        two = find(runs, mode="ferry2", size_gib=r["size_gib"], profile=r["profile"], cached=r["cached"])
        if two:
            out.append(("(side by side) one-call window shorter than two calls: %d GiB, %s, %s" % (
                r["size_gib"], r["profile"], "cached" if r["cached"] else "not cached"),
                "%.2f vs %.2f s downtime" % (r["downtime_s"], two[0]["downtime_s"]),
                r["downtime_s"] < two[0]["downtime_s"]))
    for profile in sorted(set(r["profile"] for r in runs)):
        for cached in (False, True):
            cells = sorted(find(runs, mode="ferry", profile=profile, cached=cached), key=lambda r: r["size_gib"])
            d = [r["downtime_s"] for r in cells]
            if len(d) >= 2:
                spread = (max(d) - min(d)) / min(d)
                out.append(("downtime flat within 20%% across sizes (%s): ferry, %s, %s" % (
                    ", ".join("%d" % r["size_gib"] for r in cells), profile,
                    "cached" if cached else "not cached"),
                    "%.0f%% (%s s)" % (100 * spread, " / ".join("%.2f" % x for x in d)), spread <= 0.20))
    return out


def runs_of(argv, wall):
    """[(argv, wall)] of the run(s) a report covers (a merged report: several)."""
    return list(zip(argv, wall)) if argv and isinstance(argv[0], list) else [(argv, wall)]


def markdown(b, argv, wall, tg):
    a = b.args
    lines = ["# bench_modes: ferry against Nova's flatten (2014) and overlay (2015) transfers", "",
             "%s; %s -> %s, delta %d MiB random, links tc tbf (no added latency: no netem in this kernel)." % (
                 "; ".join("`flock /tmp/ferry-lab.lock .venv/bin/python tests/bench/bench_modes.py %s` took %.0f s"
                           % (" ".join(x), w) for x, w in runs_of(argv, wall)), a.source, a.target, a.delta_mb), "",
             "| base GiB | link | base on target | mode | wall s | downtime s | guest shutdown s | wire after stop s "
             "| ferry's own s | payload MiB | must travel MiB | IP bytes host->host MiB | IP bytes store->target MiB "
             "| identical |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in b.runs:
        lines.append("| %d | %s | %s | %s | %.1f | %.2f | %.2f | %.2f | %.2f | %.1f | %.1f | %.1f | %.1f | %s |" % (
            r["size_gib"], r["profile"], "cached" if r["cached"] else "not cached", r["mode"], r["wall_s"],
            r["downtime_s"], r["shutdown_s"], r["wire_after_stop_s"], r["ferry_own_s"], r["payload_bytes"] / MIB,
            r["must_travel_bytes"] / MIB, r["wire_host_ip_bytes"] / MIB, r["wire_store_ip_bytes"] / MIB,
            "yes" if r["identical"] else "NO"))
    rep = [r for r in b.runs if r.get("samples_wall_s")]
    if rep:
        lines += ["", "## Repeated cells (--repeat): every sample", "",
                  "The row above is the move with the median downtime, shown with the median wall time.", "",
                  "| base GiB | link | base on target | mode | wall s (each move) | downtime s (each move) |",
                  "|---|---|---|---|---|---|"]
        for r in rep:
            lines.append("| %d | %s | %s | %s | %s | %s |" % (
                r["size_gib"], r["profile"], "cached" if r["cached"] else "not cached", r["mode"],
                " / ".join("%.1f" % x for x in r["samples_wall_s"]),
                " / ".join("%.2f" % x for x in r["samples_downtime_s"])))
    if b.writer_runs:
        lines += ["", "## A guest writing during the move (ferry, pre-copy)", "",
                  "The lab's Linux guest (TCG) writes a sequence-numbered 512-byte block 5 times a second "
                  "(`dd oflag=direct conv=fsync`), acknowledged on its console; ACPI shutdown.", "",
                  "| link | wall s | downtime s | its shutdown s | pre-copy rounds | final KiB | writes acknowledged "
                  "| missing on the target |", "|---|---|---|---|---|---|---|---|"]
        for w in b.writer_runs:
            lines.append("| %s | %.1f | %.2f | %.2f | %d | %.0f | %d | %d |" % (
                w["profile"], w["wall_s"], w["downtime_s"], w["shutdown_s"], w["precopy_rounds"],
                w["final_bytes"] / 1024, w["acked"], w["missing"]))
    window = [r for r in b.runs if r.get("modules_s") is not None]
    if window:
        lines += ["", "## ferry's stop window, part by part (pre-copy)", "",
                  "| base GiB | link | base on target | window | downtime s | source call: stop s "
                  "| source call: stream s | source call: go s | target call parts s | modules in all s "
                  "| between and around s |",
                  "|---|---|---|---|---|---|---|---|---|---|---|"]
        for r in window:
            lines.append("| %d | %s | %s | %s | %.2f | %.2f | %.2f | %s | %s | %.2f | %.2f |" % (
                r["size_gib"], r["profile"], "cached" if r["cached"] else "not cached",
                "two calls" if r["mode"] == "ferry2" else ("one call" if "go_s" in r else "two calls"),
                r["downtime_s"], r["stop_call_s"], r["final_ship_s"],
                "%.2f" % r["go_s"] if "go_s" in r else "-",
                ", ".join("%s %.2f" % kv for kv in r["finish_parts_s"].items()), r["modules_s"], r["ansible_s"]))
    lines += ["", "## Commands (the same transport for every mode, no compression in any)", "",
              "- each move: `ip netns exec ferry-nl-ctl ansible-playbook -i /run/ferry-netlab/inventory/hosts.yml "
              "playbooks/migrate.yml -e instance=<guest> -e target_host=%s -e ferry_transfer_mode=<mode> "
              "[-e ferry_precopy=true for ferry] -e ferry_allow_cross_az=true` plus the bench's image and flavor "
              "(`ferry_images`, `ferry_flavors`), through ansible-runner; then `revert.yml` (root namespace, "
              "not timed)" % a.target,
              "- host to host, every mode: `tar --create --sparse --hole-detection=seek --file=- ... | ssh nl-%s "
              "receive instance <guest>` (the target's peer dispatcher), hashed on both ends as it streams" % a.target,
              "- flatten, on the source after the stop: `qemu-img convert -q -f qcow2 -O qcow2 <overlay> "
              "<instance dir>/flat-<move>-vda.qcow2`, shipped as above under the overlay's name, no rebase",
              "- the base, when the target lacks it: `ferry_base_image` on the target, HTTP GET from the store "
              "(`http://198.18.0.3:<port>/<file>`), sha256 verified; ferry and flatten before the stop (flatten "
              "needs none), overlay after the overlay shipped"]
    lines += ["", "## Targets", "", "| target | figure | met |", "|---|---|---|"]
    lines += ["| %s | %s | %s |" % (t, fig, "yes" if ok else "**no**") for t, fig, ok in tg]
    lines += ["", "Sizes: " + "; ".join("%d GiB base: %.0f MiB allocated (random %d MiB, text %d MiB, zero %d MiB "
                                        "as holes), virtual %d GiB" % (s["gib"], s["base_alloc_bytes"] / MIB,
                                                                       s["content"]["random"] // MIB,
                                                                       s["content"]["text"] // MIB,
                                                                       s["content"]["zero"] // MIB,
                                                                       s["content"]["virtual"] // GIB)
                                        for s in b.sizes),
              "",
              "Downtime: the move result's downtime_s (the source's stop request to the target's start of the "
              "guest, by the hosts' clocks; runs before the one-call window: the controller's task boundaries).  "
              "Guest shutdown: the ACPI request to `shut off`, timed apart on the source "
              "by its libvirt (state polled every 10 ms).  "
              "Wire after stop: the bytes that crossed a link after the stop (ferry: the final layers; overlay: "
              "the overlay and the base when it was fetched; flatten: the flattened disk) at the link's rate.  "
              "Ferry's own = downtime - shutdown - wire after stop.  Payload: bytes_shipped host to host plus the "
              "base's allocated size when it was fetched; the IP columns are nftables counters on the target "
              "(TCP/IP headers included, ~3.6% over the payload at full segments; ssh framing ~0.1%)."]
    if getattr(b, "replaced", None):
        lines += ["", "Measured again in a later run (its row above replaces the earlier run's): "
                  + "; ".join(b.replaced) + "."]
    if b.problems:
        lines += ["", "Problems: " + "; ".join(b.problems)]
    return "\n".join(lines) + "\n"


def plot(runs, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import ScalarFormatter
    profiles = sorted(set(r["profile"] for r in runs), key=lambda p: -netlab.PROFILES[p])
    fig, axes = plt.subplots(2, len(profiles), figsize=(6 * len(profiles), 8), squeeze=False)
    colors = {"flatten": "tab:red", "overlay": "tab:orange", "ferry": "tab:green", "ferry2": "tab:olive"}
    for j, profile in enumerate(profiles):
        for i, (metric, label) in enumerate((("downtime_s", "downtime (s)"), ("wall_s", "wall time (s)"))):
            ax = axes[i][j]
            for mode in MODES + EXTRA_MODES:
                for cached in (False, True):
                    pts = sorted((r["size_gib"], r[metric]) for r in find(runs, mode=mode, profile=profile,
                                                                          cached=cached))
                    if pts:
                        ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", color=colors[mode],
                                linestyle="-" if cached else "--",
                                label="%s, base %s" % (mode, "cached" if cached else "not cached"))
            ax.set_xscale("log", base=2)
            ax.set_yscale("log")
            sizes = sorted(set(r["size_gib"] for r in runs))
            ax.set_xticks(sizes)
            ax.xaxis.set_major_formatter(ScalarFormatter())
            ax.yaxis.set_major_formatter(ScalarFormatter())
            ax.yaxis.set_minor_formatter(ScalarFormatter())
            ax.set_xlabel("base size (GiB)")
            ax.set_ylabel(label)
            ax.set_title("%s, %s" % (label.split(" (")[0], profile))
            ax.grid(True, which="both", alpha=0.3)
            if i == 0 and j == 0:
                ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="1,4,16", help="base sizes, GiB of data (default 1,4,16)")
    ap.add_argument("--profiles", default="1gbit,200mbit", help="comma-separated (%s)" % ", ".join(netlab.PROFILES))
    ap.add_argument("--modes", default=",".join(MODES))
    ap.add_argument("--delta-mb", type=int, default=256)
    ap.add_argument("--source", default="hv-a1")
    ap.add_argument("--target", default="hv-b1")
    ap.add_argument("--out", default=os.path.join(ROOT, "artifacts", "bench"))
    ap.add_argument("--writer", action=argparse.BooleanOptionalAction, default=True,
                    help="also move the lab's Linux guest while it writes (default on)")
    ap.add_argument("--cached", choices=("both", "yes", "no"), default="both",
                    help="base on the target: not cached then cached (both, default), or only one")
    ap.add_argument("--repeat", type=int, default=1,
                    help="moves per cell of ferry's own modes (ferry, ferry2); the report takes the median "
                         "downtime's move and the median wall time, and lists every sample (default 1)")
    ap.add_argument("--name", default="bench_modes", help="file name of the outputs (default bench_modes)")
    ap.add_argument("--merge", nargs="+", metavar="JSON",
                    help="no run: one report (JSON, Markdown, PNG, targets) from these runs' JSON files")
    args = ap.parse_args(argv)
    if args.merge:
        return merge(args)
    try:
        args.sizes = [int(s) for s in args.sizes.split(",") if s]
    except ValueError:
        ap.error("--sizes: comma-separated whole GiB")
    args.profiles, args.modes = args.profiles.split(","), args.modes.split(",")
    if any(p not in netlab.PROFILES for p in args.profiles) or any(m not in MODES + EXTRA_MODES for m in args.modes):
        ap.error("profiles among %s, modes among %s" % (", ".join(netlab.PROFILES), ", ".join(MODES + EXTRA_MODES)))
    if args.repeat < 1:
        ap.error("--repeat: at least 1")
    if any(s < 1 for s in args.sizes) or args.delta_mb < 2 or args.source == args.target or not (
            args.sizes or args.writer):
        ap.error("sizes >= 1 GiB (none: --sizes '' with the writer), --delta-mb >= 2, two different hosts")
    if not os.path.exists(lab.INVENTORY):
        ap.error("the lab is not up (no %s): run `make lab`" % lab.INVENTORY)
    netlab.sigterm_as_interrupt()
    os.makedirs(args.out, exist_ok=True)
    t0 = time.monotonic()
    b = Bench(args)
    failed = None
    try:
        b.run()
    except (Exception, KeyboardInterrupt) as e:
        failed = e
        b.problems.append("aborted: %s: %s" % (type(e).__name__, str(e)[-2000:]))
    wall = time.monotonic() - t0
    write(b, argv, wall)
    print("the run took %.0f s (%.1f min)" % (wall, wall / 60))
    return 1 if failed or b.problems else 0


def write(b, argv, wall):
    a = b.args
    tg = targets(b.runs, b.sizes)
    md = markdown(b, argv, wall, tg)
    base = os.path.join(a.out, a.name)
    with open(base + ".json", "w") as f:
        json.dump({"argv": argv, "wall_s": wall, "source": a.source, "target": a.target, "delta_mb": a.delta_mb,
                   "sizes": b.sizes, "runs": b.runs, "writer": b.writer_runs,
                   "targets": [{"target": t, "figure": fig, "met": ok} for t, fig, ok in tg],
                   "problems": b.problems}, f, indent=1)
    with open(base + ".md", "w") as f:
        f.write(md)
    if b.runs:
        plot(b.runs, base + ".png")
    print()
    print(md)
    print("wrote %s.{json,md%s}" % (base, ",png" if b.runs else ""))


def merge(args):
    """One report from several runs' JSON (e.g. the 16 GiB size run on its own)."""
    import types
    parts = []
    for path in args.merge:
        with open(path) as f:
            parts.append(json.load(f))
    first = parts[0]
    # a cell (size, link, cache state, mode) measured again in a later part replaces the earlier
    # part's: the report keeps one row per cell, and says which were replaced
    cells, sizes, replaced = {}, {}, []
    for path, p in zip(args.merge, parts):
        for r in p["runs"]:
            key = (r["size_gib"], r["profile"], r["cached"], r["mode"])
            if key in cells:
                replaced.append("%d GiB %s %s %s of %s by %s" % (
                    key[0], key[1], "cached" if key[2] else "not cached", key[3], os.path.basename(cells[key][0]),
                    os.path.basename(path)))
            cells[key] = (path, r)
        for c in p["sizes"]:
            sizes[c["gib"]] = c
    b = types.SimpleNamespace(
        args=argparse.Namespace(source=first.get("source", "hv-a1"), target=first.get("target", "hv-b1"),
                                delta_mb=first.get("delta_mb", 256), out=args.out, name=args.name),
        runs=[r for _, r in cells.values()], sizes=[sizes[g] for g in sorted(sizes)],
        writer_runs=[w for p in parts for w in p.get("writer", [])],
        problems=[x for p in parts for x in p.get("problems", [])], replaced=replaced)
    os.makedirs(args.out, exist_ok=True)
    write(b, [p["argv"] for p in parts], [p["wall_s"] for p in parts])
    return 0


if __name__ == "__main__":
    sys.exit(main())
