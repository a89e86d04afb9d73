"""ImagePropertiesFilter (``nova/scheduler/filters/image_props_filter.py``)."""

from __future__ import annotations

from ansible.module_utils.ferry_sched.filters.compute import capability
from ansible.module_utils.ferry_sched.image_props import supported_instances, version_satisfies


def image_properties_filter(hs, ctx):
    """Architecture (else ``image_properties_default_architecture``), hypervisor type and VM mode
    must match one of the host's supported instances, and ``img_hv_requested_version`` the host's
    ``hypervisor_version`` when both are known. ``hw_maxphysaddr_bits`` must not exceed the host's
    ``cpu_info:maxphysaddr:bits`` (a host that does not report it passes, as in Nova). ferry also
    checks ``hw_machine_type`` against the host's ``machine_types`` (which Nova leaves to the
    libvirt driver); a host listing none is not checked."""
    img = ctx["image"]
    host = hs["host"]
    wanted = (img["arch"], img["hv_type"], img["vm_mode"])
    if any(wanted):
        key = (host.get("arch"), host.get("domain_type"), host.get("hypervisor_type"))
        cache = ctx.setdefault("_supported", {})
        supported = cache.get(key) if not host.get("supported_instances") else None
        if supported is None:
            supported = supported_instances(host)
            if not host.get("supported_instances"):
                cache[key] = supported
        if not any(_triple_matches(wanted, t) for t in supported):
            return f"image wants {_triple_text(wanted)}, host runs {_supported_text(supported)}"
        version = host.get("hypervisor_version")
        if version and img["version"] and not version_satisfies(version, img["version"]):
            return f"image wants hypervisor version {img['version']}, host has {version}"
    bits = img.get("maxphysaddr_bits")
    if bits:
        have = capability(hs, ["cpu_info", "maxphysaddr", "bits"])
        if have and int(have) < bits:
            return f"image wants {bits} physical address bits, host has {have}"
    machine = img["machine_type"]
    if machine and host.get("machine_types") and machine not in host["machine_types"]:
        return f"image wants machine type {machine}, host offers {', '.join(host['machine_types'])}"
    return None


def _triple_matches(wanted, supported):
    return all(w is None or w == s for w, s in zip(wanted, supported))


def _triple_text(triple):
    labels = ("architecture", "hypervisor_type", "vm_mode")
    return ", ".join(f"{k}={v}" for k, v in zip(labels, triple) if v)


def _supported_text(supported):
    return "; ".join("/".join(str(v) for v in t) for t in supported) or "nothing advertised"
