#!/usr/bin/python3 -I
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""ferry-peer: everything one hypervisor host may do on another, as one forced command.

Each hypervisor runs this file as the forced command of every other hypervisor's key, e.g. in
the authorized_keys of the user ferry connects as:

    restrict,from="10.0.0.12",command="/usr/local/lib/ferry/ferry-peer" ssh-ed25519 AAAA... hv-a2

sshd then runs it for each connection of that key, whatever the peer asked for, and puts the
request in SSH_ORIGINAL_COMMAND.  The request is split with shlex into words (never given to a
shell) and must be exactly one of:

    receive <instance>         stdin: a tar stream (GNU tar --sparse welcome) of regular files with
                               plain names; each is written to <instances_dir>/<instance>/<name>
                               (holes kept) under a temporary name, then renamed into place.  The
                               instance directory is created if missing (never through a symlink).
                               Answers one JSON line per file ({"path", "size", "allocated_bytes"})
                               then {"stream_sha256", "stream_bytes"} of every byte it read from
                               stdin: the sender compares them with what it sent, so the copy is
                               verified without reading either file again.
    receive-tpm <uuid>         the same into <swtpm_dir>/<uuid>/ (an emulated TPM's state, kept by
                               libvirt per domain UUID); names may have up to 2 directories.
    verify <instance> <name>   sha256, size and allocated bytes of a file received there, as one
                               line of JSON: {"path", "sha256", "size", "allocated_bytes"}.
    verify-tpm <uuid> <name>   the same in the TPM state directory.
    go <instance> <token>      the source stopped the guest and every final file arrived verified:
                               once the line "go" comes on stdin (the sender opens the connection
                               early, while the guest stops, and writes it at the end), writes
                               ferry-go-<token> into <instances_dir>/<instance>/ (which must exist),
                               where the target's armed finish waits for it (the one-call stop
                               window; ferry_gate.py).  Answers {"go": path} at once, then waits
                               (up to OUTCOME_WAIT s) for that finish to end and answers a second
                               line, {"outcome": its result, or null when it did not end in time,
                               was cancelled before the go, or died}, reading and removing
                               ferry-outcome-<token>.  stdin ending without that line writes
                               nothing (exit 1).
    cache-read <sha256><.ext>  the file of that name in <cache_dir> (the image cache) on stdout:
                               the source host fallback of a base image.

