#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: ferry_guest_fit
short_description: Ask a hypervisor whether it can run a guest's definition (read-only)
description:
  - Given what a guest's definition needs (from M(ferry_guest)), asks this host's libvirt for its
    domain capabilities for that emulator, arch, machine type and domain type, and libvirt's
    verdict on the guest's CPU here (C(compareHypervisorCPU)) when the definition names a CPU model.
  - Returns the findings; the controller compares the target's CPU verdict with the source's and
    refuses only when the target's is worse.
  - Changes nothing.
version_added: "0.2.0"
extends_documentation_fragment:
  - ferry_libvirt
options:
  requirements:
    description: C(requirements) returned by M(ferry_guest).
    type: dict
    required: true
attributes:
  check_mode:
    support: full
    details: Reads only.
author:
  - ferry developers
"""

EXAMPLES = r"""
- name: Can each host run web01's definition?
  ferry_guest_fit:
    requirements: "{{ guest.requirements }}"
  delegate_to: "{{ item }}"
  loop: "{{ groups['hypervisors'] }}"
"""

RETURN = r"""
domcaps:
  description: C(ok), or the reason libvirt gave for refusing the emulator/arch/machine/type.
  returned: success
  type: str
cpu:
  description: libvirt's verdict on the guest CPU (identical, superset, incompatible, error ...), or n/a.
  returned: success
  type: str
"""

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.ferry_libvirt import guest_fit, run_module


def fit(module, client):
    return dict(guest_fit(client, module.params["requirements"]), changed=False)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            uri=dict(type="str", default="qemu:///session"),
            requirements=dict(type="dict", required=True),
        ),
        supports_check_mode=True,
    )
    run_module(module, fit)


if __name__ == "__main__":
    main()
