"""ferry scheduler: Nova's FilterScheduler over ferry host facts.

Pure logic, standard library only: no Ansible, no libvirt. Everything here is
a function of its arguments (the host facts list, the request spec and the
``ferry_scheduler`` config); nothing is read from or written to the outside.

Semantics follow OpenStack Nova's filter scheduler:

* ``nova/filters.py`` (BaseFilterHandler.get_filtered_objects): filters run
  in the configured order, each over the hosts the previous one left; the
  run stops at the first filter that leaves no host.
* ``nova/scheduler/host_manager.py`` (get_filtered_hosts): ``ignore_hosts``
  is stripped first, then a requested destination (API 2.56 ``host`` on
  migrate) reduces the list to that host, which still goes through every
  filter.
* ``nova/weights.py``: every weigher weighs all surviving hosts, its weights
  are normalised to [0, 1] (minval/maxval of the weigher, else min/max of the
  list; all equal -> 0), multiplied by its multiplier and summed; hosts are
  sorted by total, descending. With one host or none, nothing is weighed.
* ``nova/scheduler/filter_scheduler.py`` (_get_sorted_hosts): the host is a
  random choice among the best ``host_subset_size``; alternates are the next
  hosts in weighed order, up to ``max_attempts - 1``.

Where Nova moved a check to Placement (RAM, vCPU, disk, AZ), the older
filter code is mirrored; each filter's docstring names its Nova source.

Host state shape (from host facts)::

    {"name", "az", "reachable", "enabled", "disabled_reason",
     "capacity": {"vcpus", "memory_mb", "disk_gb"},
     "arch", "domain_type", "hypervisor_type", "machine_types",
     "capabilities": {...}, "aggregates": [{"name", "metadata"}],
     "instances": [{"name", "uuid", "state", "vcpus", "memory_mb", "disk_gb",
                    "flavor", "image", "az", "server_group", "migration",
                    "task_state"}],
     "claims": [{"id", "instance", "vcpus", "memory_mb", "disk_gb", "kind"}]}

Request spec shape::

    {"instance", "flavor": {"name", "vcpus", "memory_mb", "disk_gb",
     "extra_specs"}, "image": {"name", "properties"}, "availability_zone",
     "ignore_hosts", "requested_host", "retry": {"num_attempts", "hosts"},
     "scheduler_hints": {"same_host", "different_host"}, "server_group"}
"""

from __future__ import annotations

import operator
import random

# Nova's default ``enabled_filters`` from the RamFilter/DiskFilter era
# (RetryFilter, AvailabilityZoneFilter, RamFilter, DiskFilter, ComputeFilter,
# ComputeCapabilitiesFilter, ImagePropertiesFilter,
# ServerGroupAntiAffinityFilter, ServerGroupAffinityFilter) plus CoreFilter,
# because ferry has no Placement to count vCPUs, plus SameHostFilter and
# DifferentHostFilter, which do nothing unless the request carries hints.
# IoOpsFilter, NumInstancesFilter and AggregateInstanceExtraSpecsFilter are
# available but off, as in Nova.
DEFAULT_FILTERS = (
    "RetryFilter",
    "AvailabilityZoneFilter",
    "ComputeFilter",
    "RamFilter",
    "CoreFilter",
    "DiskFilter",
    "ComputeCapabilitiesFilter",
    "ImagePropertiesFilter",
    "ServerGroupAntiAffinityFilter",
    "ServerGroupAffinityFilter",
    "SameHostFilter",
    "DifferentHostFilter",
)

# Nova's default ``weight_classes`` is ``nova.scheduler.weights.all_weighers``.
ALL_WEIGHERS = (
    "RAMWeigher",
    "CPUWeigher",
    "DiskWeigher",
    "IoOpsWeigher",
    "NumInstancesWeigher",
    "ServerGroupSoftAffinityWeigher",
    "ServerGroupSoftAntiAffinityWeigher",
)

# Nova's option defaults. ram_allocation_ratio is 1.5 as Nova had it until
# Stein (initial_ram_allocation_ratio took over later); disk ratio 1.0.
DEFAULT_CONFIG = {
    "enabled_filters": DEFAULT_FILTERS,
    "weighers": ALL_WEIGHERS,
    "ram_allocation_ratio": 1.5,
    "cpu_allocation_ratio": 16.0,
    "disk_allocation_ratio": 1.0,
    "reserved_host_memory_mb": 512,
    "reserved_host_disk_mb": 0,
    "max_io_ops_per_host": 8,
    "max_instances_per_host": 50,
    "ram_weight_multiplier": 1.0,
    "cpu_weight_multiplier": 1.0,
    "disk_weight_multiplier": 1.0,
    "io_ops_weight_multiplier": -1.0,
    "num_instances_weight_multiplier": 0.0,
    "soft_affinity_weight_multiplier": 1.0,
    "soft_anti_affinity_weight_multiplier": 1.0,
    "host_subset_size": 1,
    "max_attempts": 3,
    "default_availability_zone": "nova",
    "seed": None,
    "report_weights_limit": 20,
}

