"""The request context: everything a filter or weigher needs from the request, computed once."""

from __future__ import annotations

from ansible.module_utils.ferry_sched.extra_specs import aggregate_specs, capability_specs, compile_spec
from ansible.module_utils.ferry_sched.image_props import image_requirements


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
        # each spec with its predicate, parsed once per request
        "capability_specs": [(k, path, req, scoped, compile_spec(req))
                             for k, path, req, scoped in capability_specs(flavor.get("extra_specs") or {})],
        "aggregate_specs": [(k, meta_key, req, compile_spec(req))
                            for k, meta_key, req in aggregate_specs(flavor.get("extra_specs") or {})],
        "image": image_requirements(image.get("properties") or {}, cfg["image_properties_default_architecture"]),
        "image_props": image.get("properties") or {},
        "cidr_near": hints.get("build_near_host_ip"),
        "cidr": hints.get("cidr") or "/24",
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
    # from the facts directly (one look at each domain), so that hosts whose usage no filter
    # needs are never counted
    members, where = set(), {}
    for hs in states:
        host = hs["host"]
        for inst in host.get("instances") or ():
            sg = inst.get("server_group")
            if sg and sg.get("name") == name:
                members.add(inst.get("name"))
                where.setdefault(inst.get("name"), set()).add(hs["name"])
        for c in host.get("claims") or ():
            if not c.get("expired"):
                where.setdefault(c.get("instance"), set()).add(hs["name"])
    members.discard(request.get("instance"))
    group_hosts = frozenset(h for m in members for h in where.get(m, ()))
    rules = group.get("rules") or {}
    return {
        "group": name,
        "policy": policy,
        "members": frozenset(members),
        "group_hosts": group_hosts,
        "max_server_per_host": int(rules.get("max_server_per_host") or 1),
    }
