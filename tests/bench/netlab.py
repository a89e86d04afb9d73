"""Emulated links for benchmarks: the running lab's hosts, image store and controller behind
shaped veth links in network namespaces.

    with netlab.links(profile="1gbit") as net:
        net.ctl_argv(["ansible-playbook", "-i", net.inventory, "playbooks/migrate.yml", ...])

What it builds on the lab that `make lab` started (run it under `flock /tmp/ferry-lab.lock`):

- network namespaces ferry-nl-<node>: one per lab host (hv-a1 ...), `store`, `ctl`, and `sw`, the
  switch, holding a bridge; each node is joined to the switch by a veth pair (`nl0` in the node,
  `nl-<node>` on the bridge).  Addresses exist ONLY inside these namespaces, from 198.18.0.0/24
  (the benchmarking range, RFC 2544): ctl .2, store .3, a host .<last octet of its lab address>
  (hv-a1 127.0.1.11 -> 198.18.0.11).  Nothing is added to the root namespace.
- each link shaped in both directions (egress of both veth ends) with `tc qdisc ... tbf`: a transfer
  host -> host crosses the sender's egress and the switch port's egress towards the receiver, both at
  the profile's rate.  Profiles: 1gbit and 200mbit.  No added latency: this kernel has no netem
  (CONFIG_NET_SCH_NETEM is not set; there is no modprobe either); `netem_available()` checks and the
  set-up prints it.  10 Gbit/s is not offered: ssh + rsync tops out near 2 Gbit/s on this machine,
  so such a link would measure the CPU, not the link.
- in each host's namespace a second sshd for that host: the lab's own sshd_config (same user, host
  key, authorized_keys, the same SetEnv XDG_RUNTIME_DIR, so the host's libvirt session daemon is
  found through its socket file) listening on the host's 198.18 address instead.  The host's
  libvirt daemon stays where the lab started it, in the root namespace, with its guests and bridges:
  only the traffic that goes through ssh (the controller's Ansible, host-to-host shipping) and the
  image store's HTTP crosses the emulated links.
- the image store: `python -m http.server` in the store namespace, serving the lab's store directory
  on 198.18.0.3, same port.
- a bench inventory, a copy of the lab's (inventories/lab), with ansible_host, ferry_image_store_url
  and a known_hosts for the 198.18 addresses, and `ferry_ssh_alias: nl-<host>` for every host, so
  host-to-host ssh (`ssh nl-hv-b1 receive ...`) goes to the peer's 198.18 address.  For that, each
  host user's ~/.ssh/config gets a marked block `Host nl-<peer>` (HostName the peer's 198.18
  address, BindAddress its own, HostKeyAlias the peer's lab entry in known_hosts, so known_hosts is
  untouched), and the `from="..."` of the peer keys in each authorized_keys is widened with the
  peer's 198.18 address.  Both edits are undone on exit (and by --clean): the block is removed, the
  198.18 addresses are taken out of every from= again.
- byte counters: `counters()` reads, in every node namespace, the veth's `ip -s -j link` counters,
  the tbf qdisc's counters (`tc -s -j qdisc`) and nftables counters per peer address (who sent what
  to whom: output by destination, input by source); `delta(before, after)` subtracts.  tbf's burst
  (32 KiB) is below a GSO super-packet's 64 KiB, so tbf cuts every super-packet into MTU-sized
  segments: the veth counters and the receiver's input counters count real frames (each with its
  own headers); the sender's output counter sees the super-packets TCP built (headers once each).
- teardown on exit, also on an exception or ^C (SIGTERM is turned into one by the CLI and the
  bench): every process in the namespaces is ended by its pid (`ip netns pids`), the namespaces are
  deleted (their veths with them), the ssh edits undone, the state directory removed.  A run that
  was killed outright leaves them: `python tests/bench/netlab.py --clean` (or `make netlab-clean`).

Command line (root, lab up):

    flock /tmp/ferry-lab.lock .venv/bin/python tests/bench/netlab.py --profile 200mbit [-- COMMAND...]

sets the links up, runs COMMAND inside the controller's namespace ({inventory} in it is replaced
by the bench inventory's path) or waits for ^C, and tears everything down.  From Python,
`lab.run_playbook(name, inventory=net.inventory, env=net.runner_env(), ...)` runs a playbook through
ansible-runner with its ansible-playbook in the controller's namespace (bench_links.py does).

Checked on the lab: status.yml and migrate.yml through the links; a SIGTERM while up tears down;
after a SIGKILL a new run refuses to start and --clean removes every namespace, process and edit
(the hosts' ssh files come back byte for byte: only the marked block and the 198.18 from= entries
are ever added).
"""

