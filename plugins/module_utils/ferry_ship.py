"""Shipping a guest's files host to host (never through the controller).

Guests' files go through stream_file: tar --sparse on the source, over ssh, into the target's
peer dispatcher (ferry_peer, the forced command of the source's key there: `receive`), hashed
on both ends as it passes, so each byte is read once.  rsync_argv/parse_stats remain for the
flatten-and-copy baseline of the benchmark.
"""

import hashlib
import json
import os
import re
import select
import subprocess
import time

from ansible.module_utils import ferry_peer

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


# --- the host-to-host transfer of a guest's files (hole-aware) --------------------------------
# rsync --sparse keeps holes on the target but still reads and sends them as zeros; a raw or
# standalone disk is mostly holes.  GNU tar --sparse with SEEK_HOLE detection sends only the
# data segments and recreates the holes on extraction.  The stream passes through the module on
# the source (never through the controller), which counts and paces it.

SAFE_DEST_RE = re.compile(r"^[A-Za-z0-9._-]+$")
CHUNK = 1024 * 1024
PEER_AREAS = ("instance", "tpm")


def tar_create_argv(src, dest_name):
    """tar on the source: one file, sparse (holes found with SEEK_HOLE), renamed to dest_name (a
    file name, or a relative path of such names for a TPM state file)."""
    parts = (dest_name or "").split("/")
    if not all(SAFE_DEST_RE.match(p) and p not in (".", "..") for p in parts):
        raise ValueError("unsafe destination file name %r" % (dest_name,))
    d, b = os.path.split(os.path.normpath(src))
    return ["tar", "--create", "--sparse", "--hole-detection=seek", "--file=-", "--directory", d or "/",
            "--transform", "s|.*|%s|" % dest_name, "--", b]


def peer_dest(entry, instance):
    """Where a file lands on the target, as its peer dispatcher names it: {area, key, name}.

    The plan gives it (`peer`); without it, a file whose `dest` is directly in the guest's instance
    directory (a directory named `instance`) goes there.  Raises ValueError otherwise."""
    peer = entry.get("peer")
    if peer is None:
        d, name = os.path.split(os.path.normpath(entry["dest"]))
        if os.path.basename(d) != instance:
            raise ValueError("%s is not in %s's instance directory: the target's peer dispatcher receives "
                             "only there (and a TPM's state by UUID)" % (entry["dest"], instance))
        peer = {"area": "instance", "key": instance, "name": name}
    if not isinstance(peer, dict) or peer.get("area") not in PEER_AREAS:
        raise ValueError("peer destination of %s must be {area: instance|tpm, key, name}: %r" % (entry["dest"], peer))
    if not os.path.normpath(entry["dest"]).endswith("/%s/%s" % (peer.get("key"), peer.get("name"))):
        raise ValueError("%s does not end in %s/%s" % (entry["dest"], peer.get("key"), peer.get("name")))
    try:
        ferry_peer.request_words("verify", peer["area"], peer.get("key"), peer.get("name"))
    except ferry_peer.Refused as e:
        raise ValueError("%s: the target's peer dispatcher would refuse it: %s" % (entry["dest"], e)) from None
    return {"area": peer["area"], "key": peer["key"], "name": peer["name"]}


def receive_argv(host, peer, ssh="ssh"):
    """ssh to the target's dispatcher: receive a tar stream into the area's directory for key."""
    return ferry_peer.peer_argv(host, ferry_peer.request_words("receive", peer["area"], peer["key"]), ssh)


def verify_argv(host, peer, ssh="ssh"):
    """ssh to the target's dispatcher: sha256, size and allocation of a received file."""
    return ferry_peer.peer_argv(host, ferry_peer.request_words("verify", peer["area"], peer["key"], peer["name"]),
                                ssh)


def parse_verify(out):
    """The dispatcher's verify answer: {path, sha256, size, allocated_bytes}."""
    got = json.loads(out.strip().splitlines()[-1])
    return {"path": got["path"], "sha256": got["sha256"], "size": int(got["size"]),
            "allocated_bytes": int(got["allocated_bytes"])}


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


