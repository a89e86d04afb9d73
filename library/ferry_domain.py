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
extends_documentation_fragment:
  - ferry_libvirt
options:
  name:
    description: Domain name.
    type: str
    required: true
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
  lease_id:
    description:
      - The operation's lease on the guest. When given, the metadata change is made on the host under
        its lock, on the metadata as it is there (not a controller's copy written back), and only
        while the guest's lease is this one; the lease itself is kept (or renewed, or released).
      - Excludes I(metadata); say the change with I(event), I(migration), I(merge) and I(unset).
    type: str
  lock_dir:
    description: Directory of this host's lock file (the claims directory); required with I(lease_id).
    type: path
  event:
    description: Migration event applied to the guest's migration record (see ferry_state; illegal ones fail).
    type: str
    choices: [claim, stop, ship, finish, fail, confirm, confirmed, revert, reverted]
  migration:
    description: Fields set in the migration record (with I(event=claim), the whole new record).
    type: dict
  merge:
    description: Top-level metadata keys set to these values.
    type: dict
  unset:
    description: Top-level metadata keys removed.
    type: list
    elements: str
    default: []
  renew:
    description: With I(lease_id), renew the lease for this many seconds.
    type: int
  release_lease:
    description: With I(lease_id), release the lease after the change.
    type: bool
    default: false
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
from ansible.module_utils import ferry_leased, ferry_libvirt, ferry_state


def leased_metadata(module, client):
    """Under the host's lock: check the lease, apply the change to the metadata as it is on the host,
    write it.  Returns the metadata written."""
    p = module.params
    try:
        with ferry_leased.Leased(client, p["lock_dir"], p["name"], None) as g:
            meta = g.meta
            new = ferry_state.apply(meta, p["lease_id"], p["event"], p["migration"], p["merge"], p["unset"],
                                    release=p["release_lease"], renew=p["renew"])
            if new != meta and not module.check_mode:
                g.write(new)
    except LookupError as e:
        module.fail_json(msg=str(e))
    except (ferry_state.LeaseHeld, ferry_state.IllegalTransition) as e:
        module.fail_json(msg="%s: %s" % (p["name"], e), lease=meta.get("lease"), migration=meta.get("migration"))
    return new


def run(module, client):
    p = module.params
    if p["lease_id"]:
        p["metadata"] = leased_metadata(module, client)
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
            lease_id=dict(type="str"),
            lock_dir=dict(type="path"),
            event=dict(type="str", choices=list(ferry_state.TRANSITIONS)),
            migration=dict(type="dict"),
            merge=dict(type="dict"),
            unset=dict(type="list", elements="str", default=[]),
            renew=dict(type="int"),
            release_lease=dict(type="bool", default=False),
        ),
        mutually_exclusive=[("lease_id", "metadata")],
        required_by={"lease_id": ("lock_dir",)},
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
