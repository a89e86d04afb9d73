"""Host usage and state (Nova's resource tracker counts and HostState)."""

from __future__ import annotations

from ansible.module_utils.ferry_sched import resolve

# HostState attributes an unscoped extra spec may name (ComputeCapabilitiesFilter checks
# ``hasattr(host_state, key)``); see host_state() for their meaning.
COMPUTED = (
    "vcpus_total", "vcpus_used", "memory_mb_total", "memory_mb_used", "free_ram_mb",
    "total_usable_ram_mb", "disk_mb_total", "disk_mb_used", "free_disk_mb", "total_usable_disk_gb",
    "num_io_ops", "num_instances",
)


def host_usage(host: dict) -> dict:
    """Resources in use on one host, the way Nova's resource tracker counts.

    Every domain defined there counts, running or not (a stopped resize
    source stays counted until confirm, like Nova's tracker counting both
    sides of a migration). A claim counts only while its instance has no
    domain on the host yet, so a claim followed by the defined domain is not
    counted twice (dedupe by instance name) -- except a same-host resize's
    claim (it has `old`): the host then holds both flavors until confirm, so
    the claim counts the flavor the domain is not at.  An expired claim (its
    operation's lease was not renewed) does not count. io_ops are domains with a
    task_state plus those claims still in flight (nova/compute/stats.py
    io_workload counts instances in build/resize/migrate task states).
    """
    t = _tally(host)
    return {
        "vcpus": t["vcpus"], "memory_mb": t["memory_mb"], "disk_gb": t["disk_gb"],
        "io_ops": t["io_ops"], "num_instances": t["num_instances"],
        "pending_claims": t["pending_claims"],
        "instances": sorted(n for n in t["names"] if n is not None and n not in t["uuids"]),
    }


def _tally(host):
    """One pass over a host's domains and claims (see host_usage)."""
    vcpus = mem = io_ops = 0
    disk = 0.0
    names, uuids, groups = set(), set(), []
    instances = host.get("instances") or ()
    add_name, add_uuid = names.add, uuids.add
    for inst in instances:
        get = inst.get
        name = get("name")
        add_name(name)
        vcpus += get("vcpus") or 0
        mem += get("memory_mb") or 0
        disk += get("disk_gb") or 0.0
        if get("task_state"):
            io_ops += 1
        uuid = get("uuid")
        if uuid:
            add_uuid(uuid)
        group = get("server_group")
        if group:
            groups.append((group.get("name"), name))
    defined = len(names)
    claims = host.get("claims") or ()
    domains = {inst.get("name"): inst for inst in instances} if claims else {}
    for claim in claims:
        name = claim.get("instance")
        if claim.get("expired"):
            continue
        if name not in names:
            names.add(name)
            vcpus += claim.get("vcpus") or 0
            mem += claim.get("memory_mb") or 0
            disk += claim.get("disk_gb") or 0.0
            io_ops += 1
        elif claim.get("old") and name in domains:
            # a same-host resize: the host holds the old and the new flavor until confirm (Nova's
            # tracker counts both); the domain counts the one it has now, the claim the other
            dom, new, old = domains[name], claim, claim["old"]
            other = old if (dom.get("vcpus"), dom.get("memory_mb")) == (new.get("vcpus"), new.get("memory_mb")) else new
            vcpus += other.get("vcpus") or 0
            mem += other.get("memory_mb") or 0
            disk += other.get("disk_gb") or 0.0
    return {
        "vcpus": vcpus, "memory_mb": mem, "disk_gb": float(disk), "io_ops": io_ops,
        "num_instances": len(names), "pending_claims": len(names) - defined,
        "names": names | uuids, "uuids": uuids, "groups": groups,
    }


class HostState(dict):
    """A host's state as a dict whose usage part (what _tally counts over its domains and claims)
    is computed on first access: filters that run before the resource filters (retry, AZ,
    compute) remove hosts without paying for counting their domains."""

    __slots__ = ()

    def __missing__(self, key):
        if key in _USAGE_KEYS and "vcpus_used" not in self:
            self.update(_usage_fields(self["host"], self["_cfg"]))
            return self[key]
        raise KeyError(key)


_USAGE_KEYS = frozenset((
    "vcpus_used", "memory_mb_used", "free_ram_mb", "disk_mb_used", "free_disk_mb", "io_ops",
    "num_io_ops", "num_instances", "names", "groups",
))


def _usage_fields(host, cfg):
    usage = _tally(host)
    cap = host.get("capacity") or {}
    mem_total = cap.get("memory_mb") or 0
    disk_total_mb = (cap.get("disk_gb") or 0) * 1024.0
    return {
        "vcpus_used": usage["vcpus"],
        "memory_mb_used": usage["memory_mb"],
        "free_ram_mb": mem_total - cfg["reserved_host_memory_mb"] - usage["memory_mb"],
        "disk_mb_used": usage["disk_gb"] * 1024.0,
        "free_disk_mb": disk_total_mb - cfg["reserved_host_disk_mb"] - usage["disk_gb"] * 1024.0,
        "io_ops": usage["io_ops"],
        "num_io_ops": usage["io_ops"],
        "num_instances": usage["num_instances"],
        "names": frozenset(usage["names"]),
        "groups": usage["groups"],
    }


def host_state(host: dict, cfg: dict, cache: dict | None = None) -> dict:
    """Nova HostState equivalent: totals, used, free (before ratios), and the host's settings.

    free_ram_mb = memory_mb - reserved_host_memory_mb - used (resource
    tracker ``_update_usage_from_instances``); free_disk_mb likewise with
    reserved_host_disk_mb; ratios are applied by the filters and CPUWeigher,
    as Nova does. ``names`` holds the names and UUIDs of the instances
    there (domains and pending claims); ``groups`` (group, member) pairs.
    Usage is counted on first access (HostState). ``settings`` is
    resolve.host_settings(): ratios, aggregate values, AZs, resolved once per
    host per request (``cache``: see resolve.host_settings).
    """
    cap = host.get("capacity") or {}
    mem_total = cap.get("memory_mb") or 0
    disk_total_mb = (cap.get("disk_gb") or 0) * 1024.0
    settings = resolve.host_settings(host, cfg, cache)
    return HostState(
        name=host["name"], host=host, _cfg=cfg, az=host.get("az"), azs=settings["azs"], settings=settings,
        vcpus_total=cap.get("vcpus") or 0, memory_mb_total=mem_total, total_usable_ram_mb=mem_total,
        disk_mb_total=disk_total_mb, total_usable_disk_gb=disk_total_mb / 1024.0,
    )
