"""Affinity filters, as Nova keeps them together in ``nova/scheduler/filters/affinity_filter.py``:
SameHostFilter, DifferentHostFilter, SimpleCIDRAffinityFilter, ServerGroupAffinityFilter and
ServerGroupAntiAffinityFilter."""

from __future__ import annotations

import ipaddress
import socket


def same_host_filter(hs, ctx):
    """SameHostFilter (nova/scheduler/filters/affinity_filter.py).

    With a same_host hint, the host must run at least one of the named
    instances (names or UUIDs).
    """
    wanted = ctx["same_host"]
    if not wanted or not hs["names"].isdisjoint(wanted):
        return None
    return f"runs none of same_host {', '.join(sorted(wanted))}"


def different_host_filter(hs, ctx):
    """DifferentHostFilter (nova/scheduler/filters/affinity_filter.py).

    With a different_host hint, the host must run none of the named
    instances.
    """
    avoid = ctx["different_host"]
    if not avoid or hs["names"].isdisjoint(avoid):
        return None
    return f"runs different_host {', '.join(sorted(hs['names'] & avoid))}"


def server_group_affinity_filter(hs, ctx):
    """ServerGroupAffinityFilter (nova/scheduler/filters/affinity_filter.py).

    Policy "affinity": when other members run somewhere, only their hosts
    pass; a group with no other member places anywhere.
    """
    if ctx["policy"] != "affinity" or not ctx["group_hosts"] or hs["name"] in ctx["group_hosts"]:
        return None
    return f"group {ctx['group']} (affinity) runs on {', '.join(sorted(ctx['group_hosts']))}"


def server_group_anti_affinity_filter(hs, ctx):
    """ServerGroupAntiAffinityFilter (nova/scheduler/filters/affinity_filter.py).

    Policy "anti-affinity": the host passes while it runs fewer members than
    ``max_server_per_host`` (rule, default 1). The host the moved instance
    is on passes (Nova: a move may check its own source).
    """
    if ctx["policy"] != "anti-affinity" or ctx["instance"] in hs["names"]:
        return None
    count = len(hs["names"] & ctx["members"])
    limit = ctx["max_server_per_host"]
    if count < limit:
        return None
    return f"runs {count} member(s) of anti-affinity group {ctx['group']} (max {limit})"


def simple_cidr_affinity_filter(hs, ctx):
    """SimpleCIDRAffinityFilter: with a ``build_near_host_ip`` hint, the host's address must lie
    in that address's network of prefix ``cidr`` (hint, default "/24"). The host's address is
    ``host_ip`` in its facts, which the host facts role takes from ``ansible_host``; a host whose
    ``ansible_host`` is not an IP address fails (it cannot be placed by address)."""
    near = ctx["cidr_near"]
    if not near:
        return None
    if "_cidr_net" not in ctx:  # parsed once per request
        ctx["_cidr_net"] = _network(near, ctx["cidr"])
    net = ctx["_cidr_net"]
    if net is None:
        return f"hint build_near_host_ip {near}{ctx['cidr']} is not a network"
    have = hs["host"].get("host_ip")
    addr = _address(have)
    if addr is None:
        return f"host address {have!r} is not an IP address (host_ip from ansible_host)"
    if addr[0] == net[0] and addr[1] & net[2] == net[1]:
        return None
    return f"host address {have} is not in {near}{ctx['cidr']}"


def _address(text):
    """(version, int) of an address; IPv4 through inet_aton (fast for 10,000 hosts)."""
    if not isinstance(text, str):
        return None
    try:
        if text.count(".") == 3:
            return 4, int.from_bytes(socket.inet_aton(text), "big")
        return 6, int(ipaddress.IPv6Address(text))
    except (OSError, ValueError):
        return None


def _network(near, cidr):
    try:
        net = ipaddress.ip_network(f"{near}{cidr}", strict=False)
    except ValueError:
        return None
    return net.version, int(net.network_address), int(net.netmask)