Instance names match [A-Za-z0-9][A-Za-z0-9._-]*; file names are made of [A-Za-z0-9._-] parts,
never "." or "..", never absolute; only regular files are received or read, never through a
symlink (every path is opened with O_NOFOLLOW relative to its directory).  Anything else is
refused: "ferry-peer: refused: <why>" on stderr, exit status 2.  An allowed request that fails
(a missing file, a full disk) exits 1.  There is no lock: parallel receives work.  A later verb
(the target side of a move's finish) is one more entry in VERBS.

The directories come from a small JSON file next to this one (ferry-peer.json, or --config):
{"instances_dir": ..., "cache_dir": ..., "swtpm_dir": ...}, the host's inventory variables
ferry_instances_dir and ferry_cache_dir, and where its libvirt keeps TPM state.

Run with words on the command line (ferry-peer receive web01), it serves that request the same
way, validated the same way: a receive re-executes itself like that so that its command line names
the instance (recover.yml stops a receive still running for a guest by it).

Standard library only, one file: it runs outside Ansible.  ferry's modules import it as
ansible.module_utils.ferry_peer for the sending side (peer_argv), so both ends share one
definition of the verbs.
"""

import hashlib
import json
import os
import re
import shlex
import stat
import sys
import tarfile
import time

PROG = "ferry-peer"
CONFIG_NAME = "ferry-peer.json"
INSTANCE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
PART_RE = re.compile(r"^[A-Za-z0-9._-]+$")
CACHE_NAME_RE = re.compile(r"^[0-9a-f]{64}\.[A-Za-z0-9]{1,8}$")
TMP_PREFIX = ".ferry-part-"
MAX_REQUEST = 4096
MAX_NAME = 255
CHUNK = 1024 * 1024

# Where each kind of request may touch: the config key of its directory, what names the
# sub-directory (the key), how deep a file name may go below it, the mode of directories made.
AREAS = {
    "instance": {"dir": "instances_dir", "key": "instance", "depth": 1, "mode": 0o750},
    "tpm": {"dir": "swtpm_dir", "key": "uuid", "depth": 3, "mode": 0o700},
}
# verb: (operation, area, the words after the verb)
VERBS = {
    "receive": ("receive", "instance", ("key",)),
    "receive-tpm": ("receive", "tpm", ("key",)),
    "verify": ("verify", "instance", ("key", "name")),
    "verify-tpm": ("verify", "tpm", ("key", "name")),
    "cache-read": ("cache-read", None, ("name",)),
    "go": ("go", "instance", ("key", "name")),
}
GO_PREFIX = "ferry-go-"   # ferry_gate.go_name()
OUTCOME_PREFIX = "ferry-outcome-"   # ferry_gate.outcome_name()
DECIDED_PREFIX = "ferry-decided-"   # ferry_gate.decided_name()
OUTCOME_WAIT = 300.0   # seconds the go's connection waits for the finish's result
NO_FINISH_WAIT = 5.0   # ... and for an armed finish to take the go (it looks every 10 ms)
# (operation, area) -> verb, for the sending side
VERB_OF = {(op, area): verb for verb, (op, area, _) in VERBS.items()}


class Refused(Exception):
    """The request is not one a peer may make."""


class Failed(Exception):
    """An allowed request that could not be done."""


# --- pure checks ----------------------------------------------------------------------------------

def check_key(area, key):
    """The instance name or UUID that names a directory of `area`; raises Refused."""
    if area == "tpm":
        if not UUID_RE.match(key or ""):
            raise Refused("not a domain UUID: %r" % (key,))
        return key
    if not INSTANCE_RE.match(key or "") or key in (".", "..") or len(key) > MAX_NAME:
        raise Refused("not an instance name: %r (allowed: [A-Za-z0-9][A-Za-z0-9._-]*)" % (key,))
    return key


def check_name(name, depth=1):
    """The parts of a file name under an area's directory; raises Refused for an absolute name,
    '.', '..', an empty part, characters outside [A-Za-z0-9._-], or more than `depth` parts."""
    if not isinstance(name, str) or not name:
        raise Refused("empty file name")
    parts = name.split("/")
    if name.startswith("/"):
        raise Refused("absolute file name %r" % name)
    for p in parts:
        if p in ("", ".", "..") or not PART_RE.match(p) or len(p) > MAX_NAME or p.startswith(TMP_PREFIX):
            raise Refused("file name %r: part %r is not allowed" % (name, p))
    if len(parts) > depth:
        raise Refused("file name %r: at most %d part%s allowed here" % (name, depth, "" if depth == 1 else "s"))
    return parts


def check_cache_name(name):
    if not CACHE_NAME_RE.match(name or ""):
        raise Refused("not an image cache file name: %r (expected <sha256>.<ext>)" % (name,))
    return name


def parse_words(words):
    """A request's words -> {verb, op, area, key, name}; raises Refused for anything else."""
    if not words:
        raise Refused("no command (a peer host gets no shell; verbs: %s)" % ", ".join(sorted(VERBS)))
    verb, args = words[0], list(words[1:])
    if verb not in VERBS:
        raise Refused("unknown verb %r (verbs: %s)" % (verb, ", ".join(sorted(VERBS))))
    op, area, spec = VERBS[verb]
    if len(args) != len(spec):
        raise Refused("%s takes %d argument%s (%s), got %d"
                      % (verb, len(spec), "" if len(spec) == 1 else "s", " ".join(spec), len(args)))
    req = {"verb": verb, "op": op, "area": area, "key": None, "name": None}
    req.update(zip(spec, args))
    if op == "cache-read":
        check_cache_name(req["name"])
    else:
        check_key(area, req["key"])
        if req["name"] is not None:
            check_name(req["name"], AREAS[area]["depth"])
    return req


def parse_request(text):
    """SSH_ORIGINAL_COMMAND -> the request (parse_words), split like a shell would split it but
    never run by one: quotes group words, nothing is expanded or executed."""
    if text is None:
        raise Refused("no command (a peer host gets no shell; verbs: %s)" % ", ".join(sorted(VERBS)))
    if len(text) > MAX_REQUEST:
        raise Refused("request longer than %d characters" % MAX_REQUEST)
    try:
        words = shlex.split(text)
    except ValueError as e:
        raise Refused("cannot split %r: %s" % (text, e)) from e
    return parse_words(words)


def load_config(text):
    """The config file's JSON -> {instances_dir, cache_dir, swtpm_dir or None}; raises Failed."""
    try:
        cfg = json.loads(text)
    except ValueError as e:
        raise Failed("config is not JSON: %s" % e) from e
    if not isinstance(cfg, dict):
        raise Failed("config must be a JSON object")
    out = {}
    for key, required in (("instances_dir", True), ("cache_dir", True), ("swtpm_dir", False)):
        v = cfg.get(key)
        if v is None and not required:
            out[key] = None
            continue
        if not isinstance(v, str) or not os.path.isabs(v):
            raise Failed("config: %s must be an absolute path, got %r" % (key, v))
        out[key] = os.path.normpath(v)
    return out


def area_root(cfg, area):
    root = cfg.get(AREAS[area]["dir"])
    if not root:
        raise Refused("this host keeps no %s directory (no %s in its config)" % (area, AREAS[area]["dir"]))
    return root


def area_path(cfg, area, key, name=None):
    """The absolute path a request names (for messages and verify's answer)."""
    return os.path.join(area_root(cfg, area), key, *(name.split("/") if name else ()))


# --- the side effects, each confined to a directory opened without following links -----------

_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC


def _open_dir(name, dir_fd, create, mode):
    """A sub-directory of dir_fd, never a symlink; made when `create`."""
    if create:
        try:
            os.mkdir(name, mode, dir_fd=dir_fd)
        except FileExistsError:
            pass
    try:
        return os.open(name, _DIR | os.O_NOFOLLOW, dir_fd=dir_fd)
    except FileNotFoundError:
        raise Failed("%s: no such directory" % name) from None
    except OSError as e:
        raise Failed("%s: not a directory one can receive into (%s)" % (name, e.strerror)) from e


def open_area(cfg, area, key, parts=(), create=False):
    """fd of <area dir>/<key>/<parts...>; the configured directory itself may be a symlink (the
    operator's choice), nothing below it may."""
    root = area_root(cfg, area)
    mode = AREAS[area]["mode"]
    if create:
        os.makedirs(root, mode, exist_ok=True)
    try:
        fd = os.open(root, _DIR)
    except OSError as e:
        raise Failed("%s: %s" % (root, e.strerror)) from e
    try:
        for p in (key,) + tuple(parts):
            nfd = _open_dir(p, fd, create, mode)
            os.close(fd)
            fd = nfd
    except BaseException:
        os.close(fd)
        raise
    return fd


def _copy(src, dst, length):
    """`length` bytes from the tar stream to a file object; the stream must not end early."""
    while length > 0:
        block = src.read(min(CHUNK, length))
        if not block:
            raise Failed("the stream ended inside a file")
        dst.write(block)
        length -= len(block)


def _kind(m):
    for test, what in ((m.isdir, "directory"), (m.issym, "symbolic link"), (m.islnk, "hard link"),
                       (m.ischr, "character device"), (m.isblk, "block device"), (m.isfifo, "fifo")):
        if test():
            return what
    return "special member"


def write_member(tar, m, dir_fd, name):
    """One regular member into dir_fd/name: written under a temporary name (O_EXCL, O_NOFOLLOW),
    holes recreated from the archive's sparse map as tarfile's own extraction does, synced to disk,
    then renamed over `name` (a symlink left there is replaced, never followed) and the directory
    synced: once the source is deleted (confirm), a host crash must not lose what arrived."""
    tmp = "%s%d-%s" % (TMP_PREFIX, os.getpid(), name)[:MAX_NAME]
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                 (m.mode & 0o666) or 0o600, dir_fd=dir_fd)
    try:
        with open(fd, "wb", closefd=True) as out:
            source = tar.fileobj           # the stream, positioned by tarfile (as in TarFile.makefile)
            source.seek(m.offset_data)
            if m.sparse is not None:       # GNU sparse member: [(offset, length)] of the data
                for offset, length in m.sparse:
                    out.seek(offset)
                    _copy(source, out, length)
                out.seek(m.size)
                out.truncate()
            else:
                _copy(source, out, m.size)
            out.flush()
            os.utime(out.fileno(), (m.mtime, m.mtime))
            os.fsync(out.fileno())         # on disk before its name says it arrived
        os.rename(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
        os.fsync(dir_fd)                   # and the name with it
    except BaseException:
        try:
            os.unlink(tmp, dir_fd=dir_fd)
        except OSError:
            pass
        raise


class HashingReader(object):
    """A stream's read(), hashing (sha256) and counting every byte handed out."""

    def __init__(self, stream):
        self.stream = stream
        self.sha = hashlib.sha256()
        self.bytes = 0

    def read(self, n=-1):
        block = self.stream.read(n)
        self.sha.update(block)
        self.bytes += len(block)
        return block

    def drain(self):
        """Read (and hash) the rest of the stream: the archive's end blocks and record padding."""
        while self.read(CHUNK):
            pass
        return {"stream_sha256": self.sha.hexdigest(), "stream_bytes": self.bytes}


def receive(cfg, area, key, stream, out):
    """Every member of the tar stream on `stream` into the area's directory for `key`; one JSON
    line per file on `out` ({path, size, allocated_bytes}), then one with the sha256 and length of
    the whole stream as read.  Refuses (before writing it) any member that is not a regular file
    with an allowed name."""
    depth = AREAS[area]["depth"]
    base = open_area(cfg, area, key, create=True)
    count = 0
    stream = HashingReader(stream)
    try:
        try:
            tar = tarfile.open(fileobj=stream, mode="r|", bufsize=CHUNK)
        except tarfile.TarError as e:
            raise Failed("not a tar stream: %s" % e) from e
        with tar:
            for m in tar:
                parts = check_name(m.name, depth)
                if not m.isreg():
                    raise Refused("%s: a %s; only regular files are received" % (m.name, _kind(m)))
                d = base
                if len(parts) > 1:
                    d = open_area(cfg, area, key, parts[:-1], create=True)
                try:
                    write_member(tar, m, d, parts[-1])
                    st = os.stat(parts[-1], dir_fd=d, follow_symlinks=False)
                finally:
                    if d != base:
                        os.close(d)
                count += 1
                out.write((json.dumps({"path": area_path(cfg, area, key, m.name), "size": m.size,
                                       "allocated_bytes": st.st_blocks * 512}) + "\n").encode())
    except tarfile.TarError as e:
        raise Failed("broken tar stream: %s" % e) from e
    finally:
        os.close(base)
    if not count:
        raise Failed("the stream held no file")
    out.write((json.dumps(stream.drain()) + "\n").encode())
    return count


def _open_file(name, dir_fd):
    try:
        # O_NONBLOCK: a fifo left there must not hang the request (a regular file reads as usual)
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK, dir_fd=dir_fd)
    except FileNotFoundError:
        raise Failed("%s: no such file" % name) from None
    except OSError as e:
        raise Failed("%s: cannot open (%s; symlinks are not followed)" % (name, e.strerror)) from e
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        raise Failed("%s: not a regular file" % name)
    return fd, st


