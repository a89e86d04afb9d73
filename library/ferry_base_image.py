#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: ferry_base_image
short_description: Make sure a base image is in the host's image cache, verified by sha256
description:
  - The cache holds base images named C(<sha256>.qcow2); a file gets that name only after its
    content was hashed and matched, so a cached file is trusted.
  - Fetches from the image store (I(url)); when the store fails or lacks the image and I(source)
    is given, copies it host-to-host from another hypervisor's image cache, over SSH through that
    host's peer dispatcher (C(ferry-peer cache-read <sha256><ext>), the only file a peer may read
    there; holes kept as holes).
  - With I(local_source), copies a file of this host into its own cache (C(cp --reflink=auto
    --sparse=always)), as a move does on the source for a base, ISO or kernel kept outside the
    cache, so that the target can then fetch it from there.
  - Concurrent fetches of the same image on one host are serialised by a lock file.
  - Before a fetched file is committed, C(qemu-img info) probes its format (never taken from its
    name or the manifest). It must be the expected format (C(qcow2) for a C(.qcow2) base, C(raw)
    otherwise), without a backing file or an external data file of its own; otherwise it is
    deleted and the task fails, naming what is wrong.
  - Supports check mode.
version_added: "0.1.0"
options:
  cache_dir:
    description: The host's image cache directory.
    type: path
    required: true
  sha256:
    description: Expected sha256 of the image (from the store's manifest or the guest's metadata).
    type: str
    required: true
  url:
    description: Image store URL of the image.
    type: str
  source:
    description:
      - Fallback, C(host:path) of the same image in another hypervisor's image cache, C(path) named
        C(<sha256><ext>) there (the host's peer dispatcher serves only its cache, by file name).
    type: str
  local_source:
    description: A file on this host holding the image, copied into the cache (verified and probed the same way).
    type: path
  ext:
    description: Extension of the cache file (C(.qcow2) for bases; an ISO or a kernel keeps its own).
    type: str
    default: .qcow2
  timeout:
    description: Seconds allowed for the HTTP fetch to connect / stall.
    type: int
    default: 60
  progress_file:
    description:
      - Where the fetch writes its progress (JSON, replaced atomically, at most twice a second)
        and, at the end, its result; M(ferry_progress) polls it while this module runs async.
    type: path
  progress_label:
    description: What the progress lines call this transfer.
    type: str
    default: base image
  bwlimit:
    description: Bandwidth limit of the store and host-to-host fetches, KiB/s (0, none).
    type: int
    default: 0
author:
  - ferry developers
"""

EXAMPLES = r"""
- name: Base image into the target's cache
  ferry_base_image:
    cache_dir: /var/lib/ferry/cache
    sha256: "{{ image_sha256 }}"
    url: http://images.example.org/tiny.qcow2
    source: "hv-a1:/var/lib/ferry/cache/{{ image_sha256 }}.qcow2"

- name: On the source, a base kept outside the cache goes into it (the target fetches it from there)
  ferry_base_image:
    cache_dir: /var/lib/ferry/cache
    sha256: "{{ base_sha256 }}"
    local_source: /srv/templates/debian-12.qcow2
"""

RETURN = r"""
path:
  description: Path of the cached base image.
  returned: always
  type: str
fetched_from:
  description: C(cache) (already there), C(store), C(source) or C(local) (I(local_source)).
  returned: always
  type: str
bytes:
  description: Bytes transferred.
  returned: always
  type: int
store_error:
  description: Why the store was not used, when the fallback was.
  returned: when the fallback was used
  type: str
"""

import fcntl
import json
import os
import subprocess

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.urls import open_url
from ansible.module_utils import ferry_imagecache as cache
from ansible.module_utils import ferry_peer, ferry_progress


class FetchFailed(Exception):
    pass


def fetch_store(url, tmp, timeout, progress=None):
    resp = open_url(url, timeout=timeout)
    if progress is not None:
        progress.set_total(resp.headers.get("Content-Length"))
    return cache.stream_to_file(resp, tmp, progress=progress)


def source_argv(source):
    """`host:path` in another host's cache -> ssh to its dispatcher: cache-read <file name>."""
    host, sep, path = source.partition(":")
    if not sep or not host or not path:
        raise ValueError("source must be host:path, got %r" % (source,))
    try:
        words = ferry_peer.request_words("cache-read", name=os.path.basename(path))
    except ferry_peer.Refused as e:
        raise ValueError("source %s: a peer host's dispatcher serves only its image cache: %s" % (source, e)) from None
    return ferry_peer.peer_argv(host, words)


def fetch_source(source, tmp, progress=None):
    proc = subprocess.Popen(source_argv(source), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    try:
        n, digest = cache.stream_to_file(proc.stdout, tmp, sparse=True, progress=progress)
    finally:
        proc.stdout.close()
        err = proc.stderr.read().decode(errors="replace")
        rc = proc.wait()
    if rc != 0:
        raise IOError("cache-read from %s failed (rc %d): %s" % (source, rc, err.strip()))
    return n, digest


def fetch_local(module, path, tmp):
    rc, out, err = module.run_command(["cp", "--reflink=auto", "--sparse=always", "--", path, tmp])
    if rc != 0:
        raise IOError("copying %s failed: %s" % (path, err.strip()))
    return os.path.getsize(tmp), cache.sha256_file(tmp)


def probe(module, path, expected):
    """What is wrong with a fetched image (empty: nothing), its format probed by qemu-img."""
    rc, out, err = module.run_command(["qemu-img", "info", "--output=json", path])
    if rc != 0:
        return ["qemu-img cannot read it: %s" % err.strip()]
    return cache.image_problems(json.loads(out), expected)


def ensure(module, progress=None):
    p = module.params
    final = cache.cache_path(p["cache_dir"], p["sha256"], p["ext"])
    result = {"changed": False, "path": final, "fetched_from": "cache", "bytes": 0}
    if os.path.exists(final):
        return result
    result["changed"] = True
    if module.check_mode:
        result["fetched_from"] = "store" if p["url"] else ("source" if p["source"] else "local")
        return result
    tmp = "%s.part-%d" % (final, os.getpid())
    with open(os.path.join(p["cache_dir"], ".lock-" + p["sha256"]), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if os.path.exists(final):  # another run fetched it while we waited
            result["changed"] = False
            return result
        errors = []
        for kind, option, fetch in (("store", "url", lambda: fetch_store(p["url"], tmp, p["timeout"], progress)),
                                    ("source", "source", lambda: fetch_source(p["source"], tmp, progress)),
                                    ("local", "local_source", lambda: fetch_local(module, p["local_source"], tmp))):
            if not p[option]:
                continue
            try:
                n, digest = fetch()
                if digest == p["sha256"]:
                    problems = probe(module, tmp, cache.expected_format(p["ext"]))
                    if problems:
                        os.unlink(tmp)
                        raise FetchFailed("image %s from %s refused: %s" % (p["sha256"], kind, "; ".join(problems)))
                cache.commit(tmp, final, p["sha256"], digest)
            except FetchFailed:
                raise
            except Exception as e:  # network, ssh, the peer's refusal, checksum: try the next way
                errors.append("%s: %s" % (kind, e))
                if os.path.exists(tmp):
                    os.unlink(tmp)
                continue
            result.update(fetched_from=kind, bytes=n)
            if errors:
                result["store_error"] = "; ".join(errors)
            return result
    raise FetchFailed("could not get base image %s into %s: %s"
                      % (p["sha256"], p["cache_dir"], "; ".join(errors) or "no url, source or local_source given"))


def main():
    module = AnsibleModule(
        argument_spec=dict(
            cache_dir=dict(type="path", required=True),
            sha256=dict(type="str", required=True),
            url=dict(type="str"),
            source=dict(type="str"),
            local_source=dict(type="path"),
            ext=dict(type="str", default=".qcow2"),
            timeout=dict(type="int", default=60),
            progress_file=dict(type="path"),
            progress_label=dict(type="str", default="base image"),
            bwlimit=dict(type="int", default=0),
        ),
        required_one_of=[("url", "source", "local_source")],
        supports_check_mode=True,
    )
    p = module.params
    progress = None
    if p["progress_file"] and not module.check_mode:
        progress = ferry_progress.Reporter(p["progress_file"], p["progress_label"], bwlimit_kib=p["bwlimit"])
    elif p["bwlimit"]:
        progress = ferry_progress.Reporter(None, bwlimit_kib=p["bwlimit"])
    try:
        result = ensure(module, progress)
    except (ValueError, FetchFailed) as e:
        if progress is not None:
            progress.done(failed=True, msg=str(e))
        module.fail_json(msg=str(e))
    if progress is not None:
        progress.done(result=result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
