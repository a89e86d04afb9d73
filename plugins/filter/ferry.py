"""ferry's filters: thin shims that shape data for playbooks (no side effects)."""

import os
import re

import ansible.module_utils

# The logic lives in module_utils (shared with modules); make it importable here too.
_MU = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "module_utils")
if _MU not in ansible.module_utils.__path__:
    ansible.module_utils.__path__.append(_MU)

from ansible.module_utils import ferry_domxml, ferry_gate, ferry_guestmove, ferry_move, ferry_state, ferry_validate  # noqa: E402


def ferry_collect_hosts(names, hostvars, result_var="ferry_host_facts_result"):
    """One facts dict per hypervisor; unreachable or failed hosts are marked, not dropped."""
    hosts = []
    for name in names:
        hv = hostvars[name]
        res = hv.get(result_var) or {}
        if res.get("host") and not res.get("failed") and not res.get("unreachable"):
            hosts.append(dict(res["host"]))
            continue
        reason = res.get("msg") or "no facts gathered"
        hosts.append({
            "name": name, "az": hv.get("ferry_az"), "reachable": False, "enabled": False,
            "disabled_reason": "unreachable: %s" % reason if res.get("unreachable") else "facts failed: %s" % reason,
            "capacity": {"vcpus": 0, "memory_mb": 0, "disk_gb": 0}, "used": {}, "free": {},
            "instances": [], "claims": [], "aggregates": list(hv.get("ferry_aggregates") or []), "capabilities": {},
            "allocation_ratios": dict(hv.get("ferry_allocation_ratios") or {}),
        })
    return hosts


def ferry_valid_name(name):
    return ferry_validate.is_valid_name(name, "instance")


def ferry_boot_errors(instance, flavor, image, host, flavors, images, hosts, ignore_unreachable=False):
    """Why a boot request is refused (empty list: it is valid).  Checked before anything is touched.

    A name cannot be proven unique while a host is unreachable (the guest may exist there), so
    boot refuses then, unless the operator accepts it (ferry_boot_ignore_unreachable)."""
    errors = []
    down = [h["name"] for h in hosts if not h.get("reachable")]
    if down and not ignore_unreachable:
        errors.append("host%s %s unreachable: the name %r cannot be proven unique (a guest of that name may be "
                      "there); retry when it is back, or set ferry_boot_ignore_unreachable=true"
                      % ("s" if len(down) > 1 else "", ", ".join(down) + (" are" if len(down) > 1 else " is"),
                         instance))
    if not ferry_valid_name(instance):
        errors.append("instance name %r is invalid: it must match [A-Za-z0-9][A-Za-z0-9._-]*" % (instance,))
    if flavor not in flavors:
        errors.append("unknown flavor %r (known: %s)" % (flavor, ", ".join(sorted(flavors))))
    if image not in images:
        errors.append("unknown image %r (known: %s)" % (image, ", ".join(sorted(images))))
    names = [h["name"] for h in hosts]
    if host and host not in names:
        errors.append("unknown host %r (known: %s)" % (host, ", ".join(names)))
    found = ferry_move.locate(hosts, instance)
    if found:
        errors.append("a guest named %r already exists on %s" % (instance, ", ".join(f["host"] for f in found)))
    return errors


def _chain_text(inst):
    parts = []
    for d in inst.get("disks", []):
        c = d.get("chain")
        if not c:
            parts.append("%s (%s)" % (d.get("path"), d.get("error", "?")))
            continue
        names = [layer["path"].rsplit("/", 1)[-1][:16] for layer in c["layers"]]
        parts.append(" -> ".join(names) + " [%.0f GiB]" % (c["virtual_size"] / 1024.0 ** 3))
    return ", ".join(parts) or "-"