def verify(cfg, area, key, name):
    """{path, sha256, size, allocated_bytes} of a file in the area's directory for `key`."""
    parts = check_name(name, AREAS[area]["depth"])
    d = open_area(cfg, area, key, parts[:-1])
    try:
        fd, st = _open_file(parts[-1], d)
    finally:
        os.close(d)
    h = hashlib.sha256()
    with open(fd, "rb", closefd=True) as f:
        for block in iter(lambda: f.read(CHUNK), b""):
            h.update(block)
    return {"path": area_path(cfg, area, key, name), "sha256": h.hexdigest(), "size": st.st_size,
            "allocated_bytes": st.st_blocks * 512}


def cache_read(cfg, name, out):
    """The cache file `name` onto `out`; returns its size."""
    check_cache_name(name)
    try:
        d = os.open(cfg["cache_dir"], _DIR)
    except OSError as e:
        raise Failed("%s: %s" % (cfg["cache_dir"], e.strerror)) from e
    try:
        fd, st = _open_file(name, d)
    finally:
        os.close(d)
    n = 0
    with open(fd, "rb", closefd=True) as f:
        for block in iter(lambda: f.read(CHUNK), b""):
            out.write(block)
            n += len(block)
    out.flush()
    return n


def go(cfg, key, token, stdin):
    """Once stdin says "go": write ferry-go-<token> into the instance directory (never creating it),
    the go of a one-call stop window.  Returns its path."""
    line = stdin.readline(64)
    if line.strip() != b"go":
        raise Failed("no go: the sender ended without it (%r)" % line[:20])
    d = open_area(cfg, "instance", key)
    name = GO_PREFIX + token
    try:
        fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC, 0o640, dir_fd=d)
        try:
            os.write(fd, b"go\n")
        finally:
            os.close(fd)
    finally:
        os.close(d)
    return area_path(cfg, "instance", key, name)


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


