"""A hypervisor's own scheduling state: disabled (with a reason) or not.

Recorded on the host itself, so every controller (a shell, AWX, another operator's laptop) sees it:
one small JSON file, `<claims_dir>/.host-disabled`, written under the claims directory's lock (the
lock `ferry_claim` takes, so a disable and a claim never interleave) with an atomic rename.  Its
name does not end in `.json`, so it is never read as a claim.  Present = disabled; absent = the
inventory decides (`ferry_host_enabled`, `ferry_host_disabled_reason`).  A disabled record wins over
the inventory: an operator's disable is not undone by an inventory that says enabled.

Pure functions here (no Ansible); the file I/O is in `read_record` / `write_record` /
`remove_record`, called under the lock by the `ferry_host_state` module and read by host facts.
"""

import json
import os
import time

RECORD_NAME = ".host-disabled"
LOCK_NAME = ".lock"  # the claims directory's lock (ferry_claim)


def record_path(claims_dir):
    return os.path.join(claims_dir, RECORD_NAME)


def make_record(reason, controller, now, by="disable_host"):
    """The disabled record: why, since when (epoch seconds), which controller, which playbook."""
    return {"disabled": True, "reason": reason or "disabled", "since": float(now),
            "controller": controller or "unknown", "by": by}


def parse_record(text):
    """The record from the file's text; a damaged or foreign file still means disabled (the safe
    side: a host someone meant to disable is never put back into service by a parse error)."""
    try:
        rec = json.loads(text)
    except ValueError:
        return {"disabled": True, "reason": "unreadable disabled record (%d bytes)" % len(text or ""),
                "since": None, "controller": None, "by": None}
    if not isinstance(rec, dict):
        return {"disabled": True, "reason": "unreadable disabled record (not an object)",
                "since": None, "controller": None, "by": None}
    reason = rec.get("reason")
    return {"disabled": True, "reason": str(reason) if reason else "disabled",
            "since": rec.get("since") if isinstance(rec.get("since"), (int, float)) else None,
            "controller": rec.get("controller"), "by": rec.get("by")}


def effective(inventory_enabled, inventory_reason, record):
    """(enabled, disabled_reason): a record on the host wins over the inventory."""
    if record:
        return False, record.get("reason") or "disabled"
    if inventory_enabled in (False, "false", "False", "no", 0):
        return False, inventory_reason or "disabled in the inventory"
    return True, None


def describe(host, state, changed, previous, record, inventory_enabled=True, check_mode=False):
    """One line for the operator: the host's scheduling state after disable/enable (in check mode,
    what it would be: nothing was written)."""
    if check_mode:
        return "check mode, nothing written: " + describe(host, state, changed, previous, record, inventory_enabled)
    if state == "disabled":
        since = record.get("since")
        when = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(since)) if since is not None else "unknown time"
        return "%s: disabled for scheduling (%s, since %s, by %s)%s" % (
            host, record.get("reason"), when, record.get("controller"),
            "" if changed else "; it was already: the first record is kept")
    text = ("%s: enabled again (was disabled: %s)" % (host, (previous or {}).get("reason")) if changed
            else "%s: was not disabled on the host" % host)
    if inventory_enabled in (False, "false", "False", "no", 0):
        text += "; the inventory's ferry_host_enabled=false still keeps it out of scheduling"
    return text


def read_record(claims_dir):
    """The disabled record on this host, or None."""
    if not claims_dir:
        return None
    try:
        with open(record_path(claims_dir)) as f:
            return parse_record(f.read())
    except FileNotFoundError:
        return None


def write_record(claims_dir, record):
    path = record_path(claims_dir)
    tmp = path + ".tmp.%d" % os.getpid()
    with open(tmp, "w") as f:
        json.dump(record, f, sort_keys=True)
        f.flush()
        os.fsync(f.fileno())
    os.rename(tmp, path)


def remove_record(claims_dir):
    try:
        os.unlink(record_path(claims_dir))
        return True
    except FileNotFoundError:
        return False