def _table(rows):
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]))]
    return ["  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]


def ferry_status_table(hosts):
    """Lines of two tables: hosts (AZ, capacity used/free) and guests (host, state, flavor, chain)."""
    rows = [("HOST", "AZ", "STATE", "VCPU used/cap", "RAM MiB used/cap", "DISK GiB used/cap", "GUESTS")]
    for h in sorted(hosts, key=lambda h: (h.get("az") or "", h["name"])):
        if not h.get("reachable"):
            rows.append((h["name"], h.get("az"), "UNREACHABLE", "-", "-", "-", "-"))
            continue
        cap, used = h["capacity"], h["used"]
        rows.append((h["name"], h["az"], "enabled" if h.get("enabled", True) else "disabled",
                     "%d/%d" % (used["vcpus"], cap["vcpus"]),
                     "%d/%d" % (used["memory_mb"], cap["memory_mb"]),
                     "%.1f/%.0f" % (used["disk_gb"], cap["disk_gb"]), len(h["instances"])))
    guests = [("GUEST", "HOST", "AZ", "STATE", "FLAVOR", "MIGRATION", "DISK CHAIN (top -> base)")]
    for h in hosts:
        for i in h.get("instances", []):
            mig = i.get("migration") or {}
            guests.append((i["name"], h["name"], h.get("az"), i["state"],
                           i.get("flavor") or ("-" if i.get("managed", True) else "(unmanaged)"),
                           ("%s %s" % (mig.get("role", ""), mig.get("status", ""))).strip() or "-",
                           _chain_text(i)))
    if len(guests) == 1:
        return _table(rows) + ["", "(no guests)"]
    return _table(rows) + [""] + _table([guests[0]] + sorted(guests[1:], key=lambda g: (g[0], g[1])))


def ferry_move_errors(kind, name, hosts, flavors, new_flavor=None, target_host=None):
    copies = ferry_move.locate(hosts, name)
    return ferry_move.move_errors(kind, name, copies, flavors, new_flavor, target_host,
                                  [h["name"] for h in hosts],
                                  [h["name"] for h in hosts if not h.get("reachable")])


def ferry_pending_pair(hosts, name, op=None):
    """{source, target} copies of an unconfirmed move; raises (fails the task) when there is none."""
    try:
        src, tgt = ferry_state.pending_pair(ferry_state.locate(hosts, name), op)
    except ValueError as e:
        raise ValueError("%s: %s" % (name, e)) from None
    return {"source": src, "target": tgt}


def ferry_move_settled(hosts, name, status):
    return ferry_state.settled(ferry_state.locate(hosts, name), status)


def ferry_recovery_plan(hosts, name, under_lease=None):
    """recover.yml's plan; with `under_lease` ({host: ferry_lease result}), decided on the guest's
    metadata as read under the lease on each copy instead of the facts gathered before it."""
    copies = ferry_state.locate(hosts, name)
    if under_lease is not None:
        copies = ferry_state.refreshed(copies, under_lease, hosts)
    return ferry_state.recovery_plan(copies, {h["name"]: h for h in hosts})


def ferry_transition(record, event, **fields):
    """The migration record after `event` (ferry_state.transition; an illegal one fails the task)."""
    return ferry_state.transition(record, event, **fields)


def ferry_move_hosts(hosts, name):
    """Every host a guest's move involves (its copies, the source and target its records name)."""
    return ferry_state.hosts_of_move(ferry_state.locate(hosts, name))


def ferry_orphan_claims(hosts, name):
    return ferry_state.orphan_claims(hosts, name)


def ferry_move_plan(guest, target_vars, target_facts=None):
    """The per-file plan of a guest's move to the target whose hostvars (and facts) are given."""
    target = {"cache_dir": target_vars["ferry_cache_dir"], "instances_dir": target_vars["ferry_instances_dir"],
              "swtpm_dir": (target_facts or {}).get("swtpm_dir")}
    return ferry_guestmove.plan(guest["xml"], guest["chains"], guest["hashes"], guest["cfg"], target)


def ferry_cache_names(cache):
    """The file names in a host's image cache of a plan's cache entries: sha256 + extension."""
    return [c["sha256"] + c["ext"] for c in cache]


def ferry_target_xml(guest, plan, flavor=None, source_vars=None, target_vars=None):
    """The target's definition: the source's own, with only the move's rewrites (ferry_domxml)."""
    xml, _ = ferry_domxml.target_definition(
        guest["xml"],
        vcpus=int(flavor["vcpus"]) if flavor else None,
        memory_mib=int(flavor["memory_mb"]) if flavor else None,
        disk_map=plan["disk_map"], path_map=plan["path_map"],
        source_net_map=(source_vars or {}).get("ferry_network_map"),
        target_net_map=(target_vars or {}).get("ferry_network_map"))
    return xml


def ferry_fit_reasons(fit_results, guest, source, hostvars):
    """{host: None or why} from ferry_guest_fit's looped results (one per hypervisor)."""
    fits, nets = {}, {}
    for r in fit_results:
        host = r.get("item")
        fits[host] = None if (r.get("failed") or r.get("unreachable") or r.get("skipped")) else r
        hv = hostvars[host]
        nets[host] = {"declared": hv.get("ferry_host_networks"), "map": hv.get("ferry_network_map") or {}}
    return ferry_guestmove.fit_reasons(guest["requirements"], source, fits, nets)


def ferry_pick(d, keys):
    return {k: d[k] for k in keys if k in d}


def ferry_disk_paths(disk_map):
    """{target dev: path} from a plan's disk_map, as the guest's metadata records them."""
    return {t: v["path"] for t, v in (disk_map or {}).items()}


_CONTROL_RE = re.compile("[\x00-\x1f\x7f]+")


def ferry_safe_text(text, limit=500):
    """Text safe to keep in a guest's metadata: control characters (ssh's \\r\\n...) become one
    space, the length is capped.  Never a reason for a rollback to fail."""
    out = _CONTROL_RE.sub(" ", str(text if text is not None else "")).strip()
    return out if len(out) <= limit else out[:limit - 3] + "..."


class FilterModule(object):
    def filters(self):
        return {
            "ferry_collect_hosts": ferry_collect_hosts,
            "ferry_valid_name": ferry_valid_name,
            "ferry_boot_errors": ferry_boot_errors,
            "ferry_status_table": ferry_status_table,
            "ferry_locate": ferry_move.locate,
            "ferry_way_out": ferry_gate.way_out,
            "ferry_move_hosts": ferry_move_hosts,
            "ferry_precopy_split": ferry_guestmove.precopy_split,
            "ferry_flatten_plan": ferry_guestmove.flatten_plan,
            "ferry_move_errors": ferry_move_errors,
            "ferry_move_request": ferry_move.move_request,
            "ferry_flavor_of": ferry_move.flavor_of,
            "ferry_flavor_record": ferry_move.flavor_record,
            "ferry_migration_record": ferry_move.migration_record,
            "ferry_new_migration_id": lambda _: ferry_move.new_migration_id(),
            "ferry_pending_pair": ferry_pending_pair,
            "ferry_recovery_plan": ferry_recovery_plan,
            "ferry_move_settled": ferry_move_settled,
            "ferry_move_result": ferry_move.result,
            "ferry_move_line": ferry_move.one_line,
            "ferry_move_plan": ferry_move_plan,
            "ferry_cache_names": ferry_cache_names,
            "ferry_safe_text": ferry_safe_text,
            "ferry_pick": ferry_pick,
            "ferry_disk_paths": ferry_disk_paths,
            "ferry_root_errors": ferry_move.root_errors,
            "ferry_adoption_metadata": ferry_move.adoption_metadata,
            "ferry_target_xml": ferry_target_xml,
            "ferry_fit_reasons": ferry_fit_reasons,
            "ferry_without_lease": ferry_state.without_lease,
            "ferry_transition": ferry_transition,
            "ferry_orphan_claims": ferry_orphan_claims,
        }