def go_outcome(cfg, key, token, wait=None, no_finish_wait=None, poll=0.01, clock=None, sleep=None):
    """After a go: the armed finish's result (ferry-outcome-<token>, read and removed), or None when
    it is not there within `wait` seconds (OUTCOME_WAIT), when the gate was decided otherwise than
    `started` (a rollback cancelled it first: no finish runs on this go), when no finish took the go
    within `no_finish_wait` seconds (NO_FINISH_WAIT: none was armed, or it died), or when the
    process that started it ended without writing one."""
    clock, sleep = clock or time.monotonic, sleep or time.sleep
    start = clock()
    deadline = start + (OUTCOME_WAIT if wait is None else wait)
    no_finish = start + (NO_FINISH_WAIT if no_finish_wait is None else no_finish_wait)
    ended = False
    d = open_area(cfg, "instance", key)
    try:
        while True:
            try:
                fd = os.open(OUTCOME_PREFIX + token, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=d)
            except FileNotFoundError:
                fd = None
            if fd is not None:
                with open(fd, "rb", closefd=True) as f:
                    data = f.read(4 * 1024 * 1024)
                try:
                    os.unlink(OUTCOME_PREFIX + token, dir_fd=d)
                except OSError:
                    pass
                try:
                    return json.loads(data.decode())
                except ValueError:
                    return None
            try:
                fd = os.open(DECIDED_PREFIX + token, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=d)
                with open(fd, "rb", closefd=True) as f:
                    words = f.read(200).split()
            except FileNotFoundError:
                words = []
            if words and words[0] != b"started":
                return None
            if not words and clock() >= no_finish:
                return None
            if ended:
                return None   # its finish ended and wrote none (read once more after it ended)
            ended = len(words) > 1 and words[1].isdigit() and not _pid_alive(int(words[1]))
            if ended:
                continue
            if clock() >= deadline:
                return None
            sleep(poll)
    finally:
        os.close(d)


