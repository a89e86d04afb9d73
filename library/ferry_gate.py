#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: ferry_gate
short_description: Close the gate of a one-call stop window on the target, or learn that the guest started there
description:
  - In the one-call stop window the target's finish (M(ferry_finish) with I(gate)) starts the guest on
    its own once the source's go arrives. Before a rollback may restart the guest on the source it
    runs this on the target; the gate is closed (decision C(cancelled), made once for the move, see
    ferry_gate.py) unless the finish already decided C(started).
  - When it had started, this waits up to I(wait) seconds for that finish to end, then reads the
    domain here. C(forward=true) means the guest is defined here by this move and in the state the
    move wanted (the move went through, so the source must not be restarted).
  - C(safe_to_restart_source=true) when the target never starts the guest (the gate was closed, or
    the finish ended without the guest in the wanted state).
version_added: "0.9.0"
extends_documentation_fragment:
  - ferry_libvirt
options:
  dir:
    description: The guest's instance directory on this host.
    type: path
    required: true
  token:
    description: The move's id.
    type: str
    required: true
  name:
    description: The guest's domain name.
    type: str
    required: true
  want_state:
    description: The state the finish was to leave the guest in.
    type: str
    choices: [running, shutoff]
    default: running
  wait:
    description: Seconds to wait for a finish that already started to end.
    type: int
    default: 120
attributes:
  check_mode:
    support: none
    details: Closing the gate is the point; there is nothing to predict.
author:
  - ferry developers
"""

EXAMPLES = r"""
- name: Close the gate before restarting the source
  ferry_gate:
    dir: /var/lib/ferry/instances/web01
    token: 0b6f3c1e-8d7a-4c55-9f0e-2a4d3b1c9e77
    name: web01
  delegate_to: hv-a2
  register: gate
"""

RETURN = r"""
decision:
  description: C(cancelled) (closed here, or by an earlier rollback), C(started) or C(timed-out).
  returned: always
  type: str
armed:
  description: False when the instance directory does not exist (nothing was armed or it was cleaned).
  returned: always
  type: bool
finishing:
  description: The finish that started still runs after I(wait).
  returned: always
  type: bool
domain_state:
  description: The domain's state here (C(absent) when not defined).
  returned: always
  type: str
forward:
  description: The guest is defined here by this move, in I(want_state).
  returned: always
  type: bool
safe_to_restart_source:
  description: The target will never start the guest for this move.
  returned: always
  type: bool
"""

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils import ferry_gate, ferry_libvirt
from ansible.module_utils.ferry_libvirt import LibvirtClient


def main():
    module = AnsibleModule(
        argument_spec=dict(
            uri=dict(type="str", default="qemu:///session"),
            dir=dict(type="path", required=True),
            token=dict(type="str", required=True),
            name=dict(type="str", required=True),
            want_state=dict(type="str", choices=["running", "shutoff"], default="running"),
            wait=dict(type="int", default=120),
        ),
        supports_check_mode=False,
    )
    p = module.params
    try:
        ferry_gate.check_token(p["token"])
        out = ferry_gate.close(p["dir"], p["token"], wait=p["wait"])
    except (OSError, ValueError) as e:
        module.fail_json(msg="closing the gate of %s in %s failed: %s" % (p["name"], p["dir"], e))
    client = LibvirtClient(p["uri"])
    try:
        dom = client.domain(p["name"])
    finally:
        client.close()
    out["domain_state"] = dom["state"] if dom else "absent"
    migration = (ferry_libvirt.parse_domain_xml(dom["xml"])["metadata"].get("migration") or {}) if dom else {}
    mine = migration.get("id") == p["token"]
    out["forward"] = bool(out["decision"] == "started" and not out["finishing"] and mine
                          and out["domain_state"] == p["want_state"])
    out["safe_to_restart_source"] = bool(out["decision"] != "started"
                                         or (not out["finishing"] and not out["forward"]))
    module.exit_json(changed=out["decision"] == "cancelled", **out)


if __name__ == "__main__":
    main()
