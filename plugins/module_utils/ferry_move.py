"""Resize and cold migration: the pure decisions (validation, request spec, metadata, result).

Migration statuses and their transitions live in ferry_state (one function, transition()).
"""

import uuid

from ansible.module_utils import ferry_domxml, ferry_guestmove, ferry_libvirt, ferry_scheduler

IN_FLIGHT = ("pre-migrating", "migrating", "post-migrating", "finished", "confirming", "reverting")
DONE = ("confirmed", "reverted", "error")
GIB = 1024 ** 3


def new_migration_id():
    return str(uuid.uuid4())


def locate(hosts, name):
    """The copies of a guest: [{host, host_facts, instance}], source side first."""
    copies = [{"host": h["name"], "host_facts": h, "instance": i}
              for h in hosts for i in h.get("instances", []) if i["name"] == name]
    return sorted(copies, key=lambda c: ((c["instance"].get("migration") or {}).get("role") == "target", c["host"]))


def _migration(inst):
    return inst.get("migration") or {}


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


def _status_of_move(src, tgt):
    """The status of an unconfirmed move from both copies: a confirm or revert that started on
    either copy wins (it must be finished, never turned around)."""
    statuses = [_migration(c["instance"]).get("status") for c in (tgt, src) if c]
    for settling in ("confirming", "reverting"):
        if settling in statuses:
            return settling
    return statuses[0] if statuses else None


def pending_pair(copies, op=None):
    """(source, target) copies of an unconfirmed move, or raise ValueError saying why not.

    A copy already removed by an interrupted confirm (the source) or revert (the target) is
    given as {host, instance: None}, so a re-run finishes the job.  `op` (confirm / revert)
    refuses to turn around a settle that started the other way.
    """
    if not copies:
        raise ValueError("no such guest on any reachable hypervisor")
    src = [c for c in copies if _migration(c["instance"]).get("role") == "source"]
    tgt = [c for c in copies if _migration(c["instance"]).get("role") == "target"]
    src, tgt = (src or [None])[0], (tgt or [None])[0]
    mig = _migration((tgt or src or copies[0])["instance"])
    status = _status_of_move(src, tgt)
    if status not in ("finished", "confirming", "reverting"):
        raise ValueError("no unconfirmed move (migration status is %r)" % (status,))
    if op == "revert" and status == "confirming":
        raise ValueError("its confirm was interrupted (status confirming; the source copy may be deleted "
                         "already): it cannot be reverted; finish it with confirm.yml or recover.yml")
    if op == "confirm" and status == "reverting":
        raise ValueError("its revert was interrupted (status reverting; the target copy may be destroyed "
                         "already): it cannot be confirmed; finish it with revert.yml or recover.yml")
    if mig.get("same_host"):
        if not tgt:
            raise ValueError("the resized copy of the move is missing")
        return tgt, tgt
    if not tgt:
        if status != "reverting" and op != "revert":
            raise ValueError("the target copy of the move is missing")
        tgt = {"host": mig.get("target_host"), "instance": None}
    if not src:
        if status != "confirming":
            raise ValueError("the source copy of the move is missing (host unreachable?)")
        src = {"host": mig.get("source_host"), "instance": None}
    return src, tgt


def settled(copies, status):
    """True when a guest's last move already ended in `status` (confirmed / reverted): one copy left,
    so a re-run of confirm.yml / revert.yml has nothing to do."""
    return len(copies) == 1 and _migration(copies[0]["instance"]).get("status") == status


def result(mid, kind, source, target, times, ship, base, old_flavor, new_flavor):
    """The move's result: JSON-able, printed and kept as stats."""
    def span(a, b):
        return round(times[b] - times[a], 3) if a in times and b in times else None
    return {
        "migration_id": mid, "kind": kind, "source": source, "target": target,
        "old_flavor": old_flavor, "new_flavor": new_flavor,
        "phases_s": {
            "schedule_claim": span("start", "claimed"),
            "prepare_target": span("claimed", "prepared"),
            "stop_guest": span("prepared", "stopped"),
            "ship_delta": span("stopped", "shipped"),
            "rebase_define_start": span("shipped", "running"),
        },
        "downtime_s": span("prepared", "running"),
        "total_s": span("start", "running"),
        "bytes_shipped": (ship or {}).get("bytes_sent", 0),
        "overlay_bytes": (ship or {}).get("allocated_bytes", 0),
        "base_image": (base or {}).get("fetched_from"),
    }


MOVING = ("pre-migrating", "migrating", "post-migrating")


