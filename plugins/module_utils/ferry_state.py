"""A guest's migration state and lease: the one place statuses change (pure functions, no I/O).

Migration statuses follow Nova's names.  Each copy of a guest (source, target) keeps its own
migration record in its ferry metadata; every change of status goes through transition(), which
refuses what the table below does not allow:

    (none|confirmed|reverted|error) --claim--> pre-migrating --stop--> migrating --finish--> finished
    pre-migrating|migrating --fail--> error                   (rolled back: the source as it was)
    finished --confirm--> confirming --confirmed--> confirmed (source copy deleted)
    finished --revert--> reverting --reverted--> reverted     (target copy destroyed)

A confirm that started is never reverted (its source copy may be gone) and a revert that started is
never confirmed (its target copy may be gone): each is finished forward by a re-run or recover.yml.

The lease: one operation per guest at a time.  It lives in the guest's metadata on its host
(`lease`: op, id, controller, started, expires), is taken and checked under a lock on that host,
renewed while the operation runs and released at its end.  A live lease of another operation
refuses every other change; an expired one is taken over only by recover.yml (`takeover`) or by
a re-run of the same confirm or revert (which finishes it), or broken by naming its id
(`break_id`) when its controller is known to be dead.
"""

import time

NONE = None
MOVING = ("pre-migrating", "migrating", "post-migrating")
PENDING = ("finished",)
SETTLING = ("confirming", "reverting")
DONE = ("confirmed", "reverted", "error")

# event: (statuses it may start from, status it leads to).  Repeating the last event of a status
# (a re-run after an interruption) is allowed where the target status is listed as a start.
TRANSITIONS = {
    "claim": ((NONE,) + DONE, "pre-migrating"),
    "stop": (("pre-migrating", "migrating"), "migrating"),
    "ship": (("migrating", "post-migrating"), "post-migrating"),
    "finish": (MOVING + ("finished",), "finished"),
    "fail": (MOVING + ("error",), "error"),
    "confirm": (("finished", "confirming"), "confirming"),
    "confirmed": (("confirming", "confirmed"), "confirmed"),
    "revert": (("finished", "reverting"), "reverting"),
    "reverted": (("reverting", "reverted"), "reverted"),
}

# What an operation may find when it takes the lease (status of the copy the lease is taken on).
OPERATIONS = {
    "resize": (NONE,) + DONE,
    "migrate": (NONE,) + DONE,
    "confirm": ("finished", "confirming", "confirmed"),
    "revert": ("finished", "reverting", "reverted"),
    "recover": (NONE,) + MOVING + PENDING + SETTLING + DONE,
    "delete": (NONE,) + MOVING + PENDING + SETTLING + DONE,
    "adopt": (NONE,) + DONE,
}


class IllegalTransition(ValueError):
    pass


class LeaseHeld(RuntimeError):
    pass


def status_of(record):
    return (record or {}).get("status")


def transition(record, event, **fields):
    """The migration record after `event`, or IllegalTransition saying why not.

    A `claim` starts a new record from `fields` (the old one only has to allow it); every other
    event keeps the record and updates `fields` in it.
    """
    if event not in TRANSITIONS:
        raise IllegalTransition("unknown migration event %r" % (event,))
    allowed, to = TRANSITIONS[event]
    current = status_of(record)
    if current not in allowed:
        raise IllegalTransition(
            "migration %s cannot go %s -> %s (%s allowed only from %s)"
            % ((record or {}).get("id", "?"), current, to, event,
               ", ".join("none" if s is None else s for s in allowed)))
    new = dict(fields) if event == "claim" else dict(record or {}, **fields)
    new["status"] = to
    return new


def make_lease(op, lease_id, controller, ttl, now=None):
    now = time.time() if now is None else now
    return {"op": op, "id": lease_id, "controller": controller, "started": round(now, 3),
            "expires": round(now + ttl, 3)}


def lease_live(lease, now=None):
    now = time.time() if now is None else now
    return bool(lease) and float(lease.get("expires") or 0) > now


def describe(lease, now=None):
    now = time.time() if now is None else now
    left = float(lease.get("expires") or 0) - now
    return ("%s %s by %s, %s" % (lease.get("op"), lease.get("id"), lease.get("controller"),
                                 ("expires in %d s" % left) if left > 0 else ("expired %d s ago" % -left)))


def take(meta, op, lease, now=None, takeover=False, break_id=None):
    """Metadata with `lease` taken for `op`, or LeaseHeld / IllegalTransition saying why not.

    The guest's status (read under the host's lock by the caller) must be one `op` may start from.
    Taking a lease one already holds renews it.
    """
    now = time.time() if now is None else now
    meta = dict(meta or {})
    cur = meta.get("lease")
    if cur and cur.get("id") != lease["id"]:
        if break_id and cur.get("id") == break_id:
            pass
        elif lease_live(cur, now):
            raise LeaseHeld("guest is being worked on (%s): wait for it to end, or if its controller is "
                            "dead, recover.yml -e ferry_break_lease=%s" % (describe(cur, now), cur.get("id")))
        elif not takeover and not (op in ("confirm", "revert") and cur.get("op") == op):
            raise LeaseHeld("guest has the expired lease of an interrupted operation (%s): run recover.yml "
                            "first" % describe(cur, now))
    status = status_of(meta.get("migration"))
    if status not in OPERATIONS[op]:
        raise IllegalTransition("%s is not possible while the guest's last move is %s (%s allowed from: %s)"
                                % (op, status, op, ", ".join("none" if s is None else s for s in OPERATIONS[op])))
    meta["lease"] = lease
    return meta


