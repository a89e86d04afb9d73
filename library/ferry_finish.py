#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: ferry_finish
short_description: Finish a move on the target in one call - rebase, grow, check, define, start
description:
  - Runs on the target hypervisor while the guest is down, so the stop window has one call here.
  - Each shipped overlay is rebased onto the base in this host's cache (C(qemu-img rebase -u)), only
    when its recorded backing file was identified by the same sha256 as the cached base (the source
    hashed it, or it was a cache file named by it; the cache copy was verified on arrival), so the
    rewrite of the backing path is exact.
  - The root disk is grown to the new flavor's size (never shrunk), every qcow2 is checked with
    C(qemu-img check), then the domain is defined from I(xml) with ferry's I(metadata) and started
    when I(state=running).
version_added: "0.2.0"
extends_documentation_fragment:
  - ferry_libvirt
options:
  name:
    description: The guest's domain name.
    type: str
    required: true
  fold:
    description:
      - Pre-copy overlays to fold once the disks are rebased, each C(top) (the shipped overlay) and C(into) (the disk file
        shipped before the stop, C(format)). The overlay is pointed at that file, committed into it
        and deleted, so the disk ends in the guest's own layout.
    type: list
    elements: dict
    default: []
  rebase:
    description: Overlays to rebase, each C(path), C(base_path), C(base_sha256), C(base_format), C(source_base).
    type: list
    elements: dict
    default: []
  grow:
    description: The root disk to grow, C(path), C(format), C(size_gb); omit for none.
    type: dict
  check:
    description: qcow2 files to check with C(qemu-img check).
    type: list
    elements: path
    default: []
  xml:
    description: The target definition (from ferry_domxml.target_definition).
    type: str
    required: true
  metadata:
    description: ferry metadata for the target copy.
    type: dict
    required: true
  state:
    description: C(running) or C(shutoff) after the define.
    type: str
    choices: [running, shutoff]
    default: running
  gate:
    description:
      - The one-call stop window. Started before the guest stops (asynchronously), the finish first
        rebases what already arrived (the pre-copied disks, every I(rebase) path not in C(arriving)),
        then waits up to C(timeout) seconds for the source's go (C(ferry-go-<token>) in C(dir), the
        instance directory, written by the peer dispatcher once the final files arrived verified),
        and decides C(started) under the gate (see ferry_gate.py) before it does the rest.
      - When a rollback closed the gate first, or no go came in time, it fails without defining
        anything (C(gate) says C(cancelled) or C(timed-out)).
      - Once it saw the go, its result (success or failure, with C(failed)) is also written to
        C(ferry-outcome-<token>) in C(dir); the dispatcher's go waits for it and hands it to the
        source's call (the result of M(ferry_ship) has it as C(target_finish)).
    type: dict
    suboptions:
      dir:
        description: The guest's instance directory on this host.
        type: path
        required: true
      token:
        description: The move's id.
        type: str
        required: true
      timeout:
        description: Seconds to wait for the go.
        type: int
        required: true
      arriving:
        description: Files the final ship still writes (never rebased before the go).
        type: list
        elements: path
        default: []
attributes:
  check_mode:
    support: none
    details: It only runs inside a move, after the guest's files arrived.
author:
  - ferry developers
"""

EXAMPLES = r"""
- name: Finish the move on the target
  ferry_finish:
    name: web01
    rebase:
      - {path: /var/lib/ferry/instances/web01/disk.qcow2, base_path: /var/lib/ferry/cache/ab12....qcow2,
         base_sha256: ab12..., base_format: qcow2, source_base: /var/lib/ferry/cache/ab12....qcow2}
    grow: {path: /var/lib/ferry/instances/web01/disk.qcow2, format: qcow2, size_gb: 20}
    check: [/var/lib/ferry/instances/web01/disk.qcow2]
    xml: "{{ target_xml }}"
    metadata: "{{ target_meta }}"
"""

RETURN = r"""
steps:
  description: What was done, in order.
  returned: always
  type: list
seconds:
  description: Time each part took (rebase, fold, grow, check, define_start), in seconds.
  returned: success
  type: dict
running_at:
  description: This host's clock (epoch seconds) when the domain was defined and started.
  returned: success
  type: float
