"""Scheduler settings: Nova's option names and defaults, and their validation."""

from __future__ import annotations

from ansible.module_utils.ferry_sched.filters import FILTERS
from ansible.module_utils.ferry_sched.resolve import RATIO_KEYS
from ansible.module_utils.ferry_sched.weights import WEIGHERS

# Nova's default ``enabled_filters`` from the RamFilter/DiskFilter era
# (RetryFilter, AvailabilityZoneFilter, RamFilter, DiskFilter, ComputeFilter,
# ComputeCapabilitiesFilter, ImagePropertiesFilter,
# ServerGroupAntiAffinityFilter, ServerGroupAffinityFilter) plus CoreFilter,
# because ferry has no Placement to count vCPUs, plus SameHostFilter and
# DifferentHostFilter, which do nothing unless the request carries hints.
# The Aggregate* filters, IoOpsFilter, NumInstancesFilter and
# SimpleCIDRAffinityFilter are available but off, as in Nova.
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
ALL_WEIGHERS = tuple(WEIGHERS)

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
    "image_properties_default_architecture": None,
    "aggregate_image_properties_isolation_namespace": None,
    "aggregate_image_properties_isolation_separator": ".",
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
    cfg["_config_ratios"] = {k: (cfg[k], "config") for k in RATIO_KEYS}
    cfg["ignored_keys"] = sorted(k for k in given if k not in DEFAULT_CONFIG)
    return cfg


def _known_names(names, table, kind):
    unknown = [n for n in names if n not in table]
    if unknown:
        raise ValueError(f"unknown {kind} {', '.join(unknown)}; known: {', '.join(table)}")
    return tuple(names)
