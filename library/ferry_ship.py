#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: ferry_ship
short_description: Ship a stopped guest's files to another hypervisor, holes kept, and verify them
description:
  - Runs on the source hypervisor. Refuses to read the guest's files while its domain is active
    (its qemu process exists), unless I(frozen) says they are a pre-copy's frozen disks; even then
    a file the running guest has open as a writable disk is refused.
  - Each file (a qcow2 overlay, a standalone qcow2 or raw disk, an nvram file, a TPM state file) is
    streamed with C(tar --sparse) over SSH straight to the target host (never through the
    controller), and read once. Holes are found with SEEK_HOLE and recreated on the target, not sent as zeros.
    The stream passes through this module, which counts its bytes and paces it (I(bwlimit)).
  - On the target the stream goes to ferry's peer dispatcher (C(ferry-peer), the forced command of
    this host's key there), never to a shell. Its C(receive) verb writes only regular files into the
    guest's instance directory (C(receive-tpm) into the TPM state directory of the guest's UUID);
    the stream is hashed (sha256) here as it is sent and there as it is read, and the dispatcher
    answers its checksum and length with the file's path, size and allocation. The two checksums,
    lengths and the file's size must match, the path the dispatcher wrote must be I(dest) (else the
    target's dispatcher config and the inventory disagree), and the copy's allocation is reported
    beside the source's. Neither file is read again to verify it.
  - A qcow2 overlay's backing file is not followed (the base travels by sha256, see ferry_base_image).
version_added: "0.1.0"
extends_documentation_fragment:
  - ferry_libvirt
options:
  files:
    description:
      - The files to send, each C(src) on this host and C(dest) on the target.
      - Optional C(peer) says where C(dest) is as the target's dispatcher names it, C(area)
        (C(instance) or C(tpm)), C(key) (the instance name or the domain UUID) and C(name) (the file
        name, or a path under the TPM state directory). Without it, C(dest) must be directly in a
        directory named after I(domain) (the guest's instance directory on the target).
    type: list
    elements: dict
    required: true
  dest_host:
    description: SSH name of the target host as this host knows it (e.g. an C(~/.ssh/config) alias).
    type: str
    required: true
  domain:
    description: The guest's domain on this host; it must be inactive.
    type: str
    required: true
  bwlimit:
    description: Bandwidth limit in KiB/s (0 = none).
    type: int
    default: 0
  stop:
    description:
      - Stop the guest first, in this same call, so that a move's stop window makes one call on the
        source. Under the guest's lease (C(lease_id), C(lock_dir), the host's lease lock) the
        migration event C(stop) is applied with C(merge) and the lease renewed for C(renew)
        seconds; then the guest is shut down (ACPI, forced after C(shutdown_timeout) seconds) and
        only then are its files read. With C(only=true) nothing is shipped (the fault tests stop
        there).
    type: dict
    suboptions:
      lease_id:
        description: The move's lease id; the guest's lease must be this one.
        type: str
        required: true
      lock_dir:
        description: Directory of this host's lease lock file (the claims directory).
        type: path
        required: true
      merge:
        description: Fields merged into the guest's metadata with the event (e.g. C(task_state)).
        type: dict
      renew:
        description: Renew the lease for this many seconds.
        type: int
      shutdown_timeout:
        description: Seconds the guest has to shut down before it is forced off (0 forces it at once).
        type: int
        default: 60
      only:
        description: Stop the guest and ship nothing.
        type: bool
        default: false
  go:
    description:
      - The one-call stop window. After the guest stopped (I(stop)) and every file arrived verified,
        tell the target's peer dispatcher C(go) for the move C(token); the target's finish, armed
        before the stop (M(ferry_finish) with I(gate)), then starts the guest on its own.
      - Every failure before it reports C(go_sent=false) (the target never starts the guest); a
        failure of the go itself reports C(go_sent=unknown) (only the target's gate can say).
    type: dict
    suboptions:
      token:
        description: The move's id, as given to the target's finish.
        type: str
        required: true
      fold:
        description:
          - Right after the go, fold the guest's pre-copy back here (under I(stop)'s lease), while the
            target finishes, as M(ferry_precopy) with C(state=folded) does; the stopped source
            keeps its own layout whichever way the move ends. A failed fold does not fail this
            call (C(fold_error); the pre-copy record stays, and the controller folds it).
        type: bool
        default: false
  frozen:
    description:
      - The files are disks frozen by a pre-copy snapshot (read-only backing files now), so they may
        be read while the guest runs; a file the running guest writes is still refused.
    type: bool
    default: false
