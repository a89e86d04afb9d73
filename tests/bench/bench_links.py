"""Benchmark (not a test): ferry over emulated links (tests/bench/netlab.py), per link profile.

For each profile (1gbit, 200mbit: tc tbf on veth pairs between network namespaces, no added
latency: this kernel has no netem), on the running lab:

  (a) raw throughput host to host over the shaped link, against the profile's rate:
      rsync   rsync over ssh with ferry's rsync options, run as root in the source host's namespace
              with the controller's key into the target host's user over its namespace sshd (hosts
              may run only each other's peer dispatcher, so no rsync server; bench_ship.py does the
              same on loopback); bytes from `rsync --stats`.
      ferry   ferry's own transport, as the source host's user in its namespace: GNU tar --sparse |
              ssh nl-<target> receive <scratch instance> (the target's peer dispatcher), timed on the
              source host.
      A file of --mib MiB of random data (incompressible: ssh compression is off anyway).
  (b) a real `playbooks/migrate.yml` of a small lab guest (bench-links-*, booted from --image with a
      --delta-mb MiB delta written into its overlay, as bench_ship.py does), run by ansible-runner
      with ansible-playbook inside the controller's namespace and the bench inventory: every ssh
      (controller -> hosts, host -> host) and the image store's HTTP cross shaped links.  Wall time
      of the playbook, and the move result's downtime_s / total_s / phases / bytes_shipped, read from
      the "Sum up the move" task as bench_ship.py reads them.  ferry_shutdown_timeout=0 (forced stop).
  (c) payload bytes against the interfaces' counters for (a) and (b): nftables per-peer counters
      (IP packets source -> target, counted on the target's input), the source veth's `ip -s link`
      counters and its tbf qdisc's counters (all peers), with the difference explained.

    flock /tmp/ferry-lab.lock .venv/bin/python tests/bench/bench_links.py [--profiles 1gbit,200mbit]
        [--mib 256] [--image tiny] [--delta-mb 8] [--source hv-a1] [--target hv-b1]

The guest moves source -> target in the first profile, back in the second, and so on.  The guest,
scratch files and the emulated links are removed at the end (also on failure or ^C).
"""

import argparse
import os
import shlex
import sys
import time
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HERE = os.path.dirname(os.path.abspath(__file__))
for p in (ROOT, HERE):
    if p not in sys.path:
        sys.path.insert(0, p)

import bench_ship  # noqa: E402  (sets up ansible.module_utils for ferry_ship)
import netlab  # noqa: E402
from ansible.module_utils import ferry_ship  # noqa: E402

from tests.integration import lab  # noqa: E402

MIB = 1024 ** 2
ETH_HDR = 14          # Ethernet header per frame: in the veth counters, not in nftables' IP counts
ETH_EXTRA = 24        # preamble + SFD 8, FCS 4, inter-frame gap 12: on a real wire, counted nowhere here


def mbit(nbytes, seconds):
    return nbytes * 8 / seconds / 1e6 if seconds > 0 else float("nan")


def wire(delta, src, dst):
    """What crossed the links for a transfer src -> dst, from the counters' delta."""
    s, d = delta[src], delta[dst]
    ip = d["from"][src]   # the receiver's input: segments as they crossed the link (tbf split them)
    return {"ip_bytes": ip["bytes"], "ip_packets": ip["packets"],
            "eth_bytes": ip["bytes"] + ETH_HDR * ip["packets"],
            "back_ip_bytes": s["from"][dst]["bytes"],
            "src_link_tx": s["link"]["tx_bytes"], "src_link_tx_packets": s["link"]["tx_packets"],
            "src_qdisc": s["qdisc"]["bytes"], "src_qdisc_packets": s["qdisc"]["packets"],
            "drops": s["qdisc"]["drops"], "dst_link_rx": d["link"]["rx_bytes"]}


