"""Helpers for integration tests on the real lab: run playbooks with ansible-runner and look at
hosts directly (ssh + virsh / qemu-img on the host itself, not through ferry)."""

import contextlib
import hashlib
import json
import os
import random
import shlex
import subprocess
import sys
import tempfile
import uuid

import ansible_runner
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
INVENTORY = os.path.join(ROOT, "inventories", "lab", "hosts.yml")
# ansible-runner runs ansible-playbook from PATH: use the venv's, the one running the tests.
_BIN = os.path.dirname(sys.executable)
if _BIN not in os.environ.get("PATH", "").split(os.pathsep):
    os.environ["PATH"] = _BIN + os.pathsep + os.environ.get("PATH", "")


def inventory():
    with open(INVENTORY) as f:
        inv = yaml.safe_load(f)
    hosts = {}
    for az, group in inv["all"]["children"]["hypervisors"]["children"].items():
        for name in group["hosts"]:
            with open(os.path.join(ROOT, "inventories", "lab", "host_vars", name + ".yml")) as f:
                hv = yaml.safe_load(f)
            hosts[name] = dict(hv, az=az)
    return inv["all"], inv["all"]["children"]["hypervisors"]["vars"], hosts


class Result(object):
    def __init__(self, runner):
        self.rc = runner.rc
        self.status = runner.status
        self.events = list(runner.events)
        self.stdout = runner.stdout.read()
        self.stats = runner.stats or {}

    def task_results(self, task, event="runner_on_ok"):
        return [e["event_data"]["res"] for e in self.events
                if e.get("event") == event and e["event_data"].get("task") == task]

    def task_result(self, task):
        found = self.task_results(task)
        assert found, "task %r did not run ok; output:\n%s" % (task, self.stdout[-4000:])
        return found[-1]

    def failures(self):
        return [e["event_data"]["res"].get("msg", "") for e in self.events
                if e.get("event") == "runner_on_failed" and not e["event_data"].get("ignore_errors")]

    def changed_count(self):
        return sum((self.stats.get("changed") or {}).values())


def run_playbook(name, check=False, inventory=INVENTORY, env=None, **extravars):
    """Run playbooks/<name> through ansible-runner; returns Result.  `inventory` and `env` (more
    environment, e.g. a PATH whose ansible-playbook runs in a network namespace) for the emulated
    links (tests/bench/netlab.py)."""
    with tempfile.TemporaryDirectory(prefix="ferry-runner-") as pdd:
        cmdline = "--check" if check else None
        r = ansible_runner.run(
            private_data_dir=pdd, project_dir=ROOT, playbook=os.path.join(ROOT, "playbooks", name),
            inventory=inventory, extravars=extravars, quiet=True, cmdline=cmdline,
            envvars=dict({"ANSIBLE_CONFIG": os.path.join(ROOT, "ansible.cfg"), "ANSIBLE_NOCOLOR": "1"}, **(env or {})))
        return Result(r)


def ok(result):
    assert result.rc == 0, "playbook failed: %s\n%s" % (result.failures(), result.stdout[-6000:])
    return result


def ssh(host, command, check=True):
    """Run a shell command on a lab host as its own user, over its own sshd."""
    allvars, hvvars, hosts = inventory()
    h = hosts[host]
    argv = ["ssh", "-i", hvvars["ansible_ssh_private_key_file"]] + shlex.split(hvvars["ansible_ssh_common_args"]) + [
        "-p", str(hvvars["ansible_port"]), "%s@%s" % (h["ansible_user"], h["ansible_host"]), command]
    p = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    if check and p.returncode != 0:
        raise AssertionError("on %s: %s -> rc %d: %s" % (host, command, p.returncode, p.stderr))
    return p.stdout


def virsh(host, *args, check=True):
    return ssh(host, "virsh -q -c qemu:///session " + " ".join(shlex.quote(a) for a in args), check=check)


def domain_state(host, name):
    out = virsh(host, "domstate", name, check=False).strip()
    return out or "absent"


def dominfo(host, name):
    info = {}
    for line in virsh(host, "dominfo", name).splitlines():
        if ":" in line:
            k, v = line.split(":", 1)
            info[k.strip()] = v.strip()
    return {"vcpus": int(info["CPU(s)"]), "memory_mb": int(info["Max memory"].split()[0]) // 1024,
            "state": info["State"]}


def qemu_img_info(host, path):
    return json.loads(ssh(host, "qemu-img info -U --output=json --backing-chain -f qcow2 " + shlex.quote(path)))


def unique(prefix="t"):
    return "%s-%s" % (prefix, uuid.uuid4().hex[:8])