def check(meta, lease_id):
    """LeaseHeld unless `lease_id` holds the guest's lease (live or expired but not taken over)."""
    cur = (meta or {}).get("lease")
    if not cur or cur.get("id") != lease_id:
        raise LeaseHeld("this operation's lease %s on the guest is gone (%s): another operation took it over; "
                        "nothing more is changed" % (lease_id, describe(cur) if cur else "no lease"))


def apply(meta, lease_id=None, event=None, fields=None, merge=None, unset=(), release=False, renew=None,
          now=None):
    """The guest's metadata after one change by the lease holder (checked first when lease_id is
    given): migration `event` with `fields`, top-level `merge`, keys in `unset` removed, the lease
    renewed for `renew` seconds or released."""
    now = time.time() if now is None else now
    meta = dict(meta or {})
    if lease_id:
        check(meta, lease_id)
    if event:
        meta["migration"] = transition(meta.get("migration"), event, **(fields or {}))
    elif fields:
        meta["migration"] = dict(meta.get("migration") or {}, **fields)
    for k, v in (merge or {}).items():
        if k == "lease":
            continue
        meta[k] = v
    for k in unset or ():
        meta.pop(k, None)
    if release:
        meta.pop("lease", None)
    elif renew and meta.get("lease"):
        meta["lease"] = dict(meta["lease"], expires=round(now + renew, 3))
    return meta


def without_lease(meta):
    """Metadata as it goes to another copy of the guest: the lease stays with the copy it is on."""
    return {k: v for k, v in (meta or {}).items() if k != "lease"}


def claim_live(claim, now=None):
    """A claim counts while the lease of its operation is live (a claim without `expires`, from
    before leases, counts until released)."""
    now = time.time() if now is None else now
    return claim.get("expires") is None or float(claim["expires"]) > now


# A guest's copies and the state of its move, read from both (confirm, revert, recover decide on these)

def locate(hosts, name):
    """The copies of a guest: [{host, host_facts, instance}], source side first."""
    copies = [{"host": h["name"], "host_facts": h, "instance": i}
              for h in hosts for i in h.get("instances", []) if i["name"] == name]
    return sorted(copies, key=lambda c: ((c["instance"].get("migration") or {}).get("role") == "target", c["host"]))


def migration_of(inst):
    return inst.get("migration") or {}


def hosts_of_move(copies):
    """Every host a guest's move involves: where its copies are, and the source and target its
    migration records name (a copy may appear there after the facts were gathered)."""
    out = []
    for c in copies:
        mig = migration_of(c["instance"])
        for h in (c["host"], mig.get("source_host"), mig.get("target_host")):
            if h and h not in out:
                out.append(h)
    return out


def refreshed(copies, taken, hosts=()):
    """`copies` (from locate()) as read under the lease: `taken` is {host: ferry_lease result} for
    every host of the move.  A copy's ferry state is replaced by its metadata read under the lock; a
    copy whose domain was gone by then is dropped; a copy that appeared since the facts were
    gathered (a slow move defined its target meanwhile) is added, with what its metadata says.
    Copies on hosts not in `taken` are kept as gathered."""
    out, seen = [], set()
    for c in copies:
        seen.add(c["host"])
        got = (taken or {}).get(c["host"])
        if got is None:
            out.append(c)
            continue
        meta = got.get("metadata")
        if meta is None:
            continue
        inst = dict(c["instance"], metadata=meta, migration=meta.get("migration") or None,
                    task_state=meta.get("task_state"), lease=meta.get("lease"),
                    state=got.get("domain_state") or c["instance"].get("state"))
        out.append(dict(c, instance=inst))
    by_name = {h["name"]: h for h in hosts or ()}
    name = copies[0]["instance"]["name"] if copies else None
    for host, got in sorted((taken or {}).items()):
        meta = (got or {}).get("metadata")
        if host in seen or meta is None or name is None:
            continue
        inst = {"name": name, "state": got.get("domain_state"), "metadata": meta,
                "migration": meta.get("migration") or None, "task_state": meta.get("task_state"),
                "lease": meta.get("lease"), "disks": []}
        out.append({"host": host, "host_facts": by_name.get(host, {"name": host}), "instance": inst})
    return sorted(out, key=lambda c: (migration_of(c["instance"]).get("role") == "target", c["host"]))


def settling_status(src, tgt):
    """The status of an unconfirmed move from both copies: a confirm or revert that started on
    either copy wins (it must be finished, never turned around)."""
    statuses = [migration_of(c["instance"]).get("status") for c in (tgt, src) if c]
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
    src = [c for c in copies if migration_of(c["instance"]).get("role") == "source"]
    tgt = [c for c in copies if migration_of(c["instance"]).get("role") == "target"]
    src, tgt = (src or [None])[0], (tgt or [None])[0]
    mig = migration_of((tgt or src or copies[0])["instance"])
    status = settling_status(src, tgt)
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
    return len(copies) == 1 and migration_of(copies[0]["instance"]).get("status") == status


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
    settling = settling_status(src[0] if src else None, tgt[0] if tgt else None)
    if settling in ("confirming", "reverting"):
        mig = migration_of((tgt or src)[0]["instance"])
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
