#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: ferry_ship
short_description: Ship a stopped guest's files to another hypervisor, holes kept, and verify them
description:
  - Runs on the source hypervisor. Refuses to read the guest's files while its domain is active
    (its qemu process exists).
  - Each file (a qcow2 overlay, a standalone qcow2 or raw disk, an nvram file, a TPM state file) is
    hashed, then streamed with C(tar --sparse) over SSH straight to the target host (never through
    the controller). Holes are found with SEEK_HOLE and recreated on the target, not sent as zeros.
    The stream passes through this module, which counts its bytes and paces it (I(bwlimit)).
  - On the target the stream goes to ferry's peer dispatcher (C(ferry-peer), the forced command of
    this host's key there), never to a shell. Its C(receive) verb writes only regular files into the
    guest's instance directory (C(receive-tpm) into the TPM state directory of the guest's UUID);
    its C(verify) verb then hashes the copy there. The two checksums and sizes must match, the
    path the dispatcher wrote must be I(dest) (else the target's dispatcher config and the inventory
    disagree), and the copy's allocation is reported beside the source's.
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
  description: Per file, src, dest, sha256, file_bytes, allocated_bytes (source), dest_allocated_bytes, bytes_sent, seconds.
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
"""

import os
import time

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils import ferry_imagecache, ferry_ship
from ansible.module_utils.ferry_libvirt import LibvirtClient


def ship(module):
    p = module.params
    try:
        peers = [ferry_ship.peer_dest(f, p["domain"]) for f in p["files"]]
    except ValueError as e:
        module.fail_json(msg=str(e))
    client = LibvirtClient(p["uri"])
    try:
        dom = client.domain(p["domain"])
    finally:
        client.close()
    if dom is not None and dom["state"] not in ("shutoff", "crashed"):
        module.fail_json(msg="refusing to read %s's files: domain %s is %s (its qemu process still runs)"
                         % (p["domain"], p["domain"], dom["state"]))
    out = {"changed": True, "files": [], "file_bytes": 0, "allocated_bytes": 0, "bytes_sent": 0, "seconds": 0.0}
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
    for entry, peer in zip(out["files"], peers):
        sha = ferry_imagecache.sha256_file(entry["src"])
        t0 = time.monotonic()
        try:
            sent = ferry_ship.stream_file(entry["src"], p["dest_host"], peer, p["bwlimit"])
        except (IOError, ValueError) as e:
            module.fail_json(msg=str(e), **out)
        entry["seconds"] = round(time.monotonic() - t0, 3)
        entry["bytes_sent"] = sent
        out["bytes_sent"] += sent
        out["seconds"] = round(out["seconds"] + entry["seconds"], 3)
        rc, remote, err = module.run_command(ferry_ship.verify_argv(p["dest_host"], peer))
        try:
            got = ferry_ship.parse_verify(remote) if rc == 0 else {}
        except (IndexError, KeyError, TypeError, ValueError):
            got = {}
        if got.get("sha256") != sha or got.get("size") != entry["file_bytes"]:
            module.fail_json(msg="copy of %s on %s:%s does not match: source sha256 %s size %d, target %s %s"
                             % (entry["src"], p["dest_host"], entry["dest"], sha, entry["file_bytes"],
                                got or "unreadable", err.strip()), **out)
        if got["path"] != os.path.normpath(entry["dest"]):
            module.fail_json(msg="%s's peer dispatcher wrote %s, not %s: its ferry-peer.json and the inventory "
                             "(ferry_instances_dir, the swtpm directory) disagree" % (p["dest_host"], got["path"],
                                                                                    entry["dest"]), **out)
        entry["sha256"] = sha
        entry["dest_allocated_bytes"] = got["allocated_bytes"]
    return out


def main():
    module = AnsibleModule(
        argument_spec=dict(
            files=dict(type="list", elements="dict", required=True),
            dest_host=dict(type="str", required=True),
            domain=dict(type="str", required=True),
            uri=dict(type="str", default="qemu:///session"),
            bwlimit=dict(type="int", default=0),
        ),
        supports_check_mode=True,
    )
    for f in module.params["files"]:
        if not isinstance(f, dict) or not f.get("src") or not f.get("dest"):
            module.fail_json(msg="each of files needs src and dest: %r" % (f,))
    module.exit_json(**ship(module))


if __name__ == "__main__":
    main()
