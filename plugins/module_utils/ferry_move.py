"""Resize and cold migration: the pure decisions (validation, request spec, metadata, result).

Migration statuses and their transitions live in ferry_state (one function, transition()).
"""

import uuid

from ansible.module_utils import ferry_domxml, ferry_guestmove, ferry_libvirt, ferry_scheduler, ferry_state

locate = ferry_state.locate
_migration = ferry_state.migration_of

IN_FLIGHT = ("pre-migrating", "migrating", "post-migrating", "finished", "confirming", "reverting")
DONE = ("confirmed", "reverted", "error")
GIB = 1024 ** 3


def new_migration_id():
    return str(uuid.uuid4())


def flavor_record(flavor):
    """What a guest's metadata keeps of a flavor (extra specs stay in the catalogue)."""
    return {k: flavor[k] for k in ("name", "vcpus", "memory_mb", "disk_gb") if k in flavor}


def flavor_of(inst, flavors):
    """The guest's current flavor: the one in its metadata, else the matching catalogue entry."""
    meta = inst.get("metadata", {}).get("flavor")
    if isinstance(meta, dict) and meta.get("name"):
        return dict(meta)
    name = inst.get("flavor")
    if name in flavors:
        return dict(flavors[name], name=name)
    return {"name": name or "unknown", "vcpus": inst["vcpus"], "memory_mb": inst["memory_mb"],
            "disk_gb": inst.get("disk_gb")}


def move_errors(kind, name, copies, flavors, new_flavor=None, target_host=None, host_names=(),
                unreachable=()):
    """Why a resize/migration is refused; empty when it may go ahead.  Nothing is touched first."""
    if not copies:
        extra = " (unreachable, not checked: %s)" % ", ".join(unreachable) if unreachable else ""
        return ["no guest named %r on any reachable hypervisor%s" % (name, extra)]
    if len(copies) > 1 or _migration(copies[0]["instance"]).get("status") in IN_FLIGHT:
        m = _migration(copies[0]["instance"]) or _migration(copies[-1]["instance"])
        return ["%s has a %s in state %r (%s -> %s): confirm or revert it first"
                % (name, m.get("kind", "move"), m.get("status"), m.get("source_host"), m.get("target_host"))]
    errors = []
    inst = copies[0]["instance"]
    if kind == "resize":
        if new_flavor not in flavors:
            return ["unknown flavor %r (known: %s)" % (new_flavor, ", ".join(sorted(flavors)))]
        if new_flavor == inst.get("flavor"):
            return ["%s already has flavor %s: use migrate.yml to move it without a resize" % (name, new_flavor)]
        wanted = flavors[new_flavor]["disk_gb"] * GIB
        disks = [d for d in inst.get("disks", []) if d.get("device", "disk") == "disk"][:1]  # root: ferry_guest
        current = max([d.get("chain", {}).get("virtual_size", 0) for d in disks] or [0])
        if wanted < current:
            errors.append("disk shrink refused: %s has a %.1f GiB disk, flavor %s has %s GiB"
                          % (name, current / float(GIB), new_flavor, flavors[new_flavor]["disk_gb"]))
    if target_host and target_host not in host_names:
        errors.append("unknown target host %r (known: %s)" % (target_host, ", ".join(host_names)))
    if inst.get("state") not in ("running", "shutoff"):
        errors.append("%s is %s; only a running or stopped guest can move" % (name, inst.get("state")))
    return errors


def move_request(kind, copy, flavor, image_props, target_host=None, target_az=None,
                 allow_cross_az=False, allow_same_host=False, retry_hosts=()):
    """The scheduler request for moving `copy` (from locate()) with `flavor` (a dict with name)."""
    inst, host = copy["instance"], copy["host_facts"]
    same_host = kind == "resize" and allow_same_host
    return {
        "instance": inst["name"],
        "flavor": flavor,
        "image": {"name": inst.get("image"), "properties": image_props or {}},
        "availability_zone": ferry_scheduler.request_az_for_move(inst, host, target_az, allow_cross_az),
        "ignore_hosts": [] if same_host else [host["name"]],
        "requested_host": target_host,
        "retry": {"num_attempts": 1, "hosts": list(retry_hosts)},
        "scheduler_hints": {},
        "server_group": inst.get("server_group"),
    }


def migration_record(mid, kind, status, role, source, target, old_flavor, new_flavor, **extra):
    rec = {"id": mid, "kind": kind, "status": status, "role": role, "source_host": source,
           "target_host": target, "old_flavor": old_flavor, "new_flavor": new_flavor}
    rec.update(extra)
    return rec


# The phases of a move as the ferry callback shows them: (name, from mark, to mark).  `locate` (the
# facts play before the move starts) is measured by the callback from the playbook's start.  With
# pre-copy, `prepare` ends where the pre-copy starts (precopy_start) and the pre-copy runs to
# `prepared`; without it the pre-copy phase is null.
PHASES = (("schedule", "start", "scheduled"), ("claim", "scheduled", "claimed"), ("prepare", "claimed", "prepared"),
          ("pre-copy", "precopy_start", "prepared"), ("stop", "prepared", "stopped"),
          ("final ship", "stopped", "shipped"), ("finish+start", "shipped", "running"))


