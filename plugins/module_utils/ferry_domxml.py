"""Turn a guest's source libvirt definition into the definition for the target host.

Input is what `XMLDesc(VIR_DOMAIN_XML_INACTIVE | VIR_DOMAIN_XML_MIGRATABLE)` returns. Every
rewrite is a small pure function over an ElementTree and changes only what a move must
change; everything else (UUID, MACs, models, CPU, machine, features, clock, graphics,
seclabels, foreign metadata, ...) is left exactly as it was. A resize that ferry cannot map
obviously raises `Refused` with the reason instead of guessing.
"""

import copy
import io
import re
import xml.etree.ElementTree as ET


class Refused(ValueError):
    """A change ferry cannot map obviously onto the definition; the message says why."""


# ---------------------------------------------------------------- text <-> tree

def _register_namespaces(xml_text):
    """Register every prefixed namespace the text declares, so to_text() writes the same prefixes."""
    for _event, (prefix, uri) in ET.iterparse(io.StringIO(xml_text), events=("start-ns",)):
        # '' (a default namespace) cannot be registered without moving <domain> into it, and
        # ns<N> is reserved by ElementTree: those keep their URI under a generated prefix.
        if prefix and not re.match(r"ns\d+$", prefix):
            ET.register_namespace(prefix, uri)


def parse(xml_text):
    """The root <domain> element of a definition."""
    _register_namespaces(xml_text)
    return ET.fromstring(xml_text)


def to_text(root):
    return ET.tostring(root, encoding="unicode")


def canonical(xml_text):
    """A definition as sorted lines `path @attr='v' ... text='t'`, one element a line, for diffing.

    The path numbers an element among its same-tag siblings ([1] when it is the only one), so
    lines do not depend on the order of differently named siblings; attributes are sorted and
    whitespace-only text is dropped. Namespaced tags are written {uri}tag, whatever their prefix.
    """
    root = ET.fromstring(xml_text)
    lines = []

    def walk(elem, path):
        attrs = "".join(" @%s=%r" % (k, v) for k, v in sorted(elem.attrib.items()))
        text = (elem.text or "").strip()
        lines.append(path + attrs + (" text=%r" % text if text else ""))
        seen = {}
        for child in elem:
            if not isinstance(child.tag, str):  # comments, processing instructions
                continue
            seen[child.tag] = seen.get(child.tag, 0) + 1
            walk(child, "%s/%s[%d]" % (path, child.tag, seen[child.tag]))

    walk(root, "/" + root.tag)
    return "\n".join(sorted(lines)) + "\n"


# ---------------------------------------------------------------- small helpers

_UNIT_BYTES = {
    "b": 1, "bytes": 1,
    "kb": 1000, "k": 1024, "kib": 1024,
    "mb": 1000 ** 2, "m": 1024 ** 2, "mib": 1024 ** 2,
    "gb": 1000 ** 3, "g": 1024 ** 3, "gib": 1024 ** 3,
    "tb": 1000 ** 4, "t": 1024 ** 4, "tib": 1024 ** 4,
}


def to_kib(value, unit=None):
    """libvirt's scaled integer (unit defaults to KiB) in KiB."""
    unit = (unit or "KiB").lower()
    if unit not in _UNIT_BYTES:
        raise ValueError("unknown memory unit %r" % unit)
    return int(str(value).strip()) * _UNIT_BYTES[unit] // 1024


def parse_cpuset(text):
    """libvirt's cpuset syntax ('0-3,^2,5') as a set of ints."""
    include, exclude = set(), set()
    for part in (p.strip() for p in (text or "").split(",")):
        if not part:
            continue
        target = exclude if part.startswith("^") else include
        part = part.lstrip("^")
        lo, _, hi = part.partition("-")
        target.update(range(int(lo), int(hi or lo) + 1))
    return include - exclude


def cpu_range(first, count):
    """'first-last' for count contiguous ids, or just 'first' for one."""
    return str(first) if count == 1 else "%d-%d" % (first, first + count - 1)


def _child_text(parent, path):
    elem = parent.find(path) if parent is not None else None
    return elem.text.strip() if elem is not None and elem.text else None