def serve(cfg, req, stdin, stdout):
    if req["op"] == "receive":
        receive(cfg, req["area"], req["key"], stdin, stdout)
    elif req["op"] == "verify":
        stdout.write((json.dumps(verify(cfg, req["area"], req["key"], req["name"])) + "\n").encode())
    elif req["op"] == "cache-read":
        cache_read(cfg, req["name"], stdout)
    elif req["op"] == "go":
        stdout.write((json.dumps({"go": go(cfg, req["key"], req["name"], stdin)}) + "\n").encode())
        stdout.flush()
        stdout.write((json.dumps({"outcome": go_outcome(cfg, req["key"], req["name"])}) + "\n").encode())
    stdout.flush()


# --- the sending side (imported by ferry's modules) ------------------------------------------------

def request_words(op, area=None, key=None, name=None):
    """The words of a request, checked as the receiving end will check them (raises Refused)."""
    verb = VERB_OF.get((op, area))
    if verb is None:
        raise Refused("no verb to %s in %s" % (op, area))
    spec = VERBS[verb][2]
    words = [verb] + [{"key": key, "name": name}[s] for s in spec]
    parse_words(words)
    return words


def peer_argv(host, words, ssh="ssh"):
    """ssh to a peer host with a request: one argument, quoted, which its dispatcher splits."""
    return [ssh, "-o", "BatchMode=yes", host, shlex.join(words)]