_FLOAT_KEYS = (
    "ram_allocation_ratio", "cpu_allocation_ratio", "disk_allocation_ratio",
    "ram_weight_multiplier", "cpu_weight_multiplier", "disk_weight_multiplier",
    "io_ops_weight_multiplier", "num_instances_weight_multiplier",
    "soft_affinity_weight_multiplier", "soft_anti_affinity_weight_multiplier",
)
_INT_KEYS = (
    "reserved_host_memory_mb", "reserved_host_disk_mb", "max_io_ops_per_host",
    "max_instances_per_host", "host_subset_size", "max_attempts",
    "report_weights_limit",
)


# --------------------------------------------------------------------------
# config
# --------------------------------------------------------------------------

def resolve_config(config: dict | None) -> dict:
    """Nova defaults overlaid with the given config (None values ignored).

    Raises ValueError for an unknown filter or weigher name. Keys ferry does
    not know are kept out and listed under ``ignored_keys``.
    """
    given = {k: v for k, v in (config or {}).items() if v is not None}
    cfg = dict(DEFAULT_CONFIG)
    cfg.update({k: v for k, v in given.items() if k in DEFAULT_CONFIG})
    for key in _FLOAT_KEYS:
        cfg[key] = float(cfg[key])
    for key in _INT_KEYS:
        cfg[key] = int(cfg[key])
    cfg["enabled_filters"] = _known_names(cfg["enabled_filters"], FILTERS, "filter")
    cfg["weighers"] = _known_names(cfg["weighers"], WEIGHERS, "weigher")
    cfg["ignored_keys"] = sorted(k for k in given if k not in DEFAULT_CONFIG)
    return cfg


def _known_names(names, table, kind):
    unknown = [n for n in names if n not in table]
    if unknown:
        raise ValueError(f"unknown {kind} {', '.join(unknown)}; known: {', '.join(table)}")
    return tuple(names)


# --------------------------------------------------------------------------
# host usage and state
# --------------------------------------------------------------------------

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
    for inst in host.get("instances") or ():
        name = inst.get("name")
        names.add(name)
        vcpus += inst.get("vcpus") or 0
        mem += inst.get("memory_mb") or 0
        disk += inst.get("disk_gb") or 0.0
        if inst.get("task_state"):
            io_ops += 1
        if inst.get("uuid"):
            uuids.add(inst["uuid"])
        if inst.get("server_group"):
            groups.append((inst["server_group"].get("name"), name))
    defined = len(names)
    domains = {inst.get("name"): inst for inst in host.get("instances") or ()}
    for claim in host.get("claims") or ():
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


def host_state(host: dict, cfg: dict) -> dict:
    """Nova HostState equivalent: totals, used, free (before ratios).

    free_ram_mb = memory_mb - reserved_host_memory_mb - used (resource
    tracker ``_update_usage_from_instances``); free_disk_mb likewise with
    reserved_host_disk_mb; ratios are applied by the filters and CPUWeigher,
    as Nova does. ``names`` holds the names and UUIDs of the instances
    there (domains and pending claims); ``groups`` (group, member) pairs.
    """
    usage = _tally(host)
    cap = host.get("capacity") or {}
    mem_total = cap.get("memory_mb") or 0
    disk_total_mb = (cap.get("disk_gb") or 0) * 1024.0
    return {
        "name": host["name"],
        "host": host,
        "az": host.get("az"),
        "vcpus_total": cap.get("vcpus") or 0,
        "vcpus_used": usage["vcpus"],
        "memory_mb_total": mem_total,
        "memory_mb_used": usage["memory_mb"],
        "free_ram_mb": mem_total - cfg["reserved_host_memory_mb"] - usage["memory_mb"],
        "disk_mb_total": disk_total_mb,
        "disk_mb_used": usage["disk_gb"] * 1024.0,
        "free_disk_mb": disk_total_mb - cfg["reserved_host_disk_mb"] - usage["disk_gb"] * 1024.0,
        "io_ops": usage["io_ops"],
        "num_instances": usage["num_instances"],
        "names": frozenset(usage["names"]),
        "groups": usage["groups"],
    }


# --------------------------------------------------------------------------
# availability zone for a move
# --------------------------------------------------------------------------

def request_az_for_move(instance: dict, current_host: dict, target_az: str | None = None,
                        allow_cross_az: bool = False) -> str | None:
    """The AZ to request when moving ``instance`` off ``current_host``.

    ferry's fix for Nova's 2014 defect (a guest booted without an AZ could be
    resized into any AZ, because the request carried none): an explicit
    ``target_az`` wins; ``allow_cross_az`` asks for no AZ at all; otherwise
    the AZ requested at boot, else the AZ of the host the guest is on.
    """
    if target_az:
        return target_az
    if allow_cross_az:
        return None
    return instance.get("az") or current_host.get("az")


# --------------------------------------------------------------------------
# extra specs operators (nova/scheduler/filters/extra_specs_ops.py)
# --------------------------------------------------------------------------

def _num_op(op):
    return lambda x, y: op(float(x), float(y))


_SPEC_OPS = {
    "=": _num_op(operator.ge),
    "<in>": lambda x, y: y in x,
    "<all-in>": lambda x, y: all(v in x for v in y),
    "==": _num_op(operator.eq),
    "!=": _num_op(operator.ne),
    ">=": _num_op(operator.ge),
    "<=": _num_op(operator.le),
    "s==": operator.eq,
    "s!=": operator.ne,
    "s<": operator.lt,
    "s<=": operator.le,
    "s>": operator.gt,
    "s>=": operator.ge,
}


