"""Filters that lay out the local lab (thin shim; no side effects)."""

import string

# Declared capacities rotate through these so hosts differ, as real ones do
# (every lab host sees the same physical machine, so capacity is declared).
_SHAPES = [
    {"vcpus": 2, "memory_mb": 2048, "disk_gb": 20},
    {"vcpus": 2, "memory_mb": 1024, "disk_gb": 12},
    {"vcpus": 2, "memory_mb": 3072, "disk_gb": 30},
    {"vcpus": 2, "memory_mb": 1536, "disk_gb": 16},
]


def ferry_lab_hosts(azs, hosts_per_az, net_prefix="127.0.1.", user_prefix="ferry-"):
    """[{name, az, user, addr, capacity}] for `hosts_per_az` hosts in each AZ."""
    if not azs:
        raise ValueError("ferry_lab_azs must name at least one availability zone")
    if len(azs) > 9 or int(hosts_per_az) > 9 or int(hosts_per_az) < 1:
        raise ValueError("the lab supports 1-9 AZs of 1-9 hosts each")
    hosts, k = [], 0
    for ai, az in enumerate(azs):
        letter = string.ascii_lowercase[ai]
        for i in range(1, int(hosts_per_az) + 1):
            name = "hv-%s%d" % (letter, i)
            hosts.append({
                "name": name,
                "az": az,
                "user": user_prefix + name,
                "addr": "%s%d" % (net_prefix, 10 * (ai + 1) + i),
                "capacity": dict(_SHAPES[k % len(_SHAPES)]),
            })
            k += 1
    return hosts


def ferry_lab_manifest_entry(stat):
    """One image store manifest entry from an ansible.builtin.stat result."""
    if not stat.get("exists"):
        raise ValueError("image %s is missing" % stat.get("path"))
    return {"file": stat["path"].rsplit("/", 1)[-1], "sha256": stat["checksum"],
            "size": stat["size"], "format": "qcow2"}


def ferry_lab_network_map(hosts, networks, prefix="fbr", prefixes=None):
    """{host name: {network: bridge}}: bridge <prefix>-<network>, prefix per host or the default."""
    out = {}
    for h in hosts:
        name = h["name"] if isinstance(h, dict) else h
        p = (prefixes or {}).get(name, prefix)
        out[name] = {}
        for net in networks:
            bridge = "%s-%s" % (p, net)
            if len(bridge) > 15:
                raise ValueError("bridge name %s is longer than 15 characters" % bridge)
            out[name][net] = bridge
    return out


class FilterModule(object):
    def filters(self):
        return {"ferry_lab_hosts": ferry_lab_hosts,
                "ferry_lab_manifest_entry": ferry_lab_manifest_entry,
                "ferry_lab_network_map": ferry_lab_network_map}
