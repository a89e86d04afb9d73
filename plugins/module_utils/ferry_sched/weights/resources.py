"""RAM, CPU and disk weighers: ``nova/scheduler/weights/ram.py``, ``cpu.py``, ``disk.py``.

Each weighs free room (positive multiplier spreads, negative packs) with minval 0. CPUWeigher
counts free vCPUs at the host's own ``cpu_allocation_ratio`` (``ferry_allocation_ratios``, else
the configured one), as Nova's uses the compute node's ratio.
"""

from __future__ import annotations


def ram_weight(hs, ctx):
    """RAMWeigher: free_ram_mb."""
    return hs["free_ram_mb"]


def cpu_weight(hs, ctx):
    """CPUWeigher: vcpus_total * cpu_allocation_ratio (the host's) - vcpus_used."""
    return hs["vcpus_total"] * hs["settings"]["ratio"]["cpu_allocation_ratio"][0] - hs["vcpus_used"]


def disk_weight(hs, ctx):
    """DiskWeigher: free_disk_mb."""
    return hs["free_disk_mb"]