def _numa_cells(root):
    return root.findall("./cpu/numa/cell")


# ---------------------------------------------------------------- disks

def _disk_path(disk):
    src = disk.find("source")
    if src is None:
        return None
    dtype = disk.get("type")
    if dtype == "network":
        return "%s:%s" % (src.get("protocol"), src.get("name") or "")
    if dtype == "volume":
        return "%s/%s" % (src.get("pool"), src.get("volume"))
    for attr in ("file", "dev", "dir", "path"):
        if src.get(attr):
            return src.get(attr)
    return None


def _disk_dict(index, disk):
    target = disk.find("target")
    driver = disk.find("driver")
    boot = disk.find("boot")
    return {
        "index": index,
        "type": disk.get("type"),
        "device": disk.get("device", "disk"),
        "bus": target.get("bus") if target is not None else None,
        "target": target.get("dev") if target is not None else None,
        "path": _disk_path(disk),
        "format": driver.get("type") if driver is not None else None,
        "readonly": disk.find("readonly") is not None,
        "shareable": disk.find("shareable") is not None,
        "boot_order": int(boot.get("order")) if boot is not None and boot.get("order") else None,
    }


def disks(root):
    """Every <devices><disk>, in document order, as plain dicts."""
    return [_disk_dict(i, d) for i, d in enumerate(root.findall("./devices/disk"))]


def root_disk(root, name=None):
    """The disk the guest boots from: named by target dev, else the lowest per-device boot
    order among device='disk' disks, else the first device='disk' disk; None when there is none."""
    all_disks = disks(root)
    if name is not None:
        for d in all_disks:
            if d["target"] == name:
                return d
        raise ValueError("no disk with target dev %r in the definition" % name)
    candidates = [d for d in all_disks if d["device"] == "disk"]
    ordered = [d for d in candidates if d["boot_order"] is not None]
    if ordered:
        return min(ordered, key=lambda d: d["boot_order"])
    return candidates[0] if candidates else None


def _disk_element(root, target):
    for disk in root.findall("./devices/disk"):
        t = disk.find("target")
        if t is not None and t.get("dev") == target:
            return disk
    raise KeyError("no disk with target dev %r" % target)


def set_disk_source(root, target, path, fmt=None):
    """Point the disk with target dev `target` at the local file `path` (format `fmt` when given).

    The <source> becomes <source file=path/> in place (its <seclabel> children and a
    startupPolicy are kept: they mean the same for a file), any <backingStore> is removed
    (libvirt probes the new chain itself) and so is a network disk's <auth>.
    """
    disk = _disk_element(root, target)
    was_network = disk.get("type") == "network"
    disk.set("type", "file")
    old = disk.find("source")
    new = ET.Element("source", {"file": path})
    if old is not None:
        if old.get("startupPolicy"):
            new.set("startupPolicy", old.get("startupPolicy"))
        new.extend(old.findall("seclabel"))
        new.tail = old.tail
        disk[list(disk).index(old)] = new
    else:
        t = disk.find("target")
        new.tail = t.tail if t is not None else None
        disk.insert(list(disk).index(t) if t is not None else len(disk), new)
    if fmt:
        driver = disk.find("driver")
        if driver is None:
            driver = ET.Element("driver", {"name": "qemu"})
            driver.tail = new.tail
            disk.insert(0, driver)
        driver.set("type", fmt)
    for child in disk.findall("backingStore") + (disk.findall("auth") if was_network else []):
        disk.remove(child)
    return root


# ---------------------------------------------------------------- vcpus

def vcpu_count(root):
    """The maximum vCPU count (<vcpu> text; libvirt's default is 1)."""
    elem = root.find("vcpu")
    return int(elem.text.strip()) if elem is not None and elem.text and elem.text.strip() else 1


