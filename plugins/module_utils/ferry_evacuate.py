"""Draining a hypervisor: which guests can leave, the whole drain planned guest after guest, and
what each guest's migration run said.

Pure functions (no Ansible, no I/O) used by the `evacuate` role through filters
(plugins/filter/ferry_evacuate.py) and by the `ferry_evacuate` module, which runs
playbooks/migrate.yml once per guest (ansible-runner, a bounded number at a time) so every move
takes its own lease and claim exactly as an operator's migrate does.
"""

import copy

from ansible.module_utils import ferry_guestmove, ferry_move, ferry_scheduler, ferry_state

UNMANAGED = ("not booted by ferry (no ferry metadata): left where it is; adopt it first "
             "(playbooks/adopt.yml -e instance=%s) and evacuate again")
PLAN_CLAIM_ID = "evacuate-plan"


def classify(hosts, host, flavors):
    """The guests on `host`: (movable names, left) where left = [{instance, host, state, reason}].

    A guest moves when ferry booted (or adopted) it, it is running or stopped, and it has no
    unfinished move (a finished move's source or target copy waits for confirm or revert)."""
    facts = next((h for h in hosts if h.get("name") == host), None)
    if facts is None:
        raise ValueError("no facts for host %s" % host)
    names = [h["name"] for h in hosts]
    movable, left = [], []
    for inst in sorted(facts.get("instances") or (), key=lambda i: i["name"]):
        name = inst["name"]
        if not inst.get("managed"):
            reasons = [UNMANAGED % name]
        else:
            copies = ferry_state.locate([h for h in hosts if h.get("reachable", True)], name)
            reasons = ferry_move.move_errors("migrate", name, copies, flavors, host_names=names)
        if reasons:
            left.append({"instance": name, "host": host, "state": inst.get("state"), "reason": "; ".join(reasons)})
        else:
            movable.append(name)
    return movable, left


def mark_disabled(hosts, host, reason):
    """The hosts as the scheduler will see them once `host` is disabled (check mode writes nothing,
    so its plan marks the host itself)."""
    return [dict(h, enabled=False, disabled_reason=h.get("disabled_reason") if h.get("enabled") is False else reason)
            if h.get("name") == host else h for h in hosts]


def _fits_by_guest(fit_results):
    """{guest: {host: ferry_guest_fit result or None}} from a loop over [guest, host] pairs."""
    out = {}
    for r in fit_results or ():
        guest, host = r.get("item")
        out.setdefault(guest, {})[host] = None if (r.get("failed") or r.get("unreachable") or r.get("skipped")) else r
    return out


def requests(hosts, source, movable, flavors, images, guest_results, fit_results, networks):
    """One migrate request spec per movable guest, as move_request builds it (AZ pinned to the
    guest's, the source ignored, the guest's definition checked on every host, its disk as Nova
    counts it), plus the guests ferry_guest refused: ([{instance, request, flavor}], left).

    guest_results: ferry_guest's looped results (item = guest); fit_results: ferry_guest_fit's
    looped results (item = [guest, host]); networks: {host: {declared, map}}."""
    guests = {r.get("item"): r for r in guest_results or ()}
    fits = _fits_by_guest(fit_results)
    out, left = [], []
    for name in movable:
        g = guests.get(name) or {}
        if g.get("failed") or g.get("unreachable") or not g:
            left.append({"instance": name, "host": source, "reason": "cannot read its definition: %s"
                         % (g.get("msg") or "no answer")})
            continue
        if g.get("refusals"):
            left.append({"instance": name, "host": source, "reason": "; ".join(g["refusals"])})
            continue
        cp = ferry_state.locate([h for h in hosts if h["name"] == source], name)[0]
        flavor = ferry_move.flavor_of(cp["instance"], flavors)
        props = ((images or {}).get(cp["instance"].get("image")) or {}).get("properties") or {}
        req = ferry_move.move_request("migrate", cp, flavor, props)
        req["guest_fit"] = ferry_guestmove.fit_reasons(g.get("requirements") or {}, source, fits.get(name, {}), networks)
        req["disk_gb"] = float(flavor.get("disk_gb") or 0) + float(g.get("other_disks_gb") or 0)
        out.append({"instance": name, "request": req, "flavor": flavor, "state": cp["instance"].get("state")})
    return out, left


def plan_claim(instance, flavor, disk_gb):
    """What a planned placement adds to its host for the guests planned after it."""
    return {"id": PLAN_CLAIM_ID, "instance": instance, "kind": "move", "vcpus": int(flavor.get("vcpus") or 0),
            "memory_mb": int(flavor.get("memory_mb") or 0), "disk_gb": float(disk_gb or 0), "expired": False,
            "planned": True}


