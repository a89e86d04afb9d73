"""What a move does with each file a guest's definition carries: the pure decisions.

A guest's definition (see ferry_domxml) names disks and other host paths.  For a move to another
host each one is, by kind:

- ``overlay``: a writable qcow2 whose backing file is a base image.  The overlay ships (the
  delta); the base goes into the target's cache by sha256 and the overlay is rebased onto it.
- ``whole``: a writable qcow2 with no backing file, or a raw image.  Shipped whole, holes kept
  as holes (never sent as data).
- ``cache``: a read-only file (a cdrom ISO, a read-only disk, the kernel, initrd, loader): brought
  into the target's cache by sha256, like a base; never deleted by confirm.
- ``shared``: on storage both hosts see (``ferry_shared_storage``): not copied; never deleted.
- ``copy``: a per-guest file that is not a disk (UEFI nvram): copied into the instance dir.
- ``relocate``: a file the guest writes but that carries no state (file serial/console, char
  device logs, unix sockets with an explicit path): pointed at the target's instance dir, not
  copied; a socket without a path stays without one (libvirt makes it).
- ``tpm``: an emulated TPM's state (libvirt keeps it by UUID, outside the definition): copied into
  the target's state directory for the same UUID.
- ``refuse``: block devices, network disks (rbd, iscsi, nbd...), pool volumes, a host TPM, a
  backing chain deeper than overlay + base, a file outside the paths accepted for this guest.

`plan()` is called twice by the inspecting module: first to learn which files need a sha256
(`needs_hash`), then with the hashes to make the full plan.  Nothing here touches a file.
"""

import os
import re

from ansible.module_utils import ferry_domxml

SAFE_NAME_RE = re.compile(r"[^A-Za-z0-9._-]")
CACHE_KINDS = ("kernel", "initrd", "loader", "dtb")
# Pointed at the target's instance dir, not copied.  A unix socket with an explicit path is
# relocated too: the path libvirt would generate instead can exceed the 108-byte socket limit
# under a long home directory (seen on the lab); sockets without a path stay without one.
RELOCATE_KINDS = ("serial_file", "console_file", "parallel_file", "chardev_log", "channel_unix",
                  "graphics_socket", "serial_unix", "console_unix")
SHA_NAME_RE = re.compile(r"^([0-9a-f]{64})(\.[A-Za-z0-9]+)?$")


def under(path, prefixes):
    """True when `path` is one of `prefixes` or lies below one of them (no '..' tricks)."""
    if not path:
        return False
    p = os.path.normpath(path)
    for pre in prefixes or ():
        pre = os.path.normpath(pre)
        if p == pre or p.startswith(pre.rstrip("/") + "/"):
            return True
    return False


def cache_sha_of(path, cache_dir):
    """The sha256 a file in ferry's cache is named by, or None when it is not a cache file."""
    if not path or not cache_dir or os.path.dirname(os.path.normpath(path)) != os.path.normpath(cache_dir):
        return None
    m = SHA_NAME_RE.match(os.path.basename(path))
    return m.group(1) if m else None


def cache_ext(path, fmt=None):
    """The extension a cached copy of `path` gets: its own, else from its format."""
    ext = os.path.splitext(path or "")[1]
    if ext and re.match(r"^\.[A-Za-z0-9]{1,8}$", ext):
        return ext
    return "." + (fmt or "img")


def safe_name(name):
    return SAFE_NAME_RE.sub("_", name) or "file"


def classify_disk(disk, chain, cfg):
    """(kind, reason) for one disk of ferry_domxml.disks(), with its qemu-img chain (or None).

    cfg: {cache_dir, instances_dir, shared_storage: [prefixes], allowed: [paths] or None,
    name}.  `allowed` None means "no adoption record": every file path is accepted.
    """
    where = "disk %s (%s %s)" % (disk.get("target"), disk.get("type"), disk.get("path") or "empty")
    if disk.get("device") == "cdrom" and not disk.get("path"):
        return "empty", None
    if disk.get("type") in ("block", "network", "volume", "dir") or disk.get("device") == "lun":
        if disk.get("type") in ("block", "dir") and under(disk.get("path"), cfg.get("shared_storage")):
            return "shared", None
        return "refuse", ("%s: ferry cannot copy a %s disk; declare its path in ferry_shared_storage if both "
                          "hosts see it" % (where, disk.get("type")))
    path = disk.get("path")
    if under(path, cfg.get("shared_storage")):
        return "shared", None
    if disk.get("readonly"):
        if chain is not None and chain.get("depth", 1) > 1:
            return "refuse", ("%s: a read-only overlay on a base; ferry moves read-only images whole "
                              "(flatten it first)" % where)
        return "cache", None
    if disk.get("shareable"):
        return "refuse", "%s: a shareable disk must be on storage declared in ferry_shared_storage" % where
    allowed = cfg.get("allowed")
    inside = under(path, [os.path.join(cfg.get("instances_dir") or "/nonexistent", cfg.get("name") or "")])
    if allowed is not None and not inside and os.path.normpath(path) not in [os.path.normpath(a) for a in allowed]:
        return "refuse", ("%s: path not recorded for this guest at adoption (%s); re-run adopt.yml if the "
                          "operator moved it" % (where, ", ".join(allowed) or "none"))
    if chain is None:
        return "refuse", "%s: qemu-img could not read it" % where
    depth = chain.get("depth", 1)
    if depth == 1:
        return "whole", None
    if depth == 2:
        return "overlay", None
    return "refuse", ("%s: backing chain of %d layers (ferry moves an overlay on one base; "
                      "commit the intermediate layers first)" % (where, depth))


