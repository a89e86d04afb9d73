#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: ferry_host_facts
short_description: Report a hypervisor's capacity, domains, disk chains and ferry metadata
description:
  - Connects to the host's libvirt (through libvirt-python) and reports its capacity, every
    domain with its vCPUs, RAM, disks (the qcow2 backing chain read with
    C(qemu-img info --backing-chain)), power state and ferry metadata from the domain XML.
  - Capacity is the declared capacity capped by what libvirt and the storage filesystem report.
  - Claims in flight are read from the host's claims directory.
  - Read-only; supports check mode.
version_added: "0.1.0"
extends_documentation_fragment:
  - ferry_libvirt
options:
  name:
    description: Inventory name of the host (copied into the result).
    type: str
    required: true
  az:
    description:
      - Availability zone of the host (C(ferry_az)). When its I(aggregates) set
        C(availability_zone) metadata, that wins (comma-separated values put the host in each;
        the result's C(az) is then the comma-joined list and C(azs) the list).
    type: str
    required: true
  declared:
    description: Declared capacity (keys C(vcpus), C(memory_mb), C(disk_gb)); 0 or missing means "what the host has".
    type: dict
    default: {}
  storage_dir:
    description: Directory holding instance disks; its filesystem size caps C(disk_gb).
    type: path
    required: true
  claims_dir:
    description: Directory of claim files (one JSON per claim in flight).
    type: path
  enabled:
    description:
      - Whether the host takes new guests (false = disabled for maintenance), as the inventory says.
      - A disabled record on the host (C(<claims_dir>/.host-disabled), written by disable_host.yml
        and evacuate.yml) wins, and the host is then reported disabled with the reason of the record.
    type: bool
    default: true
  disabled_reason:
    description: Why the host is disabled.
    type: str
  aggregates:
    description: Aggregates the host belongs to, as a list of C({name, metadata}).
    type: list
    elements: dict
    default: []
  allocation_ratios:
    description:
      - The host's own allocation ratios (C(ferry_allocation_ratios); keys C(ram), C(cpu), C(disk)
        or Nova's C(ram_allocation_ratio)...), which win over C(ferry_scheduler)'s in the
        scheduler's filters and weighers and in the claim's re-check.
    type: dict
    default: {}
  host_ip:
    description: The host's address (C(ansible_host)), read by SimpleCIDRAffinityFilter.
    type: str
  capabilities:
    description: Extra host capabilities matched by the scheduler's ComputeCapabilitiesFilter.
    type: dict
    default: {}
  domain_type:
    description:
      - Declared domain type; when libvirt offers it, it wins over the C(/dev/kvm) check
        (a host whose /dev/kvm cannot run guests declares C(qemu)).
    type: str
    choices: [kvm, qemu]
  shared_storage:
    description:
      - Path prefixes on storage every hypervisor sees; disks there do not count against this
        host's disk (as read-only media don't). A guest's disk is its writable, non-shared disks.
    type: list
    elements: path
    default: []
requirements:
  - libvirt-python (Debian python3-libvirt) on the host
  - qemu-img on the host
author:
  - ferry developers
"""

EXAMPLES = r"""
- name: Gather hypervisor facts
  ferry_host_facts:
    name: "{{ inventory_hostname }}"
    az: "{{ ferry_az }}"
    declared: "{{ ferry_capacity }}"
    storage_dir: "{{ ferry_instances_dir }}"
    claims_dir: "{{ ferry_claims_dir }}"
  register: ferry_facts