def spec_str(value) -> str | None:
    """An extra-spec or capability value as the string Nova compares.

    Booleans render as JSON/YAML does ("true"/"false") since ferry's facts
    come from YAML, where Nova's come as strings already.
    """
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def extra_spec_match(value, req) -> bool:
    """Nova's ``extra_specs_ops.match(value, req)``.

    ``req`` is "<op> arg ..." with op one of =, ==, !=, >=, <= (numeric;
    "=" means ">="), s==, s!=, s<, s<=, s>, s>= (string), <in> (substring),
    <all-in> (every word a substring) or "<or> a <or> b" (any equal). A
    first word that is no operator means plain string equality with the
    whole of ``req``. A non-numeric value under a numeric op does not match.
    """
    value, req = spec_str(value), spec_str(req) or ""
    words = req.split()
    op = words[0] if words else None
    method = _SPEC_OPS.get(op)
    if op != "<or>" and method is None:
        return value == req
    if value is None:
        return False
    if op == "<or>":
        return value in words[1::2]
    if len(words) < 2:
        return False
    try:
        return bool(method(value, words[1:] if op == "<all-in>" else words[1]))
    except ValueError:
        return False


# --------------------------------------------------------------------------
# request context
# --------------------------------------------------------------------------

def build_context(request: dict, states: list, cfg: dict) -> dict:
    """Everything a filter or weigher needs from the request, computed once."""
    flavor = request.get("flavor") or {}
    image = request.get("image") or {}
    hints = request.get("scheduler_hints") or {}
    retry = request.get("retry") or {}
    ctx = {
        "cfg": cfg,
        "instance": request.get("instance"),
        "flavor": flavor,
        "req_vcpus": flavor.get("vcpus") or 0,
        "req_ram_mb": flavor.get("memory_mb") or 0,
        # a real guest's disks: the root at the flavor's size plus its other writable disks
        "req_disk_mb": (int(request["disk_gb"] * 1024) if request.get("disk_gb") is not None
                        else _requested_disk_mb(flavor)),
        "az": request.get("availability_zone"),
        "retry_hosts": frozenset(retry.get("hosts") or ()),
        "retry_attempt": retry.get("num_attempts") or 0,
        "same_host": frozenset(_as_list(hints.get("same_host"))),
        "different_host": frozenset(_as_list(hints.get("different_host"))),
        "capability_specs": capability_specs(flavor.get("extra_specs") or {}),
        "aggregate_specs": aggregate_specs(flavor.get("extra_specs") or {}),
        "image": image_requirements(image.get("properties") or {}),
        "ignore_hosts": frozenset(request.get("ignore_hosts") or ()),
        "requested_host": request.get("requested_host"),
        "guest_fit": request.get("guest_fit") or {},
    }
    ctx.update(group_context(request, states))
    return ctx


def _as_list(value):
    if not value:
        return []
    return [value] if isinstance(value, str) else list(value)


def _requested_disk_mb(flavor):
    """DiskFilter's request: 1024 * (root_gb + ephemeral_gb) + swap (MiB)."""
    gb = (flavor.get("disk_gb") or 0) + (flavor.get("ephemeral_gb") or 0)
    return 1024 * gb + (flavor.get("swap_mb") or 0)


def group_context(request: dict, states: list) -> dict:
    """Server group membership, computed once per request.

    Members are instances on any host whose ``server_group.name`` is the
    request's group, minus the instance being moved. ``group_hosts`` are the
    hosts running a member (Nova's ``instance_group.hosts``).
    """
    group = request.get("server_group") or {}
    name, policy = group.get("name"), group.get("policy")
    if not name or not policy:
        return {"group": None, "policy": None, "members": frozenset(), "group_hosts": frozenset(),
                "max_server_per_host": 1}
    members = {member for hs in states if hs["groups"] for g, member in hs["groups"] if g == name}
    members.discard(request.get("instance"))
    group_hosts = frozenset(hs["name"] for hs in states if not hs["names"].isdisjoint(members))
    rules = group.get("rules") or {}
    return {
        "group": name,
        "policy": policy,
        "members": frozenset(members),
        "group_hosts": group_hosts,
        "max_server_per_host": int(rules.get("max_server_per_host") or 1),
    }


def capability_specs(extra_specs: dict) -> list:
    """(key, path, req, scoped) for ComputeCapabilitiesFilter.

    "capabilities:a:b" -> path [a, b]; an unscoped key is checked only if the
    host has it (current Nova; 2014 Nova failed the host); any other scope ("hw:", "aggregate_...:") is
    not this filter's business.
    """
    out = []
    for key, req in extra_specs.items():
        scope = key.split(":")
        if len(scope) == 1:
            out.append((key, scope, req, False))
        elif scope[0] == "capabilities":
            out.append((key, scope[1:], req, True))
    return out