import argparse
import contextlib
import glob
import ipaddress
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LAB_INVENTORY = os.path.join(ROOT, "inventories", "lab")
NS_PREFIX = "ferry-nl-"
STATE_DIR = "/run/ferry-netlab"
BENCH_NET = ipaddress.ip_network("198.18.0.0/15")
SUBNET = ipaddress.ip_network("198.18.0.0/24")
CTL_ADDR, STORE_ADDR = "198.18.0.2", "198.18.0.3"
BRIDGE = "nlbr0"
NODE_IF = "nl0"
MARK_BEGIN = "# BEGIN ferry-netlab: emulated links (tests/bench/netlab.py removes this block on exit)"
MARK_END = "# END ferry-netlab"
NFT_TABLE = "ferry_netlab"
# link rate, bit/s
PROFILES = {"1gbit": 1_000_000_000, "200mbit": 200_000_000}
# how long a full queue may hold a packet (tbf `limit` = rate x this + burst)
QUEUE_S = 0.02
# how much tbf lets through at line speed before it paces (tbf `burst`): 32 KiB, on purpose below
# the 64 KiB of a GSO super-packet: tbf then splits every super-packet into MTU-sized segments, so
# the veths and the receiver's counters see the frames a real wire would carry (measured here: at
# 1 Gbit/s a 200 MiB TCP stream ran at 949 Mbit/s of payload with burst 32 KiB as with 125 KB; with
# GSO turned off in TCP instead, at 460 Mbit/s: CPU-bound on 2 cores)
BURST = 32 * 1024


def run(argv, check=True, input=None, timeout=120):
    p = subprocess.run(argv, capture_output=True, text=True, input=input, timeout=timeout)
    if check and p.returncode != 0:
        raise RuntimeError("%s -> rc %d: %s" % (" ".join(map(shlex.quote, argv)), p.returncode,
                                                (p.stderr or p.stdout).strip()))
    return p


def ns_name(node):
    return NS_PREFIX + node


def in_ns(node, argv):
    return ["ip", "netns", "exec", ns_name(node)] + list(argv)


def our_namespaces():
    out = run(["ip", "-j", "netns", "list"], check=False).stdout.strip()
    return [n["name"] for n in json.loads(out or "[]") if n["name"].startswith(NS_PREFIX)]


def tbf_params(rate):
    """tbf settings for a link of `rate` bit/s: {rate, burst, limit} (bytes)."""
    return {"rate": rate, "burst": BURST, "limit": int(rate / 8 * QUEUE_S) + BURST}


def netem_available():
    """Whether tc can add a netem qdisc (it cannot on this kernel): tried in a scratch namespace."""
    ns = NS_PREFIX + "probe"
    run(["ip", "netns", "add", ns], check=False)
    try:
        run(["ip", "-n", ns, "link", "set", "lo", "up"], check=False)
        p = run(["tc", "-n", ns, "qdisc", "add", "dev", "lo", "root", "netem", "delay", "1ms"], check=False)
        return p.returncode == 0, (p.stderr or p.stdout).strip()
    finally:
        run(["ip", "netns", "del", ns], check=False)


# --- the lab, as its generated inventory describes it ------------------------------------------

def read_lab(inventory_dir=LAB_INVENTORY):
    hosts_yml = os.path.join(inventory_dir, "hosts.yml")
    if not os.path.exists(hosts_yml):
        raise SystemExit("the lab is not up (no %s): run `flock /tmp/ferry-lab.lock make lab`" % hosts_yml)
    with open(hosts_yml) as f:
        inv = yaml.safe_load(f)
    allvars = inv["all"]["vars"]
    hv = inv["all"]["children"]["hypervisors"]
    hosts = {}
    for az, group in hv["children"].items():
        for name in group["hosts"]:
            with open(os.path.join(inventory_dir, "host_vars", name + ".yml")) as f:
                hosts[name] = dict(yaml.safe_load(f), az=az)
    return {"dir": inventory_dir, "vars": allvars, "hvvars": hv["vars"], "hosts": hosts}