def manifest():
    allvars, _, _ = inventory()
    import urllib.request
    with urllib.request.urlopen(allvars["vars"]["ferry_image_store_url"] + "/manifest.json") as r:
        return json.load(r)


@contextlib.contextmanager
def store_image(virtual_mb=1024, data_mb=4):
    """A fresh base image of its own in the lab's store (random data: its sha256 is in no host's
    cache), named in the manifest and in a copy of ferry_images; yields (image, sha256, images) with
    `images` to pass as the ferry_images extra var.  On exit the store no longer has it."""
    allvars, _, _ = inventory()
    store = os.path.join(allvars["vars"]["ferry_lab_root"], "store")
    image = unique("img")
    path = os.path.join(store, image + ".qcow2")
    subprocess.run(["python3", os.path.join(ROOT, "roles/lab/files/make_image.py"), path,
                    "--virtual-mb", str(virtual_mb), "--data-mb", str(data_mb),
                    "--seed", str(random.randrange(1 << 30))], check=True)
    os.chmod(path, 0o644)
    with open(path, "rb") as f:
        sha = hashlib.sha256(f.read()).hexdigest()
    manifest_path = os.path.join(store, "manifest.json")
    with open(manifest_path) as f:
        original = f.read()
    with open(os.path.join(ROOT, "inventories/lab/group_vars/all/images.yml")) as f:
        images = yaml.safe_load(f)["ferry_images"]
    images[image] = {"file": image + ".qcow2", "properties": {"architecture": "x86_64"}}
    try:
        entries = json.loads(original)
        entries["images"][image] = {"file": image + ".qcow2", "sha256": sha, "size": os.path.getsize(path),
                                    "format": "qcow2"}
        with open(manifest_path, "w") as f:
            json.dump(entries, f)
        yield image, sha, images
    finally:
        with open(manifest_path, "w") as f:
            f.write(original)
        os.unlink(path)


REF_DIR = "/tmp/ferry-ref"


def drop_refs(name):
    """Remove the reference copies made for guest `name` in REF_DIR (write_pattern's `<name>.qcow2`,
    the real-guest tests' `<name>-...`), once the guest is gone."""
    try:
        entries = os.listdir(REF_DIR)
    except FileNotFoundError:
        return
    for e in entries:
        if e.startswith(name + ".") or e.startswith(name + "-"):
            try:
                os.unlink(os.path.join(REF_DIR, e))
            except FileNotFoundError:
                pass


def disk_path(host, name, fname="disk.qcow2"):
    _, _, hosts = inventory()
    return "%s/%s/%s" % (hosts[host]["ferry_instances_dir"], name, fname)


def write_pattern(host, name, seed=0x5A):
    """Write known data into a guest's disk while it is stopped, then start it again.

    Two regions: one over the base's seeded data (the overlay must shadow the base) and one past
    it.  Returns a flattened reference copy of the guest-visible content, readable by every host.
    """
    if domain_state(host, name) == "running":
        virsh(host, "destroy", name)
    disk = disk_path(host, name)
    ssh(host, "qemu-io -f qcow2 -c 'write -P %d 1M 2M' -c 'write -P %d 100M 4M' %s"
        % (seed, seed + 1, shlex.quote(disk)))
    virsh(host, "start", name)
    os.makedirs(REF_DIR, mode=0o755, exist_ok=True)
    os.chmod(REF_DIR, 0o755)
    ref = os.path.join(REF_DIR, name + ".qcow2")
    # as root on this machine: read the source's chain, flatten it into a reference copy
    subprocess.run(["qemu-img", "convert", "-U", "-f", "qcow2", "-O", "qcow2", disk, ref], check=True)
    os.chmod(ref, 0o644)
    return ref


def compare(host, disk, ref):
    """`qemu-img compare` run on the host itself, as its user: the chain must resolve there."""
    p = ssh(host, "qemu-img compare -U -f qcow2 -F qcow2 %s %s; echo rc=$?" % (shlex.quote(disk), shlex.quote(ref)),
            check=False)
    return p


def status_hosts():
    r = ok(run_playbook("status.yml"))
    hosts = r.task_result("Collect the hypervisors' facts")["ansible_facts"]["ferry_hosts"]
    return {h["name"]: h for h in hosts}


def copies(name):
    return {h: i for h, facts in status_hosts().items() for i in facts["instances"] if i["name"] == name}


def exists(host, path):
    """Whether `path` exists on the host, asked as the host's user."""
    return ssh(host, "test -e %s && echo yes || echo no" % shlex.quote(path)).strip() == "yes"


def claims(host):
    """Names of the claim files on the host."""
    return ssh(host, "ls %s" % shlex.quote(inventory()[2][host]["ferry_claims_dir"])).split()