def aggregate_specs(extra_specs: dict) -> list:
    """(key, metadata_key, req) for AggregateInstanceExtraSpecsFilter.

    Unscoped keys and "aggregate_instance_extra_specs:" keys count; other
    scopes are skipped (key split on the first ':' only, as Nova does).
    """
    out = []
    for key, req in extra_specs.items():
        scope = key.split(":", 1)
        if len(scope) == 1:
            out.append((key, key, req))
        elif scope[0] == "aggregate_instance_extra_specs":
            out.append((key, scope[1], req))
    return out


# --------------------------------------------------------------------------
# image properties (nova/objects/fields.py canonicalize)
# --------------------------------------------------------------------------

_ARCH_ALIASES = {"i386": "i686", "i486": "i686", "i586": "i686", "x86_32": "i686", "amd64": "x86_64"}
_HV_ALIASES = {"xapi": "xen"}
_VM_MODE_ALIASES = {"pv": "xen", "hv": "hvm", "baremetal": "hvm"}


def _canon(value, aliases):
    if not value:
        return None
    value = str(value).lower()
    return aliases.get(value, value)


def _prop(props, new, old):
    return props.get(new) if props.get(new) is not None else props.get(old)


def image_requirements(props: dict) -> dict:
    """Canonical image requirements; both Liberty+ and legacy names accepted."""
    return {
        "arch": _canon(_prop(props, "hw_architecture", "architecture"), _ARCH_ALIASES),
        "hv_type": _canon(_prop(props, "img_hv_type", "hypervisor_type"), _HV_ALIASES),
        "vm_mode": _canon(_prop(props, "hw_vm_mode", "vm_mode"), _VM_MODE_ALIASES),
        "version": _prop(props, "img_hv_requested_version", "hypervisor_version_requires"),
        "machine_type": props.get("hw_machine_type"),
    }


def supported_instances(host: dict) -> list:
    """(arch, hv_type, vm_mode) triples the host can run.

    Like Nova's libvirt driver: one triple per domain type libvirt offers; a
    KVM host also offers plain QEMU (TCG), so an image asking for "qemu" runs
    on both, one asking for "kvm" only on KVM hosts. Host facts may give
    ``supported_instances`` directly.
    """
    if host.get("supported_instances"):
        return [tuple(_canon(v, {}) for v in t) for t in host["supported_instances"]]
    arch = _canon(host.get("arch"), _ARCH_ALIASES)
    hv_types = {_canon(host.get("domain_type"), {}) or "qemu", "qemu"}
    if host.get("hypervisor_type"):
        hv_types.add(_canon(host["hypervisor_type"], _HV_ALIASES))
    return [(arch, hv, "hvm") for hv in sorted(hv_types)]


def _version_tuple(value):
    if isinstance(value, int):
        parts = []
        while value:
            parts.insert(0, value % 1000)
            value //= 1000
        return tuple(parts)
    return tuple(int(p) for p in str(value).strip().split("."))


_VERSION_OPS = (("<=", operator.le), (">=", operator.ge), ("==", operator.eq),
                ("!=", operator.ne), ("<", operator.lt), (">", operator.gt))


def version_satisfies(version, predicate: str) -> bool:
    """Nova's versionpredicate check, e.g. (8002000 or "8.2.0", ">=6.0,<9")."""
    have = _version_tuple(version)
    for clause in str(predicate).split(","):
        clause = clause.strip()
        for sym, op in _VERSION_OPS:
            if clause.startswith(sym):
                want = _version_tuple(clause[len(sym):])
                width = max(len(have), len(want))
                if not op(have + (0,) * (width - len(have)), want + (0,) * (width - len(want))):
                    return False
                break
    return True


# --------------------------------------------------------------------------
# filters: each returns None when the host passes, else the reason
# --------------------------------------------------------------------------

def _n(value, digits: int = 2) -> str:
    """A number rounded to ``digits``, without a needless '.0'."""
    value = round(float(value), digits)
    return str(int(value)) if value == int(value) else str(value)


def availability_zone_filter(hs, ctx):
    """AvailabilityZoneFilter (nova/scheduler/filters/availability_zone_filter.py).

    No AZ requested: every host passes. Else the host's AZ must equal it; a
    host without an AZ is in ``default_availability_zone`` ("nova").
    """
    want = ctx["az"]
    if not want:
        return None
    have = hs["az"] or ctx["cfg"]["default_availability_zone"]
    return None if have == want else f"in AZ {have}, {want} requested"


def compute_filter(hs, ctx):
    """ComputeFilter (nova/scheduler/filters/compute_filter.py).

    The compute service must be enabled and up: here ``enabled`` and
    ``reachable`` from host facts.
    """
    host = hs["host"]
    if not host.get("enabled", True):
        reason = host.get("disabled_reason")
        return "disabled" + (f" ({reason})" if reason else "")
    if not host.get("reachable", True):
        return "unreachable"
    return None


def ram_filter(hs, ctx):
    """RamFilter (nova/scheduler/filters/ram_filter.py, pre-Placement).

    Fails if the flavor is bigger than the host's total RAM (no overcommit
    against itself), else passes iff
    memory_mb * ram_allocation_ratio - (memory_mb - free_ram_mb) >= request.
    """
    want, total = ctx["req_ram_mb"], hs["memory_mb_total"]
    if total < want:
        return f"needs {_n(want)} MiB, host has only {_n(total)} MiB in total"
    ratio = ctx["cfg"]["ram_allocation_ratio"]
    usable = total * ratio - (total - hs["free_ram_mb"])
    if usable >= want:
        return None
    return f"needs {_n(want)} MiB, {_n(usable)} MiB free at ratio {ratio}"


