# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Folding a pre-copy back: the guest's disks return to the layout they had before it was frozen
(ferry_precopy state=folded, and the source's call of a one-call stop window right after its go).

A running guest's overlays are merged back with an active block commit and a pivot, a stopped
guest's with `qemu-img commit`; then the saved definition is defined again (with the guest's
current metadata, without `precopy`), and the overlays and the saved definition are deleted.  A
guest without a `precopy` record is left alone, so the fold can be repeated."""

import os
import time

from ansible.module_utils import ferry_domxml, ferry_leased, ferry_libvirt


class FoldError(Exception):
    """A fold that failed part way: `steps` says what was done; the record stays (fold again)."""

    def __init__(self, msg, steps):
        super(FoldError, self).__init__(msg)
        self.steps = steps


def record_disks(rec):
    """{dev: {overlay, file, layers}} of a pre-copy record (kept flat in the metadata: overlay_<dev>
    the top layer, file_<dev> the disk's own file, layers_<dev> every layer oldest first, joined
    with "|"; a record without layers_<dev> has one layer)."""
    out = {}
    for k, v in (rec or {}).items():
        if k.startswith("overlay_"):
            dev = k[len("overlay_"):]
            layers = [x for x in (rec.get("layers_" + dev) or "").split("|") if x] or [v]
            out[dev] = {"overlay": v, "file": rec.get("file_" + dev), "layers": layers}
    return out


def active_commit(client, name, target, base, timeout, shallow):
    """Commit the active overlay and every layer under it down to `base`, the disk's own file (never
    further down the chain: below it are cached, read-only bases), then pivot the guest back onto
    `base`.  `shallow` when `base` is the active overlay's immediate backing file."""
    lv = client._libvirt
    dom = client.conn.lookupByName(name)
    flags = lv.VIR_DOMAIN_BLOCK_COMMIT_ACTIVE | (lv.VIR_DOMAIN_BLOCK_COMMIT_SHALLOW if shallow else 0)
    dom.blockCommit(target, base, None, 0, flags)
    deadline = time.monotonic() + timeout
    while True:
        info = dom.blockJobInfo(target, 0)
        if info and info.get("end", 0) > 0 and info.get("cur") == info.get("end"):
            break
        if not info:
            raise RuntimeError("block commit of %s ended without becoming ready" % target)
        if time.monotonic() > deadline:
            dom.blockJobAbort(target, 0)
            raise RuntimeError("block commit of %s not ready after %d s" % (target, timeout))
        time.sleep(0.2)
    dom.blockJobAbort(target, lv.VIR_DOMAIN_BLOCK_JOB_ABORT_PIVOT)


def fold(client, lock_dir, name, lease_id, run_command, commit_timeout=600):
    """Fold the guest's pre-copy back, under its lease.  Returns {changed, precopy, steps}.
    Raises LookupError (no such guest), ferry_state.LeaseHeld, FoldError."""
    steps = []
    with ferry_leased.Leased(client, lock_dir, name, lease_id) as g:
        rec = g.meta.get("precopy")
        if not rec:
            return {"changed": False, "precopy": {}, "steps": ["nothing to fold"]}
        running = g.dom["state"] == "running"
        # the disk each layer chain is topped by now: the live one of a running guest, else the
        # persistent definition's (a crash between a round's record and its snapshot leaves the
        # recorded top unused: the real top is lower)
        flags = 0 if running else client._libvirt.VIR_DOMAIN_XML_INACTIVE
        now = {d["target"]: d["path"] for d in ferry_domxml.disks(ferry_domxml.parse(
            client.conn.lookupByName(name).XMLDesc(flags)))}
        for target, d in sorted(record_disks(rec).items()):
            top = now.get(target)
            if top not in d["layers"] or not os.path.exists(top):
                steps.append("%s: on %s, nothing to fold" % (target, top))
                continue
            try:
                if running:
                    active_commit(client, name, target, d["file"], commit_timeout,
                                  shallow=d["layers"].index(top) == 0)
                    steps.append("%s: active commit of %s, pivoted to %s" % (target, top, d["file"]))
                else:
                    rc, out, err = run_command(["qemu-img", "commit", "-f", "qcow2", "-b", d["file"], "-d", top])
                    if rc != 0:
                        raise RuntimeError("qemu-img commit %s: %s" % (top, err.strip()))
                    steps.append("%s: committed %s into %s" % (target, top, d["file"]))
            except Exception as e:  # libvirtError, RuntimeError
                raise FoldError("%s: folding the pre-copy of %s failed (the guest keeps its overlay; recover.yml "
                                "folds it again): %s" % (name, target, e), steps) from None
        meta = {k: v for k, v in g.meta.items() if k != "precopy"}
        with open(rec["xml"]) as f:
            client.define(ferry_libvirt.with_metadata(f.read(), meta))
        g.meta = meta
        steps.append("defined the pre-copy definition again")
        for d in record_disks(rec).values():
            for layer in reversed(d["layers"]):
                if os.path.exists(layer):
                    os.unlink(layer)
        os.unlink(rec["xml"])
    return {"changed": True, "precopy": rec, "steps": steps}