def result(mid, kind, source, target, times, ship, base, old_flavor, new_flavor, instance=None, mode=None):
    """The move's result: JSON-able, printed and kept as stats."""
    def span(a, b):
        return round(float(times[b]) - float(times[a]), 3) if times.get(a) is not None and times.get(b) is not None \
            else None
    return {
        "migration_id": mid, "kind": kind, "instance": instance, "source": source, "target": target,
        "transfer_mode": mode or "ferry", "old_flavor": old_flavor, "new_flavor": new_flavor,
        "started_at": round(float(times["start"]), 3) if "start" in times else None,
        "phases_s": {
            "schedule_claim": span("start", "claimed"),
            "prepare_target": span("claimed", "prepared"),
            "stop_guest": span("prepared", "stopped"),
            "ship_delta": span("stopped", "shipped"),
            "rebase_define_start": span("shipped", "running"),
        },
        "phases": [{"phase": n, "s": span("claimed", "precopy_start") if n == "prepare" and "precopy_start" in times
                    else span(a, b)} for n, a, b in PHASES],
        # from the source's stop request to the target's start, by the hosts' own clocks (NTP-close in
        # production, one clock on the lab); else, and always as downtime_controller_s, the
        # controller's task boundaries (its polling and Ansible's start-up included)
        "downtime_s": span("stop_requested_host", "running_host") if times.get("stop_requested_host") is not None
        and times.get("running_host") is not None else span("prepared", "running"),
        "downtime_controller_s": span("prepared", "running"),
        "total_s": span("start", "running"),
        "bytes_shipped": (ship or {}).get("bytes_sent", 0),
        "precopy_bytes": (ship or {}).get("precopy_bytes", 0),
        "precopy_rounds": (ship or {}).get("precopy_rounds", 0),
        "final_bytes": (ship or {}).get("final_bytes", (ship or {}).get("bytes_sent", 0)),
        "overlay_bytes": (ship or {}).get("allocated_bytes", 0),
        "base_image": (base or {}).get("fetched_from"),
    }


def one_line(res):
    """A move's result as one line (the play's report; the callback adds the phase table)."""
    mib = (res.get("bytes_shipped") or 0) / 1048576.0
    flavor = res.get("old_flavor") if res.get("old_flavor") == res.get("new_flavor") else "%s -> %s" % (
        res.get("old_flavor"), res.get("new_flavor"))
    return "%s %s: %s -> %s (%s), downtime %s s, total %s s, %.1f MiB shipped, base %s" % (
        res.get("kind"), res.get("instance") or "?", res.get("source"), res.get("target"), flavor,
        res.get("downtime_s"), res.get("total_s"), mib, res.get("base_image"))


def adoption_metadata(guest, host, flavors, image_shas, now=None):
    """ferry metadata for a guest ferry did not boot (adopt.yml): nothing else is touched.

    guest: ferry_guest's result on its host; host: that host's facts; image_shas: {image name:
    sha256} from the catalogue and the store.  flavor = the catalogue entry matching its vCPU, RAM
    and root disk (GiB, rounded up), else a custom record; image = its root disk's base, by sha256;
    AZ = its host's; disk_paths = where each of its file disks is, the only places later moves accept.
    """
    root = ferry_domxml.parse(guest["xml"])
    facts = ferry_libvirt.parse_domain_xml(guest["xml"])
    rd = ferry_domxml.root_disk(root, guest["cfg"].get("root_disk"))
    chain = guest["chains"].get(rd["target"]) if rd else None
    root_gb = int(-(-(chain or {}).get("virtual_size", 0) // GIB))
    flavor = None
    for name in sorted(flavors):
        f = flavors[name]
        if (int(f["vcpus"]), int(f["memory_mb"]), int(f["disk_gb"])) == (facts["vcpus"], facts["memory_mb"], root_gb):
            flavor = dict(flavor_record(dict(f, name=name)))
            break
    if flavor is None:
        flavor = {"name": "custom-%dc-%dm-%dg" % (facts["vcpus"], facts["memory_mb"], root_gb),
                  "vcpus": facts["vcpus"], "memory_mb": facts["memory_mb"], "disk_gb": root_gb, "custom": True}
    image = None
    if chain and chain.get("depth", 1) >= 2:
        base = chain["base"]
        sha = ferry_guestmove.cache_sha_of(base, guest["cfg"].get("cache_dir")) or guest["hashes"].get(base)
        if sha:
            names = [n for n, s in sorted((image_shas or {}).items())
                     if (s if isinstance(s, str) else (s or {}).get("sha256")) == sha]
            image = {"name": names[0] if names else None, "sha256": sha}
    paths = {d["target"]: d["path"] for d in ferry_domxml.disks(root) if d["type"] == "file" and d.get("path")}
    return {
        "flavor": flavor, "image": image, "az": host.get("az"), "host_az": host.get("az"),
        "server_group": None, "migration": None, "task_state": None,
        "disk_paths": paths, "adopted": {"host": host.get("name"), "at": now},
    }


def root_errors(guest, flavor, kind):
    """The resize's root-disk check on the guest's real root disk (boot order, or ferry_root_disk)."""
    root = ferry_domxml.root_disk(ferry_domxml.parse(guest["xml"]), guest["cfg"].get("root_disk"))
    if root is None:
        return ["the guest has no disk to call its root disk"] if kind == "resize" else []
    size = (guest["chains"].get(root["target"]) or {}).get("virtual_size", 0)
    if kind == "resize" and flavor["disk_gb"] * GIB < size:
        return ["disk shrink refused: root disk %s is %.1f GiB, flavor %s has %s GiB"
                % (root["target"], size / float(GIB), flavor.get("name"), flavor["disk_gb"])]
    return []