def parse_receive(out):
    """The dispatcher's receive answer: ([{path, size, allocated_bytes}], {stream_sha256, stream_bytes})."""
    lines = [json.loads(line) for line in out.decode(errors="replace").splitlines() if line.strip()]
    if not lines or "stream_sha256" not in lines[-1]:
        raise ValueError("no stream checksum in the receiver's answer %r (is the target's ferry-peer older than "
                         "this controller's? re-install it: README, \"Host-to-host trust\")" % out[-300:])
    files = [{"path": f["path"], "size": int(f["size"]), "allocated_bytes": int(f["allocated_bytes"])}
             for f in lines[:-1]]
    return files, {"stream_sha256": lines[-1]["stream_sha256"], "stream_bytes": int(lines[-1]["stream_bytes"])}


def stream_file(src, dest_host, peer, bwlimit_kib=0, progress=None, popen=subprocess.Popen, writer=None):
    """Send one file to the target's dispatcher (peer_dest()), verified on the way: the stream
    (tar --sparse) is hashed here as it is sent and by the receiver as it reads it, so neither
    file is read a second time.  Returns {bytes_sent, stream_sha256, path, size, allocated_bytes}
    (the last three as the receiver wrote the file).

    Raises IOError with both ends' stderr on failure, or when the two ends saw different streams.
    """
    argv = tar_create_argv(src, peer["name"])
    reader = popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    writer = writer or open_receiver(dest_host, peer, popen)
    pacer, sent, sha = Pacer(bwlimit_kib), 0, hashlib.sha256()
    try:
        for block in iter(lambda: reader.stdout.read(CHUNK), b""):
            writer.stdin.write(block)
            sha.update(block)
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
    answer = writer.stdout.read()
    rc_w = writer.wait()
    what = "%s to %s (%s %s, %s)" % (src, dest_host, peer["area"], peer["key"], peer["name"])
    if rc_r != 0 or rc_w != 0:
        raise IOError("sending %s failed (tar rc %s: %s; receiver rc %s: %s)"
                      % (what, rc_r, rerr.strip(), rc_w, werr.strip()))
    try:
        files, got = parse_receive(answer)
    except (ValueError, KeyError, TypeError) as e:
        raise IOError("sending %s: %s" % (what, e)) from None
    if got["stream_sha256"] != sha.hexdigest() or got["stream_bytes"] != sent or len(files) != 1:
        raise IOError("sending %s: the receiver read %d bytes (sha256 %s, %d file(s)), this host sent %d (sha256 %s)"
                      % (what, got["stream_bytes"], got["stream_sha256"], len(files), sent, sha.hexdigest()))
    return dict(files[0], bytes_sent=sent, stream_sha256=got["stream_sha256"])



def open_receiver(dest_host, peer, popen=subprocess.Popen):
    """The target's receiving end, connected ahead of the data (stream_file's writer): a stop window
    opens it while the guest shuts down, so the ssh handshake is not in the downtime."""
    return popen(receive_argv(dest_host, peer), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                 stderr=subprocess.PIPE)


# The go's connection stays open after the go while the target finishes (its dispatcher then sends
# the finish's result): ssh's keepalives end it when the target stops answering at all.
GO_SSH_OPTIONS = ("-o", "ServerAliveInterval=5", "-o", "ServerAliveCountMax=3")
# how long the source waits for that result (the dispatcher waits ferry_peer.OUTCOME_WAIT)
OUTCOME_TIMEOUT = ferry_peer.OUTCOME_WAIT + 30


def go_argv(dest_host, instance, token):
    try:
        argv = ferry_peer.peer_argv(dest_host, ferry_peer.request_words("go", "instance", instance, token))
    except ferry_peer.Refused as e:
        raise ValueError("go for %s: the target's peer dispatcher would refuse it: %s" % (instance, e)) from None
    return argv[:1] + list(GO_SSH_OPTIONS) + argv[1:]