attributes:
  check_mode:
    support: full
    details: Reports the files and their sizes; sends nothing.
notes:
  - The target's dispatcher creates the instance directory (or the TPM state directory) when missing.
  - No command reaches the target's shell; see the README, "Host-to-host trust".
author:
  - ferry developers
"""

EXAMPLES = r"""
- name: Ship the guest's writable files to the target
  ferry_ship:
    files:
      - {src: /var/lib/ferry/instances/web01/disk.qcow2, dest: /var/lib/ferry/instances/web01/disk.qcow2}
      - {src: /srv/vm/web01-data.raw, dest: /var/lib/ferry/instances/web01/web01-data.raw}
    dest_host: hv-a2
    domain: web01
"""

RETURN = r"""
files:
  description:
    - Per file, src, dest, stream_sha256 (of the tar stream both ends hashed), file_bytes,
      allocated_bytes (source), dest_allocated_bytes, bytes_sent, seconds.
  returned: success
  type: list
file_bytes:
  description: Apparent size of all files.
  returned: success
  type: int
allocated_bytes:
  description: Bytes allocated on disk for the files on the source (what must travel).
  returned: success
  type: int
bytes_sent:
  description: Bytes of the stream on the wire (tar framing included).
  returned: success
  type: int
seconds:
  description: Time spent sending.
  returned: success
  type: float
live_tops:
  description: With I(frozen), the running guest's writable disk files after the send, each with its allocated bytes.
  returned: with frozen
  type: dict
live_top_bytes:
  description: With I(frozen), their sum (what a pre-copy would still have to ship).
  returned: with frozen
  type: int
stopped:
  description: With I(stop), how the guest was stopped (C(shutdown), C(forced)), null when it was not running.
  returned: with stop
  type: str
stop_seconds:
  description: With I(stop), the seconds from the call's start until the guest was off.
  returned: with stop
  type: float
stop_requested_at:
  description: With I(stop), this host's clock (epoch seconds) when the stop began.
  returned: with stop
  type: float
go_sent:
  description: With I(go), true once the target confirmed the go, false when it was never sent, C(unknown) when sending it failed.
  returned: with go
  type: raw
go_at:
  description: With I(go), this host's clock when the target confirmed the go.
  returned: with go, on success
  type: float
folded:
  description: With I(go) and its I(fold), what the fold did (steps), null when it failed (C(fold_error)).
  returned: with go.fold, on success
  type: list
  elements: str
fold_error:
  description: With I(go) and its I(fold), why the fold failed.
  returned: when that fold failed
  type: str
