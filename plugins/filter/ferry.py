"""ferry's filters: thin shims that shape data for playbooks (no side effects)."""

import re

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


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
            "instances": [], "claims": [], "aggregates": [], "capabilities": {},
        })
    return hosts


def ferry_find_instance(hosts, name):
    """[{host, instance}] for every host that defines a domain called `name`."""
    return [{"host": h["name"], "az": h.get("az"), "instance": i}
            for h in hosts for i in h.get("instances", []) if i["name"] == name]


def ferry_valid_name(name):
    return bool(NAME_RE.match(str(name or "")))


class FilterModule(object):
    def filters(self):
        return {
            "ferry_collect_hosts": ferry_collect_hosts,
            "ferry_find_instance": ferry_find_instance,
            "ferry_valid_name": ferry_valid_name,
        }