def needs_hash(xml_text, chains, cfg):
    """Files whose sha256 the plan needs (bases outside the cache, read-only media, boot files)."""
    root = ferry_domxml.parse(xml_text)
    out = []
    for d in ferry_domxml.disks(root):
        kind, _ = classify_disk(d, chains.get(d["target"]), cfg)
        if kind == "overlay":
            base = chains[d["target"]]["base"]
            if not cache_sha_of(base, cfg.get("cache_dir")):
                out.append(base)
        elif kind == "cache" and not cache_sha_of(d["path"], cfg.get("cache_dir")):
            out.append(d["path"])
    for p in ferry_domxml.paths(root):
        if p["kind"] in CACHE_KINDS and p.get("path") and not under(p["path"], cfg.get("shared_storage")) \
                and not cache_sha_of(p["path"], cfg.get("cache_dir")):
            out.append(p["path"])
    return sorted(set(out))


def _dest_names(files):
    """Unique file names in the target's instance dir, keeping each file's own name when it can
    (a second file of the same name gets its key as a prefix, then a counter)."""
    names, taken = {}, set()
    counts = {}
    for _key, path in files:
        base = safe_name(os.path.basename(path))
        counts[base] = counts.get(base, 0) + 1
    for key, path in files:
        base = safe_name(os.path.basename(path))
        name = base if counts[base] == 1 and base not in taken else "%s-%s" % (safe_name(str(key)), base)
        n = 2
        while name in taken:
            name = "%s-%d-%s" % (safe_name(str(key)), n, base)
            n += 1
        taken.add(name)
        names[key] = name
    return names


def _peer(area, key, name):
    """Where a shipped file lands as the target's peer dispatcher names it (ferry_peer): the guest's
    instance directory (area instance, key = its name) or its TPM state (area tpm, key = its UUID)."""
    return {"area": area, "key": key, "name": name}