def core_filter(hs, ctx):
    """CoreFilter (nova/scheduler/filters/core_filter.py, pre-Placement).

    A host reporting no vCPUs passes (Nova's fail-safe); a flavor with more
    vCPUs than the host has fails; else passes iff
    vcpus * cpu_allocation_ratio - vcpus_used >= request.
    """
    want, total = ctx["req_vcpus"], hs["vcpus_total"]
    if not total:
        return None
    if want > total:
        return f"needs {_n(want)} vCPUs, host has only {_n(total)} in total"
    ratio = ctx["cfg"]["cpu_allocation_ratio"]
    free = total * ratio - hs["vcpus_used"]
    if free >= want:
        return None
    return f"needs {_n(want)} vCPUs, {_n(free)} free at ratio {ratio}"


def disk_filter(hs, ctx):
    """DiskFilter (nova/scheduler/filters/disk_filter.py, pre-Placement).

    Request = 1024 * (root_gb + ephemeral_gb) + swap MiB; fails if bigger
    than the host's total disk, else passes iff
    total_mb * disk_allocation_ratio - (total_mb - free_disk_mb) >= request.
    Instance disk use is the virtual size of all its disks.
    """
    want, total = ctx["req_disk_mb"], hs["disk_mb_total"]
    if total < want:
        return f"needs {_n(want / 1024.0)} GiB disk, host has only {_n(total / 1024.0)} GiB in total"
    ratio = ctx["cfg"]["disk_allocation_ratio"]
    usable = total * ratio - (total - hs["free_disk_mb"])
    if usable >= want:
        return None
    return f"needs {_n(want / 1024.0)} GiB disk, {_n(usable / 1024.0)} GiB free at ratio {ratio}"


def _capability(host, path):
    caps = host.get("capabilities") or {}
    cur = caps if path[0] in caps else host
    for part in path:
        if not isinstance(cur, dict) or cur.get(part) is None:
            return None
        cur = cur[part]
    return cur


def compute_capabilities_filter(hs, ctx):
    """ComputeCapabilitiesFilter (nova/scheduler/filters/compute_capabilities_filter.py).

    Each "capabilities:<path>" extra spec (':' walks nested dicts) must be
    present in host["capabilities"] (or a top-level host fact such as
    ``arch``) and match under extra_specs_ops; an unscoped key is checked
    only when the host has it; other scopes are ignored.
    """
    host = hs["host"]
    caps = host.get("capabilities") or {}
    for key, path, req, scoped in ctx["capability_specs"]:
        if not scoped and key not in caps and key not in host:
            continue
        have = _capability(host, path)
        if have is None:
            return f"lacks capability {key} (flavor wants {spec_str(req)!r})"
        if not extra_spec_match(have, req):
            return f"{key} is {spec_str(have)!r}, flavor wants {spec_str(req)!r}"
    return None


def image_properties_filter(hs, ctx):
    """ImagePropertiesFilter (nova/scheduler/filters/image_props_filter.py).

    Architecture, hypervisor type and VM mode must match one of the host's
    supported instances, and ``img_hv_requested_version`` the host's
    ``hypervisor_version`` when both are known. ferry also checks
    ``hw_machine_type`` against the host's ``machine_types`` (which Nova
    leaves to the libvirt driver); a host listing none is not checked.
    """
    img = ctx["image"]
    host = hs["host"]
    wanted = (img["arch"], img["hv_type"], img["vm_mode"])
    if any(wanted):
        supported = supported_instances(host)
        if not any(_triple_matches(wanted, t) for t in supported):
            return f"image wants {_triple_text(wanted)}, host runs {_supported_text(supported)}"
        version = host.get("hypervisor_version")
        if version and img["version"] and not version_satisfies(version, img["version"]):
            return f"image wants hypervisor version {img['version']}, host has {version}"
    machine = img["machine_type"]
    if machine and host.get("machine_types") and machine not in host["machine_types"]:
        return f"image wants machine type {machine}, host offers {', '.join(host['machine_types'])}"
    return None


def _triple_matches(wanted, supported):
    return all(w is None or w == s for w, s in zip(wanted, supported))


def _triple_text(triple):
    labels = ("architecture", "hypervisor_type", "vm_mode")
    return ", ".join(f"{k}={v}" for k, v in zip(labels, triple) if v)


def _supported_text(supported):
    return "; ".join("/".join(str(v) for v in t) for t in supported) or "nothing advertised"


def io_ops_filter(hs, ctx):
    """IoOpsFilter (nova/scheduler/filters/io_ops_filter.py): io_ops < max."""
    limit = ctx["cfg"]["max_io_ops_per_host"]
    if hs["io_ops"] < limit:
        return None
    return f"{hs['io_ops']} I/O operations in flight, max {limit}"