class LinksBench(object):
    def __init__(self, args):
        self.args = args
        self.ship = bench_ship.Bench(argparse.Namespace(
            image=args.image, flavor=args.flavor, delta_mb=args.delta_mb, source=args.source, target=args.target,
            runs=1, bwlimit_mbit=0))
        self.ship.name = "bench-links-%s" % uuid.uuid4().hex[:8]
        self.hosts = self.ship.hosts
        self.scratch = {h: "%s/netlab-%s" % (self.hosts[h]["ferry_host_root"], uuid.uuid4().hex[:8])
                        for h in (args.source, args.target)}
        self.probe_instance = "netlab-probe-%s" % uuid.uuid4().hex[:8]
        self.results = []
        self.problems = []

    def setup(self):
        a = self.args
        for h, d in self.scratch.items():
            lab.ssh(h, "mkdir -p -m 0755 %s" % shlex.quote(d))
        self.payload = "%s/payload.bin" % self.scratch[a.source]
        lab.ssh(a.source, "head -c %d /dev/urandom > %s && chmod 0644 %s"
                % (a.mib * MIB, shlex.quote(self.payload), shlex.quote(self.payload)))
        self.ship.boot_with_delta()

    # -- (a) raw transfers ----------------------------------------------------------------------
    def raw_rsync(self, net, src, dst):
        key = net.key
        ssh = "ssh -i %s -o UserKnownHostsFile=%s -o StrictHostKeyChecking=yes -o BatchMode=yes -p %d" % (
            key, net.known_hosts, net.port)
        dest = "%s@%s:%s/payload.bin" % (self.hosts[dst]["ansible_user"], net.addr[dst], self.scratch[dst])
        argv = netlab.in_ns(src, ferry_ship.rsync_argv(self.payload, dest, 0, ssh=ssh))
        before = net.counters()
        t0 = time.monotonic()
        p = netlab.run(argv, timeout=900)
        secs = time.monotonic() - t0
        after = net.counters()
        stats = ferry_ship.parse_stats(p.stdout)
        lab.ssh(dst, "rm -f %s/payload.bin" % shlex.quote(self.scratch[dst]))
        return {"what": "rsync over ssh (root in %s's namespace, controller key)" % src, "seconds": secs,
                "payload": stats["bytes_sent"], "cmd": " ".join(map(shlex.quote, argv)),
                "wire": wire(net.delta(before, after), src, dst)}

    def raw_ferry(self, net, src, dst):
        peer = {"area": "instance", "key": self.probe_instance, "name": "payload.bin"}
        tar = ferry_ship.tar_create_argv(self.payload, "payload.bin")
        recv = ferry_ship.receive_argv(net.alias[dst], peer)
        pipeline = "%s | %s" % (" ".join(map(shlex.quote, tar)), " ".join(map(shlex.quote, recv)))
        # timed on the source host; the tar stream's size counted there too (wc -c in a tee branch
        # would cost a copy: tar's own --totals prints it)
        script = ("t0=$(date +%%s.%%N); %s; rc=$?; t1=$(date +%%s.%%N); echo \"rc=$rc t0=$t0 t1=$t1\""
                  % pipeline.replace("--file=-", "--totals --file=-", 1))
        before = net.counters()
        p = net.ssh(src, script, timeout=900)
        after = net.counters()
        last = [ln for ln in p.stdout.splitlines() if ln.startswith("rc=")]   # (the dispatcher prints too)
        fields = dict(kv.split("=", 1) for kv in (last[-1].split() if last else []))
        if fields.get("rc") != "0":
            raise RuntimeError("ferry transport %s -> %s failed: %s %s" % (src, dst, p.stdout, p.stderr))
        total = [ln for ln in p.stderr.splitlines() if ln.startswith("Total bytes written")]
        stream = int(total[0].split(":")[1].split()[0]) if total else None
        lab.ssh(dst, "rm -rf %s/%s" % (shlex.quote(self.hosts[dst]["ferry_instances_dir"]), self.probe_instance))
        return {"what": "ferry: tar --sparse | ssh %s receive (as %s's user)" % (net.alias[dst], src),
                "seconds": float(fields["t1"]) - float(fields["t0"]), "payload": stream,
                "cmd": "on %s (%s): %s" % (src, netlab.ns_name(src), pipeline),
                "wire": wire(net.delta(before, after), src, dst)}

    # -- (b) a real migration -------------------------------------------------------------------
    def migrate(self, net):
        src = self.ship.where
        dst = self.ship.other(src)
        before = net.counters()
        t0 = time.monotonic()
        res = self.ship.ferry(0, inventory=net.inventory, env=net.runner_env())
        wall = time.monotonic() - t0
        after = net.counters()
        delta = net.delta(before, after)
        res.update(wall_s=wall, wire=wire(delta, src, dst), src=src, dst=dst,
                   ctl_bytes=delta["ctl"]["link"]["tx_bytes"] + delta["ctl"]["link"]["rx_bytes"],
                   store_tx=delta["store"]["link"]["tx_bytes"])
        return res

    def run_profile(self, profile):
        a = self.args
        out = {"profile": profile, "rate": netlab.PROFILES[profile], "raw": []}
        self.results.append(out)   # reported even when a later step fails
        with netlab.links(profile) as net:
            out["tbf"] = net.tbf
            out["netem"] = net.netem
            out["raw"].append(self.raw_rsync(net, a.source, a.target))
            out["raw"].append(self.raw_ferry(net, a.source, a.target))
            for r in out["raw"]:
                print("  %s (a) %-62s %6.2f s %7.1f Mbit/s payload (%.0f%% of the link)"
                      % (profile, r["what"], r["seconds"], mbit(r["payload"], r["seconds"]),
                         100 * mbit(r["payload"], r["seconds"]) * 1e6 / out["rate"]), flush=True)
            out["move"] = self.migrate(net)
            m = out["move"]
            print("  %s (b) migrate.yml %s: wall %.1f s, downtime %.2f s, total_s %.1f, %s B shipped, base from %s"
                  % (profile, m["dir"], m["wall_s"], m["downtime_s"], m["total_s"], f"{m['bytes']:,}",
                     m["base_from"]), flush=True)

    def cleanup(self):
        try:
            self.ship.cleanup()
        finally:
            self.problems += self.ship.problems
            for h, d in self.scratch.items():
                lab.ssh(h, "rm -rf %s %s/%s" % (shlex.quote(d), shlex.quote(self.hosts[h]["ferry_instances_dir"]),
                                                self.probe_instance), check=False)


