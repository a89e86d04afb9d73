# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A guest's ferry metadata read and written under its host's lease lock.

Every module that changes a leased guest (ferry_domain with lease_id, ferry_precopy, ferry_ship's
stop) takes the host's lock file <lock_dir>/.lease.lock (the one ferry_lease takes), reads the
guest's metadata as it is on the host, checks the operation still holds the guest's lease, and
writes any change before it lets go.
"""

import fcntl
import os

from ansible.module_utils import ferry_libvirt, ferry_metadata, ferry_state

LOCK_NAME = ".lease.lock"


class Leased(object):
    """`with Leased(client, lock_dir, name, lease_id) as g:` g.dom (the domain as client.domain()
    gives it), g.meta (its ferry metadata); g.write(meta) sets new metadata.  Raises LookupError
    when the domain does not exist and ferry_state.LeaseHeld when `lease_id` no longer holds it
    (lease_id None: no check)."""

    def __init__(self, client, lock_dir, name, lease_id):
        self.client, self.lock_dir, self.name, self.lease_id = client, lock_dir, name, lease_id
        self.lock = None

    def __enter__(self):
        self.lock = open(os.path.join(self.lock_dir, LOCK_NAME), "a")
        try:
            fcntl.flock(self.lock, fcntl.LOCK_EX)
            self.dom = self.client.domain(self.name)
            if self.dom is None:
                raise LookupError("%s: no domain of that name on this host" % self.name)
            self.meta = ferry_libvirt.parse_domain_xml(self.dom["xml"])["metadata"]
            if self.lease_id is not None:
                ferry_state.check(self.meta, self.lease_id)
        except BaseException:
            self.lock.close()
            raise
        return self

    def write(self, meta):
        self.client.set_metadata(self.name, ferry_metadata.encode_plain(meta))
        self.meta = meta

    def __exit__(self, *exc):
        self.lock.close()
        return False


def stop(client, lock_dir, name, lease_id, merge=None, renew=None, shutdown_timeout=60):
    """Mark the guest stopping (migration event `stop`, `merge` into its metadata, the lease renewed)
    under the lease lock, then stop it (ACPI, forced after `shutdown_timeout` seconds), as
    ferry_domain with event=stop state=shutoff does.  Returns (actions, how it was stopped).
    Raises LookupError, ferry_state.LeaseHeld, ferry_state.IllegalTransition before any change."""
    with Leased(client, lock_dir, name, None) as g:
        new = ferry_state.apply(g.meta, lease_id, "stop", None, merge, (), renew=renew)
        if new != g.meta:
            g.write(new)
    current = client.domain(name)
    actions, _, _ = ferry_libvirt.plan_domain(current, None, new, "shutoff")
    actions = [a for a in actions if a != "set_metadata"]  # written above, under the lock
    stopped = ferry_libvirt.apply_domain(client, name, None, new, actions, shutdown_timeout) if actions else None
    return ["marked stopping"] + actions, stopped
