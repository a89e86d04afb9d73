#!/usr/bin/python
# ferry: pick a hypervisor host for a guest, the way Nova's FilterScheduler does.

DOCUMENTATION = r"""
---
module: ferry_schedule
short_description: Choose a hypervisor host for a boot, resize or cold migration
description:
  - Runs OpenStack Nova's filter scheduler semantics over ferry host facts
    (one dict per hypervisor, as the host facts role produces them) and a
    request spec, and returns the chosen host, the alternates to try if the
    claim on it fails, and a report of which filter removed which host and
    how the survivors were weighed.
  - Filters run in the configured order; the run stops at the first filter
    that leaves no host. C(ignore_hosts) is applied before the filters, then
    C(requested_host) (Nova API 2.56), which still goes through every filter.
  - Weighers follow C(nova/weights.py). Each weigher's weights over the
    surviving hosts are min-max normalised to [0, 1] (the RAM, CPU, disk
    and I/O ops weighers take 0 as their minimum, as Nova's do; when minimum
    and maximum are equal every host gets 0), multiplied by the weigher's
    multiplier and summed. The host is a random choice among the best
    O(host_subset_size).
  - The module only decides; it changes nothing, so C(changed) is always
    false and check mode runs it the same way.
  - When no host passes, the module fails with the readable report as its
    message.
  - The logic lives in the C(plugins/module_utils/ferry_sched/) package (filters and weighers one
    module per concern, with explicit registries); C(ferry_scheduler.py) is its public entry.
  - A host's settings that do not come from I(config) (its own allocation ratios, its
    aggregates' ratios, multipliers, limits and AZ) are named in C(report.host_settings) and in
    the report's text for the chosen host and the alternates; a filter's reason names the
    aggregate or host a ratio or limit came from.
version_added: "0.1.0"
author:
  - ferry maintainers
options:
  hosts:
    description:
      - Host facts, one dict per hypervisor, with C(name), C(az),
        C(reachable), C(enabled), C(disabled_reason), C(capacity)
        (C(vcpus), C(memory_mb), C(disk_gb)), C(arch), C(domain_type),
        C(hypervisor_type), C(machine_types), C(capabilities),
        C(aggregates) (list of C(name), C(metadata)), C(allocation_ratios)
        (the host's C(ferry_allocation_ratios)), C(host_ip), C(instances) and
        C(claims).
      - Every defined domain counts against capacity, running or stopped (a
        stopped resize source stays counted until confirm); a claim counts
        until its instance has a domain on that host.
    type: list
    elements: dict
    required: true
  request:
    description:
      - The request spec.
      - C(instance) (name, null for a boot), C(flavor) (C(name), C(vcpus),
        C(memory_mb), C(disk_gb), C(extra_specs)), C(image) (C(name),
        C(properties)), C(availability_zone), C(ignore_hosts),
        C(requested_host), C(retry) (C(num_attempts), C(hosts)),
        C(scheduler_hints) (C(same_host), C(different_host),
        C(build_near_host_ip), C(cidr)) and
        C(server_group) (C(name), C(policy)).
      - For a move, set C(availability_zone) to the guest's boot AZ or, when
        it had none, the AZ of its current host, so a guest never leaves its
        AZ unless asked to.
    type: dict
    required: true
  config:
    description:
      - Scheduler settings, normally the C(ferry_scheduler) group variable.
        Every key is optional; unknown keys are ignored and listed in
        C(report.ignored_config_keys).
      - C(enabled_filters) (list, in order; default C(RetryFilter),
        C(AvailabilityZoneFilter), C(ComputeFilter), C(RamFilter),
        C(CoreFilter), C(DiskFilter), C(ComputeCapabilitiesFilter),
        C(ImagePropertiesFilter), C(ServerGroupAntiAffinityFilter),
        C(ServerGroupAffinityFilter), C(SameHostFilter),
        C(DifferentHostFilter)). Also available C(IoOpsFilter),
        C(NumInstancesFilter), C(AggregateInstanceExtraSpecsFilter),
        C(AggregateImagePropertiesIsolation), C(AggregateRamFilter),
        C(AggregateCoreFilter), C(AggregateDiskFilter), C(AggregateIoOpsFilter),
        C(AggregateNumInstancesFilter), C(SimpleCIDRAffinityFilter).
      - What each filter reads. C(RetryFilter) the request's C(retry.hosts).
        C(AvailabilityZoneFilter) the request's C(availability_zone) against
        the host's AZs (the comma-split C(availability_zone) metadata of its
        aggregates, else its C(ferry_az), else C(default_availability_zone)).
        C(ComputeFilter) the host's C(enabled) and C(reachable).
      - C(RamFilter), C(CoreFilter), C(DiskFilter) the host's capacity and use
        at its own C(ferry_allocation_ratios) (C(ram), C(cpu), C(disk)), else
        C(ram_allocation_ratio), C(cpu_allocation_ratio),
        C(disk_allocation_ratio); also C(reserved_host_memory_mb),
        C(reserved_host_disk_mb). C(AggregateRamFilter),
        C(AggregateCoreFilter), C(AggregateDiskFilter) the same with the
        ratio from the host's aggregates' metadata (the smallest value; a
        value that is not a number is ignored), falling back to the host's own
        and then the configured ratio.
      - C(IoOpsFilter) C(max_io_ops_per_host); C(NumInstancesFilter)
        C(max_instances_per_host); C(AggregateIoOpsFilter) and
        C(AggregateNumInstancesFilter) the same keys from aggregate metadata
        (smallest), else the configured value.
      - C(ComputeCapabilitiesFilter) the flavor's C(capabilities:) and
        unscoped extra specs against the host's computed values (C(free_ram_mb),
        C(free_disk_mb), C(vcpus_used), C(vcpus_total), C(num_instances),
        C(num_io_ops)...), its C(capabilities) (JSON text such as C(cpu_info)
        is decoded while walking a key path) and host facts; C(hw:maxphysaddr_bits)
        requires C(cpu_info:maxphysaddr:bits) of at least that.
      - C(ImagePropertiesFilter) the image's architecture (else
        C(image_properties_default_architecture)), hypervisor type, VM mode,
        C(img_hv_requested_version), C(hw_machine_type) and
        C(hw_maxphysaddr_bits) against the host's supported instances,
        C(hypervisor_version), C(machine_types) and C(cpu_info).
      - C(AggregateInstanceExtraSpecsFilter) unscoped and
        C(aggregate_instance_extra_specs:) extra specs against the aggregates'
        metadata (values split on commas). C(AggregateImagePropertiesIsolation)
        image properties named like aggregate metadata keys (only those under
        C(aggregate_image_properties_isolation_namespace) followed by
        C(aggregate_image_properties_isolation_separator), default C(.), when a
        namespace is set).
      - C(SameHostFilter) and C(DifferentHostFilter) the hints C(same_host),
        C(different_host). C(SimpleCIDRAffinityFilter) the hints
        C(build_near_host_ip) and C(cidr) (default C(/24)) against the host's
        C(host_ip), taken from C(ansible_host); a host whose C(ansible_host) is
        not an IP address fails it. C(ServerGroupAffinityFilter),
        C(ServerGroupAntiAffinityFilter) the request's C(server_group) (policy,
        C(rules.max_server_per_host)).
      - C(weighers) (list; default all of C(RAMWeigher) (free RAM),
        C(CPUWeigher) (free vCPUs at the host's own or the configured
        C(cpu_allocation_ratio)), C(DiskWeigher) (free disk), C(IoOpsWeigher),
        C(NumInstancesWeigher), C(ServerGroupSoftAffinityWeigher),
        C(ServerGroupSoftAntiAffinityWeigher)).
      - C(ram_allocation_ratio) (1.5, Nova's historical default),
        C(cpu_allocation_ratio) (16.0), C(disk_allocation_ratio) (1.0),
        C(reserved_host_memory_mb) (512), C(reserved_host_disk_mb) (0),
        C(max_io_ops_per_host) (8), C(max_instances_per_host) (50).
      - C(ram_weight_multiplier) (1.0), C(cpu_weight_multiplier) (1.0),
        C(disk_weight_multiplier) (1.0), C(io_ops_weight_multiplier) (-1.0),
        C(num_instances_weight_multiplier) (0.0),
        C(soft_affinity_weight_multiplier) (1.0),
        C(soft_anti_affinity_weight_multiplier) (1.0). Each is per host, as in
        Nova since Stein, the smallest value the host's aggregates set for that
        key, else this one; positive spreads, negative packs.
      - C(host_subset_size) (1), C(max_attempts) (3; alternates are up to
        C(max_attempts) - 1), C(default_availability_zone) (C(nova), the AZ
        of a host without one), C(image_properties_default_architecture)
        (null), C(aggregate_image_properties_isolation_namespace) (null),
        C(aggregate_image_properties_isolation_separator) (C(.)), C(seed)
        (null; an integer makes the random choice among the best hosts
        repeatable), C(report_weights_limit) (20, how many hosts' weights the
        report keeps).
    type: dict
    default: {}
attributes:
  check_mode:
    support: full
    description: The module never changes anything; check mode decides the same way.
  diff_mode:
    support: none
notes:
  - "Run it on the controller (C(delegate_to: localhost)) with the facts of
    every hypervisor."
seealso:
  - name: Nova filter scheduler
    description: The filters and weighers this module mirrors.
    link: https://docs.openstack.org/nova/latest/admin/scheduling.html
"""