def ssh_home(lab, host):
    return os.path.join(lab["hosts"][host]["ferry_host_root"], ".ssh")


# --- reversible edits of the host users' ssh files ---------------------------------------------

def rewrite(path, text):
    """Replace a file's content keeping its owner and mode (a temp file renamed into place)."""
    st = os.stat(path)
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".ferry-netlab-")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.chown(tmp, st.st_uid, st.st_gid)
        os.chmod(tmp, st.st_mode & 0o7777)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def strip_block(text):
    """`text` without the ferry-netlab block(s)."""
    out, skip = [], False
    for line in text.splitlines(keepends=True):
        if line.rstrip("\n") == MARK_BEGIN:
            skip = True
        elif skip and line.rstrip("\n") == MARK_END:
            skip = False
        elif not skip:
            out.append(line)
    return "".join(out)


def _is_bench_addr(a):
    try:
        return ipaddress.ip_address(a) in BENCH_NET
    except ValueError:
        return False


def map_from(text, extra):
    """authorized_keys text with every from="a,b" list rewritten: 198.18/15 entries dropped, then
    for each address `a` in it, extra[a] appended when given."""
    def fix(m):
        addrs = [a for a in m.group(1).split(",") if not _is_bench_addr(a)]
        addrs += [extra[a] for a in list(addrs) if a in extra]
        return 'from="%s"' % ",".join(addrs)
    return re.sub(r'from="([^"]*)"', fix, text)


def restore_ssh_files(lab_root):
    """Undo every edit links() makes in host users' ssh files (idempotent; needs no state)."""
    undone = []
    for home in sorted(glob.glob(os.path.join(lab_root, "hosts", "*", ".ssh"))):
        for name, fix in (("config", strip_block), ("authorized_keys", lambda t: map_from(t, {}))):
            path = os.path.join(home, name)
            if not os.path.isfile(path):
                continue
            with open(path) as f:
                text = f.read()
            new = fix(text)
            if new != text:
                rewrite(path, new)
                undone.append(path)
    return undone


# --- teardown (also of a killed run's leftovers) -----------------------------------------------

def end_processes(namespaces, grace=5.0):
    """End every process in our namespaces, by pid: TERM, then KILL after `grace` seconds."""
    def pids():
        found = set()
        for ns in namespaces:
            out = run(["ip", "netns", "pids", ns], check=False).stdout.split()
            found.update(int(p) for p in out if p.isdigit())
        return found
    left = pids()
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in left:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        deadline = time.monotonic() + grace
        while left and time.monotonic() < deadline:
            time.sleep(0.1)
            left = pids()
        if not left:
            break
    return sorted(left)


def clean(lab_root=None, say=print):
    """Remove everything links() makes: processes, namespaces, ssh edits, the state directory."""
    if lab_root is None:
        try:
            with open(os.path.join(STATE_DIR, "state.json")) as f:
                lab_root = json.load(f)["lab_root"]
        except (OSError, ValueError, KeyError):
            lab_root = "/var/lib/ferry-lab"
    namespaces = our_namespaces()
    stuck = end_processes(namespaces)
    for ns in namespaces:
        run(["ip", "netns", "del", ns], check=False)
    undone = restore_ssh_files(lab_root)
    shutil.rmtree(STATE_DIR, ignore_errors=True)
    left = our_namespaces()
    say("netlab: cleaned: %d namespace(s) deleted%s, %d ssh file(s) restored%s"
        % (len(namespaces) - len(left), " (left: %s)" % " ".join(left) if left else "",
           len(undone), "; processes that would not end: %s" % stuck if stuck else ""))
    return not left and not stuck


# --- the emulated network ----------------------------------------------------------------------

