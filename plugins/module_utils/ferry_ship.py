"""Shipping a guest's qcow2 overlay host to host (rsync over SSH; never through the controller)."""

import re

_SENT_RE = re.compile(r"^Total bytes sent:\s*([\d,.]+)", re.M)
_RECV_RE = re.compile(r"^Total bytes received:\s*([\d,.]+)", re.M)


def rsync_argv(src, dest, bwlimit_kib=None, ssh="ssh"):
    """rsync of one file: sparse-aware, keeps a partial file for a retry, prints stats.

    --whole-file: the target has no older copy to diff against, so skip the delta algorithm.
    """
    argv = ["rsync", "--sparse", "--whole-file", "--partial", "--stats", "--times", "-e", ssh]
    if bwlimit_kib:
        argv.append("--bwlimit=%d" % int(bwlimit_kib))
    argv += [src, dest]
    return argv


def _num(text):
    return int(text.replace(",", "").replace(".", ""))


def parse_stats(output):
    """Bytes on the wire from `rsync --stats`: sent and received, each on its own (protocol included)."""
    sent = _SENT_RE.search(output)
    recv = _RECV_RE.search(output)
    return {"bytes_sent": _num(sent.group(1)) if sent else None,
            "bytes_received": _num(recv.group(1)) if recv else None}


def remote_sha256_argv(host, path, ssh="ssh"):
    return [ssh, host, "sha256sum", path]