def _topology_for(topology, n):
    """New topology attributes for n vCPUs: sockets change first, cores when sockets=1."""
    dims = {k: int(topology.get(k, "1")) for k in ("sockets", "dies", "clusters", "cores", "threads")}
    per_socket = dims["dies"] * dims["clusters"] * dims["cores"] * dims["threads"]
    if n % per_socket == 0:
        return {"sockets": n // per_socket}
    per_core_group = dims["threads"] * dims["dies"] * dims["clusters"]
    if dims["sockets"] == 1 and n % per_core_group == 0:
        return {"cores": n // per_core_group}
    shown = ",".join("%s=%d" % (k, v) for k, v in dims.items() if k in topology.attrib)
    raise Refused("cpu topology %s cannot hold %d vCPUs: neither sockets nor (with sockets=1) cores "
                  "can be scaled to it" % (shown, n))


def _even_contiguous(sets, per_cell):
    return all(s == set(range(i * per_cell, (i + 1) * per_cell)) for i, s in enumerate(sets))


def _check_cputune(root, n):
    for elem in root.findall("./cputune/*"):
        ids = set()
        if elem.get("vcpu") is not None:
            ids = {int(elem.get("vcpu"))}
        elif elem.get("vcpus") is not None:
            ids = parse_cpuset(elem.get("vcpus"))
        beyond = sorted(i for i in ids if i >= n)
        if beyond:
            raise Refused("<cputune><%s> refers to vCPU %s, which %d vCPUs do not have; ferry does not guess "
                          "a new pinning" % (elem.tag, ",".join(map(str, beyond)), n))


def set_vcpus(root, n):
    """n vCPUs: <vcpu> (and its current=), the CPU topology and NUMA cells follow, or Refused."""
    n = int(n)
    if n < 1:
        raise Refused("%d vCPUs: a guest needs at least one" % n)
    if root.find("vcpus") is not None:
        raise Refused("the definition lists vCPUs one by one (<vcpus>); ferry does not resize those")
    _check_cputune(root, n)
    old = vcpu_count(root)
    updates = []
    topology = root.find("./cpu/topology")
    if topology is not None:
        updates.append((topology, _topology_for(topology, n)))
    cells = _numa_cells(root)
    if len(cells) == 1:
        updates.append((cells[0], {"cpus": cpu_range(0, n)}))
    elif cells:
        count = len(cells)
        sets = [parse_cpuset(c.get("cpus")) for c in cells]
        if old % count or not _even_contiguous(sets, old // count):
            raise Refused("NUMA cells split vCPUs as %s, not evenly in contiguous ranges; ferry does not "
                          "guess how %d vCPUs spread" % (", ".join(c.get("cpus") for c in cells), n))
        if n % count:
            raise Refused("%d vCPUs do not split evenly over %d NUMA cells" % (n, count))
        per = n // count
        updates.extend((c, {"cpus": cpu_range(i * per, per)}) for i, c in enumerate(cells))
    vcpu = root.find("vcpu")
    if vcpu is None:
        vcpu = ET.Element("vcpu")
        root.insert(len(root), vcpu)
    vcpu.text = str(n)
    if vcpu.get("current") is not None:
        vcpu.set("current", str(n))
    for elem, attrs in updates:
        for k, v in attrs.items():
            elem.set(k, str(v))
    return root


# ---------------------------------------------------------------- memory

def memory_kib(root):
    elem = root.find("memory")
    return to_kib(elem.text, elem.get("unit")) if elem is not None and elem.text else None


def set_memory(root, mib):
    """mib MiB of memory: <memory>, <currentMemory> and NUMA cells follow, or Refused."""
    kib = int(mib) * 1024
    if kib <= 0:
        raise Refused("%s MiB: a guest needs memory" % mib)
    max_mem = root.find("maxMemory")
    if max_mem is not None and max_mem.text and to_kib(max_mem.text, max_mem.get("unit")) < kib:
        raise Refused("maxMemory is %d KiB, less than the %d KiB asked for"
                      % (to_kib(max_mem.text, max_mem.get("unit")), kib))
    if root.findall("./devices/memory"):
        raise Refused("the guest has memory devices (<devices><memory>); its total is not <memory> alone, "
                      "ferry does not resize it")
    cells = _numa_cells(root)
    if len(cells) > 1:
        sizes = [to_kib(c.get("memory"), c.get("unit")) for c in cells]
        if len(set(sizes)) != 1:
            raise Refused("NUMA cells hold unequal memory (%s KiB); ferry does not guess how %d KiB spread"
                          % (", ".join(map(str, sizes)), kib))
        if kib % len(cells):
            raise Refused("%d KiB do not split evenly over %d NUMA cells" % (kib, len(cells)))
    for tag in ("memory", "currentMemory"):
        elem = root.find(tag)
        if elem is None:
            if tag == "currentMemory":
                continue
            elem = ET.SubElement(root, tag)
        elem.set("unit", "KiB")
        elem.text = str(kib)
    for cell in cells:
        cell.set("memory", str(kib // len(cells)))
        cell.set("unit", "KiB")
    return root


# ---------------------------------------------------------------- host paths

_CHARDEVS = ("serial", "parallel", "console", "channel")
# kinds whose paths rewrite_paths leaves alone: disks move with set_disk_source
_DISK_KINDS = ("disk", "backing_store")


def _nth(parent, elem):
    same = [c for c in parent if c.tag == elem.tag]
    return "%s[%d]" % (elem.tag, same.index(elem) + 1)


def _path_refs(root):
    """(entry, element, attribute or None for the element's text) for every host path."""
    refs = []

    def add(kind, elem, attr, locator, **extra):
        value = elem.get(attr) if attr else (elem.text.strip() if elem.text and elem.text.strip() else None)
        if value is None:
            return
        entry = {"kind": kind, "path": value, "element": locator + ("/@" + attr if attr else "")}
        entry.update(extra)
        refs.append((entry, elem, attr))

    os_elem = root.find("os")
    if os_elem is not None:
        for kind in ("loader", "kernel", "initrd", "dtb"):
            elem = os_elem.find(kind)
            if elem is not None:
                add(kind, elem, None, "os/" + kind)
        nvram = os_elem.find("nvram")
        if nvram is not None:
            add("nvram_template", nvram, "template", "os/nvram")
            src = nvram.find("source")
            if src is not None:
                add("nvram", src, "file", "os/nvram/source")
            else:
                add("nvram", nvram, None, "os/nvram")
        acpi = os_elem.find("acpi")
        for table in acpi.findall("table") if acpi is not None else []:
            add("acpi_table", table, None, "os/acpi/" + _nth(acpi, table))

    devices = root.find("devices")
    if devices is None:
        return refs
    emulator = devices.find("emulator")
    if emulator is not None:
        add("emulator", emulator, None, "devices/emulator")

    for disk in devices.findall("disk"):
        target = (disk.find("target").get("dev") if disk.find("target") is not None else None)
        where = "devices/disk[target=%s]" % target
        src = disk.find("source")
        if src is not None and disk.get("type") in ("file", "block", "dir"):
            attr = {"file": "file", "block": "dev", "dir": "dir"}[disk.get("type")]
            add("disk", src, attr, where + "/source", target=target)
        store, loc = disk.find("backingStore"), where
        while store is not None:
            loc += "/backingStore"
            bsrc = store.find("source")
            if bsrc is not None:
                for attr in ("file", "dev", "dir"):
                    add("backing_store", bsrc, attr, loc + "/source", target=target)
            store = store.find("backingStore")

    for dev in devices:
        if dev.tag not in _CHARDEVS:
            continue
        where = "devices/" + _nth(devices, dev)
        src = dev.find("source")
        if src is not None:
            add("%s_%s" % (dev.tag, dev.get("type")), src, "path", where + "/source")
        log = dev.find("log")
        if log is not None:
            add("chardev_log", log, "file", where + "/log")

    for tpm in devices.findall("tpm"):
        where = "devices/" + _nth(devices, tpm)
        backend = tpm.find("backend")
        btype = backend.get("type") if backend is not None else None
        holder = None
        if backend is not None:
            holder = backend.find("device") if btype == "passthrough" else backend.find("source")
        if holder is not None and holder.get("path"):
            add("tpm", holder, "path", where + "/backend/" + holder.tag, model=tpm.get("model"), backend=btype)
        else:  # emulator state lives in libvirt's per-UUID directory: no path in the XML
            refs.append(({"kind": "tpm", "path": None, "element": where, "model": tpm.get("model"),
                          "backend": btype}, None, None))

    for gfx in devices.findall("graphics"):
        where = "devices/" + _nth(devices, gfx)
        add("graphics_socket", gfx, "socket", where)
        for listen in gfx.findall("listen"):
            if listen.get("type") == "socket":
                add("graphics_socket", listen, "socket", where + "/" + _nth(gfx, listen))
        gl = gfx.find("gl")
        if gl is not None:
            add("rendernode", gl, "rendernode", where + "/gl")

    for fs in devices.findall("filesystem"):
        where = "devices/" + _nth(devices, fs)
        src = fs.find("source")
        if src is not None:
            for attr in ("dir", "file", "socket"):
                add("filesystem", src, attr, where + "/source", target=_child_attr(fs, "target", "dir"))

    for rng in devices.findall("rng"):
        backend = rng.find("backend")
        if backend is not None and backend.get("model") == "random":
            add("rng", backend, None, "devices/" + _nth(devices, rng) + "/backend")

    for inp in devices.findall("input"):
        src = inp.find("source")
        if src is not None:
            add("input_evdev", src, "evdev", "devices/" + _nth(devices, inp) + "/source")

    for mem in devices.findall("memory"):
        path = mem.find("./source/path")
        if path is not None:
            add("memory_device", path, None, "devices/" + _nth(devices, mem) + "/source/path")

    for shmem in devices.findall("shmem"):
        server = shmem.find("server")
        if server is not None:
            add("shmem_socket", server, "path", "devices/" + _nth(devices, shmem) + "/server")
    return refs


def _child_attr(parent, tag, attr):
    elem = parent.find(tag)
    return elem.get(attr) if elem is not None else None


def paths(root):
    """Every host path the definition carries, as {"kind", "path", "element"} (+ "target" for disks,
    "model"/"backend" for TPMs; an emulator TPM has path None: libvirt keeps its state by UUID)."""
    return [dict(entry) for entry, _elem, _attr in _path_refs(root)]


def rewrite_paths(root, mapping, drop_kinds=("channel_unix", "graphics_socket")):
    """Replace every host path found in `mapping` ({old: new}) except disk sources (see
    set_disk_source); remove the path of kinds in `drop_kinds` that `mapping` does not name, so
    libvirt generates one.
    Returns [(kind, old, new)] with new None for a dropped path."""
    mapping = mapping or {}
    changes = []
    for entry, elem, attr in _path_refs(root):
        kind, old = entry["kind"], entry["path"]
        if elem is None or old is None or kind in _DISK_KINDS:
            continue
        if kind in drop_kinds and old not in mapping:
            _drop_path(root, elem, attr)
            changes.append((kind, old, None))
        elif old in mapping and mapping[old] != old:
            if attr:
                elem.set(attr, mapping[old])
            else:
                elem.text = mapping[old]
            changes.append((kind, old, mapping[old]))
    return changes


def _drop_path(root, elem, attr):
    if attr:
        del elem.attrib[attr]
    else:
        elem.text = None
    if elem.tag == "graphics":
        # without socket= and listens a VNC/SPICE display would fall back to TCP: keep it on a
        # unix socket and let libvirt pick the path (<listen type='socket'/> with no socket=)
        if not [li for li in elem.findall("listen") if li.get("type") == "socket"]:
            listen = ET.Element("listen", {"type": "socket"})
            listen.tail = elem.text if elem.text and not elem.text.strip() else None
            elem.insert(0, listen)


# ---------------------------------------------------------------- networks

def networks(root):
    """Each <interface>: {"type", "source", "mac", "model"} (source: bridge=, network= or dev=)."""
    out = []
    for iface in root.findall("./devices/interface"):
        src = iface.find("source")
        source = None
        if src is not None:
            source = src.get("bridge") or src.get("network") or src.get("dev")
        out.append({
            "type": iface.get("type"),
            "source": source,
            "mac": _child_attr(iface, "mac", "address"),
            "model": _child_attr(iface, "model", "type"),
        })
    return out


def map_networks(root, source_map, target_map):
    """Rename bridges/networks from the source host's names to the target host's.

    source_map and target_map map logical names to each host's own names. A bridge or network
    named by a source_map value takes target_map's name for that logical key; names that are
    not in source_map, or whose key target_map lacks, are kept. Returns [(mac, old, new)] for
    the interfaces that changed.
    """
    source_map, target_map = source_map or {}, target_map or {}
    changes = []
    for iface in root.findall("./devices/interface"):
        attr = {"bridge": "bridge", "network": "network"}.get(iface.get("type"))
        src = iface.find("source")
        if attr is None or src is None or src.get(attr) is None:
            continue
        old = src.get(attr)
        logical = sorted(k for k, v in source_map.items() if v == old)
        wanted = sorted({target_map[k] for k in logical if k in target_map})
        mac = _child_attr(iface, "mac", "address")
        if len(wanted) > 1:
            raise Refused("interface %s: %s %r is %s on the source host, which the target host names "
                          "differently (%s)" % (mac, attr, old, " and ".join(logical), ", ".join(wanted)))
        if wanted and wanted[0] != old:
            src.set(attr, wanted[0])
            changes.append((mac, old, wanted[0]))
    return changes


# ---------------------------------------------------------------- requirements

def requirements(root):
    """What the target host must offer for this definition."""
    os_type = root.find("./os/type")
    cpu = root.find("cpu")
    bridges, nets, direct = [], [], []
    for n in networks(root):
        bucket = {"bridge": bridges, "network": nets, "direct": direct}.get(n["type"])
        if bucket is not None and n["source"] and n["source"] not in bucket:
            bucket.append(n["source"])
    cpu_info = {"mode": None, "model": None, "xml": None}
    if cpu is not None:
        alone = copy.copy(cpu)
        alone.tail = None
        cpu_info = {"mode": cpu.get("mode", "custom"), "model": _child_text(cpu, "model"),
                    "xml": ET.tostring(alone, encoding="unicode")}
    return {
        "domain_type": root.get("type"),
        "arch": os_type.get("arch") if os_type is not None else None,
        "machine": os_type.get("machine") if os_type is not None else None,
        "emulator": _child_text(root, "./devices/emulator"),
        "bridges": bridges,
        "networks": nets,
        "direct_devs": direct,
        "cpu": cpu_info,
    }


# ---------------------------------------------------------------- the whole move

def target_definition(xml_text, *, vcpus=None, memory_mib=None, disk_map=None, path_map=None,
                      source_net_map=None, target_net_map=None):
    """The definition for the target host and the human-readable list of what changed.

    disk_map: {target_dev: {"path": ..., "format": ...}}; path_map: {old_path: new_path} for the
    other host paths; the net maps as map_networks takes them.
    """
    root = parse(xml_text)
    changes = []
    if vcpus is not None and int(vcpus) != vcpu_count(root):
        changes.append("vcpus: %d -> %d" % (vcpu_count(root), int(vcpus)))
        set_vcpus(root, vcpus)
    if memory_mib is not None and int(memory_mib) * 1024 != memory_kib(root):
        old = memory_kib(root)
        changes.append("memory: %s MiB -> %d MiB" % ("%g" % (old / 1024) if old is not None else "?", int(memory_mib)))
        set_memory(root, memory_mib)
    for dev, spec in (disk_map or {}).items():
        before = _disk_dict(0, _disk_element(root, dev))  # KeyError for an unknown disk
        set_disk_source(root, dev, spec["path"], spec.get("format"))
        after = _disk_dict(0, _disk_element(root, dev))
        changes.append("disk %s: %s (%s) -> %s (%s)" % (dev, before["path"], before["format"],
                                                        after["path"], after["format"]))
    for kind, old, new in rewrite_paths(root, path_map):
        changes.append("%s: %s -> %s" % (kind, old, new if new is not None else "(generated by libvirt)"))
    for mac, old, new in map_networks(root, source_net_map, target_net_map):
        changes.append("interface %s: %s -> %s" % (mac, old, new))
    return to_text(root), changes