def num_instances_filter(hs, ctx):
    """NumInstancesFilter (nova/scheduler/filters/num_instances_filter.py): count < max."""
    limit = ctx["cfg"]["max_instances_per_host"]
    if hs["num_instances"] < limit:
        return None
    return f"{hs['num_instances']} instances, max {limit}"


def retry_filter(hs, ctx):
    """RetryFilter (nova/scheduler/filters/retry_filter.py): skip hosts already tried."""
    if hs["name"] not in ctx["retry_hosts"]:
        return None
    return f"already tried (retry attempt {ctx['retry_attempt']})"


def same_host_filter(hs, ctx):
    """SameHostFilter (nova/scheduler/filters/affinity_filter.py).

    With a same_host hint, the host must run at least one of the named
    instances (names or UUIDs).
    """
    wanted = ctx["same_host"]
    if not wanted or not hs["names"].isdisjoint(wanted):
        return None
    return f"runs none of same_host {', '.join(sorted(wanted))}"


def different_host_filter(hs, ctx):
    """DifferentHostFilter (nova/scheduler/filters/affinity_filter.py).

    With a different_host hint, the host must run none of the named
    instances.
    """
    avoid = ctx["different_host"]
    if not avoid or hs["names"].isdisjoint(avoid):
        return None
    return f"runs different_host {', '.join(sorted(hs['names'] & avoid))}"


def server_group_affinity_filter(hs, ctx):
    """ServerGroupAffinityFilter (nova/scheduler/filters/affinity_filter.py).

    Policy "affinity": when other members run somewhere, only their hosts
    pass; a group with no other member places anywhere.
    """
    if ctx["policy"] != "affinity" or not ctx["group_hosts"] or hs["name"] in ctx["group_hosts"]:
        return None
    return f"group {ctx['group']} (affinity) runs on {', '.join(sorted(ctx['group_hosts']))}"


def server_group_anti_affinity_filter(hs, ctx):
    """ServerGroupAntiAffinityFilter (nova/scheduler/filters/affinity_filter.py).

    Policy "anti-affinity": the host passes while it runs fewer members than
    ``max_server_per_host`` (rule, default 1). The host the moved instance
    is on passes (Nova: a move may check its own source).
    """
    if ctx["policy"] != "anti-affinity" or ctx["instance"] in hs["names"]:
        return None
    count = len(hs["names"] & ctx["members"])
    limit = ctx["max_server_per_host"]
    if count < limit:
        return None
    return f"runs {count} member(s) of anti-affinity group {ctx['group']} (max {limit})"


def _aggregate_metadata(host):
    meta = {}
    for agg in host.get("aggregates") or ():
        for key, value in (agg.get("metadata") or {}).items():
            meta.setdefault(key, set()).add(spec_str(value))
    return meta


def aggregate_instance_extra_specs_filter(hs, ctx):
    """AggregateInstanceExtraSpecsFilter (nova/scheduler/filters/aggregate_instance_extra_specs.py).

    Each unscoped or "aggregate_instance_extra_specs:" extra spec must be
    matched (extra_specs_ops) by the metadata of one of the host's
    aggregates; no extra specs -> every host passes.
    """
    specs = ctx["aggregate_specs"]
    if not specs:
        return None
    meta = _aggregate_metadata(hs["host"])
    for key, meta_key, req in specs:
        values = meta.get(meta_key)
        if not values:
            return f"no aggregate sets {meta_key} (flavor {key} wants {spec_str(req)!r})"
        if not any(extra_spec_match(v, req) for v in values):
            return f"aggregate {meta_key}={'|'.join(sorted(values))}, flavor wants {spec_str(req)!r}"
    return None


FILTERS = {
    "AvailabilityZoneFilter": availability_zone_filter,
    "ComputeFilter": compute_filter,
    "RamFilter": ram_filter,
    "CoreFilter": core_filter,
    "DiskFilter": disk_filter,
    "ComputeCapabilitiesFilter": compute_capabilities_filter,
    "ImagePropertiesFilter": image_properties_filter,
    "IoOpsFilter": io_ops_filter,
    "NumInstancesFilter": num_instances_filter,
    "RetryFilter": retry_filter,
    "SameHostFilter": same_host_filter,
    "DifferentHostFilter": different_host_filter,
    "ServerGroupAffinityFilter": server_group_affinity_filter,
    "ServerGroupAntiAffinityFilter": server_group_anti_affinity_filter,
    "AggregateInstanceExtraSpecsFilter": aggregate_instance_extra_specs_filter,
}


def apply_filter(name: str, check, states: list, ctx: dict) -> tuple:
    """Run one check over hosts: (survivors, report entry)."""
    kept, removed = [], []
    for hs in states:
        reason = check(hs, ctx)
        if reason is None:
            kept.append(hs)
        else:
            removed.append({"host": hs["name"], "reason": reason})
    return kept, {"name": name, "removed": removed, "remaining": [hs["name"] for hs in kept]}


def _ignore_check(hs, ctx):
    return "in ignore_hosts" if hs["name"] in ctx["ignore_hosts"] else None


def _requested_check(hs, ctx):
    want = ctx["requested_host"]
    return None if hs["name"] == want else f"not the requested host {want}"