EXAMPLES = r"""
- name: Choose a target for resizing web01 to m1.large
  ferry_schedule:
    hosts: "{{ ferry_host_facts }}"
    request:
      instance: web01
      flavor: "{{ ferry_flavors['m1.large'] }}"
      image: "{{ ferry_images['tiny'] }}"
      availability_zone: az1
      ignore_hosts: [hv-a1]
      retry: {num_attempts: 1, hosts: []}
    config: "{{ ferry_scheduler | default({}) }}"
  delegate_to: localhost
  register: ferry_choice

- name: Show why hosts were or were not chosen
  ansible.builtin.debug:
    msg: "{{ ferry_choice.report_text }}"

- name: Cold-migrate db01 to a named host (still filtered), repeatable choice
  ferry_schedule:
    hosts: "{{ ferry_host_facts }}"
    request:
      instance: db01
      flavor: "{{ ferry_flavors['m1.small'] }}"
      availability_zone: az2
      ignore_hosts: [hv-b1]
      requested_host: hv-b2
    config:
      enabled_filters: [AvailabilityZoneFilter, ComputeFilter, RamFilter, CoreFilter, DiskFilter]
      seed: 42
  delegate_to: localhost
"""

RETURN = r"""
host:
  description: The chosen host.
  returned: success
  type: str
  sample: hv-a2
alternates:
  description: Hosts to try next, best first, if claiming the chosen one fails.
  returned: always
  type: list
  elements: str
  sample: [hv-a3]
report:
  description: Per filter, the hosts it removed with the reason and the hosts left; the weights of the best hosts.
  returned: always
  type: dict
  contains:
    filters:
      description: One entry per step run, in order (C(ignore_hosts), C(requested_host), then the filters).
      type: list
      elements: dict
      sample:
        - name: AvailabilityZoneFilter
          removed: [{host: hv-b1, reason: "in AZ az2, az1 requested"}]
          remaining: [hv-a2]
    weights:
      description: Best hosts first, each with per-weigher raw, normalized, multiplier and weighted values and the total.
      type: list
      elements: dict
      sample:
        - host: hv-a2
          weighers: {RAMWeigher: {raw: 3584, normalized: 1.0, multiplier: 1.0, weighted: 1.0}}
          total: 1.0
    host_settings:
      description:
        - For the chosen host and alternates, each setting not taken from I(config), with its
          value and source (C(aggregate NAME) or C(host NAME)).
      type: dict
      sample: {hv-b2: {ram_allocation_ratio: {value: 2.0, source: aggregate overcommit}}}
    hosts_considered:
      description: How many hosts the decision started with.
      type: int
      sample: 4
report_text:
  description: The report as readable lines; starts with "No valid host" when none passed.
  returned: always
  type: str
  sample: "No valid host for web01 (flavor m1.large: 2 vCPU, 4096 MiB, 4 GiB, AZ az1): 4 host(s) considered, none passed."
"""

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.ferry_scheduler import schedule


def main():
    module = AnsibleModule(
        argument_spec={
            "hosts": {"type": "list", "elements": "dict", "required": True},
            "request": {"type": "dict", "required": True},
            "config": {"type": "dict", "default": {}},
        },
        supports_check_mode=True,
    )
    try:
        result = schedule(module.params["hosts"], module.params["request"], module.params["config"])
    except (ValueError, TypeError, KeyError) as exc:
        module.fail_json(msg=f"ferry_schedule: invalid input: {exc}", changed=False)
    if result["host"] is None:
        module.fail_json(msg=result["report_text"], changed=False, **_without(result, "host"))
    module.exit_json(changed=False, **result)


def _without(result, key):
    return {k: v for k, v in result.items() if k != key}


if __name__ == "__main__":
    main()
