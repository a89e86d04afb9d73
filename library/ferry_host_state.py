#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: ferry_host_state
short_description: Disable or enable this hypervisor for scheduling, recorded on the host itself
description:
  - With I(state=disabled), writes the disabled record C(<claims_dir>/.host-disabled) (JSON with
    C(reason), C(since), C(controller), C(by)) under the claims directory's exclusive lock (the one
    M(ferry_claim) takes) with an atomic rename. Host facts then report the host C(enabled=false)
    with that reason, whatever the inventory's C(ferry_host_enabled) says, so the scheduler's
    ComputeFilter removes it and a claim on it is refused.
  - With I(state=enabled), removes the record; the inventory decides again.
  - A host already disabled keeps its first record (its reason, time and controller) unless
    I(replace=true); C(changed) is false then.
version_added: "0.1.0"
attributes:
  check_mode:
    support: full
    details: Reports the record it would write or remove; writes nothing.
  diff_mode:
    support: none
options:
  claims_dir:
    description: The host's claims directory (ferry_claims_dir), where the record and the lock live.
    type: path
    required: true
  state:
    description: Whether the host takes new guests.
    type: str
    choices: [disabled, enabled]
    required: true
  reason:
    description: Why the host is disabled (shown by the scheduler's ComputeFilter).
    type: str
  controller:
    description: Who disabled it (host name, AWX job, pid).
    type: str
  by:
    description: The operation that disabled it (disable_host, evacuate).
    type: str
    default: disable_host
  replace:
    description: Replace the record of a host that is already disabled (new reason and time).
    type: bool
    default: false
seealso:
  - module: ferry_host_facts
  - module: ferry_claim
author:
  - ferry developers
"""

EXAMPLES = r"""
- name: Disable the host for scheduling
  ferry_host_state:
    claims_dir: "{{ ferry_claims_dir }}"
    state: disabled
    reason: kernel upgrade
    controller: "{{ ferry_lease_controller }}"

- name: Put it back
  ferry_host_state:
    claims_dir: "{{ ferry_claims_dir }}"
    state: enabled
"""

RETURN = r"""
record:
  description: The disabled record on the host after the call (null when enabled).
  returned: always
  type: dict
  sample: {disabled: true, reason: kernel upgrade, since: 1764480000.0, controller: "ctl pid 42", by: evacuate}
previous:
  description: The record before the call (null when the host was enabled).
  returned: always
  type: dict
"""

import fcntl
import os
import time

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils import ferry_hoststate


def apply(params, check_mode, now):
    """(changed, previous, record) for the requested state, under the claims directory's lock."""
    claims_dir = params["claims_dir"]
    if not os.path.isdir(claims_dir):
        raise OSError("claims directory %s does not exist" % claims_dir)
    with open(os.path.join(claims_dir, ferry_hoststate.LOCK_NAME), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        previous = ferry_hoststate.read_record(claims_dir)
        if params["state"] == "enabled":
            if previous and not check_mode:
                ferry_hoststate.remove_record(claims_dir)
            return previous is not None, previous, None
        if previous and not params["replace"]:
            return False, previous, previous
        record = ferry_hoststate.make_record(params["reason"], params["controller"], now, params["by"])
        if not check_mode:
            ferry_hoststate.write_record(claims_dir, record)
        return True, previous, record


def main():
    module = AnsibleModule(
        argument_spec=dict(
            claims_dir=dict(type="path", required=True),
            state=dict(type="str", choices=["disabled", "enabled"], required=True),
            reason=dict(type="str"),
            controller=dict(type="str"),
            by=dict(type="str", default="disable_host"),
            replace=dict(type="bool", default=False),
        ),
        supports_check_mode=True,
    )
    try:
        changed, previous, record = apply(module.params, module.check_mode, time.time())
    except OSError as e:
        module.fail_json(msg="cannot change the host's scheduling state: %s" % e, claims_dir=module.params["claims_dir"])
    module.exit_json(changed=changed, previous=previous, record=record)


if __name__ == "__main__":
    main()
