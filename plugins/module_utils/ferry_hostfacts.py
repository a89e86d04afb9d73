"""Host facts: capacity (declared, capped by reality), domains, their disk chains.

`gather()` is the pure core: it takes a libvirt client, a function that runs
qemu-img, and the host's declared settings, and returns the facts dict the
scheduler consumes (see ferry_scheduler for the shape).
"""

import json
import os

from ansible.module_utils import ferry_hoststate, ferry_libvirt, ferry_qcow2, ferry_state


def effective_capacity(declared, real):
    """Declared capacity capped by what the host really has.

    Every lab host sees the same physical machine, so each declares less than
    that; a declared value of 0/None means "use what libvirt reports".
    """
    out = {}
    for key in ("vcpus", "memory_mb", "disk_gb"):
        want = declared.get(key)
        have = real.get(key)
        if not want:
            out[key] = have
        elif have is None:
            out[key] = want
        else:
            out[key] = min(want, have)
    return out


def instance_usage(instances):
    """Sum vCPUs, RAM and virtual disk of a list of instance facts."""
    used = {"vcpus": 0, "memory_mb": 0, "disk_gb": 0.0, "instances": len(instances)}
    for inst in instances:
        used["vcpus"] += int(inst.get("vcpus") or 0)
        used["memory_mb"] += int(inst.get("memory_mb") or 0)
        used["disk_gb"] += float(inst.get("disk_gb") or 0.0)
    return used


def free_capacity(capacity, used):
    return {k: (capacity[k] or 0) - used[k] for k in ("vcpus", "memory_mb", "disk_gb")}


def disk_total_gb(path):
    st = os.statvfs(path)
    return st.f_blocks * st.f_frsize / float(ferry_qcow2.GIB)


def read_claims(claims_dir, now=None):
    """Claims in flight: one JSON file per claim in the host's claims dir, each marked `expired` when
    the lease of its operation was not renewed in time (an expired claim no longer counts)."""
    claims = []
    if not claims_dir or not os.path.isdir(claims_dir):
        return claims
    for fname in sorted(os.listdir(claims_dir)):
        if not fname.endswith(".json"):
            continue
        with open(os.path.join(claims_dir, fname)) as f:
            try:
                claim = json.load(f)
            except ValueError:
                continue
        claim["expired"] = not ferry_state.claim_live(claim, now)
        claims.append(claim)
    return claims


def _name_of(value):
    return value.get("name") if isinstance(value, dict) else value


def counts_as_disk(disk, shared_storage=()):
    """Whether a disk takes room on its host, as Nova counts: writable, not shared."""
    if disk.get("readonly") or disk.get("shareable") or disk.get("device") in ("cdrom", "floppy"):
        return False
    if disk.get("type", "file") != "file":
        return False
    path = os.path.normpath(disk.get("path") or "/")
    return not any(path == os.path.normpath(p) or path.startswith(os.path.normpath(p).rstrip("/") + "/")
                   for p in shared_storage or ())


def instance_facts(dom, run_qemu_img, shared_storage=()):
    """Facts for one domain: resources, disks with chains, ferry metadata.

    Every <disk> is listed (cdroms, block and network disks too, with their type); qemu-img reads
    the file ones; the disk a guest takes on its host counts only its writable, non-shared disks.
    """
    parsed = ferry_libvirt.parse_domain_xml(dom["xml"])
    meta = parsed["metadata"]
    disks, virtual_total = [], 0
    for disk in parsed["disks"]:
        entry = dict(disk)
        if disk.get("type", "file") != "file" or (not disk["path"] and disk.get("device") in ("cdrom", "floppy")):
            disks.append(entry)
            continue
        if disk["path"] and os.path.exists(disk["path"]):
            fmt = disk["format"] or ("raw" if disk.get("device") in ("cdrom", "floppy") else "qcow2")
            rc, out, err = run_qemu_img(ferry_qcow2.info_argv(disk["path"], fmt))
            if rc == 0:
                entry["chain"] = ferry_qcow2.summarize_chain(ferry_qcow2.parse_chain(out))
                if counts_as_disk(disk, shared_storage):
                    virtual_total += entry["chain"]["virtual_size"]
            else:
                entry["error"] = err.strip()
        else:
            entry["error"] = "disk file missing"
        disks.append(entry)
    migration = meta.get("migration") or None
    return {
        "name": dom["name"],
        "uuid": dom["uuid"],
        "state": dom["state"],
        "domain_type": parsed["domain_type"],
        "vcpus": parsed["vcpus"],
        "memory_mb": parsed["memory_mb"],
        "disk_gb": round(ferry_qcow2.bytes_to_gib(virtual_total), 3),
        "disks": disks,
        "flavor": _name_of(meta.get("flavor")),
        "image": _name_of(meta.get("image")),
        "az": meta.get("az"),
        "server_group": meta.get("server_group"),
        "migration": migration,
        "task_state": meta.get("task_state"),
        "managed": bool({k: v for k, v in meta.items() if k != "lease"}),
        "lease": meta.get("lease"),
        "metadata": meta,
    }


def gather(client, run_qemu_img, declared, storage_dir, claims_dir=None, kvm_usable=False, domain_type=None,
           shared_storage=(), swtpm_dir=None):
    """`domain_type`, when declared and offered by libvirt, wins over the /dev/kvm check."""
    node = client.node()
    caps = ferry_libvirt.parse_capabilities(client.capabilities_xml())
    real = {"vcpus": node["cpus"], "memory_mb": node["memory_mb"],
            "disk_gb": round(disk_total_gb(storage_dir), 3) if storage_dir and os.path.isdir(storage_dir) else None}
    capacity = effective_capacity(declared, real)
    instances = [instance_facts(client.domain(n), run_qemu_img, shared_storage) for n in client.domain_names()]
    used = instance_usage(instances)
    return {
        "reachable": True,
        "arch": caps["arch"] or node["arch"],
        "domain_type": (domain_type if domain_type in caps["domain_types"]
                        else ferry_libvirt.choose_domain_type(caps["domain_types"], kvm_usable)),
        "hypervisor_type": "qemu",
        "machine_types": caps["machine_types"],
        "capacity": capacity,
        "real": real,
        "used": used,
        "free": free_capacity(capacity, used),
        "instances": instances,
        "claims": read_claims(claims_dir),
        "disabled_record": ferry_hoststate.read_record(claims_dir),
        "swtpm_dir": swtpm_dir,
    }