def plan(xml_text, chains, hashes, cfg, target):
    """The move of every file of a guest, for a target host.

    chains: {target_dev: summarize_chain(...)} for the file disks that exist;
    hashes: {path: sha256} for needs_hash()'s paths;
    cfg: the source's {cache_dir, instances_dir, shared_storage, allowed, name, root_disk};
    target: the target's {cache_dir, instances_dir}.
    Returns {refusals, root, ship, cache, rebase, shared, disk_map, path_map, source_files,
    allocated_bytes}; each `ship` entry says where its file lands as the target's peer dispatcher
    names it (`peer`).
    """
    root = ferry_domxml.parse(xml_text)
    tdir = os.path.join(target["instances_dir"], cfg["name"])
    out = {"refusals": [], "root": None, "ship": [], "cache": [], "rebase": [], "shared": [],
           "disk_map": {}, "path_map": {}, "source_files": [], "allocated_bytes": 0}
    cache = {}

    def want_cached(sha, src, ext, fmt, why):
        key = (sha, ext)
        if key not in cache:
            cache[key] = {"sha256": sha, "src": src, "ext": ext, "format": fmt, "for": [],
                          "path": os.path.join(target["cache_dir"], sha + ext)}
            out["cache"].append(cache[key])
        cache[key]["for"].append(why)
        return cache[key]["path"]

    def sha_for(path):
        sha = cache_sha_of(path, cfg.get("cache_dir")) or hashes.get(path)
        if not sha:
            out["refusals"].append("no sha256 for %s" % path)
        return sha

    try:
        rd = ferry_domxml.root_disk(root, cfg.get("root_disk"))
        out["root"] = rd["target"] if rd else None
    except ValueError as e:
        out["refusals"].append(str(e))

    disks = ferry_domxml.disks(root)
    kinds = {}
    for d in disks:
        kinds[d["target"]] = classify_disk(d, chains.get(d["target"]), cfg)
    movers = [(d["target"], d["path"]) for d in disks if kinds[d["target"]][0] in ("overlay", "whole")]
    extra = [p for p in ferry_domxml.paths(root) if p["kind"] == "nvram" and p.get("path")]
    relocated = [p["path"] for p in ferry_domxml.paths(root) if p["kind"] in RELOCATE_KINDS and p.get("path")]
    names = _dest_names(movers + [("nvram", p["path"]) for p in extra]
                        + [("log%d" % i, path) for i, path in enumerate(dict.fromkeys(relocated))])
    log_names = {path: names["log%d" % i] for i, path in enumerate(dict.fromkeys(relocated))}

    for d in disks:
        kind, reason = kinds[d["target"]]
        t = d["target"]
        if kind == "refuse":
            out["refusals"].append(reason)
        elif kind == "shared":
            out["shared"].append({"target": t, "path": d["path"], "type": d["type"]})
        elif kind == "cache":
            sha = sha_for(d["path"])
            if sha:
                p = want_cached(sha, d["path"], cache_ext(d["path"], d.get("format")), d.get("format"),
                                "disk %s" % t)
                out["disk_map"][t] = {"path": p, "format": d.get("format")}
        elif kind in ("overlay", "whole"):
            c = chains[t]
            dest = os.path.join(tdir, names[t])
            alloc = int(c["layers"][0].get("actual_size") or 0)
            out["ship"].append({"target": t, "src": d["path"], "dest": dest, "mode": kind,
                                "format": d.get("format") or c["layers"][0].get("format"),
                                "allocated_bytes": alloc, "peer": _peer("instance", cfg["name"], names[t])})
            out["allocated_bytes"] += alloc
            out["source_files"].append(d["path"])
            out["disk_map"][t] = {"path": dest, "format": d.get("format") or c["layers"][0].get("format")}
            if kind == "overlay":
                base = c["base"]
                bfmt = c["layers"][-1].get("format") or "qcow2"
                sha = sha_for(base)
                if sha:
                    cached = want_cached(sha, base, cache_ext(base, bfmt), bfmt, "base of %s" % t)
                    out["rebase"].append({"target": t, "path": dest, "base_sha256": sha, "base_path": cached,
                                          "base_format": bfmt, "source_base": base})

    for p in ferry_domxml.paths(root):
        kind, path = p["kind"], p.get("path")
        if kind == "tpm":
            if p.get("backend") != "emulator" or path:
                out["refusals"].append("TPM %s (%s): a host device ferry cannot move"
                                       % (p.get("backend"), p.get("model") or "tpm"))
            elif cfg.get("tpm_files") is None or not target.get("swtpm_dir"):
                out["refusals"].append("TPM emulator (%s): its state directory (kept by libvirt by UUID) is not "
                                       "known on both hosts" % (p.get("model") or "tpm"))
            else:  # libvirt keeps an emulated TPM's state by UUID, which the target copy keeps
                uuid = root.findtext("uuid")
                for rel in cfg["tpm_files"]:
                    out["ship"].append({"target": "tpm", "src": os.path.join(cfg["tpm_dir"], rel),
                                        "dest": os.path.join(target["swtpm_dir"], uuid, rel), "mode": "whole",
                                        "format": "raw", "allocated_bytes": 0, "peer": _peer("tpm", uuid, rel)})
        if not path or kind == "disk":
            continue
        if kind in CACHE_KINDS:
            if under(path, cfg.get("shared_storage")):
                continue
            sha = sha_for(path)
            if sha:
                out["path_map"][path] = want_cached(sha, path, cache_ext(path, kind), None, kind)
        elif kind == "nvram":
            dest = os.path.join(tdir, names["nvram"])
            out["ship"].append({"target": "nvram", "src": path, "dest": dest, "mode": "whole", "format": "raw",
                                "allocated_bytes": 0, "peer": _peer("instance", cfg["name"], names["nvram"])})
            out["source_files"].append(path)
            out["path_map"][path] = dest
        elif kind in RELOCATE_KINDS:
            out["path_map"][path] = os.path.join(tdir, log_names[path])
        elif kind == "filesystem":
            if not under(path, cfg.get("shared_storage")):
                out["refusals"].append("filesystem passthrough of %s: ferry cannot copy a host directory; declare "
                                       "it in ferry_shared_storage if both hosts see it" % path)
    return out