# --- main --------------------------------------------------------------------------------------------

def _log(msg):
    try:
        import syslog
        syslog.openlog(PROG, syslog.LOG_PID, syslog.LOG_AUTH)
        syslog.syslog(syslog.LOG_INFO, msg)
    except Exception:  # no syslog here: stderr to the peer is enough
        pass


def main(argv=None, environ=None, stdin=None, stdout=None, stderr=None, execv=os.execv):
    argv = sys.argv[1:] if argv is None else list(argv)
    environ = os.environ if environ is None else environ
    stdin = stdin or sys.stdin.buffer
    stdout = stdout or sys.stdout.buffer
    stderr = stderr or sys.stderr
    config = os.path.join(os.path.dirname(os.path.abspath(__file__)), CONFIG_NAME)
    if argv[:1] == ["--config"] and len(argv) >= 2:
        config, argv = argv[1], argv[2:]
    peer = (environ.get("SSH_CLIENT") or "local").split(" ")[0]
    what = (shlex.join(argv) if argv else environ.get("SSH_ORIGINAL_COMMAND") or "")[:200]
    try:
        req = parse_words(argv) if argv else parse_request(environ.get("SSH_ORIGINAL_COMMAND"))
        with open(config) as f:
            cfg = load_config(f.read())
        if req["op"] == "receive" and not argv:
            # re-executed with the request as arguments, so that `pkill -f ... receive <instance>`
            # finds a receive by its instance (recover.yml); validated again there
            words = request_words(req["op"], req["area"], req["key"])
            _log("from %s: %s" % (peer, what))
            execv(sys.executable, [sys.executable, "-I", os.path.abspath(__file__), "--config", config] + words)
            return 0
        if not argv or req["op"] != "receive":
            _log("from %s: %s" % (peer, what))
        serve(cfg, req, stdin, stdout)
        return 0
    except Refused as e:
        _log("from %s: refused %r: %s" % (peer, what, e))
        stderr.write("%s: refused: %s\n" % (PROG, e))
        return 2
    except (Failed, OSError) as e:
        _log("from %s: %r failed: %s" % (peer, what, e))
        stderr.write("%s: %s failed: %s\n" % (PROG, what.split(" ")[0] or "request", e))
        return 1


if __name__ == "__main__":
    sys.exit(main())
