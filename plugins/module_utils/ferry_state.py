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
