"""The host's base-image cache: files named by their sha256, written only after verification."""

import hashlib
import os
import re

CHUNK = 1024 * 1024
SHA256_RE = re.compile(r"^[0-9a-f]{64}$")


EXT_RE = re.compile(r"^\.[A-Za-z0-9]{1,8}$")


def cache_path(cache_dir, sha256, ext=".qcow2"):
    """<cache_dir>/<sha256><ext>: bases are .qcow2; ISOs, kernels and raw bases keep their own extension."""
    if not SHA256_RE.match(sha256 or ""):
        raise ValueError("not a sha256 hex digest: %r" % (sha256,))
    if not EXT_RE.match(ext or ""):
        raise ValueError("not a cache file extension: %r" % (ext,))
    return os.path.join(cache_dir, sha256 + ext)


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(CHUNK), b""):
            h.update(block)
    return h.hexdigest()


HOLE = 64 * 1024
_ZEROS = bytes(HOLE)


def stream_to_file(reader, path, sparse=False, progress=None):
    """Copy a file-like `reader` into `path`; return (bytes, sha256).  With `sparse`, runs of
    zeros (64 KiB, aligned) become holes instead of being written, as rsync --sparse does.
    `progress` (ferry_progress.Reporter) counts the bytes and applies its bandwidth limit."""
    h, n = hashlib.sha256(), 0
    with open(path, "wb") as out:
        for block in iter(lambda: reader.read(CHUNK), b""):
            h.update(block)
            n += len(block)
            if progress is not None:
                progress.add(len(block))
            if not sparse:
                out.write(block)
                continue
            view = memoryview(block)
            for off in range(0, len(block), HOLE):
                part = view[off:off + HOLE]
                if part == _ZEROS[:len(part)]:
                    out.seek(len(part), os.SEEK_CUR)
                else:
                    out.write(part)
        if sparse:
            out.truncate(n)
    return n, h.hexdigest()


def commit(tmp_path, final_path, expected, actual):
    """Move a verified download into place, read-only, synced to disk with its directory (a host
    crash must not leave a name whose file is incomplete); remove it on mismatch."""
    if actual != expected:
        os.unlink(tmp_path)
        raise ValueError("checksum mismatch: expected sha256 %s, got %s" % (expected, actual))
    _sync(tmp_path)   # on disk before its sha256 names it
    os.chmod(tmp_path, 0o444)
    os.rename(tmp_path, final_path)
    _sync(os.path.dirname(final_path) or ".", os.O_DIRECTORY)   # the name too


def _sync(path, flags=0):
    fd = os.open(path, os.O_RDONLY | flags)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def expected_format(ext):
    """The format a cache file must have, by its name: bases are qcow2, everything else raw."""
    return "qcow2" if ext == ".qcow2" else "raw"


def image_problems(info, expected):
    """Why a fetched image must not enter the cache, from `qemu-img info --output=json` run
    WITHOUT -f (the format is probed, never taken from the name or a manifest).  A base must be
    the declared format, with no backing file and no external data file of its own."""
    problems = []
    fmt = info.get("format")
    if fmt != expected:
        problems.append("format %s, expected %s" % (fmt, expected))
    if info.get("backing-filename") or info.get("full-backing-filename"):
        problems.append("has a backing file of its own (%s)" % (info.get("full-backing-filename")
                                                                 or info.get("backing-filename")))
    data_file = ((info.get("format-specific") or {}).get("data") or {}).get("data-file")
    if data_file:
        problems.append("has an external data file (%s)" % data_file)
    return problems
