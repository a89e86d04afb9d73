#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: ferry_guest
short_description: Read what a guest's move must carry, on the guest's host (read-only)
description:
  - Reads the guest's persistent definition as a move carries it (inactive, migratable, with
    secrets such as a VNC password), the backing chain of each of its file disks
    (C(qemu-img info -U --backing-chain)), and the sha256 of every file that goes into a target's
    cache by checksum (bases outside the cache, read-only media, kernel, initrd, loader).
  - Returns them with the move's refusals (disks ferry cannot copy, chains it does not handle,
    paths not recorded for the guest), so a move is refused before anything is touched.
  - With I(target_cache_dir) and I(target_instances_dir), also returns the full per-file plan for
    that target (what ships, what goes into its cache, the rewritten paths).
  - Changes nothing.
version_added: "0.2.0"
extends_documentation_fragment:
  - ferry_libvirt
options:
  name:
    description: The guest's domain name.
    type: str
    required: true
  cache_dir:
    description: This host's image cache directory.
    type: path
    required: true
  instances_dir:
    description: This host's instances directory.
    type: path
    required: true
  shared_storage:
    description: Path prefixes on storage every host sees (not copied, never deleted).
    type: list
    elements: path
    default: []
  root_disk:
    description: Target device of the root disk (default the first disk in boot order).
    type: str
  target_cache_dir:
    description: The target's image cache directory (for the full plan).
    type: path
  target_instances_dir:
    description: The target's instances directory (for the full plan).
    type: path
  target_swtpm_dir:
    description: Where the target's libvirt keeps emulated TPM state (for the full plan).
    type: path
  fit:
    description:
      - Also ask this host's libvirt whether it can run the definition, as M(ferry_guest_fit) does
        on the other hosts (returned as C(fit)); a move asks its source in the same call.
    type: bool
    default: false
attributes:
  check_mode:
    support: full
    details: Reads only.
author:
  - ferry developers
"""

EXAMPLES = r"""
- name: Read what the move of web01 must carry
  ferry_guest:
    name: web01
    cache_dir: /var/lib/ferry/cache
    instances_dir: /var/lib/ferry/instances
    shared_storage: [/srv/nfs]
  register: guest
"""

RETURN = r"""
xml:
  description: The persistent definition (inactive, migratable, secure).
  returned: success
  type: str
chains:
  description: Per target device, the qemu-img chain summary of each file disk.
  returned: success
  type: dict
hashes:
  description: sha256 of each file the plan needs by checksum.
  returned: success
  type: dict
cfg:
  description: The source side of the plan (dirs, shared storage, recorded paths, name, root disk).
  returned: success
  type: dict
refusals:
  description: Why this guest cannot move (empty when it can).
  returned: success
  type: list
root:
  description: Target device of the root disk (boot order, or I(root_disk)).
  returned: success
  type: str
other_disks_gb:
  description: Virtual GiB of the guest's writable, non-shared disks besides the root disk.
  returned: success
  type: float
requirements:
  description: What a target must offer (domain type, arch, machine, emulator, bridges, networks, CPU).
  returned: success
  type: dict
fit:
  description: With I(fit), this host's verdict, as M(ferry_guest_fit) returns it (C(domcaps), C(cpu)).
  returned: when fit is true
  type: dict
plan:
  description: The per-file plan for the target (only with the target options).
  returned: when target_cache_dir and target_instances_dir are given
  type: dict
"""

import os

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils import (ferry_domxml, ferry_guestmove, ferry_imagecache, ferry_libvirt, ferry_metadata,
                                  ferry_qcow2)
from ansible.module_utils.ferry_libvirt import run_module


def inspect(module, client):
    p = module.params
    if client.domain(p["name"]) is None:
        module.fail_json(msg="no domain %s on this host" % p["name"])
    xml = client.migratable_xml(p["name"])
    meta = ferry_metadata.from_domain_xml(xml)
    root = ferry_domxml.parse(xml)
    chains = {}
    for d in ferry_domxml.disks(root):
        if d["type"] != "file" or not d.get("path"):
            continue
        if not os.path.exists(d["path"]):
            module.fail_json(msg="disk %s of %s: %s does not exist" % (d["target"], p["name"], d["path"]))
        fmt = d.get("format") or "raw"
        rc, out, err = module.run_command(ferry_qcow2.info_argv(d["path"], fmt))
        if rc != 0:
            module.fail_json(msg="qemu-img info of %s failed: %s" % (d["path"], err.strip()))
        chains[d["target"]] = ferry_qcow2.summarize_chain(ferry_qcow2.parse_chain(out))
    cfg = {"cache_dir": p["cache_dir"], "instances_dir": p["instances_dir"],
           "shared_storage": p["shared_storage"], "name": p["name"], "root_disk": p["root_disk"],
           # a guest ferry knows: only its recorded paths (and its instance dir); an unadopted one: any
           "allowed": sorted((meta.get("disk_paths") or {}).values()) if meta else None}
    tpm_dir = os.path.join(ferry_libvirt.swtpm_dir(p["uri"], os.environ, os.path.expanduser("~")),
                           root.findtext("uuid") or "none")
    cfg["tpm_dir"] = tpm_dir
    cfg["tpm_files"] = sorted(os.path.relpath(os.path.join(d, f), tpm_dir)
                              for d, _, files in os.walk(tpm_dir) for f in files)
    hashes = {}
    for path in ferry_guestmove.needs_hash(xml, chains, cfg):
        if not os.path.isfile(path):
            module.fail_json(msg="%s (needed by %s) is not a readable file" % (path, p["name"]))
        hashes[path] = ferry_imagecache.sha256_file(path)
    target = {"cache_dir": p["target_cache_dir"] or "/target-cache",
              "instances_dir": p["target_instances_dir"] or "/target-instances",
              "swtpm_dir": p["target_swtpm_dir"] or "/target-swtpm"}
    plan = ferry_guestmove.plan(xml, chains, hashes, cfg, target)
    out = {"changed": False, "xml": xml, "chains": chains, "hashes": hashes, "cfg": cfg,
           "refusals": plan["refusals"], "requirements": ferry_domxml.requirements(root),
           "metadata": meta, "root": plan["root"],
           "other_disks_gb": ferry_guestmove.real_disk_gb(chains, plan, plan["root"], 0)}
    if p["target_cache_dir"] and p["target_instances_dir"]:
        out["plan"] = plan
    if p["fit"]:
        out["fit"] = ferry_libvirt.guest_fit(client, out["requirements"])
    return out


def main():
    module = AnsibleModule(
        argument_spec=dict(
            name=dict(type="str", required=True),
            uri=dict(type="str", default="qemu:///session"),
            cache_dir=dict(type="path", required=True),
            instances_dir=dict(type="path", required=True),
            shared_storage=dict(type="list", elements="path", default=[]),
            root_disk=dict(type="str"),
            target_cache_dir=dict(type="path"),
            target_instances_dir=dict(type="path"),
            target_swtpm_dir=dict(type="path"),
            fit=dict(type="bool", default=False),
        ),
        supports_check_mode=True,
    )
    run_module(module, inspect)


if __name__ == "__main__":
    main()