def recovery_plan(copies, hosts_by_name):
    """What recover.yml does for a guest whose move was interrupted (controller killed, ...).

    - 'none': no move in flight (or one that confirm.yml / revert.yml finish: they accept their
      own interrupted 'confirming' / 'reverting' states).
    - 'complete': the target copy was defined and marked finished, only the source's status lags:
      the guest may already have run (and written) on the target, so the move is kept, to be
      confirmed or reverted like any other.
    - 'rollback': the target never ran: its copy, files and claim go, the source is restarted (if it
      was running) with its old flavor and status error.
    - 'confirm' / 'revert': a confirm or revert was interrupted (status confirming / reverting on
      either copy): it is finished the way it started, never turned around.
    - 'wait': a host involved is unreachable; nothing is safe to decide.
    """
    nothing = {"action": "none", "source": None, "target": None, "same_host": False, "migration": {},
               "source_state": None, "source_disk": None, "source_metadata": {}}
    if not copies:
        return dict(nothing, reason="no such guest on any reachable hypervisor")
    src = [c for c in copies if (c["instance"].get("migration") or {}).get("role") == "source"]
    tgt = [c for c in copies if (c["instance"].get("migration") or {}).get("role") == "target"]
    settling = _status_of_move(src[0] if src else None, tgt[0] if tgt else None)
    if settling in ("confirming", "reverting"):
        mig = _migration((tgt or src)[0]["instance"])
        plan = dict(nothing, migration=mig, source=mig.get("source_host"), target=mig.get("target_host"),
                    same_host=bool(mig.get("same_host")))
        down = [h for h in (plan["source"], plan["target"]) if h and not (hosts_by_name.get(h) or {}).get("reachable")]
        if down:
            return dict(plan, action="wait", reason="%s is unreachable: the interrupted %s needs it; recover again "
                        "when it is back" % (", ".join(sorted(set(down))), settling[:-3] + "e"))
        op = "confirm" if settling == "confirming" else "revert"
        return dict(plan, action=op, reason="its %s was interrupted (status %s): finishing it" % (op, settling))
    if not src:
        return dict(nothing, reason="no move in flight")
    source = src[0]
    mig = source["instance"].get("migration") or {}
    if mig.get("status") == "finished" and not tgt and not mig.get("same_host") \
            and mig.get("target_host") != source["host"]:
        # a finished move whose target copy is gone (a revert interrupted after destroying it):
        # the source copy is all there is; the revert is finished
        target_host = mig.get("target_host")
        plan = dict(nothing, migration=mig, source=source["host"], target=target_host)
        if target_host and not (hosts_by_name.get(target_host) or {}).get("reachable"):
            return dict(plan, action="wait", reason="target host %s is unreachable: cannot tell whether its copy "
                        "is gone; recover again when it is back" % target_host)
        return dict(plan, action="revert", reason="the target copy on %s is gone (a revert was interrupted): "
                    "finishing the revert" % target_host)
    if mig.get("status") not in MOVING:
        return dict(nothing, reason="last move is %s" % mig.get("status"))
    target_host = mig.get("target_host")
    plan = {"source": source["host"], "target": target_host, "migration": mig,
            "same_host": target_host == source["host"],
            "source_state": mig.get("source_state") or "running",
            "source_disk": ((source["instance"].get("disks") or [{}])[0]).get("path"),
            "source_metadata": source["instance"].get("metadata") or {}}
    if target_host and not (hosts_by_name.get(target_host) or {}).get("reachable"):
        return dict(plan, action="wait", reason="target host %s is unreachable: cannot tell whether the "
                    "guest ran there; recover again when it is back" % target_host)
    if tgt and (tgt[0]["instance"].get("migration") or {}).get("status") == "finished":
        return dict(plan, action="complete", reason="the target copy on %s was defined and finished" % tgt[0]["host"])
    return dict(plan, action="rollback", reason="interrupted at %s before the target ran" % mig.get("status"))


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


def orphan_claims(hosts, name):
    """[{host, id, expired}] claims of guest `name` that no operation needs any more: all of its
    claims but those of a move still awaiting confirm or revert (status finished on a copy).
    Called under the guest's lease (recover.yml), so no live operation of it holds a claim."""
    keep = {(c["instance"].get("migration") or {}).get("id") for c in locate(hosts, name)
            if (c["instance"].get("migration") or {}).get("status") == "finished"}
    out = []
    for h in hosts:
        for c in h.get("claims") or ():
            if c.get("instance") == name and c.get("id") not in keep:
                out.append({"host": h["name"], "id": c.get("id"), "expired": bool(c.get("expired"))})
    return out