class Net(object):
    """The emulated links while they are up: addresses, inventory, commands, counters."""

    def __init__(self, profile, lab, say=print):
        if profile not in PROFILES:
            raise ValueError("unknown profile %r (profiles: %s)" % (profile, ", ".join(PROFILES)))
        self.profile, self.lab, self.say = profile, lab, say
        self.tbf = tbf_params(PROFILES[profile])
        self.lab_root = lab["vars"]["ferry_lab_root"]
        self.port = int(lab["hvvars"]["ansible_port"])
        self.key = lab["hvvars"]["ansible_ssh_private_key_file"]
        url = lab["vars"]["ferry_image_store_url"]
        self.store_port = int(url.rsplit(":", 1)[1].split("/")[0])
        self.hosts = sorted(lab["hosts"])
        self.addr = {"ctl": CTL_ADDR, "store": STORE_ADDR}
        self.lab_addr = {}
        for h in self.hosts:
            la = lab["hosts"][h]["ansible_host"]
            self.lab_addr[h] = la
            self.addr[h] = str(SUBNET.network_address + int(la.rsplit(".", 1)[1]))
        if len(set(self.addr.values())) != len(self.addr) or any(
                ipaddress.ip_address(a) not in SUBNET for a in self.addr.values()):
            raise RuntimeError("address plan does not fit %s: %s" % (SUBNET, self.addr))
        self.nodes = ["ctl", "store"] + self.hosts
        self.alias = {h: "nl-" + h for h in self.hosts}
        self.inventory_dir = os.path.join(STATE_DIR, "inventory")
        self.inventory = os.path.join(self.inventory_dir, "hosts.yml")
        self.known_hosts = os.path.join(STATE_DIR, "known_hosts")
        self.store_url = "http://%s:%d" % (STORE_ADDR, self.store_port)
        self.bin_dir = os.path.join(STATE_DIR, "bin")
        self.ansible_playbook = os.path.join(self.bin_dir, "ansible-playbook")
        self.netem = None

    # -- commands --------------------------------------------------------------------------------
    def ctl_argv(self, argv):
        """argv run in the controller's namespace."""
        return in_ns("ctl", argv)

    def runner_env(self):
        """Environment for ansible-runner (lab.run_playbook(env=...)): its ansible-playbook runs in
        the controller's namespace (a wrapper first in PATH)."""
        return {"PATH": self.bin_dir + os.pathsep + os.environ.get("PATH", "")}

    def ssh_argv(self, host):
        """ssh from the controller's namespace to `host`'s sshd there, as the host's user (a shell)."""
        return self.ctl_argv(["ssh", "-i", self.key, "-o", "UserKnownHostsFile=" + self.known_hosts,
                              "-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes", "-o", "ConnectTimeout=10",
                              "-p", str(self.port), "%s@%s" % (self.lab["hosts"][host]["ansible_user"], self.addr[host])])

    def ssh(self, host, command, check=True, timeout=600):
        return run(self.ssh_argv(host) + [command], check=check, timeout=timeout)

    # -- set-up ----------------------------------------------------------------------------------
    def up(self):
        os.makedirs(STATE_DIR, mode=0o755)
        with open(os.path.join(STATE_DIR, "state.json"), "w") as f:
            json.dump({"lab_root": self.lab_root, "profile": self.profile, "started": time.time()}, f)
        self.netem = netem_available()
        self._namespaces()
        self._links()
        self._counters_setup()
        self._ssh_files()
        self._inventory()
        self._daemons()
        self._check()

    def _namespaces(self):
        for node in ["sw"] + self.nodes:
            run(["ip", "netns", "add", ns_name(node)])
            run(["ip", "-n", ns_name(node), "link", "set", "lo", "up"])
        sw = ns_name("sw")
        run(["ip", "-n", sw, "link", "add", BRIDGE, "type", "bridge"])
        run(["ip", "-n", sw, "link", "set", BRIDGE, "up"])

    def _links(self):
        sw = ns_name("sw")
        t = self.tbf
        for node in self.nodes:
            port = "nl-" + node
            run(["ip", "-n", sw, "link", "add", port, "type", "veth", "peer", "name", NODE_IF,
                 "netns", ns_name(node)])
            run(["ip", "-n", sw, "link", "set", port, "master", BRIDGE, "up"])
            run(["ip", "-n", ns_name(node), "addr", "add", "%s/%d" % (self.addr[node], SUBNET.prefixlen),
                 "dev", NODE_IF])
            run(["ip", "-n", ns_name(node), "link", "set", NODE_IF, "up"])
            for ns, dev in ((ns_name(node), NODE_IF), (sw, port)):
                run(["tc", "-n", ns, "qdisc", "replace", "dev", dev, "root", "tbf", "rate", "%dbit" % t["rate"],
                     "burst", str(t["burst"]), "limit", str(t["limit"])])

    def _counters_setup(self):
        """nftables counters per peer address in every node (output: to the peer, input: from it)."""
        for node in self.nodes:
            rules = ["table inet %s {" % NFT_TABLE,
                     " chain out { type filter hook output priority 0; policy accept;"]
            rules += ["  ip daddr %s counter comment \"to %s\"" % (self.addr[p], p) for p in self.nodes if p != node]
            rules += [" }", " chain in { type filter hook input priority 0; policy accept;"]
            rules += ["  ip saddr %s counter comment \"from %s\"" % (self.addr[p], p) for p in self.nodes if p != node]
            rules += [" }", "}"]
            run(in_ns(node, ["nft", "-f", "-"]), input="\n".join(rules) + "\n")

    def _ssh_files(self):
        """Each host user's ssh config names its peers' 198.18 addresses (nl-<peer>); each host's
        authorized_keys accepts a peer key from the peer's 198.18 address too."""
        extra = {self.lab_addr[h]: self.addr[h] for h in self.hosts}
        for h in self.hosts:
            home = ssh_home(self.lab, h)
            block = [MARK_BEGIN]
            for p in self.hosts:
                block += ["Host %s" % self.alias[p], "  HostName %s" % self.addr[p], "  Port %d" % self.port,
                          "  User %s" % self.lab["hosts"][p]["ansible_user"], "  BindAddress %s" % self.addr[h],
                          "  HostKeyAlias [%s]:%d" % (self.lab_addr[p], self.port),
                          "  IdentityFile ~/.ssh/id_ed25519", "  StrictHostKeyChecking yes", "  BatchMode yes"]
            block.append(MARK_END)
            cfg = os.path.join(home, "config")
            with open(cfg) as f:
                text = strip_block(f.read())
            rewrite(cfg, text + ("" if text.endswith("\n") else "\n") + "\n".join(block) + "\n")
            ak = os.path.join(home, "authorized_keys")
            with open(ak) as f:
                rewrite(ak, map_from(f.read(), extra))

    def _inventory(self):
        """A copy of the lab inventory pointing at the namespaces' addresses."""
        lab_known = os.path.join(self.lab_root, "known_hosts")
        with open(lab_known) as f:
            known = f.read()
        for h in self.hosts:
            known = known.replace("[%s]:%d " % (self.lab_addr[h], self.port), "[%s]:%d " % (self.addr[h], self.port))
        with open(self.known_hosts, "w") as f:
            f.write(known)
        src = self.lab["dir"]
        shutil.copytree(os.path.join(src, "group_vars"), os.path.join(self.inventory_dir, "group_vars"))
        os.makedirs(os.path.join(self.inventory_dir, "host_vars"))
        with open(os.path.join(src, "hosts.yml")) as f:
            text = f.read()
        head = "# Emulated links (tests/bench/netlab.py, profile %s): a copy of %s/hosts.yml\n" % (self.profile, src)
        text = re.sub(r"(?m)^(\s*ferry_image_store_url:).*$", r"\1 " + self.store_url, text)
        text = text.replace("UserKnownHostsFile=" + lab_known, "UserKnownHostsFile=" + self.known_hosts)
        with open(self.inventory, "w") as f:
            f.write(head + text)
        for h in self.hosts:
            with open(os.path.join(src, "host_vars", h + ".yml")) as f:
                text = f.read()
            text = re.sub(r"(?m)^ansible_host:.*$", "ansible_host: " + self.addr[h], text)
            text += "# emulated links: other hosts reach this one by this name (their ~/.ssh/config)\n"
            text += "ferry_ssh_alias: %s\n" % self.alias[h]
            with open(os.path.join(self.inventory_dir, "host_vars", h + ".yml"), "w") as f:
                f.write(text)
        check = read_lab(self.inventory_dir)
        assert check["vars"]["ferry_image_store_url"] == self.store_url, check["vars"]
        assert all(check["hosts"][h]["ansible_host"] == self.addr[h] for h in self.hosts)
        assert self.known_hosts in check["hvvars"]["ansible_ssh_common_args"]
        venv_playbook = os.path.join(os.path.dirname(sys.executable), "ansible-playbook")
        os.makedirs(self.bin_dir)
        with open(self.ansible_playbook, "w") as f:
            f.write("#!/bin/sh\n# ansible-playbook in the emulated controller's namespace\nexec ip netns exec %s %s \"$@\"\n"
                    % (ns_name("ctl"), shlex.quote(venv_playbook)))
        os.chmod(self.ansible_playbook, 0o755)

    def _daemons(self):
        for h in self.hosts:
            lab_cfg = os.path.join(self.lab_root, "sshd", h, "sshd_config")
            with open(lab_cfg) as f:
                text = f.read()
            pid = os.path.join(STATE_DIR, "sshd-%s.pid" % h)
            text = re.sub(r"(?m)^ListenAddress .*$", "ListenAddress " + self.addr[h], text)
            text = re.sub(r"(?m)^PidFile .*$", "PidFile " + pid, text)
            cfg = os.path.join(STATE_DIR, "sshd-%s.conf" % h)
            with open(cfg, "w") as f:
                f.write("# emulated links: a copy of %s listening in %s\n%s" % (lab_cfg, ns_name(h), text))
            run(in_ns(h, ["/usr/sbin/sshd", "-f", cfg, "-E", os.path.join(STATE_DIR, "sshd-%s.log" % h)]))
        log = open(os.path.join(STATE_DIR, "store.log"), "w")
        subprocess.Popen(in_ns("store", [sys.executable, "-m", "http.server", "--bind", STORE_ADDR, "--directory",
                                         os.path.join(self.lab_root, "store"), str(self.store_port)]),
                         stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        log.close()

    def _check(self):
        """Every host answers the controller over its link; every host reaches every peer's
        dispatcher over the links; the store answers."""
        deadline = time.monotonic() + 20
        while True:
            p = run(self.ctl_argv(["python3", "-c", "import urllib.request,sys; urllib.request.urlopen(sys.argv[1])",
                                   self.store_url + "/manifest.json"]), check=False)
            if p.returncode == 0:
                break
            if time.monotonic() > deadline:
                raise RuntimeError("image store on %s does not answer: %s" % (self.store_url, p.stderr.strip()))
            time.sleep(0.3)
        for h in self.hosts:
            for _i in range(30):
                p = self.ssh(h, "true", check=False, timeout=30)
                if p.returncode == 0:
                    break
                time.sleep(0.3)
            else:
                raise RuntimeError("%s's sshd on %s does not answer: %s" % (h, self.addr[h], p.stderr.strip()))
        # the dispatcher exits 1 for a missing file: it ran, so ssh, from= and the host key worked
        probe = " ; ".join("ssh -o ConnectTimeout=10 %s verify netlab-probe none >/dev/null 2>&1; echo %s=$?"
                           % (self.alias[p], p) for p in self.hosts)
        for h in self.hosts:
            out = self.ssh(h, probe).stdout
            bad = [kv for kv in out.split() if kv.split("=")[0] != h and not kv.endswith("=1")]
            if bad:
                raise RuntimeError("host-to-host ssh from %s over the emulated links failed (255: ssh itself): %s"
                                   % (h, " ".join(bad)))

    # -- reporting -------------------------------------------------------------------------------
    def describe(self):
        t = self.tbf
        lines = [
            "netlab: profile %s: every link %g Mbit/s both ways, tc tbf rate %dbit burst %d B limit %d B "
            "(queue up to %.0f ms), no added latency" % (self.profile, t["rate"] / 1e6, t["rate"], t["burst"],
                                                       t["limit"], 1000 * (t["limit"] - t["burst"]) * 8 / t["rate"]),
            "netlab: netem: %s" % ("available (not used)" if self.netem[0] else
                                   "NOT available on this kernel (%s): links have no latency or loss" % self.netem[1]),
            "netlab: nodes (namespace, address): " + ", ".join(
                "%s %s" % (ns_name(n), self.addr[n]) for n in self.nodes) + "; switch %s bridge %s" % (
                ns_name("sw"), BRIDGE),
            "netlab: image store %s; inventory %s; host-to-host by ferry_ssh_alias nl-<host>" % (
                self.store_url, self.inventory),
        ]
        return "\n".join(lines)

    def counters(self):
        """{node: {"link": {rx_bytes, tx_bytes, rx_packets, tx_packets}, "qdisc": {bytes, packets, drops},
        "to": {peer: bytes}, "from": {peer: bytes}}} read now."""
        out = {}
        for node in self.nodes:
            ns = ns_name(node)
            link = json.loads(run(["ip", "-n", ns, "-s", "-j", "link", "show", "dev", NODE_IF]).stdout)[0]
            st = link.get("stats64") or link.get("stats")
            q = json.loads(run(["tc", "-n", ns, "-s", "-j", "qdisc", "show", "dev", NODE_IF]).stdout)
            tbf = next(x for x in q if x.get("kind") == "tbf")
            c = {"link": {"rx_bytes": st["rx"]["bytes"], "tx_bytes": st["tx"]["bytes"],
                          "rx_packets": st["rx"]["packets"], "tx_packets": st["tx"]["packets"]},
                 "qdisc": {"bytes": tbf["bytes"], "packets": tbf["packets"], "drops": tbf["drops"]},
                 "to": {}, "from": {}}
            rules = json.loads(run(in_ns(node, ["nft", "-j", "list", "table", "inet", NFT_TABLE])).stdout)
            for item in rules["nftables"]:
                rule = item.get("rule")
                if not rule:
                    continue
                direction, peer = rule["comment"].split()
                n = next(e["counter"] for e in rule["expr"] if "counter" in e)
                c[direction][peer] = {"bytes": n["bytes"], "packets": n["packets"]}
            out[node] = c
        return out

    @staticmethod
    def delta(before, after):
        def sub(a, b):
            if isinstance(a, dict):
                return {k: sub(a[k], b.get(k, 0 if not isinstance(a[k], dict) else {})) for k in a}
            return a - (b or 0)
        return sub(after, before)

    # -- teardown --------------------------------------------------------------------------------
    def down(self):
        ok = clean(self.lab_root, say=self.say)
        if not ok:
            self.say("netlab: WARNING: leftovers; run `python tests/bench/netlab.py --clean`")


@contextlib.contextmanager
def links(profile="1gbit", inventory_dir=LAB_INVENTORY, say=print):
    """Emulated links on the running lab for the duration of the block; yields a Net."""
    if os.geteuid() != 0:
        raise SystemExit("netlab needs root (ip netns, tc, the lab's ssh files)")
    left = our_namespaces()
    if left or os.path.exists(STATE_DIR):
        raise RuntimeError("leftovers of an earlier run (%s): `python tests/bench/netlab.py --clean` first"
                           % (" ".join(left) or STATE_DIR))
    net = Net(profile, read_lab(inventory_dir), say=say)
    try:
        net.up()
        say(net.describe())
        yield net
    finally:
        net.down()


def sigterm_as_interrupt():
    def handler(signum, frame):
        raise KeyboardInterrupt("signal %d" % signum)
    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGHUP, handler)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    command = []
    if "--" in argv:
        i = argv.index("--")
        argv, command = argv[:i], argv[i + 1:]
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", choices=sorted(PROFILES), default="1gbit")
    parser.add_argument("--clean", action="store_true", help="remove leftovers of a killed run, then exit")
    args = parser.parse_args(argv)
    if args.clean:
        return 0 if clean() else 1
    sigterm_as_interrupt()
    with links(args.profile) as net:
        if not command:
            print("netlab: up; ^C tears it down.  e.g.: ip netns exec %s ansible-playbook -i %s playbooks/status.yml"
                  % (ns_name("ctl"), net.inventory), flush=True)
            with contextlib.suppress(KeyboardInterrupt):
                while True:
                    time.sleep(3600)
            return 0
        argv = [a.replace("{inventory}", net.inventory) for a in command]
        return subprocess.run(net.ctl_argv(argv), cwd=ROOT).returncode


if __name__ == "__main__":
    sys.exit(main())
