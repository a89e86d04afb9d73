#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: ferry_disk
short_description: qcow2 operations on a guest disk (overlay, rebase, grow, check, info)
description:
  - Every operation calls C(qemu-img) with an explicit format.
  - C(overlay) creates a qcow2 overlay on a cached base (idempotent when it exists on that base).
  - C(rebase) points an overlay at a new backing file with the same content (a safe rebase, which
    only reads what differs); a no-op when it already uses that base.
  - C(grow) raises the virtual size to I(size_gb); a smaller size is refused (no shrink, ever).
  - C(check) runs C(qemu-img check) and fails on corruption; C(info) reports the chain.
  - Supports check mode.
version_added: "0.1.0"
options:
  path:
    description: The guest disk (qcow2 overlay).
    type: path
    required: true
  action:
    description: What to do.
    type: str
    choices: [overlay, rebase, grow, check, info]
    required: true
  backing:
    description: Backing file for C(overlay) and C(rebase).
    type: path
  size_gb:
    description: Virtual size in GiB (C(overlay), C(grow)).
    type: float
  backing_sha256:
    description:
      - For C(rebase) of a shipped overlay, the sha256 of the base the guest was booted from. The
        overlay's recorded backing file must be that image (cache files are named C(<sha256>.qcow2)),
        and so must I(backing); the rebase then only rewrites the backing path (C(qemu-img rebase -u)),
        which is exact because both bases are byte-identical. Without it, a safe rebase is done,
        which needs the old backing file readable.
    type: str
  then:
    description:
      - Further actions to run after I(action) in the same call (one round trip instead of several
        while a guest is down), e.g. C(rebase) then C(grow) and C(check).
    type: list
    elements: str
    choices: [grow, check, info]
    default: []
author:
  - ferry developers
"""

EXAMPLES = r"""
- name: Create the guest's overlay on the cached base
  ferry_disk:
    path: /var/lib/ferry/instances/web01/disk.qcow2
    action: overlay
    backing: /var/lib/ferry/cache/0123abcd.qcow2
    size_gb: 2
"""

RETURN = r"""
chain:
  description: The disk's backing chain after the action (top, base, virtual_size, depth, layers).
  returned: when the disk exists
  type: dict
check:
  description: C(qemu-img check) summary (corruptions, leaks, check_errors).
  returned: action=check, or check in I(then)
  type: dict
"""

import os

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils import ferry_qcow2 as q


def run_ok(module, argv):
    rc, out, err = module.run_command(argv)
    if rc != 0:
        module.fail_json(msg="%s failed: %s" % (" ".join(argv), err.strip() or out.strip()))
    return out


def chain(module, path):
    return q.summarize_chain(q.parse_chain(run_ok(module, q.info_argv(path))))


def rebase(module, path):
    p = module.params
    try:
        current = q.backing_of(path, module.run_command)
    except ValueError as e:
        module.fail_json(msg=str(e))
    if current == p["backing"]:
        return {"changed": False, "chain": chain(module, path)}
    unsafe = False
    if p["backing_sha256"]:
        want = p["backing_sha256"] + ".qcow2"
        if os.path.basename(current or "") != want or os.path.basename(p["backing"]) != want:
            module.fail_json(msg="%s: base mismatch: overlay was made on %s, the guest was booted from %s, "
                             "new base is %s" % (path, current, want, p["backing"]))
        unsafe = True
    if module.check_mode:
        return {"changed": True, "unsafe": unsafe}
    run_ok(module, q.rebase_argv(path, p["backing"], unsafe=unsafe))
    return {"changed": True, "chain": chain(module, path), "unsafe": unsafe}


def act(module):
    """The action, then each of I(then) in order, as one result."""
    p = module.params
    result = one(module, p["action"])
    for action in p["then"]:
        if module.check_mode and result["changed"]:
            result.setdefault("would_then", []).append(action)  # needs the first change made
            continue
        nxt = one(module, action)
        result["changed"] = result["changed"] or nxt["changed"]
        result.update({k: v for k, v in nxt.items() if k != "changed"})
    return result


def one(module, action):
    p = module.params
    path = p["path"]
    exists = os.path.exists(path)
    if action == "overlay":
        if exists:
            c = chain(module, path)
            if c["base"] != p["backing"]:
                module.fail_json(msg="%s exists on another base (%s), not %s" % (path, c["base"], p["backing"]))
            return {"changed": False, "chain": c}
        if not module.check_mode:
            size = q.gib_to_bytes(p["size_gb"]) if p["size_gb"] else None
            run_ok(module, q.create_overlay_argv(path, p["backing"], size))
            return {"changed": True, "chain": chain(module, path)}
        return {"changed": True}
    if not exists:
        module.fail_json(msg="disk %s does not exist" % path)
    if action == "rebase":
        return rebase(module, path)
    c = chain(module, path)
    if action == "info":
        return {"changed": False, "chain": c}
    if action == "check":
        rc, out, err = module.run_command(q.check_argv(path))
        ok, summary = q.parse_check(out) if out.strip() else (False, {"error": err.strip()})
        if not ok:
            module.fail_json(msg="qemu-img check found problems in %s" % path, check=summary)
        return {"changed": False, "chain": c, "check": summary}
    if action == "grow":
        try:
            how = q.grow_check(c["virtual_size"], q.gib_to_bytes(p["size_gb"]))
        except ValueError as e:
            module.fail_json(msg="%s: %s" % (path, e))
        if how == "same":
            return {"changed": False, "chain": c}
        if not module.check_mode:
            run_ok(module, q.resize_argv(path, q.gib_to_bytes(p["size_gb"])))
            c = chain(module, path)
        return {"changed": True, "chain": c}


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type="path", required=True),
            action=dict(type="str", required=True, choices=["overlay", "rebase", "grow", "check", "info"]),
            backing=dict(type="path"),
            size_gb=dict(type="float"),
            backing_sha256=dict(type="str"),
            then=dict(type="list", elements="str", default=[], choices=["grow", "check", "info"]),
        ),
        required_if=[("action", "overlay", ("backing",)), ("action", "rebase", ("backing",)),
                     ("action", "grow", ("size_gb",))],
        supports_check_mode=True,
    )
    module.exit_json(**act(module))


if __name__ == "__main__":
    main()