"""

RETURN = r"""
host:
  description: The host's facts.
  returned: always
  type: dict
  contains:
    name: {description: Inventory name, type: str}
    az: {description: Availability zone, type: str}
    reachable: {description: Always true here (unreachable hosts are reported by the play), type: bool}
    enabled: {description: Takes new guests (false when the inventory or a disabled record on the host says so), type: bool}
    disabled_reason: {description: Why the host is disabled (the record's reason wins over the inventory's), type: str}
    disabled_record:
      description: The disabled record on the host (reason, since, controller, by), or null.
      type: dict
    arch: {description: Host CPU architecture, type: str}
    domain_type:
      description: The declared I(domain_type) if libvirt offers it, else C(kvm) when /dev/kvm is usable, else C(qemu) (TCG).
      type: str
    machine_types: {description: Machine types libvirt offers, type: list}
    capacity: {description: Effective capacity (vcpus, memory_mb, disk_gb), type: dict}
    real: {description: What libvirt and the filesystem report, type: dict}
    used: {description: Sum over all defined domains (running or not), type: dict}
    free: {description: capacity - used, type: dict}
    instances:
      description: >-
        One entry per domain with name, uuid, state, vcpus, memory_mb, disk_gb, disks (with chain),
        flavor, image, az, migration, metadata.
      type: list
    claims: {description: Claims in flight on this host, type: list}
    swtpm_dir: {description: Where this host's libvirt keeps emulated TPM state (per domain UUID), type: str}
  sample:
    name: hv-a1
    az: az1
    capacity: {vcpus: 4, memory_mb: 2048, disk_gb: 20}
    instances:
      - name: web01
        state: running
        vcpus: 1
        memory_mb: 128
        disks:
          - path: /var/lib/ferry-lab/hosts/hv-a1/instances/web01/disk.qcow2
            chain: {depth: 2, base: /var/lib/ferry-lab/hosts/hv-a1/cache/ab12.qcow2}
"""

import os

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils import ferry_hostfacts, ferry_hoststate, ferry_libvirt
from ansible.module_utils.ferry_sched.resolve import host_az, host_azs
from ansible.module_utils.ferry_libvirt import LibvirtClient


def run(module, client):
    p = module.params

    def run_qemu_img(argv):
        return module.run_command(argv)

    facts = ferry_hostfacts.gather(
        client, run_qemu_img, p["declared"] or {}, p["storage_dir"], p["claims_dir"],
        kvm_usable=os.access("/dev/kvm", os.R_OK | os.W_OK), domain_type=p["domain_type"],
        shared_storage=p["shared_storage"],
        swtpm_dir=ferry_libvirt.swtpm_dir(p["uri"], os.environ, os.path.expanduser("~")))
    # a disabled record on the host (disable_host.yml, evacuate.yml) wins over the inventory
    enabled, reason = ferry_hoststate.effective(p["enabled"], p["disabled_reason"], facts["disabled_record"])
    facts.update({
        "name": p["name"], "az": p["az"], "enabled": enabled,
        "disabled_reason": reason, "aggregates": p["aggregates"],
        "capabilities": p["capabilities"], "allocation_ratios": p["allocation_ratios"],
        "host_ip": p["host_ip"],
    })
    # the AZ as the scheduler resolves it (aggregates, then ferry_az): boot and adoption record it
    facts["azs"] = list(host_azs(facts, None)[0])
    facts["az"] = host_az(facts, None)
    return facts


def main():
    module = AnsibleModule(
        argument_spec=dict(
            uri=dict(type="str", default="qemu:///session"),
            name=dict(type="str", required=True),
            az=dict(type="str", required=True),
            declared=dict(type="dict", default={}),
            storage_dir=dict(type="path", required=True),
            claims_dir=dict(type="path"),
            enabled=dict(type="bool", default=True),
            disabled_reason=dict(type="str"),
            aggregates=dict(type="list", elements="dict", default=[]),
            capabilities=dict(type="dict", default={}),
            allocation_ratios=dict(type="dict", default={}),
            host_ip=dict(type="str"),
            domain_type=dict(type="str", choices=["kvm", "qemu"]),
            shared_storage=dict(type="list", elements="path", default=[]),
        ),
        supports_check_mode=True,
    )
    try:
        client = LibvirtClient(module.params["uri"])
    except Exception as e:  # libvirt.libvirtError, ImportError
        module.fail_json(msg="cannot connect to libvirt at %s: %s" % (module.params["uri"], e))
    try:
        host = run(module, client)
    finally:
        client.close()
    module.exit_json(changed=False, host=host)


if __name__ == "__main__":
    main()