def report(b, argv, wall):
    a = b.args
    print()
    print("command: flock /tmp/ferry-lab.lock .venv/bin/python tests/bench/bench_links.py " + " ".join(argv))
    print("hosts %s (%s) -> %s (%s); payload file %d MiB random; guest %s: image %s, flavor %s, delta %d MiB"
          % (a.source, b.hosts[a.source]["az"], a.target, b.hosts[a.target]["az"], a.mib, b.ship.name, a.image,
             a.flavor, a.delta_mb))
    if b.results and "netem" in b.results[0]:
        ok, why = b.results[0]["netem"]
        print("netem: %s" % ("available" if ok else "not available (%s): no added latency, no loss" % why))
    print()
    print("(a) raw transfer host to host over the shaped link")
    print("  %-8s %-56s %14s %8s %12s %8s" % ("profile", "transfer", "payload B", "s", "Mbit/s", "of rate"))
    for r in b.results:
        for x in r["raw"]:
            rate = mbit(x["payload"], x["seconds"])
            print("  %-8s %-56s %14s %8.2f %12.1f %7.0f%%" % (r["profile"], x["what"][:56], f"{x['payload']:,}",
                                                           x["seconds"], rate, 100 * rate * 1e6 / r["rate"]))
    print()
    print("(b) migrate.yml over the emulated links (ferry_shutdown_timeout=0, ferry_auto_confirm=true)")
    print("  %-8s %-14s %8s %10s %8s %11s %11s %12s %6s" % ("profile", "move", "wall s", "downtime s", "total s",
                                                           "ship phase", "ship send", "shipped B", "base"))
    for r in b.results:
        if "move" not in r:
            continue
        m = r["move"]
        print("  %-8s %-14s %8.1f %10.2f %8.1f %10.2fs %10.2fs %12s %6s" % (
            r["profile"], m["dir"], m["wall_s"], m["downtime_s"], m["total_s"], m["ship_phase_s"], m["rsync_s"],
            f"{m['bytes']:,}", m["base_from"]))
    print()
    print("(c) payload vs interface counters, source -> target (bytes)")
    print("  %-8s %-22s %13s %13s %8s %13s %8s %13s %13s %9s %6s" % (
        "profile", "transfer", "payload", "IP (nft)", "IP/pay", "+eth hdr", "eth/pay", "src veth tx",
        "src tbf tx", "tbf pkts", "drops"))
    for r in b.results:
        rows = [(name, x["payload"], x["wire"]) for name, x in zip(("rsync", "ferry tar|ssh"), r["raw"])]
        if "move" in r:
            rows.append(("migrate.yml ship", r["move"]["bytes"], r["move"]["wire"]))
        for name, pay, w in rows:
            print("  %-8s %-22s %13s %13s %8.4f %13s %8.4f %13s %13s %9s %6s" % (
                r["profile"], name, f"{pay:,}", f"{w['ip_bytes']:,}", w["ip_bytes"] / pay, f"{w['eth_bytes']:,}",
                w["eth_bytes"] / pay, f"{w['src_link_tx']:,}", f"{w['src_qdisc']:,}", f"{w['src_qdisc_packets']:,}",
                w["drops"]))
        if "move" not in r:
            continue
        m = r["move"]
        print("  %-8s migrate.yml: controller link (Ansible, both ways) %s B; store link tx %s B; target -> source "
              "(ACKs, verify answers) %s B IP" % (r["profile"], f"{m['ctl_bytes']:,}", f"{m['store_tx']:,}",
                                                    f"{m['wire']['back_ip_bytes']:,}"))
    print()
    print("  payload: rsync = `rsync --stats` Total bytes sent; ferry = the tar stream (tar --totals; for the move, "
          "bytes_shipped of the move result, all its files).")
    print("  IP (nft) = nftables counter in the target's namespace, input, saddr = the source: IP packets as they "
          "crossed the link (tbf's 32 KiB burst makes it cut TCP's GSO super-packets into MTU-sized segments, each "
          "with its headers). +eth hdr adds 14 B per frame: the Ethernet frames without FCS. src veth tx "
          "(`ip -s link`) and src tbf tx (the qdisc's own count) are the same frames to every peer (the "
          "controller's Ansible traffic too). A real Ethernet wire adds %d B per frame more (preamble, FCS, "
          "inter-frame gap: +1.6%% at 1514 B frames) that no counter here sees." % ETH_EXTRA)
    print("  The difference payload -> wire: ssh's framing (per ssh packet of up to 32 KiB: length, padding, "
          "16 B MAC: ~0.1%), the ssh handshake and exec request (a few KiB per connection), TCP/IP headers "
          "(52 B per segment of 1448 B payload with timestamps: 3.6%) and Ethernet's 14 B (1%); tbf shapes "
          "on L2 bytes, so at most ~95% of a link's rate can be payload.")
    for r in b.results:
        if "tbf" not in r:
            continue
        t = r["tbf"]
        print("  %s: tc qdisc ... tbf rate %dbit burst %d limit %d on both ends of every veth"
              % (r["profile"], t["rate"], t["burst"], t["limit"]))
    for i, x in enumerate(b.results[0]["raw"] if b.results else []):
        print("  %s %s" % ("commands:" if i == 0 else "         ", x["cmd"]))
    if b.results:
        print("            ip netns exec ferry-nl-ctl ansible-playbook -i /run/ferry-netlab/inventory/hosts.yml "
              "playbooks/migrate.yml -e instance=%s -e target_host=... -e ferry_auto_confirm=true "
              "-e ferry_shutdown_timeout=0 -e ferry_allow_cross_az=true (via ansible-runner)" % b.ship.name)
    bench_ship.footer(wall, b.problems)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profiles", default="1gbit,200mbit", help="comma-separated (%s)" % ", ".join(netlab.PROFILES))
    parser.add_argument("--mib", type=int, default=256, help="MiB of the raw transfer's file (default 256)")
    parser.add_argument("--image", default="tiny")
    parser.add_argument("--flavor", default="m1.small")
    parser.add_argument("--delta-mb", type=int, default=8)
    parser.add_argument("--source", default="hv-a1")
    parser.add_argument("--target", default="hv-b1")
    args = parser.parse_args(argv)
    profiles = args.profiles.split(",")
    if any(p not in netlab.PROFILES for p in profiles) or args.source == args.target or args.mib < 1:
        parser.error("profiles among %s, two different hosts, --mib >= 1" % ", ".join(netlab.PROFILES))
    if not os.path.exists(lab.INVENTORY):
        parser.error("the lab is not up (no %s): run `make lab`" % lab.INVENTORY)
    netlab.sigterm_as_interrupt()
    t0 = time.monotonic()
    b = LinksBench(args)
    failed = None
    try:
        b.setup()
        for profile in profiles:
            b.run_profile(profile)
    except (Exception, KeyboardInterrupt) as e:  # report what ran, clean up, then fail
        failed = e
        b.problems.append("aborted: %s: %s" % (type(e).__name__, str(e)[-2000:]))
    finally:
        b.cleanup()
    report(b, argv, time.monotonic() - t0)
    return 1 if failed or b.problems else 0


if __name__ == "__main__":
    sys.exit(main())
