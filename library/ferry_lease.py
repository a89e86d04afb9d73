#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: ferry_lease
short_description: Take, renew or release a guest's lease (one operation per guest at a time)
description:
  - The lease lives in the guest's ferry metadata on its host (operation, id, controller, start,
    expiry). It is read, checked and written under an exclusive lock on this host, so two
    controllers racing for one guest cannot both get it.
  - With I(state=present) the lease is taken for I(op), after re-reading the guest's migration
    status under the lock; it fails when another operation's live lease holds the guest, when an
    expired lease is there and I(takeover) is not set (only recover.yml sets it), or when I(op)
    cannot start from the guest's status. Taking a lease one holds renews it.
  - With I(state=renewed) the holder's lease gets a new expiry; it fails when the lease is no longer
    the holder's.
  - With I(state=absent) the holder's lease is released; a lease of another operation is left alone.
  - The guest's metadata as read under the lock is returned, so the caller decides on fresh state.
version_added: "0.3.0"
extends_documentation_fragment:
  - ferry_libvirt
options:
  name:
    description: The guest's domain name.
    type: str
    required: true
  lock_dir:
    description: Directory of this host's lock file (the claims directory).
    type: path
    required: true
  lease_id:
    description: Id of the operation holding the lease (the migration id of a move).
    type: str
    required: true
  op:
    description: The operation (resize, migrate, confirm, revert, recover, delete, adopt).
    type: str
    choices: [resize, migrate, confirm, revert, recover, delete, adopt]
  controller:
    description: Who runs the operation (shown to whoever is refused).
    type: str
    default: unknown
  ttl:
    description: Seconds the lease lives without renewal.
    type: int
    default: 900
  takeover:
    description: Take over an expired lease of another operation (recover.yml).
    type: bool
    default: false
  break_id:
    description: Take the lease even from this live lease id (a controller known to be dead).
    type: str
  missing_ok:
    description: With I(state=present), succeed with C(domain=null) when the guest has no domain here.
    type: bool
    default: false
  event:
    description:
      - With I(state=present), a migration event applied in the same locked write as the take
        (confirm, revert...), so taking the lease and marking the guest cost one call on the host.
      - Refused (nothing written) when the guest's status does not allow it.
    type: str
    choices: [claim, stop, ship, finish, fail, confirm, confirmed, revert, reverted]
  state:
    description: Take (present), renew (renewed) or release (absent) the lease.
    type: str
    choices: [present, renewed, absent]
    default: present
attributes:
  check_mode:
    support: none
author:
  - ferry developers
"""

EXAMPLES = r"""
- name: Take web01's lease for a confirm and mark its move confirming, in one call
  ferry_lease:
    name: web01
    lock_dir: /var/lib/ferry/claims
    lease_id: 9a0c2f4e-5b7d-4e21-8f3a-1c2d3e4f5a6b
    op: confirm
    event: confirm

- name: Take web01's lease for a migration
  ferry_lease:
    name: web01
    lock_dir: /var/lib/ferry/claims
    lease_id: 3f1c0a52-0d4e-4c52-9d8e-0c1d2e3f4a5b
    op: migrate
    controller: awx job 42
"""

RETURN = r"""
metadata:
  description: The guest's ferry metadata after the change (read under the lock).
  returned: when the guest has a domain here
  type: dict
lease:
  description: The lease the guest holds after the change (null when released).
  returned: always
  type: dict
domain_state:
  description: The domain's state (running, shutoff...), null without a domain.
  returned: always
  type: str
"""

import fcntl
import os
import time

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils import ferry_metadata, ferry_state
from ansible.module_utils.ferry_libvirt import parse_domain_xml, run_module


def lease(module, client):
    p = module.params
    with open(os.path.join(p["lock_dir"], ".lease.lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        dom = client.domain(p["name"])
        if dom is None:
            if p["state"] == "absent" or p["missing_ok"]:
                return {"changed": False, "lease": None, "domain_state": None, "metadata": None}
            module.fail_json(msg="%s: no domain of that name on this host" % p["name"])
        meta = parse_domain_xml(dom["xml"])["metadata"]
        now = time.time()
        try:
            if p["state"] == "present":
                if not p["op"]:
                    module.fail_json(msg="op is required to take a lease")
                new = ferry_state.take(meta, p["op"], ferry_state.make_lease(
                    p["op"], p["lease_id"], p["controller"], p["ttl"], now), now, p["takeover"], p["break_id"])
                if p["event"]:
                    new = ferry_state.apply(new, p["lease_id"], event=p["event"], now=now)
            elif p["state"] == "renewed":
                new = ferry_state.apply(meta, p["lease_id"], renew=p["ttl"], now=now)
            else:
                cur = meta.get("lease")
                new = ferry_state.apply(meta, release=True) if cur and cur.get("id") == p["lease_id"] else meta
        except (ferry_state.LeaseHeld, ferry_state.IllegalTransition) as e:
            module.fail_json(msg="%s: %s" % (p["name"], e), lease=meta.get("lease"), metadata=meta,
                             domain_state=dom["state"])
        if new != meta:
            client.set_metadata(p["name"], ferry_metadata.encode_plain(new))
    return {"changed": new != meta, "lease": new.get("lease"), "metadata": new, "domain_state": dom["state"]}


def main():
    module = AnsibleModule(
        argument_spec=dict(
            name=dict(type="str", required=True),
            uri=dict(type="str", default="qemu:///session"),
            lock_dir=dict(type="path", required=True),
            lease_id=dict(type="str", required=True),
            op=dict(type="str", choices=list(ferry_state.OPERATIONS)),
            controller=dict(type="str", default="unknown"),
            ttl=dict(type="int", default=900),
            takeover=dict(type="bool", default=False),
            break_id=dict(type="str"),
            missing_ok=dict(type="bool", default=False),
            event=dict(type="str", choices=list(ferry_state.TRANSITIONS)),
            state=dict(type="str", choices=["present", "renewed", "absent"], default="present"),
        ),
        supports_check_mode=False,
    )
    run_module(module, lease)


if __name__ == "__main__":
    main()