gate:
  description: With I(gate), the decision (C(started), C(cancelled), C(timed-out)).
  returned: with gate
  type: str
go_seen_at:
  description: With I(gate), this host's clock when it saw the go.
  returned: with gate, on success
  type: float
wait_seconds:
  description: With I(gate), the seconds it waited for the go.
  returned: with gate, on success
  type: float
"""

import os
import time

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils import ferry_gate, ferry_libvirt, ferry_qcow2 as q, ferry_state
from ansible.module_utils.ferry_libvirt import LibvirtClient


def run_ok(module, argv, steps):
    rc, out, err = module.run_command(argv)
    if rc != 0:
        module.fail_json(msg="%s failed: %s" % (" ".join(argv), err.strip() or out.strip()), steps=steps)
    return out


def rebase(module, entries, steps):
    for r in entries:
        want = os.path.basename(r["base_path"])
        if not want.startswith(r["base_sha256"]) or not os.path.isfile(r["base_path"]):
            module.fail_json(msg="%s: cached base %s is missing or not named by sha256 %s"
                             % (r["path"], r["base_path"], r["base_sha256"]), steps=steps)
        current = q.backing_of(r["path"], module.run_command)
        if current != r["source_base"] and current != r["base_path"]:
            module.fail_json(msg="%s: backing file is %s, expected %s (whose sha256 is %s)"
                             % (r["path"], current, r["source_base"], r["base_sha256"]), steps=steps)
        if current != r["base_path"]:
            run_ok(module, q.rebase_argv(r["path"], r["base_path"], backing_fmt=r.get("base_format") or "qcow2",
                                         unsafe=True), steps)
            steps.append("rebased %s onto %s" % (r["path"], r["base_path"]))


def wait_for_go(module, steps):
    """The armed finish (gate): rebase what already arrived, then wait for the source's go, or for a
    rollback's cancel, or the timeout.  Returns (the rebases left, {go_seen_at, wait_seconds})."""
    g = module.params["gate"]
    arriving = {os.path.normpath(a) for a in g["arriving"]}
    early = [r for r in module.params["rebase"] if os.path.normpath(r["path"]) not in arriving]
    rebase(module, early, steps)
    t0 = time.monotonic()
    try:
        decision = ferry_gate.wait_go(g["dir"], g["token"], g["timeout"])
    except (OSError, ValueError) as e:
        module.fail_json(msg="%s: waiting for the source's go failed: %s" % (module.params["name"], e),
                         gate="error", steps=steps, changed=bool(steps))
    if decision != "started":
        module.fail_json(msg="%s was not started on this host: the move was %s before the source's go came"
                         % (module.params["name"], "timed out (%d s)" % g["timeout"] if decision == "timed-out"
                            else decision), gate=decision, steps=steps, changed=bool(steps))
    try:
        os.unlink(os.path.join(g["dir"], ferry_gate.go_name(g["token"])))
    except OSError:
        pass
    module.ferry_go_seen = True   # from here on the result is also kept for the go's connection
    steps.append("started on the source's go")
    return ([r for r in module.params["rebase"] if r not in early],
            {"go_seen_at": time.time(), "wait_seconds": round(time.monotonic() - t0, 3)})


def keep_outcome(module):
    """Once the go was seen, the result this module returns (success or failure) is also written to
    ferry-outcome-<token> in the gate's directory: the target's dispatcher hands it to the source's
    call that said go, and the controller reads it there instead of asking this host again."""
    g = module.params["gate"]
    exit_json, fail_json = module.exit_json, module.fail_json

    def keep(result):
        if getattr(module, "ferry_go_seen", False):
            try:
                ferry_gate.write_outcome(g["dir"], g["token"], result)
            except (OSError, ValueError, TypeError):
                pass   # the controller then asks this host (async_status), as without it

    def exit_kept(**kw):
        keep(dict(kw, failed=False))
        exit_json(**kw)

    def fail_kept(**kw):
        keep(dict(kw, failed=True))
        fail_json(**kw)

    module.exit_json, module.fail_json = exit_kept, fail_kept