def _attempts_check(hs, ctx):
    return f"attempt {ctx['retry_attempt']} exceeds max_attempts {ctx['cfg']['max_attempts']}"


def _guest_fit_check(hs, ctx):
    """What the guest's own definition needs from a host (networks, emulator, machine, CPU):
    decided per host before scheduling (ferry_guestmove / ferry_guest_fit), reported here."""
    return (ctx["guest_fit"].get(hs["name"]) or None) if hs["name"] in ctx["guest_fit"] else \
        "not checked for the guest's definition"


def pre_filter_steps(request: dict, cfg: dict) -> list:
    """Steps Nova takes before the filters: retry limit (conductor's
    populate_retry), ignore_hosts, then requested destination
    (host_manager.get_filtered_hosts)."""
    steps = []
    if ((request.get("retry") or {}).get("num_attempts") or 0) > cfg["max_attempts"]:
        steps.append(("max_attempts", _attempts_check))
    if request.get("ignore_hosts"):
        steps.append(("ignore_hosts", _ignore_check))
    if request.get("requested_host"):
        steps.append(("requested_host", _requested_check))
    if request.get("guest_fit") is not None:
        steps.append(("GuestDefinitionFilter", _guest_fit_check))
    return steps


def run_filters(states: list, ctx: dict, steps: list) -> tuple:
    """Apply (name, check) steps in order; stop when no host is left."""
    entries = []
    for name, check in steps:
        if not states:
            break
        states, entry = apply_filter(name, check, states, ctx)
        entries.append(entry)
    return states, entries


# --------------------------------------------------------------------------
# weighers (nova/weights.py, nova/scheduler/weights/*.py)
# --------------------------------------------------------------------------

def normalize(weights: list, minval=None, maxval=None) -> list:
    """nova.weights.normalize: scale to [0, 1]; all equal -> all 0.0.

    A weigher's own minval/maxval replace the list's min/max.
    """
    if not weights:
        return []
    high = float(max(weights) if maxval is None else maxval)
    low = float(min(weights) if minval is None else minval)
    if high == low:
        return [0.0] * len(weights)
    span = high - low
    return [(w - low) / span for w in weights]


def _group_count(hs, ctx):
    return len(hs["names"] & ctx["members"]) if ctx["members"] else 0


# name -> (raw weight function, minval, multiplier config key).
# RAM/CPU/Disk/IoOps weighers have minval = 0 in Nova: weights are clamped to
# >= 0 and normalised against 0, so equal non-zero weights give 1.0 each.
WEIGHERS = {
    "RAMWeigher": (lambda hs, ctx: hs["free_ram_mb"], 0, "ram_weight_multiplier"),
    "CPUWeigher": (
        lambda hs, ctx: hs["vcpus_total"] * ctx["cfg"]["cpu_allocation_ratio"] - hs["vcpus_used"],
        0, "cpu_weight_multiplier"),
    "DiskWeigher": (lambda hs, ctx: hs["free_disk_mb"], 0, "disk_weight_multiplier"),
    "IoOpsWeigher": (lambda hs, ctx: hs["io_ops"], 0, "io_ops_weight_multiplier"),
    "NumInstancesWeigher": (lambda hs, ctx: hs["num_instances"], None, "num_instances_weight_multiplier"),
    "ServerGroupSoftAffinityWeigher": (
        lambda hs, ctx: _group_count(hs, ctx) if ctx["policy"] == "soft-affinity" else 0,
        None, "soft_affinity_weight_multiplier"),
    "ServerGroupSoftAntiAffinityWeigher": (
        lambda hs, ctx: -_group_count(hs, ctx) if ctx["policy"] == "soft-anti-affinity" else 0,
        None, "soft_anti_affinity_weight_multiplier"),
}


def weigher_weights(name: str, states: list, ctx: dict) -> dict:
    """One weigher over all hosts: raw, normalized and weighted lists."""
    fn, minval, mult_key = WEIGHERS[name]
    raw = [fn(hs, ctx) for hs in states]
    if minval is not None:
        raw = [max(w, minval) for w in raw]
    norm = normalize(raw, minval=minval)
    mult = ctx["cfg"][mult_key]
    return {"name": name, "multiplier": mult, "raw": raw, "normalized": norm,
            "weighted": [mult * w for w in norm]}


def weigh_hosts(states: list, ctx: dict, weighers) -> tuple:
    """Nova's get_weighed_objects: (hosts sorted by total desc, totals, per-weigher data).

    Sorting is stable, so equal totals keep the host facts' order. With one
    host or none nothing is weighed (every total is 0.0), as in Nova.
    """
    if len(states) <= 1:
        return list(states), [0.0] * len(states), []
    per = [weigher_weights(name, states, ctx) for name in weighers]
    totals = [sum(col) for col in zip(*(p["weighted"] for p in per))] if per else [0.0] * len(states)
    order = sorted(range(len(states)), key=totals.__getitem__, reverse=True)
    ranked = [states[i] for i in order]
    return ranked, [totals[i] for i in order], [_reorder(p, order) for p in per]


def _reorder(per, order):
    return {k: ([v[i] for i in order] if isinstance(v, list) else v) for k, v in per.items()}


