"""Soft server-group weighers: ``nova/scheduler/weights/affinity.py``."""

from __future__ import annotations


def _group_count(hs, ctx):
    return len(hs["names"] & ctx["members"]) if ctx["members"] else 0


def soft_affinity_weight(hs, ctx):
    """ServerGroupSoftAffinityWeigher: members of the group on the host (policy soft-affinity)."""
    return _group_count(hs, ctx) if ctx["policy"] == "soft-affinity" else 0


def soft_anti_affinity_weight(hs, ctx):
    """ServerGroupSoftAntiAffinityWeigher: minus the members on the host (soft-anti-affinity)."""
    return -_group_count(hs, ctx) if ctx["policy"] == "soft-anti-affinity" else 0
