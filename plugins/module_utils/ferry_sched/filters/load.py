"""Load filters: I/O operations and instance count, each with its per-aggregate variant.

Nova: ``nova/scheduler/filters/io_ops_filter.py`` (IoOpsFilter, AggregateIoOpsFilter),
``num_instances_filter.py`` (NumInstancesFilter, AggregateNumInstancesFilter). The Aggregate
variants read ``max_io_ops_per_host`` / ``max_instances_per_host`` from the host's aggregates
(the smallest; not a number -> the configured value).
"""

from __future__ import annotations

from ansible.module_utils.ferry_sched import resolve
from ansible.module_utils.ferry_sched.filters._util import source_text


def _below(count, what, key, hs, ctx, aggregate):
    """count < the limit (the aggregates' smallest, else the configured one): None, else why."""
    limit, source = (resolve.aggregate_limit(hs["settings"], key, ctx["cfg"]) if aggregate
                     else (ctx["cfg"][key], "config"))
    return None if count < limit else f"{count} {what}, max {limit}{source_text(source)}"


def _io_ops(hs, ctx, aggregate):
    return _below(hs["io_ops"], "I/O operations in flight", "max_io_ops_per_host", hs, ctx, aggregate)


def io_ops_filter(hs, ctx):
    """IoOpsFilter: passes iff io_ops < ``max_io_ops_per_host``."""
    return _io_ops(hs, ctx, False)


def aggregate_io_ops_filter(hs, ctx):
    """AggregateIoOpsFilter: IoOpsFilter with the aggregates' ``max_io_ops_per_host``."""
    return _io_ops(hs, ctx, True)


def _num_instances(hs, ctx, aggregate):
    return _below(hs["num_instances"], "instances", "max_instances_per_host", hs, ctx, aggregate)


def num_instances_filter(hs, ctx):
    """NumInstancesFilter: passes iff the instance count < ``max_instances_per_host``."""
    return _num_instances(hs, ctx, False)


def aggregate_num_instances_filter(hs, ctx):
    """AggregateNumInstancesFilter: NumInstancesFilter with the aggregates'
    ``max_instances_per_host``."""
    return _num_instances(hs, ctx, True)