def precopy_layer(tag, dev, k):
    """The file name of pre-copy layer `k` (1, 2, ...) of disk `dev`."""
    return "precopy-%s-%s.qcow2" % (tag, dev) if k == 1 else "precopy-%s-%s-r%d.qcow2" % (tag, dev, k)


def _precopy_layer_entry(e, tag, src_dir, k):
    """Layer k of ship entry `e`'s disk as a file to ship: made on the source, kept on the target."""
    name = precopy_layer(tag, e["target"], k)
    return {"target": e["target"], "src": os.path.join(src_dir, name),
            "dest": os.path.join(os.path.dirname(e["dest"]), name), "mode": "whole", "format": "qcow2",
            "allocated_bytes": 0, "peer": dict(e["peer"], name=name)}


def precopy_split(plan_, tag, src_dir, layers=1):
    """A move's ship list split for pre-copy (the guest runs until the stop), after `layers` rounds.

    Round k freezes each shipped disk (overlay or whole file of a disk device) by an external
    disk-only snapshot whose new overlay (layer k: `precopy_layer()` in the source's instance dir
    `src_dir`) takes the guest's writes from then on, and ships what the snapshot froze: the disk's
    own file in round 1, layer k-1 after that (`rounds[k-1]`: {snapshot, bulk}).  After the stop
    only the top layers (and nvram / TPM state) ship (`final`); on the target every layer is folded
    into its disk's file, oldest first (`fold`), so the target ends with the layout the guest had.
    `snapshot` and `bulk` are round 1's (`rounds[0]`).
    """
    out = {"snapshot": [], "bulk": [], "final": [], "fold": [], "rounds": [{"snapshot": [], "bulk": []}
                                                                            for _ in range(layers)]}
    for e in plan_["ship"]:
        if e["target"] in ("nvram", "tpm") or e.get("mode") not in ("overlay", "whole"):
            out["final"].append(e)
            continue
        chain = [_precopy_layer_entry(e, tag, src_dir, k) for k in range(1, layers + 1)]
        for k in range(1, layers + 1):
            out["rounds"][k - 1]["snapshot"].append({"target": e["target"], "overlay": chain[k - 1]["src"]})
            out["rounds"][k - 1]["bulk"].append(e if k == 1 else chain[k - 2])
            out["fold"].append({"top": chain[k - 1]["dest"], "into": e["dest"], "format": e.get("format") or "qcow2"})
        out["final"].append(chain[-1])
    out["snapshot"], out["bulk"] = out["rounds"][0]["snapshot"], out["rounds"][0]["bulk"]
    return out


def _used_paths(xmls):
    used = {}
    for name, other in xmls.items():
        o = ferry_domxml.parse(other)
        for d in ferry_domxml.disks(o):
            if d.get("path"):
                used.setdefault(os.path.normpath(d["path"]), name)
        for p in ferry_domxml.paths(o):
            if p.get("path"):
                used.setdefault(os.path.normpath(p["path"]), name)
    return used


def unused_files(paths, all_xmls, cache_dir, shared_storage):
    """Of `paths` (a same-host resize's old root disk...), those no defined domain uses and that are
    neither cached nor shared: (delete, kept) like purge_plan."""
    used = _used_paths(all_xmls)
    delete, kept = [], []
    for path in paths:
        n = os.path.normpath(path)
        if under(n, [cache_dir]):
            kept.append((path, "in the image cache"))
        elif under(n, shared_storage):
            kept.append((path, "on shared storage"))
        elif n in used:
            kept.append((path, "used by domain %s" % used[n]))
        else:
            delete.append(path)
    return delete, kept


def purge_plan(xml_text, other_xmls, cache_dir, shared_storage):
    """Files confirm may delete with a guest's source copy: its writable file disks and nvram,
    never a read-only image, a cached base, a file on shared storage, or a file another domain
    defined on the host uses.  Returns (delete, kept) with kept = [(path, why)]."""
    root = ferry_domxml.parse(xml_text)
    kept, writable = [], []
    for d in ferry_domxml.disks(root):
        if d.get("type") != "file" or not d.get("path"):
            continue
        if d.get("readonly") or d.get("shareable") or d.get("device") in ("cdrom", "floppy"):
            kept.append((d["path"], "read-only or shareable"))
        else:
            writable.append(d["path"])
    writable += [p["path"] for p in ferry_domxml.paths(root) if p["kind"] == "nvram" and p.get("path")]
    delete, more = unused_files(writable, other_xmls, cache_dir, shared_storage)
    return delete, kept + more