def finish(module):
    p = module.params
    steps = []
    gate = {}
    todo = p["rebase"]
    if p["gate"]:
        todo, gate = wait_for_go(module, steps)
    marks = [("start", time.monotonic())]
    rebase(module, todo, steps)
    marks.append(("rebase", time.monotonic()))
    for f in p["fold"]:
        # (after the rebase: the disk's own chain must resolve on this host for the commit)
        # a pre-copy overlay (the guest's writes after its disk was frozen and shipped) goes back
        # into that disk's file: the target ends with the guest's own layout
        if not os.path.isfile(f["top"]) or not os.path.isfile(f["into"]):
            module.fail_json(msg="pre-copy fold: %s or %s is missing" % (f["top"], f["into"]), steps=steps)
        run_ok(module, q.rebase_argv(f["top"], f["into"], backing_fmt=f.get("format") or "qcow2", unsafe=True), steps)
        run_ok(module, ["qemu-img", "commit", "-f", "qcow2", "-d", f["top"]], steps)
        os.unlink(f["top"])
        steps.append("folded %s into %s" % (f["top"], f["into"]))
    marks.append(("fold", time.monotonic()))
    g = p["grow"]
    if g:
        fmt = g.get("format") or "qcow2"
        rc, out, err = module.run_command(q.info_argv(g["path"], fmt, chain=False, force_share=False))
        if rc != 0:
            module.fail_json(msg="qemu-img info %s: %s" % (g["path"], err.strip()), steps=steps)
        current = q.parse_chain(out)[0]["virtual_size"]
        wanted = q.gib_to_bytes(g["size_gb"])
        try:
            how = q.grow_check(current, wanted)
        except ValueError as e:
            module.fail_json(msg="%s: %s" % (g["path"], e), steps=steps)
        if how == "grow":
            run_ok(module, q.resize_argv(g["path"], wanted, fmt), steps)
            steps.append("grew %s to %s GiB" % (g["path"], g["size_gb"]))
    marks.append(("grow", time.monotonic()))
    for path in p["check"]:
        rc, out, err = module.run_command(q.check_argv(path))
        ok, summary = q.parse_check(out) if out.strip() else (False, {"error": err.strip()})
        if not ok:
            module.fail_json(msg="qemu-img check found problems in %s" % path, check=summary, steps=steps)
        steps.append("checked %s" % path)
    marks.append(("check", time.monotonic()))
    client = LibvirtClient(p["uri"])
    try:
        current = client.domain(p["name"])
        # the lease stays with the copy it is on: a new copy gets none, a same-host redefine keeps it
        meta = ferry_state.without_lease(p["metadata"])
        live = ferry_libvirt.parse_domain_xml(current["xml"])["metadata"].get("lease") if current else None
        if live:
            meta["lease"] = live
        actions, before, after = ferry_libvirt.plan_domain(current, p["xml"], meta, p["state"])
        ferry_libvirt.apply_domain(client, p["name"], p["xml"], meta, actions, 0)
        state = (client.domain(p["name"]) or {}).get("state")
    finally:
        client.close()
    steps.extend(actions)
    marks.append(("define_start", time.monotonic()))
    seconds = {name: round(t - marks[i][1], 3) for i, (name, t) in enumerate(marks[1:])}
    out = {"changed": True, "steps": steps, "state": state, "seconds": seconds, "running_at": time.time()}
    if gate:
        out.update(gate="started", **gate)
    return out


def main():
    module = AnsibleModule(
        argument_spec=dict(
            uri=dict(type="str", default="qemu:///session"),
            name=dict(type="str", required=True),
            rebase=dict(type="list", elements="dict", default=[]),
            fold=dict(type="list", elements="dict", default=[]),
            grow=dict(type="dict"),
            check=dict(type="list", elements="path", default=[]),
            xml=dict(type="str", required=True),
            metadata=dict(type="dict", required=True),
            state=dict(type="str", choices=["running", "shutoff"], default="running"),
            gate=dict(type="dict", options=dict(
                dir=dict(type="path", required=True),
                token=dict(type="str", required=True),
                timeout=dict(type="int", required=True),
                arriving=dict(type="list", elements="path", default=[]),
            )),
        ),
        supports_check_mode=False,
    )
    if module.params["gate"]:
        keep_outcome(module)
    try:
        module.exit_json(**finish(module))
    except Exception as e:  # libvirtError from define/start
        module.fail_json(msg="finishing %s failed: %s" % (module.params["name"], e))


if __name__ == "__main__":
    main()
