"""A small wrapper over libvirt-python and the domain logic built on it.

Modules talk to libvirt only through `LibvirtClient`; the functions below take
any object with the same methods, so unit tests can pass a fake client while
integration tests use the real daemon.
"""

import time
import xml.etree.ElementTree as ET

from ansible.module_utils import ferry_metadata

STATE_NAMES = {
    0: "nostate", 1: "running", 2: "blocked", 3: "paused",
    4: "shutdown", 5: "shutoff", 6: "crashed", 7: "pmsuspended",
}


# Seconds one libvirt call may take before the module gives up on a hung daemon (environment
# FERRY_LIBVIRT_TIMEOUT overrides it).  No single call ferry makes legitimately takes this long:
# a graceful shutdown is a request plus polling, a start returns once qemu runs.
LIBVIRT_CALL_TIMEOUT = 120


class Watchdog(object):
    """Ends the process with a module failure when one watched call outlives `seconds`: a hung
    libvirt daemon (stopped by SIGSTOP, deadlocked) blocks its client in C code for ever, where no
    Python signal or exception can reach it; libvirt-python releases the GIL there, so this thread
    still runs."""

    def __init__(self, seconds, uri, expire=None, clock=time.monotonic):
        import threading
        self.seconds, self.uri, self.clock = seconds, uri, clock
        self._expire = expire or self._fail_module
        self._deadline = None
        self._what = None
        self._lock = threading.Lock()
        t = threading.Thread(target=self._run, name="ferry-libvirt-watchdog")
        t.daemon = True
        t.start()

    def _run(self):
        while True:
            time.sleep(0.5)
            with self._lock:
                late = self._deadline is not None and self.clock() > self._deadline
                what = self._what
            if late:
                self._expire("libvirt at %s did not answer %s within %d s (daemon hung or stopped?)"
                             % (self.uri, what, self.seconds))
                return

    @staticmethod
    def _fail_module(msg):
        import json
        import os
        import sys
        sys.stdout.write(json.dumps({"failed": True, "msg": msg}) + "\n")
        sys.stdout.flush()
        os._exit(1)

    def call(self, what, fn, *args, **kwargs):
        with self._lock:
            self._deadline, self._what = self.clock() + self.seconds, what
        try:
            return fn(*args, **kwargs)
        finally:
            with self._lock:
                self._deadline = None


class _Watched(object):
    """A libvirt connection or domain whose every method call runs under the watchdog; the
    domains it returns are watched too."""

    def __init__(self, obj, dog):
        self._obj, self._dog = obj, dog

    def __getattr__(self, name):
        attr = getattr(self._obj, name)
        if not callable(attr):
            return attr

        def call(*args, **kwargs):
            out = self._dog.call(name, attr, *args, **kwargs)
            if type(out).__name__ == "virDomain":
                return _Watched(out, self._dog)
            if isinstance(out, list) and out and type(out[0]).__name__ == "virDomain":
                return [_Watched(d, self._dog) for d in out]
            return out
        return call


