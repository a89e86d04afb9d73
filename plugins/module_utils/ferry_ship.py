"""Shipping a guest's files host to host (never through the controller).

rsync_argv/parse_stats remain for the flatten-and-copy baseline of the benchmark and for the
base image fallback; guests' files go through stream_file (tar --sparse over ssh).
"""

import os
import re
import shlex
import subprocess
import time

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


# --- the host-to-host transfer of a guest's files (hole-aware) --------------------------------
# rsync --sparse keeps holes on the target but still reads and sends them as zeros; a raw or
# standalone disk is mostly holes.  GNU tar --sparse with SEEK_HOLE detection sends only the
# data segments and recreates the holes on extraction.  The stream passes through the module on
# the source (never through the controller), which counts and paces it.

SAFE_DEST_RE = re.compile(r"^[A-Za-z0-9._-]+$")
CHUNK = 1024 * 1024


def tar_create_argv(src, dest_name):
    """tar on the source: one file, sparse (holes found with SEEK_HOLE), renamed to dest_name."""
    if not SAFE_DEST_RE.match(dest_name or ""):
        raise ValueError("unsafe destination file name %r" % (dest_name,))
    d, b = os.path.split(os.path.normpath(src))
    return ["tar", "--create", "--sparse", "--hole-detection=seek", "--file=-", "--directory", d or "/",
            "--transform", "s|.*|%s|" % dest_name, "--", b]


def tar_extract_remote(dest_dir):
    """The receiving command (run by the target's shell, so the directory is quoted)."""
    q = shlex.quote(dest_dir)
    return "mkdir -p %s && tar --extract --sparse --no-same-owner --file=- --directory %s" % (q, q)


def ssh_argv(host, remote_command, ssh="ssh"):
    return [ssh, "-o", "BatchMode=yes", host, remote_command]


def remote_stat_argv(host, path, ssh="ssh"):
    """sha256, apparent size and allocated bytes of a file on another host."""
    q = shlex.quote(path)
    return ssh_argv(host, "sha256sum -- %s && stat -c '%%s %%b %%B' -- %s" % (q, q), ssh)


def parse_remote_stat(out):
    lines = [ln for ln in out.splitlines() if ln.strip()]
    sha = lines[0].split()[0]
    size, blocks, bsize = (int(x) for x in lines[1].split())
    return {"sha256": sha, "size": size, "allocated_bytes": blocks * bsize}


class Pacer(object):
    """Keeps a stream's average rate under `kib_per_s` (0: no limit)."""

    def __init__(self, kib_per_s, clock=time.monotonic, sleep=time.sleep):
        self.rate = float(kib_per_s or 0) * 1024
        self.clock, self.sleep = clock, sleep
        self.t0 = clock()
        self.sent = 0

    def wait(self, n):
        self.sent += n
        if self.rate <= 0:
            return 0.0
        ahead = self.sent / self.rate - (self.clock() - self.t0)
        if ahead > 0:
            self.sleep(ahead)
            return ahead
        return 0.0


def stream_file(src, dest_host, dest_path, bwlimit_kib=0, progress=None, popen=subprocess.Popen):
    """Send one file to dest_host:dest_path; returns bytes on the wire (the tar stream).

    Raises IOError with both ends' stderr on failure.
    """
    argv = tar_create_argv(src, os.path.basename(dest_path))
    reader = popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    writer = popen(ssh_argv(dest_host, tar_extract_remote(os.path.dirname(dest_path))),
                   stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    pacer, sent = Pacer(bwlimit_kib), 0
    try:
        for block in iter(lambda: reader.stdout.read(CHUNK), b""):
            writer.stdin.write(block)
            sent += len(block)
            pacer.wait(len(block))
            if progress:
                progress(sent)
        writer.stdin.close()
    except BrokenPipeError:
        # the receiver is gone (refused, killed, disk full): stop the sender too, or it blocks
        # forever on a pipe nobody reads
        reader.kill()
    reader.stdout.close()
    rerr = reader.stderr.read().decode(errors="replace")
    rc_r = reader.wait()
    werr = writer.stderr.read().decode(errors="replace")
    rc_w = writer.wait()
    if rc_r != 0 or rc_w != 0:
        raise IOError("sending %s to %s:%s failed (tar rc %s: %s; receiver rc %s: %s)"
                      % (src, dest_host, dest_path, rc_r, rerr.strip(), rc_w, werr.strip()))
    return sent
