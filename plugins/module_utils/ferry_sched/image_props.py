"""Image properties: canonical names (nova/objects/fields.py canonicalize), the host's supported
instances and hypervisor version predicates (nova/scheduler/filters/image_props_filter.py)."""

from __future__ import annotations

import operator

_ARCH_ALIASES = {"i386": "i686", "i486": "i686", "i586": "i686", "x86_32": "i686", "amd64": "x86_64"}
_HV_ALIASES = {"xapi": "xen"}
_VM_MODE_ALIASES = {"pv": "xen", "hv": "hvm", "baremetal": "hvm"}


def _canon(value, aliases):
    if not value:
        return None
    value = str(value).lower()
    return aliases.get(value, value)


def _prop(props, new, old):
    return props.get(new) if props.get(new) is not None else props.get(old)


def image_requirements(props: dict, default_arch: str | None = None) -> dict:
    """Canonical image requirements; both Liberty+ and legacy names accepted.

    ``default_arch`` is Nova's ``image_properties_default_architecture``: the
    architecture of an image that names none. ``maxphysaddr_bits`` is the
    image's ``hw_maxphysaddr_bits``.
    """
    arch = _prop(props, "hw_architecture", "architecture") or default_arch
    bits = props.get("hw_maxphysaddr_bits")
    return {
        "arch": _canon(arch, _ARCH_ALIASES),
        "hv_type": _canon(_prop(props, "img_hv_type", "hypervisor_type"), _HV_ALIASES),
        "vm_mode": _canon(_prop(props, "hw_vm_mode", "vm_mode"), _VM_MODE_ALIASES),
        "version": _prop(props, "img_hv_requested_version", "hypervisor_version_requires"),
        "machine_type": props.get("hw_machine_type"),
        "maxphysaddr_bits": int(bits) if bits not in (None, "") else None,
    }


def supported_instances(host: dict) -> list:
    """(arch, hv_type, vm_mode) triples the host can run.

    Like Nova's libvirt driver: one triple per domain type libvirt offers; a
    KVM host also offers plain QEMU (TCG), so an image asking for "qemu" runs
    on both, one asking for "kvm" only on KVM hosts. Host facts may give
    ``supported_instances`` directly.
    """
    if host.get("supported_instances"):
        return [tuple(_canon(v, {}) for v in t) for t in host["supported_instances"]]
    arch = _canon(host.get("arch"), _ARCH_ALIASES)
    hv_types = {_canon(host.get("domain_type"), {}) or "qemu", "qemu"}
    if host.get("hypervisor_type"):
        hv_types.add(_canon(host["hypervisor_type"], _HV_ALIASES))
    return [(arch, hv, "hvm") for hv in sorted(hv_types)]


def _version_tuple(value):
    if isinstance(value, int):
        parts = []
        while value:
            parts.insert(0, value % 1000)
            value //= 1000
        return tuple(parts)
    return tuple(int(p) for p in str(value).strip().split("."))


_VERSION_OPS = (("<=", operator.le), (">=", operator.ge), ("==", operator.eq),
                ("!=", operator.ne), ("<", operator.lt), (">", operator.gt))


def version_satisfies(version, predicate: str) -> bool:
    """Nova's versionpredicate check, e.g. (8002000 or "8.2.0", ">=6.0,<9")."""
    have = _version_tuple(version)
    for clause in str(predicate).split(","):
        clause = clause.strip()
        for sym, op in _VERSION_OPS:
            if clause.startswith(sym):
                want = _version_tuple(clause[len(sym):])
                width = max(len(have), len(want))
                if not op(have + (0,) * (width - len(have)), want + (0,) * (width - len(want))):
                    return False
                break
    return True