class LibvirtClient(object):
    """Thin wrapper: one libvirt connection, plain data out.  Every libvirt call is watched: a
    daemon that does not answer within LIBVIRT_CALL_TIMEOUT seconds fails the module."""

    def __init__(self, uri, timeout=None):
        import os
        import libvirt  # imported here so pure logic imports without the binding
        self._libvirt = libvirt
        self.uri = uri
        seconds = timeout or int(os.environ.get("FERRY_LIBVIRT_TIMEOUT") or LIBVIRT_CALL_TIMEOUT)
        self._dog = Watchdog(seconds, uri)
        self.conn = _Watched(self._dog.call("open", libvirt.open, uri), self._dog)

    def close(self):
        self.conn.close()

    def node(self):
        info = self.conn.getInfo()
        return {"arch": info[0], "memory_mb": int(info[1]), "cpus": int(info[2])}

    def capabilities_xml(self):
        return self.conn.getCapabilities()

    def _dom(self, name):
        try:
            return self.conn.lookupByName(name)
        except self._libvirt.libvirtError:
            return None

    def domain_names(self):
        return sorted(d.name() for d in self.conn.listAllDomains(0))

    def domain(self, name):
        """{name, uuid, state, xml, persistent} or None."""
        dom = self._dom(name)
        if dom is None:
            return None
        return {
            "name": dom.name(),
            "uuid": dom.UUIDString(),
            "state": STATE_NAMES.get(dom.state()[0], "unknown"),
            # the persistent definition (what a define changes), not the live one
            "xml": dom.XMLDesc(self._libvirt.VIR_DOMAIN_XML_INACTIVE) if dom.isPersistent() else dom.XMLDesc(0),
            "persistent": bool(dom.isPersistent()),
        }

    def domain_state(self, name):
        """The domain's state name, or "absent": two calls, for polling (domain() reads the XML too)."""
        dom = self._dom(name)
        return "absent" if dom is None else STATE_NAMES.get(dom.state()[0], "unknown")

    def migratable_xml(self, name):
        """The persistent definition as a move carries it: inactive, migratable, secrets kept."""
        lv = self._libvirt
        return self._dom(name).XMLDesc(lv.VIR_DOMAIN_XML_INACTIVE | lv.VIR_DOMAIN_XML_MIGRATABLE
                                       | lv.VIR_DOMAIN_XML_SECURE)

    def domain_capabilities(self, emulator=None, arch=None, machine=None, virttype=None):
        return self.conn.getDomainCapabilities(emulator, arch, machine, virttype, 0)

    def compare_cpu(self, cpu_xml, emulator=None, arch=None, machine=None, virttype=None):
        """libvirt's verdict on a guest CPU here: 'incompatible', 'identical', 'superset' or 'error: ...'."""
        names = {0: "incompatible", 1: "identical", 2: "superset"}
        try:
            return names.get(self.conn.compareHypervisorCPU(emulator, arch, machine, virttype, cpu_xml, 0), "error")
        except self._libvirt.libvirtError as e:
            return "error: %s" % e

    def define(self, xml):
        self.conn.defineXML(xml)

    def start(self, name):
        self._dom(name).create()

    def shutdown(self, name):
        self._dom(name).shutdown()

    def destroy(self, name):
        self._dom(name).destroy()

    def undefine(self, name):
        """Undefine; a per-guest nvram file goes with the definition (ferry deletes it anyway)."""
        dom = self._dom(name)
        # the nvram file and an emulated TPM's state go with the definition (copied by a move)
        flags = getattr(self._libvirt, "VIR_DOMAIN_UNDEFINE_NVRAM", 0) | getattr(
            self._libvirt, "VIR_DOMAIN_UNDEFINE_TPM", 0)
        try:
            dom.undefineFlags(flags)
        except self._libvirt.libvirtError:
            dom.undefine()

    def set_metadata(self, name, xml_text):
        dom = self._dom(name)
        flags = self._libvirt.VIR_DOMAIN_AFFECT_CONFIG
        if dom.isActive():
            flags |= self._libvirt.VIR_DOMAIN_AFFECT_LIVE
        dom.setMetadata(self._libvirt.VIR_DOMAIN_METADATA_ELEMENT, xml_text,
                        ferry_metadata.PREFIX, ferry_metadata.NAMESPACE, flags)


# libvirt's memory units (https://libvirt.org/formatdomain.html#memory-allocation), in bytes
_MEMORY_UNITS_BYTES = {
    "b": 1, "bytes": 1,
    "KB": 1000, "k": 1024, "KiB": 1024,
    "MB": 1000 ** 2, "M": 1024 ** 2, "MiB": 1024 ** 2,
    "GB": 1000 ** 3, "G": 1024 ** 3, "GiB": 1024 ** 3,
    "TB": 1000 ** 4, "T": 1024 ** 4, "TiB": 1024 ** 4,
}


def parse_domain_xml(xml_text):
    """vCPUs, memory (MiB), file disks and ferry metadata from a domain XML."""
    root = ET.fromstring(xml_text)
    mem = root.find("memory")
    unit = (mem.get("unit") or "KiB") if mem is not None else "KiB"
    factor = _MEMORY_UNITS_BYTES[unit] / float(1024 ** 2)
    disks = []
    for disk in root.findall("./devices/disk"):
        source = disk.find("source")
        driver = disk.find("driver")
        target = disk.find("target")
        src = {} if source is None else source.attrib
        disks.append({
            "path": src.get("file") or src.get("dev") or src.get("dir") or (
                "%s:%s" % (src.get("protocol"), src.get("name")) if src.get("protocol") else
                ("%s/%s" % (src.get("pool"), src.get("volume")) if src.get("pool") else None)),
            "format": driver.get("type") if driver is not None else None,
            "target": target.get("dev") if target is not None else None,
            "type": disk.get("type", "file"),
            "device": disk.get("device", "disk"),
            "readonly": disk.find("readonly") is not None,
            "shareable": disk.find("shareable") is not None,
        })
    return {
        "name": root.findtext("name"),
        "uuid": root.findtext("uuid"),
        "domain_type": root.get("type"),
        "vcpus": int(root.findtext("vcpu") or 0),
        "memory_mb": int(round(int(mem.text) * factor)) if mem is not None else 0,
        "disks": disks,
        "metadata": ferry_metadata.from_domain_xml(xml_text),
    }


