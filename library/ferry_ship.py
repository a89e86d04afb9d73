#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: ferry_ship
short_description: Ship a stopped guest's qcow2 overlay to another hypervisor and verify it
description:
  - Runs on the source hypervisor. Refuses to read the disk while the guest's domain is active
    (its qemu process exists).
  - Hashes the overlay, sends it with rsync over SSH straight to the target host (sparse-aware,
    optional bandwidth limit), then has the target hash its copy and compares the two.
  - Only the overlay (the delta) is shipped; its backing file is not followed.
version_added: "0.1.0"
options:
  src:
    description: The overlay on this host.
    type: path
    required: true
  dest_host:
    description: SSH name of the target host as this host knows it (e.g. an C(~/.ssh/config) alias).
    type: str
    required: true
  dest_path:
    description: Path of the copy on the target host.
    type: path
    required: true
  domain:
    description: The guest's domain on this host; it must be inactive.
    type: str
    required: true
  uri:
    description: libvirt URI on this host.
    type: str
    default: qemu:///session
  bwlimit:
    description: Bandwidth limit in KiB/s (0 = none).
    type: int
    default: 0
author:
  - ferry developers
"""

EXAMPLES = r"""
- name: Ship the delta to the target
  ferry_ship:
    src: /var/lib/ferry/instances/web01/disk.qcow2
    dest_host: hv-a2
    dest_path: /var/lib/ferry/instances/web01/disk.qcow2
    domain: web01
    bwlimit: 0
"""

RETURN = r"""
sha256:
  description: sha256 of the overlay, equal on both sides.
  returned: success
  type: str
file_bytes:
  description: Apparent size of the overlay file.
  returned: success
  type: int
allocated_bytes:
  description: Bytes allocated on disk for the overlay on the source.
  returned: success
  type: int
bytes_sent:
  description: Bytes rsync sent on the wire (protocol included).
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
    client = LibvirtClient(p["uri"])
    try:
        dom = client.domain(p["domain"])
    finally:
        client.close()
    if dom is not None and dom["state"] not in ("shutoff", "crashed"):
        module.fail_json(msg="refusing to read %s: domain %s is %s (its qemu process still runs)"
                         % (p["src"], p["domain"], dom["state"]))
    if not os.path.exists(p["src"]):
        module.fail_json(msg="overlay %s does not exist" % p["src"])
    st = os.stat(p["src"])
    out = {"changed": True, "file_bytes": st.st_size, "allocated_bytes": st.st_blocks * 512}
    if module.check_mode:
        return out
    sha = ferry_imagecache.sha256_file(p["src"])
    t0 = time.monotonic()
    argv = ferry_ship.rsync_argv(p["src"], "%s:%s" % (p["dest_host"], p["dest_path"]), p["bwlimit"])
    rc, stdout, stderr = module.run_command(argv)
    if rc != 0:
        module.fail_json(msg="rsync to %s failed (rc %d): %s" % (p["dest_host"], rc, stderr.strip()))
    out["seconds"] = round(time.monotonic() - t0, 3)
    out.update(ferry_ship.parse_stats(stdout))
    rc, remote, stderr = module.run_command(ferry_ship.remote_sha256_argv(p["dest_host"], p["dest_path"]))
    remote_sha = remote.split()[0] if rc == 0 and remote.strip() else None
    if remote_sha != sha:
        module.fail_json(msg="checksum mismatch after shipping to %s:%s: source %s, target %s %s"
                         % (p["dest_host"], p["dest_path"], sha, remote_sha, stderr.strip()))
    out["sha256"] = sha
    return out


def main():
    module = AnsibleModule(
        argument_spec=dict(
            src=dict(type="path", required=True),
            dest_host=dict(type="str", required=True),
            dest_path=dict(type="path", required=True),
            domain=dict(type="str", required=True),
            uri=dict(type="str", default="qemu:///session"),
            bwlimit=dict(type="int", default=0),
        ),
        supports_check_mode=True,
    )
    module.exit_json(**ship(module))


if __name__ == "__main__":
    main()
