"""Weight multipliers from aggregates (ferry_sched/weights, resolve.multiplier).

Cases from nova/tests/unit/scheduler/weights/test_weights_ram.py (test_ram_weigher_multiplier,
test_host_with_agg), test_weights_cpu.py, test_weights_disk.py and test_weights_ioopsweight.py
(their test_host_with_agg), and nova/tests/unit/scheduler/test_utils.py
(get_weight_multiplier: the smallest of several aggregates' values, a bad value falls back).
Nova's _get_all_hosts there: host1..host4 with free_ram_mb 512, 1024, 3072, 8192.
"""

import pytest
from ansible.module_utils.ferry_sched import resolve
from ansible.module_utils.ferry_sched.config import resolve_config
from ansible.module_utils.ferry_scheduler import schedule

from tests.unit.scheduler.hosts import inst, make_host, make_request

FREE_RAM = {"host1": 512, "host2": 1024, "host3": 3072, "host4": 8192}


def _hosts(aggs_of=lambda name: [], **kw):
    return [make_host(name, capacity={"vcpus": 4, "memory_mb": mb, "disk_gb": 40}, aggregates=aggs_of(name), **kw)
            for name, mb in FREE_RAM.items()]


@pytest.mark.parametrize(("values", "expected"), [
    pytest.param([], -1.0, id="nova-config-by-default"),
    pytest.param(["2"], 2.0, id="nova-aggregate-overrides"),
    pytest.param(["2", "1.5"], 1.5, id="nova-min-of-conflicting"),
    pytest.param(["XXX"], -1.0, id="bad-value-falls-back"),
])
def test_ram_weigher_multiplier(values, expected):
    cfg = resolve_config({"ram_weight_multiplier": -1.0})
    host = make_host(aggregates=[{"ram_weight_multiplier": v} for v in values])
    value, _ = resolve.multiplier(resolve.host_settings(host, cfg), "ram_weight_multiplier", cfg)
    assert value == expected


@pytest.mark.parametrize(("weigher", "key"), [
    ("RAMWeigher", "ram_weight_multiplier"),
    ("DiskWeigher", "disk_weight_multiplier"),
    ("CPUWeigher", "cpu_weight_multiplier"),
])
def test_host_with_agg(weigher, key):
    """Nova: the configured multiplier is -1.0 (pack), an aggregate of every host sets 1.5: the
    host with the most room wins with weight 1.0 * 1.5."""
    hosts = _hosts(lambda name: [{key: "1.5"}])
    if weigher == "DiskWeigher":
        for h in hosts:
            h["capacity"]["disk_gb"] = FREE_RAM[h["name"]] // 256
    if weigher == "CPUWeigher":
        for h in hosts:
            h["capacity"]["vcpus"] = FREE_RAM[h["name"]] // 512
    res = schedule(hosts, make_request(memory_mb=1, disk_gb=0, vcpus=1),
                   {"weighers": [weigher], key: -1.0, "enabled_filters": [], "reserved_host_memory_mb": 0})
    top = res["report"]["weights"][0]
    assert (top["host"], top["total"]) == ("host4", 1.5)
    assert top["weighers"][weigher]["multiplier_source"] == "aggregate agg0"


def test_io_ops_host_with_agg():
    """test_weights_ioopsweight.py test_host_with_agg: io_ops_weight_multiplier from an aggregate
    (2.0 instead of the configured -1.0) makes the busiest host win."""
    hosts = [make_host(f"host{i}", aggregates=[{"io_ops_weight_multiplier": "2.0"}],
                       instances=[inst(f"i{i}{k}", memory_mb=1, task_state="migrating") for k in range(i)])
             for i in range(1, 4)]
    res = schedule(hosts, make_request(memory_mb=1), {"weighers": ["IoOpsWeigher"], "enabled_filters": []})
    assert res["host"] == "host3" and res["report"]["weights"][0]["total"] == 2.0


def test_multiplier_is_per_host():
    """Hosts in different aggregates are weighed with their own multiplier (nova/weights.py
    multiplies each host's normalised weight by weigher.weight_multiplier(host))."""
    def aggs(name):
        return [("packers", {"ram_weight_multiplier": "-1"})] if name in ("host3", "host4") else []
    res = schedule(_hosts(aggs), make_request(memory_mb=1),
                   {"weighers": ["RAMWeigher"], "enabled_filters": [], "reserved_host_memory_mb": 0})
    totals = {w["host"]: w["total"] for w in res["report"]["weights"]}
    assert totals == pytest.approx({"host1": 512 / 8192, "host2": 1024 / 8192, "host3": -3072 / 8192, "host4": -1.0})
    assert res["host"] == "host2"
    assert "RAMWeigher -1*1=-1 (raw 8192; multiplier from aggregate packers)" in res["report_text"]


@pytest.mark.parametrize(("multiplier", "chosen"), [("1.0", "host4"), ("-1.0", "host1")])
def test_aggregate_multiplier_spreads_or_packs(multiplier, chosen):
    res = schedule(_hosts(lambda name: [("all", {"ram_weight_multiplier": multiplier})]), make_request(memory_mb=1),
                   {"weighers": ["RAMWeigher"], "enabled_filters": [], "reserved_host_memory_mb": 0})
    assert res["host"] == chosen
    assert f"Settings of {chosen} not from ferry_scheduler: ram_weight_multiplier {multiplier.rstrip('0').rstrip('.')}" \
        " (aggregate all)" in res["report_text"]


def test_cpu_weigher_uses_the_hosts_own_ratio():
    """CPUWeigher: vcpus_total * cpu_allocation_ratio - vcpus_used, the host's own ratio winning
    over the configured one (Nova's host_state.cpu_allocation_ratio is the compute node's)."""
    hosts = [make_host("a", allocation_ratios={"cpu": 4.0}), make_host("b")]
    res = schedule(hosts, make_request(memory_mb=1), {"weighers": ["CPUWeigher"], "enabled_filters": [],
                                                      "cpu_allocation_ratio": 1.0})
    raw = {w["host"]: w["weighers"]["CPUWeigher"]["raw"] for w in res["report"]["weights"]}
    assert raw == {"a": 16.0, "b": 4.0}
