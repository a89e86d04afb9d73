"""Host facts and requests for the scheduler's unit tests (the shapes host facts produce)."""

from ansible.module_utils.ferry_sched.config import resolve_config
from ansible.module_utils.ferry_sched.host_state import host_state
from ansible.module_utils.ferry_sched.request import build_context


def make_host(name="hv-a1", aggregates=(), **kw):
    host = {
        "name": name, "az": "az1", "reachable": True, "enabled": True, "disabled_reason": None,
        "capacity": {"vcpus": 4, "memory_mb": 2048, "disk_gb": 40},
        "arch": "x86_64", "domain_type": "kvm", "hypervisor_type": "qemu",
        "machine_types": ["pc", "q35"], "capabilities": {},
        "aggregates": [{"name": f"agg{i}", "metadata": m} if not isinstance(m, tuple) else {"name": m[0], "metadata": m[1]}
                       for i, m in enumerate(aggregates)],
        "instances": [], "claims": [],
    }
    host.update(kw)
    return host


def inst(name, vcpus=1, memory_mb=256, disk_gb=2.0, **kw):
    out = {"name": name, "uuid": "uuid-" + name, "state": "running", "vcpus": vcpus,
           "memory_mb": memory_mb, "disk_gb": disk_gb, "server_group": None, "task_state": None}
    out.update(kw)
    return out


def make_request(vcpus=1, memory_mb=512, disk_gb=1, extra_specs=None, props=None, **kw):
    req = {"instance": None,
           "flavor": {"name": "f", "vcpus": vcpus, "memory_mb": memory_mb, "disk_gb": disk_gb,
                      "extra_specs": extra_specs or {}},
           "image": {"name": "tiny", "properties": props or {}}, "availability_zone": None,
           "ignore_hosts": [], "requested_host": None, "retry": None,
           "scheduler_hints": {}, "server_group": None}
    req.update(kw)
    return req


def run(check, host, request=None, config=None):
    """One filter over one host: None (passes) or the reason."""
    cfg = resolve_config(dict({"reserved_host_memory_mb": 0}, **(config or {})))
    hs = host_state(host, cfg, {})
    ctx = build_context(request or make_request(), [hs], cfg)
    return check(hs, ctx)
