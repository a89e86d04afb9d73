#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: ferry_purge
short_description: Delete a guest's source copy after a confirmed move - its files and only its files
description:
  - Runs on the source hypervisor at confirm. Reads the guest's own definition and those of every
    other domain defined on this host, then undefines the guest and deletes exactly its writable
    file disks and nvram, never a read-only image (an ISO), a file in the image cache (a base), a
    file on shared storage (I(shared_storage)), or a file another domain uses.
  - Removes the guest's instance directory when nothing else is left in it.
  - Refuses while the guest is running.
  - With I(files), the domain stays and only those files are deleted, each unless a domain defined
    on this host (the guest included) uses it, or it is cached or shared (a same-host resize's
    old root disk at confirm).
  - Deletes nothing outside the guest's own files. Every path it would delete (from I(files), or
    from the definition) must be absolute, without C(..), and lie in the guest's instance
    directory (I(instances_dir)/I(name)/) or the cache (whose files it keeps anyway), or be one of
    the paths recorded in the guest's ferry metadata (C(disk_paths)); in the definition mode the
    nvram file where libvirt puts it by default is accepted too. Otherwise the module fails, naming
    each such path, before it deletes or undefines anything.
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
    description: Path prefixes on storage every host sees.
    type: list
    elements: path
    default: []
  files:
    description: Delete only these files (the domain stays), each only when no defined domain uses it.
    type: list
    elements: path
attributes:
  check_mode:
    support: full
    details: Reports what would be deleted and kept.
author:
  - ferry developers
"""

EXAMPLES = r"""
- name: Delete the source copy of web01
  ferry_purge:
    name: web01
    cache_dir: /var/lib/ferry/cache
    instances_dir: /var/lib/ferry/instances
"""

RETURN = r"""
refused:
  description: Why each path outside the guest's own files was refused (the module failed, deleting nothing).
  returned: failure
  type: list
deleted:
  description: Files deleted.
  returned: always
  type: list
kept:
  description: Files of the guest left in place, each with the reason.
  returned: always
  type: list
"""

import os
import shutil

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils import ferry_guestmove, ferry_libvirt, ferry_metadata, ferry_validate
from ansible.module_utils.ferry_libvirt import run_module


def refuse_outside(module, paths, dom, nvram_ok=False):
    """Fail, deleting nothing, when a path lies outside the guest's instance dir and recorded paths."""
    p = module.params
    recorded = sorted(((ferry_metadata.from_domain_xml(dom["xml"]) if dom else {}).get("disk_paths") or {}).values())
    allowed = recorded + ([ferry_libvirt.nvram_path(p["uri"], os.environ, os.path.expanduser("~"), p["name"])]
                          if nvram_ok else [])
    errors = []
    for path in paths:
        # the cache is allowed as the rule has it, but purge never deletes a cached file
        errors += ferry_validate.path_errors(path, [os.path.join(p["instances_dir"], p["name"]), p["cache_dir"]], allowed)
    if errors:
        module.fail_json(msg="refusing to delete anything of %s: %s" % (p["name"], "; ".join(errors)),
                         refused=errors, deleted=[], kept=[])


def undeletable(paths, idir):
    """Why some of `paths` (or the instance dir) could not be removed by this user: checked before
    anything is undefined or deleted, so a purge fails whole, never half-way (a definition gone
    while its files stay would leave files no later purge finds)."""
    out = []
    for path in list(paths) + ([idir] if os.path.isdir(idir) else []):
        parent = os.path.dirname(os.path.normpath(path)) or "."
        if os.path.lexists(path) and not os.access(parent, os.W_OK | os.X_OK):
            out.append("cannot remove %s: its directory %s is not writable" % (path, parent))
    return out


def purge(module, client):
    p = module.params
    problems = ferry_validate.name_errors(p["name"], "instance", "name") + [
        "instances_dir: %s" % e for e in ferry_validate.path_value_problems(p["instances_dir"])]
    if problems:
        module.fail_json(msg="; ".join(problems))
    dom = client.domain(p["name"])
    out = {"changed": False, "deleted": [], "kept": []}
    if p["files"] is not None:
        refuse_outside(module, p["files"], dom)
        xmls = {n: client.domain(n)["xml"] for n in client.domain_names()}
        delete, kept = ferry_guestmove.unused_files(p["files"], xmls, p["cache_dir"], p["shared_storage"])
        delete = [f for f in delete if os.path.lexists(f)]
        out.update(changed=bool(delete), kept=[{"path": k, "why": w} for k, w in kept], deleted=delete)
        if not module.check_mode:
            for path in delete:
                os.unlink(path)
        return out
    if dom is None:
        return out
    if dom["state"] not in ("shutoff", "crashed"):
        module.fail_json(msg="refusing to delete %s: it is %s on this host" % (p["name"], dom["state"]))
    others = {}
    for n in client.domain_names():
        if n != p["name"]:
            others[n] = client.domain(n)["xml"]
    delete, kept = ferry_guestmove.purge_plan(dom["xml"], others, p["cache_dir"], p["shared_storage"])
    refuse_outside(module, delete, dom, nvram_ok=True)
    out.update(changed=True, kept=[{"path": k, "why": w} for k, w in kept])
    if module.check_mode:
        out["deleted"] = delete
        return out
    blocked = undeletable(delete, os.path.join(p["instances_dir"], p["name"]))
    if blocked:
        module.fail_json(msg="refusing to delete %s: %s; nothing was changed (its definition and files are all "
                         "still here)" % (p["name"], "; ".join(blocked)), refused=blocked, deleted=[], kept=[])
    client.undefine(p["name"])
    for path in delete:
        if os.path.lexists(path):
            os.unlink(path)
        out["deleted"].append(path)
    idir = os.path.join(p["instances_dir"], p["name"])
    if os.path.isdir(idir) and not any(os.path.normpath(k).startswith(idir + "/") for k, _ in kept):
        shutil.rmtree(idir)
        out["deleted"].append(idir + "/")
    return out


def main():
    module = AnsibleModule(
        argument_spec=dict(
            name=dict(type="str", required=True),
            uri=dict(type="str", default="qemu:///session"),
            cache_dir=dict(type="path", required=True),
            instances_dir=dict(type="path", required=True),
            shared_storage=dict(type="list", elements="path", default=[]),
            files=dict(type="list", elements="path"),
        ),
        supports_check_mode=True,
    )
    run_module(module, purge)


if __name__ == "__main__":
    main()
