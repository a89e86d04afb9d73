"""qcow2 chain handling with qemu-img: argument building and output parsing.

Every qemu-img call names its format explicitly (-f / -F).  Functions here build
argv lists and parse JSON; running them is the caller's business (a module's
run_command or subprocess), so they are unit-testable without images.
"""

import json

GIB = 1024 ** 3
MIB = 1024 ** 2


def info_argv(path, fmt="qcow2", chain=True, force_share=True):
    argv = ["qemu-img", "info", "--output=json", "-f", fmt]
    if chain:
        argv.append("--backing-chain")
    if force_share:
        # a running guest's qemu holds the image lock; -U reads metadata anyway
        argv.append("-U")
    argv.append(path)
    return argv


def parse_chain(output):
    """Parse `qemu-img info --output=json [--backing-chain]` into a list of layers.

    Returns [{path, format, virtual_size, actual_size, backing_file,
    backing_format}], top layer first.
    """
    data = json.loads(output)
    if isinstance(data, dict):
        data = [data]
    layers = []
    for item in data:
        layers.append({
            "path": item.get("filename"),
            "format": item.get("format"),
            "virtual_size": int(item.get("virtual-size", 0)),
            "actual_size": int(item.get("actual-size", 0)),
            "backing_file": item.get("full-backing-filename") or item.get("backing-filename"),
            "backing_format": item.get("backing-filename-format"),
        })
    return layers


def summarize_chain(layers):
    """A short view of a chain: top, base, virtual size, bytes allocated per layer."""
    if not layers:
        return {"top": None, "base": None, "virtual_size": 0, "depth": 0, "layers": []}
    return {
        "top": layers[0]["path"],
        "base": layers[-1]["path"] if len(layers) > 1 else None,
        "virtual_size": layers[0]["virtual_size"],
        "depth": len(layers),
        "layers": layers,
    }


def backing_of(path, run):
    """The backing file recorded in an overlay (without opening the chain: it may not exist here)."""
    rc, out, err = run(info_argv(path, chain=False))
    if rc != 0:
        raise ValueError("qemu-img info %s failed: %s" % (path, err.strip()))
    layers = parse_chain(out)
    return layers[0]["backing_file"] if layers else None


def create_overlay_argv(path, backing, size_bytes=None, backing_fmt="qcow2"):
    argv = ["qemu-img", "create", "-q", "-f", "qcow2", "-b", backing, "-F", backing_fmt, path]
    if size_bytes is not None:
        argv.append(str(int(size_bytes)))
    return argv


def rebase_argv(path, new_backing, backing_fmt="qcow2", unsafe=False):
    argv = ["qemu-img", "rebase", "-f", "qcow2", "-b", new_backing, "-F", backing_fmt]
    if unsafe:
        argv.append("-u")
    argv.append(path)
    return argv


def resize_argv(path, size_bytes, fmt="qcow2"):
    return ["qemu-img", "resize", "-q", "-f", fmt, path, str(int(size_bytes))]


def check_argv(path):
    return ["qemu-img", "check", "-f", "qcow2", "--output=json", path]


def parse_check(output):
    """Parse `qemu-img check --output=json`; returns (ok, summary dict)."""
    data = json.loads(output)
    corruptions = int(data.get("corruptions", 0)) + int(data.get("corruptions-fixed", 0))
    leaks = int(data.get("leaks", 0))
    errors = int(data.get("check-errors", 0))
    return corruptions == 0 and errors == 0, {
        "corruptions": corruptions, "leaks": leaks, "check_errors": errors,
        "image_end_offset": data.get("image-end-offset"),
    }


def gib_to_bytes(gib):
    return int(round(float(gib) * GIB))


def bytes_to_gib(n):
    return float(n) / GIB


def grow_check(current_bytes, wanted_bytes):
    """Decide a virtual-size change: 'grow', 'same', or raise on shrink."""
    if wanted_bytes < current_bytes:
        raise ValueError("disk shrink refused: virtual size is %.2f GiB (%d bytes), flavor asks %.2f GiB (%d bytes)"
                         % (bytes_to_gib(current_bytes), current_bytes, bytes_to_gib(wanted_bytes), wanted_bytes))
    return "grow" if wanted_bytes > current_bytes else "same"