target_finish:
  description:
    - With I(go), the result of the target's armed finish (M(ferry_finish) with C(gate); C(failed)
      says whether it failed), which the target's peer dispatcher sends on the go's connection
      once that finish ended. Null when none came (an older dispatcher, a finish that did not end
      within 300 s or died, a connection that broke); the controller then asks the target.
    - This call returns that much later (the target's finish runs meanwhile); C(go_at) still marks the go.
  returned: with go, on success
  type: dict
"""

import os
import time

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils import ferry_domxml, ferry_fold, ferry_leased, ferry_ship, ferry_state
from ansible.module_utils.ferry_libvirt import LibvirtClient


def stop(module, client):
    """The stop option: mark and stop the guest under its lease; (how it stopped, seconds)."""
    p, s = module.params, module.params["stop"]
    t0 = time.monotonic()
    module.stop_requested_at = time.time()
    nogo = {"go_sent": False} if p["go"] else {}
    try:
        _, stopped = ferry_leased.stop(client, s["lock_dir"], p["domain"], s["lease_id"], merge=s.get("merge"),
                                       renew=s.get("renew"), shutdown_timeout=s["shutdown_timeout"])
    except (LookupError, ferry_state.LeaseHeld, ferry_state.IllegalTransition) as e:
        module.fail_json(msg="%s: not stopped, nothing shipped: %s" % (p["domain"], e), **nogo)
    except Exception as e:  # libvirtError from the stop itself
        module.fail_json(msg="%s: stopping it failed, nothing shipped: %s" % (p["domain"], e), **nogo)
    return stopped, round(time.monotonic() - t0, 3)


def fold(module, stop_args, name, out):
    """The guest's pre-copy folded back (ferry_fold); its steps, or None and out["fold_error"]."""
    client = LibvirtClient(module.params["uri"])
    try:
        return ferry_fold.fold(client, stop_args["lock_dir"], name, stop_args["lease_id"],
                               module.run_command)["steps"]
    except Exception as e:  # noqa: BLE001 -- FoldError, LeaseHeld, libvirtError: the controller folds
        out["fold_error"] = str(e)
        return None
    finally:
        client.close()


def ship(module):
    p = module.params
    try:
        peers = [ferry_ship.peer_dest(f, p["domain"]) for f in p["files"]]
    except ValueError as e:
        module.fail_json(msg=str(e))
    client = LibvirtClient(p["uri"])
    stopped = None
    early = {}
    try:
        if p["stop"] and not module.check_mode:
            if not p["stop"]["only"]:
                # connect to the target now, while the guest shuts down: the ssh handshakes and the
                # receivers' start-up are then not in the downtime
                try:
                    early = {"writers": [ferry_ship.open_receiver(p["dest_host"], peer) for peer in peers]}
                    if p["go"]:
                        early["go"] = ferry_ship.open_go(p["dest_host"], p["domain"], p["go"]["token"])
                except (OSError, ValueError) as e:
                    module.fail_json(msg="%s: connecting to %s failed, not stopped: %s" % (p["domain"], p["dest_host"], e),
                                     **({"go_sent": False} if p["go"] else {}))
            stopped = stop(module, client)
            if p["stop"]["only"]:
                return {"changed": True, "files": [], "file_bytes": 0, "allocated_bytes": 0, "bytes_sent": 0,
                        "seconds": 0.0, "stopped": stopped[0], "stop_seconds": stopped[1],
                        "stop_requested_at": module.stop_requested_at}
        dom = client.domain(p["domain"])
        live = client.conn.lookupByName(p["domain"]).XMLDesc(0) if dom is not None and dom["state"] not in (
            "shutoff", "crashed") else None
    finally:
        client.close()
    if live is not None and not p["frozen"]:
        module.fail_json(msg="refusing to read %s's files: domain %s is %s (its qemu process still runs)"
                         % (p["domain"], p["domain"], dom["state"]))
    if live is not None:
        # a running guest: only files it no longer writes may be read (a pre-copy's frozen disks,
        # now read-only backing files of its snapshot overlays); never a disk it has open as its top
        written = {os.path.normpath(d["path"]) for d in ferry_domxml.disks(ferry_domxml.parse(live))
                   if d.get("path") and not d.get("readonly")}
        busy = [f["src"] for f in p["files"] if os.path.normpath(f["src"]) in written]
        if busy or not p["files"]:
            module.fail_json(msg="refusing to read %s's files: domain %s is %s and writes %s (its qemu process "
                             "still runs)" % (p["domain"], p["domain"], dom["state"], ", ".join(busy) or "them"))
    out = {"changed": True, "files": [], "file_bytes": 0, "allocated_bytes": 0, "bytes_sent": 0, "seconds": 0.0}
    if stopped:
        out.update(stopped=stopped[0], stop_seconds=stopped[1], stop_requested_at=module.stop_requested_at)
    if p["go"]:
        out["go_sent"] = False   # every failure below leaves it so: the target's finish never starts
    for f in p["files"]:
        if not os.path.isfile(f["src"]):
            module.fail_json(msg="%s does not exist (or is not a file)" % f["src"], **out)
        st = os.stat(f["src"])
        out["files"].append({"src": f["src"], "dest": f["dest"], "file_bytes": st.st_size,
                             "allocated_bytes": st.st_blocks * 512})
        out["file_bytes"] += st.st_size
        out["allocated_bytes"] += st.st_blocks * 512
    if module.check_mode:
        return out
    writers = list(early.get("writers") or [None] * len(peers))
    for entry, peer, writer in zip(out["files"], peers, writers):
        t0 = time.monotonic()
        try:
            got = ferry_ship.stream_file(entry["src"], p["dest_host"], peer, p["bwlimit"], writer=writer)
        except (IOError, ValueError) as e:
            module.fail_json(msg=str(e), **out)
        entry["seconds"] = round(time.monotonic() - t0, 3)
        entry["bytes_sent"] = got["bytes_sent"]
        out["bytes_sent"] += got["bytes_sent"]
        out["seconds"] = round(out["seconds"] + entry["seconds"], 3)
        if got["size"] != entry["file_bytes"]:
            module.fail_json(msg="copy of %s on %s:%s has %d bytes, the source %d"
                             % (entry["src"], p["dest_host"], entry["dest"], got["size"], entry["file_bytes"]), **out)
        if got["path"] != os.path.normpath(entry["dest"]):
            module.fail_json(msg="%s's peer dispatcher wrote %s, not %s: its ferry-peer.json and the inventory "
                             "(ferry_instances_dir, the swtpm directory) disagree" % (p["dest_host"], got["path"],
                                                                                    entry["dest"]), **out)
        entry["stream_sha256"] = got["stream_sha256"]
        entry["dest_allocated_bytes"] = got["allocated_bytes"]
    if p["go"] and not module.check_mode:
        # the last step: after it the target starts the guest on its own; when the dispatcher's answer
        # is lost the go may have arrived, so the failure says "unknown" (the target's gate knows)
        try:
            out["go_path"] = ferry_ship.send_go(p["dest_host"], p["domain"], p["go"]["token"],
                                                channel=early.get("go"))
        except (IOError, ValueError) as e:
            out["go_sent"] = "unknown"
            module.fail_json(msg=str(e), **out)
        out["go_sent"] = True
        out["go_at"] = time.time()
        if p["go"]["fold"]:
            # while the target finishes: the source's own layout back, needed whichever way the
            # move ends (kept: confirm deletes it; rolled back: it restarts on it)
            out["folded"] = fold(module, p["stop"], p["domain"], out)
        # the target's finish result, which its dispatcher sends on the same connection once the
        # finish ended (the controller then need not ask the target); None: the controller asks
        out["target_finish"] = ferry_ship.go_outcome(early["go"]) if early.get("go") else None
    if live is not None:
        # what the running guest wrote meanwhile (its current top layers): the pre-copy's next round
        # or the stop decides on it
        out["live_tops"] = {f: os.stat(f).st_blocks * 512 for f in sorted(written) if os.path.isfile(f)}
        out["live_top_bytes"] = sum(out["live_tops"].values())
    return out


def main():
    module = AnsibleModule(
        argument_spec=dict(
            files=dict(type="list", elements="dict", required=True),
            dest_host=dict(type="str", required=True),
            domain=dict(type="str", required=True),
            uri=dict(type="str", default="qemu:///session"),
            bwlimit=dict(type="int", default=0),
            frozen=dict(type="bool", default=False),
            stop=dict(type="dict", options=dict(
                lease_id=dict(type="str", required=True),
                lock_dir=dict(type="path", required=True),
                merge=dict(type="dict"),
                renew=dict(type="int"),
                shutdown_timeout=dict(type="int", default=60),
                only=dict(type="bool", default=False),
            )),
            go=dict(type="dict", options=dict(token=dict(type="str", required=True),
                                              fold=dict(type="bool", default=False))),
        ),
        supports_check_mode=True,
    )
    if module.params["go"] and not (module.params["stop"] and not module.params["stop"]["only"]):
        module.fail_json(msg="go needs stop (without only): the target may start the guest only once it is "
                         "stopped here and its final files arrived")
    if module.params["stop"] and module.params["frozen"]:
        module.fail_json(msg="stop and frozen=true exclude each other: frozen files ship while the guest runs")
    for f in module.params["files"]:
        if not isinstance(f, dict) or not f.get("src") or not f.get("dest"):
            module.fail_json(msg="each of files needs src and dest: %r" % (f,))
    module.exit_json(**ship(module))


if __name__ == "__main__":
    main()
