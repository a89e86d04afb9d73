"""RAM, vCPU and disk filters, each with its per-aggregate variant.

Nova (before Placement took these over in Train): ``nova/scheduler/filters/ram_filter.py``
(RamFilter, AggregateRamFilter), ``core_filter.py`` (CoreFilter, AggregateCoreFilter),
``disk_filter.py`` (DiskFilter, AggregateDiskFilter). The plain filters use the host's own ratio
(``ferry_allocation_ratios``, else the configured one), as Nova's used the compute node's; the
Aggregate* variants take the smallest ratio their aggregates set, falling back to the plain one
(a value that is not a number falls back too). The ratio comes from resolve.py, which the claim's
re-check under the target's lock uses as well.
"""

from __future__ import annotations

from ansible.module_utils.ferry_sched import resolve
from ansible.module_utils.ferry_sched.filters._util import n, source_text


def _ratio(hs, key, aggregate):
    settings = hs["settings"]
    return resolve.aggregate_ratio(settings, key) if aggregate else settings["ratio"][key]


def _room(want, want_text, total, free, ratio_source, amount):
    """Nova's pre-Placement check: never more than the host has in total, else
    total * ratio - (total - free) >= want. None when it fits, else the reason."""
    if total < want:
        return f"needs {want_text}, host has only {amount(total)} in total"
    ratio, source = ratio_source
    usable = total * ratio - (total - free)
    if usable >= want:
        return None
    return f"needs {want_text}, {amount(usable)} free at ratio {ratio}{source_text(source)}"


def _mib(value):
    return f"{n(value)} MiB"


def _gib(value_mb):
    return f"{n(value_mb / 1024.0)} GiB"


def _ram(hs, ctx, aggregate):
    want = ctx["req_ram_mb"]
    return _room(want, _mib(want), hs["memory_mb_total"], hs["free_ram_mb"],
                 _ratio(hs, "ram_allocation_ratio", aggregate), _mib)


def ram_filter(hs, ctx):
    """RamFilter: fails if the flavor is bigger than the host's total RAM (no overcommit against
    itself), else passes iff memory_mb * ram_allocation_ratio - (memory_mb - free_ram_mb) >=
    request; the ratio is the host's own, else ``ram_allocation_ratio``."""
    return _ram(hs, ctx, False)


def aggregate_ram_filter(hs, ctx):
    """AggregateRamFilter: RamFilter with ``ram_allocation_ratio`` from the host's aggregates'
    metadata (the smallest), else the host's own, else the configured one."""
    return _ram(hs, ctx, True)


def _core(hs, ctx, aggregate):
    want, total = ctx["req_vcpus"], hs["vcpus_total"]
    if not total:
        return None
    if want > total:
        return f"needs {n(want)} vCPUs, host has only {n(total)} in total"
    ratio, source = _ratio(hs, "cpu_allocation_ratio", aggregate)
    free = total * ratio - hs["vcpus_used"]
    if free >= want:
        return None
    return f"needs {n(want)} vCPUs, {n(free)} free at ratio {ratio}{source_text(source)}"


def core_filter(hs, ctx):
    """CoreFilter: a host reporting no vCPUs passes (Nova's fail-safe); a flavor with more vCPUs
    than the host has fails; else passes iff vcpus * cpu_allocation_ratio - vcpus_used >= request."""
    return _core(hs, ctx, False)


def aggregate_core_filter(hs, ctx):
    """AggregateCoreFilter: CoreFilter with ``cpu_allocation_ratio`` from the aggregates."""
    return _core(hs, ctx, True)


def _disk(hs, ctx, aggregate):
    want = ctx["req_disk_mb"]
    return _room(want, _gib(want) + " disk", hs["disk_mb_total"], hs["free_disk_mb"],
                 _ratio(hs, "disk_allocation_ratio", aggregate), _gib)


def disk_filter(hs, ctx):
    """DiskFilter: request = 1024 * (root_gb + ephemeral_gb) + swap MiB (or the guest's real
    disks); fails if bigger than the host's total disk, else passes iff
    total_mb * disk_allocation_ratio - (total_mb - free_disk_mb) >= request."""
    return _disk(hs, ctx, False)


def aggregate_disk_filter(hs, ctx):
    """AggregateDiskFilter: DiskFilter with ``disk_allocation_ratio`` from the aggregates."""
    return _disk(hs, ctx, True)