def weights_report(ranked: list, totals: list, per: list, limit: int) -> list:
    """Report entries for the best ``limit`` hosts, in weighed order."""
    out = []
    for i, hs in enumerate(ranked[:limit]):
        detail = {
            p["name"]: {"raw": p["raw"][i], "normalized": p["normalized"][i],
                        "multiplier": p["multiplier"], "weighted": p["weighted"][i]}
            for p in per
        }
        out.append({"host": hs["name"], "weighers": detail, "total": totals[i]})
    return out


def select_hosts(names: list, host_subset_size: int, max_attempts: int, rng) -> tuple:
    """Nova's _get_sorted_hosts + alternates: (chosen, alternates)."""
    if not names:
        return None, []
    chosen = rng.choice(names[:max(1, host_subset_size)])
    rest = [n for n in names if n != chosen]
    return chosen, rest[:max(0, max_attempts - 1)]


# --------------------------------------------------------------------------
# the decision
# --------------------------------------------------------------------------

def schedule(hosts: list, request: dict, config: dict | None = None) -> dict:
    """One scheduling decision.

    Returns {"host": name or None, "alternates": [names],
    "report": {"filters": [...], "weights": [...], ...}, "report_text": str}.
    Raises ValueError for an unknown filter or weigher in the config.
    """
    cfg = resolve_config(config)
    states = [host_state(h, cfg) for h in hosts or ()]
    ctx = build_context(request, states, cfg)
    steps = pre_filter_steps(request, cfg) + [(n, FILTERS[n]) for n in cfg["enabled_filters"]]
    survivors, filter_entries = run_filters(states, ctx, steps)
    ranked, totals, per = weigh_hosts(survivors, ctx, cfg["weighers"])
    rng = random.Random(cfg["seed"])
    host, alternates = select_hosts([hs["name"] for hs in ranked], cfg["host_subset_size"],
                                    cfg["max_attempts"], rng)
    report = {
        "instance": request.get("instance"),
        "flavor": _flavor_summary(request.get("flavor") or {}),
        "availability_zone": request.get("availability_zone"),
        "hosts_considered": len(states),
        "filters": filter_entries,
        "weights": weights_report(ranked, totals, per, cfg["report_weights_limit"]),
        "ignored_config_keys": cfg["ignored_keys"],
    }
    result = {"host": host, "alternates": alternates, "report": report}
    result["report_text"] = format_report(result)
    return result


def _flavor_summary(flavor):
    keys = ("name", "vcpus", "memory_mb", "disk_gb")
    return {k: flavor.get(k) for k in keys}


# --------------------------------------------------------------------------
# readable report
# --------------------------------------------------------------------------

def format_report(result: dict, limit: int = 25) -> str:
    """Multi-line text for a schedule() result.

    NoValidHost starts with "No valid host", then says which filter removed
    which host and why; at most ``limit`` removals are listed per filter.
    """
    report = result.get("report") or {}
    lines = [_headline(result, report)]
    for entry in report.get("filters") or ():
        lines.extend(_filter_lines(entry, limit))
    if result.get("host") is None:
        lines.append(_stop_line(report))
    else:
        lines.extend(_weight_lines(report.get("weights") or ()))
    return "\n".join(lines)


def _what(report):
    flavor = report.get("flavor") or {}
    who = report.get("instance") or "new instance"
    spec = f"{flavor.get('vcpus')} vCPU, {flavor.get('memory_mb')} MiB, {flavor.get('disk_gb')} GiB"
    az = report.get("availability_zone")
    where = f", AZ {az}" if az else ""
    return f"{who} (flavor {flavor.get('name')}: {spec}{where})"


def _headline(result, report):
    count = report.get("hosts_considered", 0)
    if result.get("host") is None:
        if not count:
            return f"No valid host for {_what(report)}: the host list is empty."
        return f"No valid host for {_what(report)}: {count} host(s) considered, none passed."
    alternates = ", ".join(result.get("alternates") or ()) or "none"
    return (f"Scheduled {_what(report)} on {result['host']} (alternates: {alternates}); "
            f"{count} host(s) considered.")


def _filter_lines(entry, limit):
    name, remain = entry["name"], len(entry.get("remaining") or ())
    removed = entry.get("removed") or ()
    if not removed:
        return [f"{name}: removed none, {remain} remain"]
    lines = [f"{name} removed {r['host']}: {r['reason']}" for r in removed[:limit]]
    if len(removed) > limit:
        lines.append(f"{name} removed {len(removed) - limit} more host(s)")
    lines.append(f"{name}: {remain} remain")
    return lines


def _stop_line(report):
    entries = report.get("filters") or ()
    if not entries:
        return "No filter ran: there was no host to filter."
    return f"{entries[-1]['name']} left no host."


def _weight_lines(weights):
    lines = ["Weights (best first):"] if weights else []
    for w in weights:
        parts = ", ".join(
            f"{name} {_n(d['multiplier'], 3)}*{_n(d['normalized'], 3)}={_n(d['weighted'], 3)}"
            f" (raw {_n(d['raw'])})"
            for name, d in w["weighers"].items()
        )
        lines.append(f"  {w['host']} total {_n(w['total'], 3)}" + (f": {parts}" if parts else " (one host: not weighed)"))
    return lines