def plan(hosts, items, config=None):
    """Place the guests one after another, each seeing the placements before it (added to their
    hosts as claims, as the real moves' claims would be).  Returns (steps, hosts_after):
    steps = [{instance, source, state, host, alternates, report, report_text}]."""
    work = copy.deepcopy(list(hosts))
    by_name = {h["name"]: h for h in work}
    steps = []
    for it in items:
        req = it["request"]
        res = ferry_scheduler.schedule(work, req, config)
        step = {"instance": it["instance"], "source": (req.get("ignore_hosts") or [None])[0],
                "state": it.get("state"), "host": res["host"], "alternates": res["alternates"],
                "flavor": it.get("flavor"), "disk_gb": req.get("disk_gb"), "report": res["report"],
                "report_text": res["report_text"]}
        steps.append(step)
        if res["host"]:
            target = by_name[res["host"]]
            target["claims"] = list(target.get("claims") or []) + [
                plan_claim(it["instance"], it.get("flavor") or req.get("flavor") or {}, req.get("disk_gb"))]
    return steps, work


def plan_text(steps, left):
    """The drain plan as lines an operator reads."""
    lines = []
    for s in steps:
        if s["host"]:
            lines.append("%s (%s): %s -> %s" % (s["instance"], s.get("state") or "?", s["source"], s["host"]))
        else:
            lines.append("%s (%s): stays on %s: %s" % (s["instance"], s.get("state") or "?", s["source"],
                                                       s["report_text"].splitlines()[0]))
    for g in left:
        lines.append("%s: stays on %s: %s" % (g["instance"], g.get("host"), g["reason"]))
    return lines or ["no guest on the host"]


# --------------------------------------------------------------------------
# one guest's migrate run (ansible-runner events) -> its result
# --------------------------------------------------------------------------

# What an ansible-runner that started this play (the tests, AWX) leaves in the environment for its own
# callback; a run started from inside must not inherit it (its awx_display would load itself as the
# "original" stdout callback and fail), so each inner runner sets its own.
OUTER_RUNNER_ENV = ("ANSIBLE_STDOUT_CALLBACK", "ORIGINAL_STDOUT_CALLBACK", "ANSIBLE_CALLBACK_PLUGINS",
                    "AWX_ISOLATED_DATA_DIR", "ANSIBLE_CACHE_PLUGIN", "ANSIBLE_CACHE_PLUGIN_CONNECTION",
                    "RUNNER_OMIT_EVENTS", "RUNNER_ONLY_FAILED_EVENTS")


def inner_env(env):
    """The environment a migrate run starts from: this one without an outer runner's callback settings."""
    return {k: v for k, v in env.items() if k not in OUTER_RUNNER_ENV}


def run_result(instance, rc, status, events, artifacts=None, stdout_tail=None):
    """{instance, moved, target, result, reason, artifacts} from one migrate.yml run's events.

    moved: the run succeeded and reported a move result (ferry_move_result, kept as job stats);
    reason: the first failure's message (the scheduler's report, a claim's or lease's refusal,
    a rollback's cause), else the runner's status."""
    move = None
    failures = []
    for e in events or ():
        data = e.get("event_data") or {}
        if e.get("event") == "playbook_on_stats":
            stats = data.get("artifact_data") or {}
            move = stats.get("ferry_move_result") or move
        elif e.get("event") == "runner_on_ok" and isinstance((data.get("res") or {}).get("ferry_move_result"), dict):
            move = move or data["res"]["ferry_move_result"]
        elif e.get("event") in ("runner_on_failed", "runner_on_unreachable") and not data.get("ignore_errors"):
            res = data.get("res") or {}
            failures.append("%s: %s" % (data.get("task") or "task", res.get("msg") or res.get("stderr") or "failed"))
    moved = rc == 0 and move is not None
    reason = None
    if not moved:
        reason = failures[0] if failures else "migrate.yml ended %s (rc %s) without a move result%s" % (
            status, rc, ": %s" % stdout_tail if stdout_tail else "")
    return {"instance": instance, "moved": moved, "target": (move or {}).get("target") if moved else None,
            "result": move if moved else None, "reason": reason, "rc": rc, "status": status,
            "artifacts": artifacts}


def one_line(reason):
    """A multi-line reason (a scheduler report) on one line: the headline and what was removed, not the
    filters that removed nothing nor the running counts."""
    lines = [x.strip() for x in str(reason or "").splitlines() if x.strip()]
    keep = [x for x in lines if not (": removed none," in x or (x.endswith(" remain") and ": " in x))]
    return "; ".join(keep)


def summary(results, left, host, confirmed=False):
    """(lines, counts) for the evacuation of `host` from the run results and the guests left;
    `confirmed`: the moves were confirmed at their end (ferry_evacuate_confirm)."""
    lines, moved, stayed = [], 0, 0
    for r in results:
        if r["moved"]:
            moved += 1
            lines.append("%s: moved %s -> %s (%s)" % (r["instance"], host, r["target"],
                                                     "confirmed" if confirmed else "finished, awaiting confirm or revert"))
        else:
            stayed += 1
            lines.append("%s: stays on %s: %s" % (r["instance"], host, one_line(r["reason"])))
    for g in left:
        stayed += 1
        lines.append("%s: stays on %s: %s" % (g["instance"], host, g["reason"]))
    return lines, {"moved": moved, "left": stayed}
