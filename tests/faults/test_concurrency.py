"""Many moves at once against tight capacity (FERRY_CONCURRENCY moves, 8 by default; `make faults`
runs 20): separate ansible-playbook processes, half of them with a private /tmp (`unshare -m`), so
nothing local to one controller can serialise them.  A sampler reads every host throughout, through
the host's own virsh (as the host's user) and its claims directory, never ferry's facts, and
asserts that committed RAM and vCPUs never exceed ratio x capacity; each move completes or fails
with the scheduler's or the claim's report; no claim or lease remains."""

import glob
import json
import os
import re
import subprocess
import threading
import time
import pytest

from tests.integration import lab
from tests.faults.test_regress_lease import meta_xml

N = int(os.environ.get("FERRY_CONCURRENCY", "8"))
HOSTS = ("hv-a1", "hv-a2", "hv-b1", "hv-b2")
SMALL_MB = 128


def host_virsh(host, command):
    """virsh as the host's own user on this machine (cheaper than ssh, same session daemon)."""
    _, _, hosts = lab.inventory()
    root = hosts[host]["ferry_host_root"]
    argv = ["runuser", "-u", hosts[host]["ansible_user"], "--", "env", "HOME=" + root,
            "XDG_RUNTIME_DIR=%s/.run" % root, "virsh", "-q", "-c", "qemu:///session", command]
    return subprocess.run(argv, capture_output=True, text=True, timeout=60).stdout


def committed(host):
    """(RAM MiB, vCPUs) committed on a host now: every defined domain, plus each live claim whose
    guest has no domain there yet (a same-host claim adds its other flavor)."""
    names = host_virsh(host, "list --all --name").split()
    mem = cpus = 0
    doms = {}
    if names:
        out = host_virsh(host, "; ".join("dominfo %s" % n for n in names))
        for block in out.split("Id:")[1:]:
            name = re.search(r"Name:\s+(\S+)", block).group(1)
            m = int(re.search(r"Max memory:\s+(\d+)", block).group(1)) // 1024
            c = int(re.search(r"CPU\(s\):\s+(\d+)", block).group(1))
            doms[name] = (m, c)
            mem, cpus = mem + m, cpus + c
    for path in glob.glob("%s/*.json" % lab.inventory()[2][host]["ferry_claims_dir"]):
        try:
            with open(path) as f:
                c = json.load(f)
        except (OSError, ValueError):
            continue
        if c.get("expires") is not None and c["expires"] <= time.time():
            continue
        if c["instance"] not in doms:
            mem, cpus = mem + c["memory_mb"], cpus + c["vcpus"]
        elif c.get("old"):
            other = c["old"] if doms[c["instance"]] == (c["memory_mb"], c["vcpus"]) else c
            mem, cpus = mem + other["memory_mb"], cpus + other["vcpus"]
    return mem, cpus


@pytest.mark.matrix  # a stress run: make faults / make test-full
def test_concurrent_moves_never_overcommit(guest_name):
    # Boot N small guests spread over the 4 hosts; each moves to the other host of its AZ, so every
    # host is a source and a target.  (A host's vCPUs are capped by what libvirt reports, 2 cores
    # here x ratio 4, so no host can be the source of all of them.)
    roomy = {"vcpus": 64, "memory_mb": 16384, "disk_gb": 500}
    partner = {"hv-a1": "hv-a2", "hv-a2": "hv-a1", "hv-b1": "hv-b2", "hv-b2": "hv-b1"}
    # Up to 8 moves: sources hv-a1/hv-b1, targets hv-a2/hv-b2.  More: spread over all 4 hosts, each
    # moving to the other host of its AZ (a host's vCPUs are capped by what libvirt reports, 2
    # cores here x ratio 4, so one host cannot be the source of 10 guests).
    src_hosts = HOSTS if N > 8 else ("hv-a1", "hv-b1")
    sources = {}
    for i in range(N):
        name = guest_name("cc%02d" % i)
        src = src_hosts[i % len(src_hosts)]
        lab.ok(lab.run_playbook("boot.yml", instance=name, flavor="m1.small", image="tiny", host=src,
                                ferry_capacity=roomy))
        sources[name] = src
    targets = partner
    recv = sorted(set(partner[s] for s in sources.values()))
    # Tight RAM on the receiving hosts: room for only part of what is sent to each.
    base = max(committed(h)[0] for h in recv)
    per_target = N // len(recv)
    cap = {"vcpus": 64, "memory_mb": base + SMALL_MB * max(1, per_target - 2), "disk_gb": 500}
    ratio = {"ram": 1.0, "cpu": 4.0}  # the lab's ferry_scheduler ratios
    cores = min(cap["vcpus"], os.cpu_count())  # declared capacity is capped by what libvirt reports
    limit = {h: (cap["memory_mb"] * ratio["ram"], cores * ratio["cpu"]) for h in recv}

    peak = {h: [0, 0] for h in recv}
    over = []
    stop = threading.Event()

    def sample():
        while not stop.is_set():
            for h in recv:
                m, c = committed(h)
                peak[h] = [max(peak[h][0], m), max(peak[h][1], c)]
                if m > limit[h][0] or c > limit[h][1]:
                    over.append((h, m, c))

    sampler = threading.Thread(target=sample)
    sampler.start()
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(lab.ROOT, "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    playbook = [os.path.join(lab._BIN, "ansible-playbook"), "playbooks/migrate.yml",
                "-e", json.dumps({"ferry_capacity": cap})]
    procs = {}
    t0 = time.monotonic()
    for i, (name, src) in enumerate(sorted(sources.items())):
        argv = playbook + ["-e", "instance=" + name, "-e", "target_host=" + targets[src]]
        if i % 2:
            argv = ["unshare", "-m", "sh", "-c", 'mount -t tmpfs tmpfs /tmp && exec "$@"', "sh"] + argv
        procs[name] = subprocess.Popen(argv, cwd=lab.ROOT, env=env, stdout=subprocess.PIPE,
                                       stderr=subprocess.STDOUT, text=True)
    outs = {n: p.communicate(timeout=1800)[0] for n, p in procs.items()}
    elapsed = time.monotonic() - t0
    stop.set()
    sampler.join()

    done = sorted(n for n, p in procs.items() if p.returncode == 0)
    failed = sorted(n for n, p in procs.items() if p.returncode != 0)
    print("\n%d moves at once in %.1f s: %d completed, %d refused" % (N, elapsed, len(done), len(failed)))
    for h in recv:
        print("  %s: peak committed RAM %d MiB of %d (ratio x capacity), vCPUs %d of %d"
              % (h, peak[h][0], limit[h][0], peak[h][1], limit[h][1]))
    assert not over, "over-committed: %s" % over[:5]
    for n in failed:
        assert ("No host could be claimed" in outs[n] or "No valid host" in outs[n]
                or "claim refused" in outs[n]), outs[n][-3000:]
        assert lab.dominfo(sources[n], n)["state"] == "running"
    assert done, "no move completed"
    for n in done:
        assert lab.domain_state(targets[sources[n]], n) == "running"
    for h in HOSTS:
        assert not [c for c in lab.claims(h) if c.startswith("cc") and c[:-5] in failed], lab.claims(h)
        for n in sources:
            if lab.domain_state(h, n) != "absent":
                assert "<lease" not in meta_xml(h, n), "%s keeps a lease on %s" % (n, h)
    for n in done:  # the kept moves end cleanly too
        lab.ok(lab.run_playbook("confirm.yml", instance=n))
    for h in HOSTS:
        assert not [c for c in lab.claims(h) if c[:-5] in sources], lab.claims(h)