CPU_RANK = {"identical": 2, "superset": 2, "n/a": 2, "incompatible": 0}


def mapped_network(name, source_map, target_map):
    """A bridge/network name on the source, as the target calls it (ferry_network_map)."""
    for logical, local in (source_map or {}).items():
        if local == name and logical in (target_map or {}):
            return target_map[logical]
    return name


def fit_reasons(requirements, source, fits, networks):
    """{host: None or why it cannot run the guest's definition}.

    fits: {host: ferry_guest_fit result}; networks: {host: {"declared": [...] or None, "map": {...}}}.
    A host without a declared ferry_host_networks cannot prove it has the guest's bridges, so a
    guest with bridge/network NICs is refused there.  The CPU is refused only when the target's
    verdict is worse than the source's own (libvirt compares on each host).
    """
    names = list(requirements.get("bridges") or []) + list(requirements.get("networks") or [])
    src_rank = CPU_RANK.get(((fits.get(source) or {}).get("cpu") or "n/a").split(":")[0], 1)
    out = {}
    for host, f in fits.items():
        reasons = []
        if f is None or f.get("failed") or f.get("unreachable"):
            out[host] = "could not check the guest's definition there: %s" % ((f or {}).get("msg") or "no answer")
            continue
        if f.get("domcaps", "ok") != "ok":
            reasons.append(f["domcaps"])
        net = networks.get(host) or {}
        src_map = (networks.get(source) or {}).get("map")
        missing = []
        for n in names:
            there = mapped_network(n, src_map, net.get("map"))
            if net.get("declared") is None or there not in net["declared"]:
                missing.append(there if there == n else "%s (%s here)" % (n, there))
        if missing:
            reasons.append("lacks network%s %s (ferry_host_networks: %s)" % (
                "s" if len(missing) > 1 else "", ", ".join(missing),
                ", ".join(net.get("declared") or []) or "none declared"))
        verdict = (f.get("cpu") or "n/a").split(":")[0]
        if CPU_RANK.get(verdict, 1) < src_rank:
            reasons.append("guest CPU %s here (libvirt), %s on the source %s" % (
                f.get("cpu"), (fits.get(source) or {}).get("cpu"), source))
        out[host] = "; ".join(reasons) or None
    return out


def real_disk_gb(chains, plan_, root_target, root_gb):
    """The disk a guest takes on a target, as Nova counts: the root at the flavor's size plus the
    virtual size of every other writable, non-shared disk (read-only media and shared disks don't count)."""
    total = float(root_gb or 0)
    for s in plan_["ship"]:
        if s["target"] == root_target or s["target"] in ("nvram", "tpm"):
            continue
        total += (chains.get(s["target"]) or {}).get("virtual_size", 0) / float(1024 ** 3)
    return round(total, 3)


def flat_name(tag, dev):
    """The file name of disk `dev`'s flattened copy (transfer mode `flatten`), on the source."""
    return "flat-%s-%s.qcow2" % (tag, safe_name(dev))


def flatten_plan(plan_, tag, src_dir):
    """A move's plan in transfer mode `flatten` (Nova's 2014 way, kept as a baseline to measure ferry
    against): each overlay disk is flattened with its base on the source after the stop (`qemu-img
    convert`, into `flatten[].flat` in the source's instance dir `src_dir`) and that standalone file
    ships whole under the overlay's name: no base reaches the target's cache for it and nothing is
    rebased.  Every other file moves as in the plan.  Returns a new plan with `flatten`:
    [{target, src (the overlay), flat, format}]."""
    out = dict(plan_, ship=[], rebase=[], cache=[], flatten=[])
    flat_devs = set()
    for e in plan_["ship"]:
        if e.get("mode") == "overlay":
            flat = os.path.join(src_dir, flat_name(tag, e["target"]))
            out["flatten"].append({"target": e["target"], "src": e["src"], "flat": flat, "format": "qcow2"})
            out["ship"].append(dict(e, src=flat, mode="whole", format="qcow2"))
            flat_devs.add(e["target"])
        else:
            out["ship"].append(e)
    out["rebase"] = [r for r in plan_.get("rebase", []) if r["target"] not in flat_devs]
    dropped = set("base of %s" % t for t in flat_devs)
    for c in plan_.get("cache", []):
        uses = [w for w in c.get("for", []) if w not in dropped]
        if uses:
            out["cache"].append(dict(c, **{"for": uses}))
    return out
