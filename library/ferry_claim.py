#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: ferry_claim
short_description: Claim (or release) room for a guest on this hypervisor, atomically
description:
  - With I(state=present), takes an exclusive lock on the claims directory, re-reads the host's
    domains and claims, re-checks RAM, vCPUs and disk with the scheduler's filters and ratios,
    and writes the claim only if the guest still fits. Fails with the filters' reasons otherwise,
    so the caller can try the next alternate host. A host disabled on itself (the record
    C(<claims_dir>/.host-disabled) of disable_host.yml / evacuate.yml, written under the same lock)
    refuses every claim.
  - With I(state=absent), removes the guest's claim (only the claim of I(migration_id) when given).
  - With I(state=renewed), gives the claim of I(migration_id) a new expiry (I(ttl) seconds); fails
    when the guest's claim here is not that operation's any more.
  - A claim made with I(ttl) expires with its operation's lease; an expired claim no longer counts
    and recover.yml removes it. A claim with I(old_flavor) is a same-host resize's and counts the
    flavor the guest's domain is not at, so the host holds both until confirm.
  - Supports check mode (the re-check runs, nothing is written).
version_added: "0.1.0"
extends_documentation_fragment:
  - ferry_libvirt
options:
  instance:
    description: Guest name.
    type: str
    required: true
  flavor:
    description: Flavor to claim (vcpus, memory_mb, disk_gb).
    type: dict
  migration_id:
    description: Id of the move (or boot) the claim belongs to.
    type: str
  kind:
    description: What the claim is for.
    type: str
    choices: [boot, move]
    default: move
  claims_dir:
    description: The host's claims directory.
    type: path
    required: true
  storage_dir:
    description: The host's instances directory (for the facts re-read).
    type: path
  declared:
    description: Declared capacity of the host.
    type: dict
    default: {}
  config:
    description:
      - Scheduler settings (ratios, reserved resources, C(enabled_filters)).
      - The re-check runs C(ComputeFilter) and, for RAM, vCPUs and disk, the filters
        C(enabled_filters) names (C(RamFilter) and/or C(AggregateRamFilter), and so on; the plain
        filter when it names neither), with the ratios resolved as the scheduler resolves them.
    type: dict
    default: {}
  aggregates:
    description:
      - The host's aggregates (C(ferry_aggregates)), a list of C({name, metadata}); their
        C(ram_allocation_ratio), C(cpu_allocation_ratio) and C(disk_allocation_ratio) metadata
        are read by the Aggregate* filters of the re-check.
    type: list
    elements: dict
    default: []
  allocation_ratios:
    description:
      - The host's own allocation ratios (C(ferry_allocation_ratios), keys C(ram), C(cpu),
        C(disk)); they win over the ratios in I(config).
    type: dict
    default: {}
  host:
    description: Inventory name of this host (used in the report).
    type: str
    default: this host
  ttl:
    description: Seconds the claim lives unless renewed (with the operation's lease); with
      I(state=renewed), C(0) keeps the claim without expiry until it is released.
    type: int
  old_flavor:
    description: The guest's old flavor, for a same-host resize (the host holds both until confirm).
    type: dict
  make_dir:
    description:
      - With I(state=present), a directory to create (mode 0750, its parent must exist) once the
        claim holds, in the same call (a move's instance directory on its target).
    type: path
  probe:
    description:
      - With I(state=present), files whose presence is reported in C(present) once the claim
        holds (a move's bases in the target's cache; a cache prune refuses while a claim lives,
        so what is there now stays).
    type: list
    elements: path
    default: []
  state:
    description: Claim, renew or release.
    type: str
    choices: [present, renewed, absent]
    default: present
author:
  - ferry developers
"""

EXAMPLES = r"""
- name: Claim room on the target
  ferry_claim:
    instance: web01
    flavor: {vcpus: 2, memory_mb: 512, disk_gb: 4}
    migration_id: 3f1c...
    claims_dir: /var/lib/ferry/claims
    storage_dir: /var/lib/ferry/instances
    declared: {vcpus: 8, memory_mb: 16384, disk_gb: 200}
"""

RETURN = r"""
claim:
  description: The claim written (or that would be written).
  returned: state=present
  type: dict
report:
  description: The re-check's report.
  returned: state=present
  type: str
present:
  description: Those of I(probe) that exist here (regular files).
  returned: state=present
  type: list
  elements: str
"""

import fcntl
import os

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils import ferry_claim, ferry_hostfacts
from ansible.module_utils.ferry_libvirt import LibvirtClient


def release_or_renew(module, path):
    p = module.params
    cur = ferry_claim.read_claim(p["claims_dir"], p["instance"])
    if p["state"] == "absent":
        if cur is None and not os.path.exists(path):
            return {"changed": False}
        if p["migration_id"] and cur is not None and cur.get("id") != p["migration_id"]:
            return {"changed": False, "claim": cur, "msg": "the claim here is another operation's; left alone"}
        if not module.check_mode:
            os.unlink(path)
        return {"changed": True, "claim": cur}
    new = ferry_claim.renewed(cur or {}, p["migration_id"], 900 if p["ttl"] is None else p["ttl"])
    if new is None:
        module.fail_json(msg="%s: no claim of operation %s here to renew (%s)"
                         % (p["instance"], p["migration_id"], "claim of %s" % cur.get("id") if cur else "none"))
    if not module.check_mode:
        ferry_claim.write_claim(p["claims_dir"], new)
    return {"changed": True, "claim": new}


def claim(module):
    p = module.params
    path = ferry_claim.claim_path(p["claims_dir"], p["instance"])
    with open(os.path.join(p["claims_dir"], ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if p["state"] in ("absent", "renewed"):
            return release_or_renew(module, path)
        client = LibvirtClient(p["uri"])
        try:
            facts = ferry_hostfacts.gather(client, module.run_command, p["declared"], p["storage_dir"],
                                           p["claims_dir"], kvm_usable=os.access("/dev/kvm", os.R_OK | os.W_OK))
        finally:
            client.close()
        # a host disabled on itself (disable_host.yml, evacuate.yml) takes no claim, checked under the same
        # lock its disable is written under: a move scheduled before the disable cannot land after it
        record = facts.get("disabled_record")
        facts.update(name=p["host"], enabled=not record, disabled_reason=(record or {}).get("reason"), az=None,
                     aggregates=p["aggregates"], allocation_ratios=p["allocation_ratios"])
        fits, report = ferry_claim.recheck(facts, p["instance"], p["flavor"], p["config"])
        if not fits:
            module.fail_json(msg="claim refused on re-check: " + report, report=report)
        new = ferry_claim.make_claim(p["instance"], p["flavor"], p["migration_id"], p["kind"],
                                     ttl=p["ttl"], old=p["old_flavor"])
        if not module.check_mode:
            ferry_claim.write_claim(p["claims_dir"], new)
            if p["make_dir"]:
                err = None
                try:
                    os.mkdir(p["make_dir"], 0o750)
                    os.chmod(p["make_dir"], 0o750)
                except FileExistsError:
                    if not os.path.isdir(p["make_dir"]):
                        err = "exists and is not a directory"
                except OSError as e:
                    err = "could not be created: %s" % e
                if err:
                    os.unlink(path)   # no claim without its directory: the next alternate may do
                    module.fail_json(msg="claim refused: %s %s" % (p["make_dir"], err))
    present = [f for f in p["probe"] if os.path.isfile(f)]
    return {"changed": True, "claim": new, "report": report, "present": present}


def main():
    module = AnsibleModule(
        argument_spec=dict(
            instance=dict(type="str", required=True),
            flavor=dict(type="dict"),
            migration_id=dict(type="str"),
            kind=dict(type="str", choices=["boot", "move"], default="move"),
            claims_dir=dict(type="path", required=True),
            storage_dir=dict(type="path"),
            declared=dict(type="dict", default={}),
            aggregates=dict(type="list", elements="dict", default=[]),
            allocation_ratios=dict(type="dict", default={}),
            config=dict(type="dict", default={}),
            host=dict(type="str", default="this host"),
            uri=dict(type="str", default="qemu:///session"),
            ttl=dict(type="int"),
            old_flavor=dict(type="dict"),
            make_dir=dict(type="path"),
            probe=dict(type="list", elements="path", default=[]),
            state=dict(type="str", choices=["present", "renewed", "absent"], default="present"),
        ),
        required_if=[("state", "present", ("flavor", "migration_id", "storage_dir")),
                     ("state", "renewed", ("migration_id",))],
        supports_check_mode=True,
    )
    module.exit_json(**claim(module))


if __name__ == "__main__":
    main()
