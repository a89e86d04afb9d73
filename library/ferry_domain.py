#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: ferry_domain
short_description: Define, start, stop or remove a libvirt domain, with ferry metadata
description:
  - Brings one domain to a state through libvirt-python. The domain XML (rendered from ferry's
    template) is defined when what ferry manages in it (type, vCPUs, RAM, disks, metadata) differs.
  - C(metadata) is written under ferry's namespace in the domain's C(<metadata>).
  - Stopping is a graceful ACPI shutdown, forced after I(shutdown_timeout) seconds.
  - Supports check mode and diff mode.
version_added: "0.1.0"
options:
  name:
    description: Domain name.
    type: str
    required: true
  uri:
    description: libvirt URI.
    type: str
    default: qemu:///session
  xml:
    description: Full domain XML to define (without ferry metadata; see I(metadata)).
    type: str
  metadata:
    description: ferry metadata to store in the domain (replaces what is there).
    type: dict
  state:
    description: Wanted state.
    type: str
    choices: [defined, running, shutoff, absent]
    default: running
  shutdown_timeout:
    description: Seconds to wait for a graceful shutdown before forcing the guest off.
    type: int
    default: 60
author:
  - ferry developers
"""

EXAMPLES = r"""
- name: Define and start web01
  ferry_domain:
    name: web01
    xml: "{{ lookup('ansible.builtin.template', 'domain.xml.j2') }}"
    metadata: {flavor: {name: m1.small}, az: az1}
    state: running

- name: Stop web01 (graceful, then forced after 30 s)
  ferry_domain:
    name: web01
    state: shutoff
    shutdown_timeout: 30
"""

RETURN = r"""
actions:
  description: What was (or in check mode would be) done, in order.
  returned: always
  type: list
  sample: [define, start]
stopped:
  description: How the guest was stopped (C(graceful), C(forced), C(already)) when a stop happened.
  returned: always
  type: str
domain:
  description: The domain after the change (name, uuid, state), null when absent.
  returned: always
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils import ferry_libvirt


def run(module, client):
    p = module.params
    current = client.domain(p["name"])
    try:
        actions, before, after = ferry_libvirt.plan_domain(current, p["xml"], p["metadata"], p["state"])
    except LookupError as e:
        module.fail_json(msg="%s: %s" % (p["name"], e))
    result = {"changed": bool(actions), "actions": actions, "stopped": None}
    if module._diff:
        result["diff"] = {"before": ferry_libvirt._yaml_lines(before) if before else "",
                          "after": ferry_libvirt._yaml_lines(after) if after else "",
                          "before_header": p["name"], "after_header": p["name"]}
    if actions and not module.check_mode:
        result["stopped"] = ferry_libvirt.apply_domain(
            client, p["name"], p["xml"], p["metadata"], actions, p["shutdown_timeout"])
        current = client.domain(p["name"])
    result["domain"] = ({k: current[k] for k in ("name", "uuid", "state")} if current else None)
    return result


def main():
    module = AnsibleModule(
        argument_spec=dict(
            name=dict(type="str", required=True),
            uri=dict(type="str", default="qemu:///session"),
            xml=dict(type="str"),
            metadata=dict(type="dict"),
            state=dict(type="str", choices=["defined", "running", "shutoff", "absent"], default="running"),
            shutdown_timeout=dict(type="int", default=60),
        ),
        supports_check_mode=True,
    )
    try:
        client = LibvirtClient(module.params["uri"])
    except Exception as e:
        module.fail_json(msg="cannot connect to libvirt at %s: %s" % (module.params["uri"], e))
    try:
        result = run(module, client)
    except Exception as e:  # libvirt.libvirtError from an action
        module.fail_json(msg="%s: %s" % (module.params["name"], e))
    finally:
        client.close()
    module.exit_json(**result)


LibvirtClient = ferry_libvirt.LibvirtClient

if __name__ == "__main__":
    main()