def swtpm_dir(uri, environ, home):
    """Where libvirt keeps emulated TPMs' state (a directory per domain UUID): the session
    daemon's under the user's config dir, the system daemon's under /var/lib/libvirt."""
    if uri.endswith("/session"):
        return "%s/libvirt/qemu/swtpm" % (environ.get("XDG_CONFIG_HOME") or home + "/.config")
    return "/var/lib/libvirt/swtpm"


def nvram_path(uri, environ, home, name):
    """Where libvirt puts a domain's UEFI variables when its definition names no path: the
    session daemon's config dir, or the system daemon's /var/lib/libvirt/qemu/nvram."""
    if uri.endswith("/session"):
        base = "%s/libvirt/qemu/nvram" % (environ.get("XDG_CONFIG_HOME") or home + "/.config")
    else:
        base = "/var/lib/libvirt/qemu/nvram"
    return "%s/%s_VARS.fd" % (base, name)


def parse_capabilities(xml_text):
    """Host arch, the domain types and machine types libvirt offers for it."""
    root = ET.fromstring(xml_text)
    host_arch = root.findtext("./host/cpu/arch")
    domain_types, machines = set(), set()
    for guest in root.findall("guest"):
        arch = guest.find("arch")
        if arch is None or arch.get("name") != host_arch:
            continue
        for m in arch.findall("machine"):
            if m.text:
                machines.add(m.text)
            if m.get("canonical"):
                machines.add(m.get("canonical"))
        for d in arch.findall("domain"):
            domain_types.add(d.get("type"))
    return {"arch": host_arch, "domain_types": sorted(domain_types),
            "machine_types": sorted(machines)}


def choose_domain_type(domain_types, kvm_usable):
    """kvm when libvirt offers it and /dev/kvm is usable by this user, else TCG."""
    return "kvm" if ("kvm" in domain_types and kvm_usable) else "qemu"


def wait_state(client, name, wanted, timeout, poll=0.01, clock=time.monotonic, sleep=time.sleep):
    """Poll the domain's state every `poll` seconds until it is in `wanted` or `timeout` passed (a
    stop's end counts in the downtime: 10 ms, two light calls each)."""
    deadline = clock() + timeout
    while True:
        state = client.domain_state(name)
        if state in wanted:
            return state
        if clock() >= deadline:
            return state
        sleep(poll)


def stop_domain(client, name, timeout, retry_interval=3, clock=time.monotonic, **kw):
    """Graceful ACPI shutdown, then force after `timeout` seconds.

    The shutdown request is re-sent every `retry_interval` seconds, as Nova's
    _clean_shutdown does: a guest that was still in its firmware when the
    first ACPI event came may not have seen it.  Returns 'already' (was not
    running), 'graceful' or 'forced'.  When this returns, the guest's qemu
    process is gone (libvirt reports shutoff only after the process exited),
    so the disk is safe to read.
    """
    dom = client.domain(name)
    if dom is None:
        raise LookupError("domain %s not found" % name)
    if dom["state"] == "shutoff":
        return "already"
    deadline = clock() + timeout
    while timeout > 0:
        left = deadline - clock()
        if left <= 0:
            break
        client.shutdown(name)
        if wait_state(client, name, ("shutoff",), min(retry_interval, left), clock=clock, **kw) == "shutoff":
            return "graceful"
    client.destroy(name)
    wait_state(client, name, ("shutoff",), 30, clock=clock, **kw)
    return "forced"


def with_metadata(xml_text, metadata):
    """Return domain XML with ferry's <metadata> element set to `metadata`."""
    root = ET.fromstring(xml_text)
    meta = root.find("metadata")
    if meta is None:
        meta = ET.SubElement(root, "metadata")
    for old in meta.findall("{%s}%s" % (ferry_metadata.NAMESPACE, ferry_metadata.ROOT_TAG)):
        meta.remove(old)
    meta.append(ET.fromstring(ferry_metadata.encode(metadata)))
    ET.register_namespace(ferry_metadata.PREFIX, ferry_metadata.NAMESPACE)
    return ET.tostring(root, encoding="unicode")


