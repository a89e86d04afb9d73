"""Load weighers: ``nova/scheduler/weights/io_ops.py``, ``num_instances.py``."""

from __future__ import annotations


def io_ops_weight(hs, ctx):
    """IoOpsWeigher: I/O operations in flight (default multiplier -1.0 prefers idle hosts)."""
    return hs["io_ops"]


def num_instances_weight(hs, ctx):
    """NumInstancesWeigher: instance count (default multiplier 0.0, off)."""
    return hs["num_instances"]