def open_go(dest_host, instance, token, popen=subprocess.Popen):
    """The go's connection, opened early; nothing is said until send_go(channel=...)."""
    return popen(go_argv(dest_host, instance, token), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                 stderr=subprocess.PIPE)


def abandon(procs):
    """Close connections opened early that will not be used: their stdin ends without data, so the
    target writes nothing (a receive of an empty stream, a go without "go")."""
    for proc in procs:
        try:
            proc.stdin.close()
        except (OSError, ValueError):
            pass
    for proc in procs:
        try:
            for stream in (proc.stdout, proc.stderr):
                if stream is not None:
                    stream.read()
            proc.wait(timeout=30)
        except Exception:  # noqa: BLE001 -- best-effort: a hung one is killed
            proc.kill()
            proc.wait()


def _read_line(proc, deadline):
    """One line of proc's stdout (bytes, without the newline) or None at its end or the deadline;
    what was read beyond the line is kept for the next call."""
    buf = getattr(proc, "ferry_buf", b"")
    fd = proc.stdout.fileno()
    while b"\n" not in buf:
        left = deadline - time.monotonic()
        if left <= 0:
            proc.ferry_buf = buf
            return None
        ready, _, _ = select.select([fd], [], [], left)
        if not ready:
            continue
        chunk = os.read(fd, 65536)
        if not chunk:
            proc.ferry_buf = b""
            return None
        buf += chunk
    line, _, proc.ferry_buf = buf.partition(b"\n")
    return line


def _end(proc, kill=False):
    """Reap a connection; its stderr (text)."""
    if kill and proc.poll() is None:
        proc.kill()
    try:
        err = proc.stderr.read() if proc.stderr is not None else b""
        proc.wait(timeout=30)
    except Exception:  # noqa: BLE001 -- best-effort: a hung one is killed
        proc.kill()
        proc.wait()
        err = b""
    return (err or b"").decode(errors="replace").strip()


def send_go(dest_host, instance, token, channel, timeout=120):
    """Tell the target's armed finish to start the guest (the peer verb `go`) on `channel`, the
    connection opened early (open_go) while the guest stopped; returns the go file's path there.
    Raises IOError when the dispatcher did not confirm it: then the go may or may not have arrived,
    and only the target's gate (ferry_gate) can say which.  The channel stays open for go_outcome()."""
    if channel is None:
        raise IOError("go to %s for %s: no connection was opened for it (open_go)" % (dest_host, instance))
    try:
        channel.stdin.write(b"go\n")
        channel.stdin.close()
    except (OSError, ValueError) as e:
        raise IOError("go to %s for %s: %s" % (dest_host, instance, _end(channel, kill=True) or e)) from None
    deadline = time.monotonic() + timeout
    line = _read_line(channel, deadline)
    answer = _json_line(line.decode(errors="replace")) if line is not None else None
    if not (isinstance(answer, dict) and "go" in answer):
        timed_out = line is None and time.monotonic() >= deadline
        err = _end(channel, kill=True)
        if timed_out:
            raise IOError("go to %s for %s: no answer in %d s" % (dest_host, instance, timeout))
        raise IOError("go to %s for %s failed (rc %s: %s)" % (dest_host, instance, channel.returncode,
                                                              err or "no answer from its dispatcher"))
    return answer["go"]


def go_outcome(channel, timeout=OUTCOME_TIMEOUT):
    """After send_go on `channel`: the target finish's result, which its dispatcher sends once the
    finish ended (a dict, "failed" true or false), or None when none came (an older dispatcher, the
    finish did not end in time or died, the connection broke).  Closes the channel."""
    line = _read_line(channel, time.monotonic() + timeout)
    _end(channel, kill=line is None)
    answer = _json_line(line.decode(errors="replace")) if line is not None else None
    outcome = answer.get("outcome") if isinstance(answer, dict) else None
    return outcome if isinstance(outcome, dict) else None


def _json_line(text):
    try:
        return json.loads(text)
    except ValueError:
        return None
