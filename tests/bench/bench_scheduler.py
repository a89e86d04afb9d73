"""Benchmark (not a test): one scheduling decision over 10,000 hosts.

All filters (the Aggregate* ones and SimpleCIDRAffinityFilter included) and
all weighers on, a request that gives each of them work (AZ, extra specs,
image properties, hints, retry, a server group). Each host is in two
aggregates (a rack aggregate setting ratios, weight multipliers, limits and
the AZ; an SSD or HDD aggregate with its own multiplier and image
isolation), built as separate dicts per host as Ansible hands them over;
every 7th host has its own ferry_allocation_ratios. Per-host settings are
resolved once per request (hosts with the same aggregates share the work).
Prints median/min/max seconds of ~7 runs against the target of 0.2 s.

    .venv/bin/python tests/bench/bench_scheduler.py [--hosts N] [--runs N]
"""

import argparse
import os
import statistics
import sys
import time

import ansible.module_utils

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
_MU = os.path.join(ROOT, "plugins", "module_utils")
if _MU not in ansible.module_utils.__path__:
    ansible.module_utils.__path__.append(_MU)

from ansible.module_utils.ferry_scheduler import (
    ALL_WEIGHERS,
    FILTERS,
    schedule,
)

TARGET_S = 0.2
INSTANCES_PER_HOST = 8


def synthetic_instance(h, i):
    name = f"vm-{h}-{i}"
    return {
        "name": name, "uuid": f"uuid-{h}-{i}", "state": "running" if i % 3 else "shutoff",
        "vcpus": 1 + i % 2, "memory_mb": 256 * (1 + i % 4), "disk_gb": 2.0 + i,
        "flavor": "m1.small", "image": "tiny", "az": None,
        "server_group": {"name": "g1", "policy": "anti-affinity"} if (h + i) % 97 == 0 else None,
        "migration": None, "task_state": "migrating" if (h * i) % 31 == 0 else None,
    }


def synthetic_host(h):
    return {
        "name": f"hv-{h:05d}", "az": f"az{1 + h % 2}", "reachable": h % 211 != 0,
        "enabled": h % 173 != 0, "disabled_reason": None,
        "capacity": {"vcpus": 16 + h % 3 * 8, "memory_mb": 32768 + (h % 5) * 4096, "disk_gb": 200 + h % 7 * 50},
        "arch": "x86_64", "domain_type": "kvm" if h % 4 else "qemu", "hypervisor_type": "qemu",
        "machine_types": ["pc", "q35", "pc-i440fx-7.2"],
        "capabilities": {"cpu_info": {"arch": "x86_64", "cores": 8}, "ssd": h % 3 != 0},
        "aggregates": synthetic_aggregates(h),
        "allocation_ratios": {"ram": 1.2, "cpu": 8.0} if h % 7 == 0 else {},
        "host_ip": f"10.{h // 65536 % 256}.{h // 256 % 256}.{h % 256}",
        "instances": [synthetic_instance(h, i) for i in range(INSTANCES_PER_HOST)],
        "claims": [{"id": f"c{h}", "instance": f"new-{h}", "vcpus": 1, "memory_mb": 512,
                    "disk_gb": 1.0, "kind": "boot"}] if h % 5 == 0 else [],
    }


def synthetic_aggregates(h):
    """Two aggregates per host, fresh dicts each time (as Ansible passes them)."""
    rack = h % 40
    return [
        {"name": f"rack{rack:02d}", "metadata": {
            "availability_zone": f"az{1 + h % 2}",
            "ram_allocation_ratio": str(1.0 + rack % 4 * 0.5), "cpu_allocation_ratio": "8.0",
            "disk_allocation_ratio": "1.0", "ram_weight_multiplier": "-1.0" if rack % 5 == 0 else "1.0",
            "max_io_ops_per_host": "6", "max_instances_per_host": "40"}},
        {"name": "ssd" if h % 3 else "hdd", "metadata": {
            "ssd": "true,yes" if h % 3 else "false", "disk_weight_multiplier": "2.0" if h % 3 else "0.5",
            "cpu_weight_multiplier": "1.5", "hw_vm_mode": "hvm"}},
    ]


def synthetic_request():
    return {
        "instance": "vm-10-1",
        "flavor": {"name": "m1.large", "vcpus": 2, "memory_mb": 2048, "disk_gb": 20,
                   "extra_specs": {"capabilities:cpu_info:arch": "x86_64", "capabilities:ssd": "true",
                                   "aggregate_instance_extra_specs:ssd": "<or> true <or> yes"}},
        "image": {"name": "tiny", "properties": {"architecture": "x86_64", "hypervisor_type": "qemu",
                                                 "hw_machine_type": "q35"}},
        "availability_zone": "az1", "ignore_hosts": ["hv-00010"], "requested_host": None,
        "retry": {"num_attempts": 2, "hosts": ["hv-00012"]},
        "scheduler_hints": {"different_host": ["vm-14-2"], "build_near_host_ip": "10.0.0.1", "cidr": "/8"},
        "server_group": {"name": "g1", "policy": "anti-affinity"},
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=10000)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args(argv)
    hosts = [synthetic_host(h) for h in range(args.hosts)]
    request = synthetic_request()
    config = {"enabled_filters": list(FILTERS), "weighers": list(ALL_WEIGHERS), "seed": 1}
    times, result = [], None
    for _ in range(args.runs):
        start = time.perf_counter()
        result = schedule(hosts, request, config)
        times.append(time.perf_counter() - start)
    median = statistics.median(times)
    print(f"hosts={args.hosts} instances={args.hosts * INSTANCES_PER_HOST} aggregates per host=2 "
          f"filters={len(FILTERS)} (Aggregate* included) weighers={len(ALL_WEIGHERS)} "
          f"(aggregate multipliers) runs={args.runs}")
    print(f"chosen={result['host']} alternates={result['alternates']}")
    print(f"median={median:.4f}s min={min(times):.4f}s max={max(times):.4f}s target < {TARGET_S} s: "
          f"{'OK' if median < TARGET_S else 'OVER'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