def summary(xml_text):
    """What ferry manages in a domain definition, for comparison and diff."""
    p = parse_domain_xml(xml_text)
    return {
        "domain_type": p["domain_type"],
        "vcpus": p["vcpus"],
        "memory_mb": p["memory_mb"],
        "disks": [d["path"] for d in p["disks"]],
        "metadata": p["metadata"],
    }


def _yaml_lines(d):
    import json
    return json.dumps(d, indent=2, sort_keys=True) + "\n"


def plan_domain(current, xml_text, metadata, state):
    """Decide what to do to reach `state` ('defined', 'running', 'shutoff', 'absent').

    `current` is client.domain(name) or None.  Returns a list of actions among
    define, set_metadata, start, stop, undefine, and the diff before/after.
    """
    actions = []
    before = summary(current["xml"]) if current else None
    after = before
    if state == "absent":
        if current:
            if current["state"] != "shutoff":
                actions.append("stop")
            actions.append("undefine")
            after = None
        return actions, before, after
    if xml_text is not None:
        wanted_meta = metadata if metadata is not None else (before or {}).get("metadata", {})
        desired = summary(with_metadata(xml_text, wanted_meta))
        if before is None or {k: v for k, v in desired.items() if k != "metadata"} != \
                {k: v for k, v in before.items() if k != "metadata"}:
            actions.append("define")
            after = desired
        elif desired["metadata"] != before["metadata"]:
            actions.append("set_metadata")
            after = desired
    elif metadata is not None:
        if current is None:
            raise LookupError("domain does not exist and no xml was given to define it")
        if before["metadata"] != metadata:
            actions.append("set_metadata")
            after = dict(before, metadata=metadata)
    elif current is None:
        raise LookupError("domain does not exist and no xml was given to define it")
    running = current is not None and current["state"] not in ("shutoff", "crashed")
    if state == "running" and not running:
        actions.append("start")
    elif state == "shutoff" and running:
        actions.insert(0, "stop")
    return actions, before, after


def apply_domain(client, name, xml_text, metadata, actions, shutdown_timeout):
    """Carry out plan_domain's actions; returns how the guest was stopped, if it was."""
    stopped = None
    for action in actions:
        if action == "stop":
            stopped = stop_domain(client, name, shutdown_timeout)
        elif action == "undefine":
            client.undefine(name)
        elif action == "define":
            current = client.domain(name)
            meta = metadata if metadata is not None else (
                parse_domain_xml(current["xml"])["metadata"] if current else {})
            client.define(with_metadata(xml_text, meta))
        elif action == "set_metadata":
            client.set_metadata(name, ferry_metadata.encode_plain(metadata))
        elif action == "start":
            client.start(name)
    return stopped


def guest_fit(client, req):
    """Whether this host's libvirt can run a definition needing `req` (ferry_domxml.requirements):
    {domcaps: "ok" or why not, cpu: libvirt's verdict on the guest's CPU here, or "n/a"}."""
    import os
    emulator = req.get("emulator")
    out = {"domcaps": "ok", "cpu": "n/a"}
    if emulator and not os.access(emulator, os.X_OK):
        out["domcaps"] = "emulator %s is not on this host" % emulator
        return out
    try:
        client.domain_capabilities(emulator, req.get("arch"), req.get("machine"), req.get("domain_type"))
    except Exception as e:  # noqa: BLE001 -- libvirtError: unsupported machine/arch/type
        out["domcaps"] = "libvirt offers no %s domain for arch %s machine %s: %s" % (
            req.get("domain_type"), req.get("arch"), req.get("machine"), str(e).strip())
        return out
    cpu = req.get("cpu") or {}
    if cpu.get("xml") and cpu.get("model") and cpu.get("mode") in (None, "custom"):
        out["cpu"] = client.compare_cpu(cpu["xml"], emulator, req.get("arch"), req.get("machine"),
                                        req.get("domain_type"))
    return out


def run_module(module, work):
    """Module glue shared by ferry's libvirt modules: connect to I(uri) (failing with the reason),
    exit with work(module, client)'s result, always close the connection."""
    try:
        client = LibvirtClient(module.params["uri"])
    except Exception as e:  # libvirt.libvirtError, ImportError
        module.fail_json(msg="cannot connect to libvirt at %s: %s" % (module.params["uri"], e))
    try:
        module.exit_json(**work(module, client))
    finally:
        client.close()
