"""The filters, one module per concern as Nova groups them, and their explicit registry.

Each filter is ``check(host_state, ctx) -> None`` (the host passes) or the reason it is removed
(Nova only logs it). The registry names every module statically: AnsiballZ ships only the
module_utils a module imports, so there is no directory scan.
"""

from ansible.module_utils.ferry_sched.filters import (
    affinity,
    aggregate,
    availability_zone,
    compute,
    image_props,
    load,
    resources,
    retry,
)

FILTERS = {
    "AvailabilityZoneFilter": availability_zone.availability_zone_filter,
    "ComputeFilter": compute.compute_filter,
    "RamFilter": resources.ram_filter,
    "CoreFilter": resources.core_filter,
    "DiskFilter": resources.disk_filter,
    "ComputeCapabilitiesFilter": compute.compute_capabilities_filter,
    "ImagePropertiesFilter": image_props.image_properties_filter,
    "IoOpsFilter": load.io_ops_filter,
    "NumInstancesFilter": load.num_instances_filter,
    "RetryFilter": retry.retry_filter,
    "SameHostFilter": affinity.same_host_filter,
    "DifferentHostFilter": affinity.different_host_filter,
    "ServerGroupAffinityFilter": affinity.server_group_affinity_filter,
    "ServerGroupAntiAffinityFilter": affinity.server_group_anti_affinity_filter,
    "SimpleCIDRAffinityFilter": affinity.simple_cidr_affinity_filter,
    "AggregateInstanceExtraSpecsFilter": aggregate.aggregate_instance_extra_specs_filter,
    "AggregateImagePropertiesIsolation": aggregate.aggregate_image_properties_isolation,
    "AggregateRamFilter": resources.aggregate_ram_filter,
    "AggregateCoreFilter": resources.aggregate_core_filter,
    "AggregateDiskFilter": resources.aggregate_disk_filter,
    "AggregateIoOpsFilter": load.aggregate_io_ops_filter,
    "AggregateNumInstancesFilter": load.aggregate_num_instances_filter,
}

# the resource checks a claim repeats under the target's lock: (plain, per-aggregate variant)
RESOURCE_FILTERS = (("RamFilter", "AggregateRamFilter"), ("CoreFilter", "AggregateCoreFilter"),
                    ("DiskFilter", "AggregateDiskFilter"))
