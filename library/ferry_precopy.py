#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: ferry_precopy
short_description: Freeze a running guest's disks for pre-copy, and fold them back afterwards
description:
  - I(state=frozen) (the guest runs) saves the guest's persistent definition to I(saved_xml),
    records the pre-copy in its ferry metadata (C(precopy), under the guest's lease), then takes an
    external disk-only snapshot without libvirt metadata (atomic) of the disks in I(disks). Each
    disk's file becomes a read-only backing file, safe to read while the guest runs. Every other
    disk (cdrom, read-only, shared, cached) gets C(snapshot=no).
  - I(state=folded) puts the guest back in the shape it had. For a running guest, each snapshot
    overlay is merged back with an active block commit and a pivot. For a stopped guest, with
    C(qemu-img commit). Then the saved definition is defined again (with the guest's current
    metadata, without C(precopy)), and the overlays and the saved definition are deleted.
    A guest without a C(precopy) record is left alone, so the fold can be repeated (recover.yml,
    a re-run).
version_added: "0.4.0"
extends_documentation_fragment:
  - ferry_libvirt
options:
  name:
    description: The guest's domain name.
    type: str
    required: true
  lease_id:
    description: The operation's lease id; the guest's lease must be this one.
    type: str
    required: true
  lock_dir:
    description: Directory of this host's lease lock file (the claims directory).
    type: path
    required: true
  state:
    description: C(frozen) (take the snapshot) or C(folded) (merge it back).
    type: str
    choices: [frozen, folded]
    required: true
  disks:
    description:
      - With C(frozen), the disks to freeze, each C({target, overlay}) (overlay a new qcow2 file path).
      - A guest already frozen gets one more layer (a later pre-copy round) on top of each disk's
        current top; asked for its current top layers, nothing is done.
    type: list
    elements: dict
    default: []
  saved_xml:
    description: With C(frozen) in the first round, where the pre-copy definition is saved (in the guest's instance directory).
    type: path
  commit_timeout:
    description: Seconds an active block commit may take to become ready.
    type: int
    default: 600
author:
  - ferry developers
"""

EXAMPLES = r"""
- name: Freeze web01's root disk; its disk.qcow2 then ships while the guest runs
  ferry_precopy:
    name: web01
    lease_id: "{{ migration_id }}"
    lock_dir: /var/lib/ferry/claims
    state: frozen
    disks: [{target: vda, overlay: /var/lib/ferry/instances/web01/precopy-3f1c0a52-vda.qcow2}]
    saved_xml: /var/lib/ferry/instances/web01/precopy-3f1c0a52.xml
"""

RETURN = r"""
precopy:
  description: The pre-copy record kept in the guest's metadata (C(frozen)), or the one folded.
  returned: always
  type: dict
steps:
  description: What was done.
  returned: always
  type: list
  elements: str
"""

import os
import time
import xml.etree.ElementTree as ET

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils import ferry_domxml, ferry_fold, ferry_leased, ferry_state
from ansible.module_utils.ferry_fold import record_disks
from ansible.module_utils.ferry_libvirt import run_module


def snapshot_xml(all_targets, disks):
    """The disk-only snapshot's XML: an external qcow2 overlay for each of `disks`, no snapshot
    for every other disk of the guest."""
    root = ET.Element("domainsnapshot")
    ET.SubElement(root, "name").text = "ferry-precopy"
    ds = ET.SubElement(root, "disks")
    frozen = {d["target"]: d["overlay"] for d in disks}
    for t in all_targets:
        if t in frozen:
            e = ET.SubElement(ds, "disk", name=t, snapshot="external")
            ET.SubElement(e, "driver", type="qcow2")
            ET.SubElement(e, "source", file=frozen[t])
        else:
            ET.SubElement(ds, "disk", name=t, snapshot="no")
    return ET.tostring(root, encoding="unicode")


class Leased(ferry_leased.Leased):
    """ferry_leased.Leased for this module's guest and lease; fails the module when the guest is
    gone or its lease is another operation's."""

    def __init__(self, module, client):
        self.module, self.p = module, module.params
        super(Leased, self).__init__(client, self.p["lock_dir"], self.p["name"], self.p["lease_id"])

    def __enter__(self):
        try:
            return super(Leased, self).__enter__()
        except LookupError as e:
            self.module.fail_json(msg=str(e))
        except ferry_state.LeaseHeld as e:
            self.module.fail_json(msg="%s: %s" % (self.p["name"], e))


def freeze(module, client):
    """Round 1 (no record yet): save the definition, record, snapshot.  A later round (a record
    whose top layers are not the overlays asked for): one more layer on top of each, recorded
    first.  Asked for the current top layers: nothing to do (a re-run)."""
    p = module.params
    steps = []
    with Leased(module, client) as g:
        rec = g.meta.get("precopy")
        if g.dom["state"] != "running" and not (rec and _is_top(rec, p["disks"])):
            module.fail_json(msg="%s is %s: pre-copy freezes a running guest only" % (p["name"], g.dom["state"]))
        if rec and _is_top(rec, p["disks"]):
            return {"changed": False, "precopy": rec, "steps": ["already frozen"]}
        if not p["disks"] or (not rec and not p["saved_xml"]):
            module.fail_json(msg="state=frozen needs disks (and saved_xml in its first round)")
        files = {d["target"]: d["path"] for d in ferry_domxml.disks(ferry_domxml.parse(g.dom["xml"]))}
        have = record_disks(rec)
        for d in p["disks"]:
            if d.get("target") not in files or not d.get("overlay"):
                module.fail_json(msg="%s: no disk %r to freeze (disks: %s)" % (p["name"], d.get("target"),
                                                                               ", ".join(sorted(files))))
            if rec and (d["target"] not in have or files[d["target"]] != have[d["target"]]["overlay"]):
                module.fail_json(msg="%s: %s is not on its pre-copy top layer (%s), it is on %s: recover.yml folds it"
                                 % (p["name"], d["target"], have.get(d["target"], {}).get("overlay"),
                                    files[d["target"]]))
            if os.path.exists(d["overlay"]):
                module.fail_json(msg="%s: overlay %s exists already" % (p["name"], d["overlay"]))
        lv = client._libvirt
        if rec:
            # the metadata holds one level of dict: the new top of each disk, its layers joined
            record = dict(rec)
            for d in p["disks"]:
                record["overlay_" + d["target"]] = d["overlay"]
                record["layers_" + d["target"]] = "|".join(have[d["target"]]["layers"] + [d["overlay"]])
            g.write(dict(g.meta, precopy=record))  # recorded first: a crash after the snapshot is foldable
            steps.append("recorded pre-copy round %d" % (len(have[p["disks"][0]["target"]]["layers"]) + 1))
        else:
            fd = os.open(p["saved_xml"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(client.conn.lookupByName(p["name"]).XMLDesc(lv.VIR_DOMAIN_XML_INACTIVE
                                                                     | lv.VIR_DOMAIN_XML_SECURE))
            record = {"xml": p["saved_xml"], "taken": round(time.time(), 3)}
            for d in p["disks"]:
                record["overlay_" + d["target"]] = d["overlay"]
                record["file_" + d["target"]] = files[d["target"]]
                record["layers_" + d["target"]] = d["overlay"]
            g.write(dict(g.meta, precopy=record))  # recorded first: a crash after the snapshot is foldable
            steps.append("recorded pre-copy, definition saved to %s" % p["saved_xml"])
        flags = (lv.VIR_DOMAIN_SNAPSHOT_CREATE_DISK_ONLY | lv.VIR_DOMAIN_SNAPSHOT_CREATE_NO_METADATA
                 | lv.VIR_DOMAIN_SNAPSHOT_CREATE_ATOMIC)
        try:
            client.conn.lookupByName(p["name"]).snapshotCreateXML(snapshot_xml(sorted(files), p["disks"]), flags)
        except lv.libvirtError as e:
            if rec:
                g.write(dict(g.meta, precopy=rec))
            else:
                g.write({k: v for k, v in g.meta.items() if k != "precopy"})
                os.unlink(p["saved_xml"])
            module.fail_json(msg="%s: disk-only snapshot for pre-copy failed (nothing changed): %s" % (p["name"], e))
        steps.append("froze %s" % ", ".join("%s (%s)" % (d["target"], files[d["target"]]) for d in p["disks"]))
    return {"changed": True, "precopy": record, "steps": steps}


def _is_top(rec, disks):
    have = record_disks(rec)
    return bool(disks) and all(have.get(d.get("target"), {}).get("overlay") == d.get("overlay") for d in disks)


def fold(module, client):
    p = module.params
    try:
        return ferry_fold.fold(client, p["lock_dir"], p["name"], p["lease_id"], module.run_command, p["commit_timeout"])
    except LookupError as e:
        module.fail_json(msg=str(e))
    except ferry_state.LeaseHeld as e:
        module.fail_json(msg="%s: %s" % (p["name"], e))
    except ferry_fold.FoldError as e:
        module.fail_json(msg=str(e), steps=e.steps)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            uri=dict(type="str", default="qemu:///session"),
            name=dict(type="str", required=True),
            lease_id=dict(type="str", required=True),
            lock_dir=dict(type="path", required=True),
            state=dict(type="str", choices=["frozen", "folded"], required=True),
            disks=dict(type="list", elements="dict", default=[]),
            saved_xml=dict(type="path"),
            commit_timeout=dict(type="int", default=600),
        ),
        supports_check_mode=False,
    )
    run_module(module, freeze if module.params["state"] == "frozen" else fold)


if __name__ == "__main__":
    main()
