#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: ferry_cache_prune
short_description: Remove cached base images nothing on this host uses (Nova's image cache manager)
description:
  - A cached file (C(<sha256><ext>) in the image cache) is removed only when no image on this host
    needs it. That covers every disk of every defined domain, every image under the instances
    directory (a copy being built, a same-host resize's old disk), followed down its backing chain
    (C(qemu-img info --backing-chain -U)). It must also be older than I(min_age) seconds, as
    Nova's C(remove_unused_original_minimum_age_seconds).
  - Refused (nothing removed) while a live claim exists on the host; a move in flight may have
    fetched a base it has not used yet.
  - Each removal takes that image's cache lock, so a fetch of the same image waits for it.
  - Supports check mode (what would be removed).
version_added: "0.4.0"
extends_documentation_fragment:
  - ferry_libvirt
options:
  cache_dir:
    description: The host's image cache.
    type: path
    required: true
  instances_dir:
    description: The host's instances directory (every image under it counts as used).
    type: path
    required: true
  claims_dir:
    description: The host's claims directory (a live claim refuses the prune).
    type: path
    required: true
  sha256:
    description: Only this cached image (default every one).
    type: str
  min_age:
    description: Seconds a cached image must be unmodified before it may go.
    type: int
    default: 86400
author:
  - ferry developers
"""

EXAMPLES = r"""
- name: Remove unused bases older than a day
  ferry_cache_prune:
    cache_dir: /var/lib/ferry/cache
    instances_dir: /var/lib/ferry/instances
    claims_dir: /var/lib/ferry/claims
"""

RETURN = r"""
removed:
  description: Cached files removed (or, in check mode, that would be).
  returned: always
  type: list
  elements: str
kept:
  description: Cached files kept, with why (in use by, too young).
  returned: always
  type: list
  elements: dict
"""

import fcntl
import glob
import os
import time

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils import ferry_domxml, ferry_hostfacts, ferry_qcow2
from ansible.module_utils.ferry_libvirt import run_module


def chain_files(module, path):
    """Every file of an image's backing chain (the image itself first); [] when unreadable."""
    rc, out, err = module.run_command(ferry_qcow2.info_argv(path, fmt="qcow2"))
    if rc != 0:
        rc, out, err = module.run_command(["qemu-img", "info", "--output=json", "--backing-chain", "-U", path])
    if rc != 0:
        return [path]
    return [layer["path"] for layer in ferry_qcow2.parse_chain(out)]


def used_files(module, client, instances_dir):
    """{normalised path: who uses it} for every file any image of this host stands on."""
    users = {}
    for name in client.domain_names():
        for d in ferry_domxml.disks(ferry_domxml.parse(client.domain(name)["xml"])):
            if d.get("path") and os.path.exists(d["path"]):
                for f in chain_files(module, d["path"]):
                    users.setdefault(os.path.normpath(f), "domain %s" % name)
    for image in sorted(glob.glob(os.path.join(instances_dir, "*", "*"))):
        if os.path.isfile(image) and not image.endswith((".xml", ".json", ".fd", ".log")):
            for f in chain_files(module, image):
                users.setdefault(os.path.normpath(f), "image %s" % image)
    return users


def prune(module, client):
    p = module.params
    live = [c for c in ferry_hostfacts.read_claims(p["claims_dir"]) if not c["expired"]]
    if live:
        module.fail_json(msg="refusing to prune the image cache: a move is in flight on this host (live claim of %s)"
                         % ", ".join(sorted(c.get("instance", "?") for c in live)), removed=[], kept=[])
    users = used_files(module, client, p["instances_dir"])
    now, removed, kept = time.time(), [], []
    for path in sorted(glob.glob(os.path.join(p["cache_dir"], "*"))):
        base = os.path.basename(path)
        sha = base.split(".", 1)[0]
        if base.startswith(".") or not os.path.isfile(path) or len(sha) != 64 or (p["sha256"] and sha != p["sha256"]):
            continue
        who = users.get(os.path.normpath(path))
        if who:
            kept.append({"path": path, "why": "used by %s" % who})
            continue
        age = now - os.path.getmtime(path)
        if age < p["min_age"]:
            kept.append({"path": path, "why": "%d s old (min_age %d)" % (age, p["min_age"])})
            continue
        if not module.check_mode:
            with open(os.path.join(p["cache_dir"], ".lock-" + sha), "w") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)
                if os.path.exists(path):
                    os.chmod(path, 0o600)
                    os.unlink(path)
        removed.append(path)
    return {"changed": bool(removed), "removed": removed, "kept": kept}


def main():
    module = AnsibleModule(
        argument_spec=dict(
            uri=dict(type="str", default="qemu:///session"),
            cache_dir=dict(type="path", required=True),
            instances_dir=dict(type="path", required=True),
            claims_dir=dict(type="path", required=True),
            sha256=dict(type="str"),
            min_age=dict(type="int", default=86400),
        ),
        supports_check_mode=True,
    )
    run_module(module, prune)


if __name__ == "__main__":
    main()
