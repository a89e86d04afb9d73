"""The weighers and Nova's weighing (``nova/weights.py``, ``nova/scheduler/weights/*``).

Every weigher weighs all surviving hosts; its weights are normalised to [0, 1] (its minval, else
the list's min; the list's max; all equal -> 0), multiplied by the multiplier **of each host**
(``nova/scheduler/utils.py`` get_weight_multiplier: the smallest value the host's aggregates set
for the weigher's key, else the configured one; resolved by resolve.py) and summed. Registry:
name -> (raw weight function, minval, multiplier key), explicit, no directory scan.
"""

from __future__ import annotations

from ansible.module_utils.ferry_sched import resolve
from ansible.module_utils.ferry_sched.weights import affinity, load, resources

# RAM/CPU/Disk/IoOps weighers have minval = 0 in Nova: weights are clamped to
# >= 0 and normalised against 0, so equal non-zero weights give 1.0 each.
WEIGHERS = {
    "RAMWeigher": (resources.ram_weight, 0, "ram_weight_multiplier"),
    "CPUWeigher": (resources.cpu_weight, 0, "cpu_weight_multiplier"),
    "DiskWeigher": (resources.disk_weight, 0, "disk_weight_multiplier"),
    "IoOpsWeigher": (load.io_ops_weight, 0, "io_ops_weight_multiplier"),
    "NumInstancesWeigher": (load.num_instances_weight, None, "num_instances_weight_multiplier"),
    "ServerGroupSoftAffinityWeigher": (affinity.soft_affinity_weight, None, "soft_affinity_weight_multiplier"),
    "ServerGroupSoftAntiAffinityWeigher": (affinity.soft_anti_affinity_weight, None,
                                           "soft_anti_affinity_weight_multiplier"),
}


def normalize(weights: list, minval=None, maxval=None) -> list:
    """nova.weights.normalize: scale to [0, 1]; all equal -> all 0.0.

    A weigher's own minval/maxval replace the list's min/max.
    """
    if not weights:
        return []
    high = float(max(weights) if maxval is None else maxval)
    low = float(min(weights) if minval is None else minval)
    if high == low:
        return [0.0] * len(weights)
    span = high - low
    return [(w - low) / span for w in weights]


def weigher_weights(name: str, states: list, ctx: dict) -> dict:
    """One weigher over all hosts: raw, normalized, per-host multiplier (and its source) and
    weighted lists."""
    fn, minval, mult_key = WEIGHERS[name]
    raw = [fn(hs, ctx) for hs in states]
    if minval is not None:
        raw = [max(w, minval) for w in raw]
    norm = normalize(raw, minval=minval)
    cfg = ctx["cfg"]
    default = cfg[mult_key]
    mults, sources = [], []
    for hs in states:
        value, source = hs["settings"]["aggregate"].get(mult_key) or (default, resolve.CONFIG)
        mults.append(value)
        sources.append(source)
    return {"name": name, "multiplier": mults, "multiplier_source": sources, "raw": raw, "normalized": norm,
            "weighted": [m * w for m, w in zip(mults, norm)]}


def weigh_hosts(states: list, ctx: dict, weighers) -> tuple:
    """Nova's get_weighed_objects: (hosts sorted by total desc, totals, per-weigher data).

    Sorting is stable, so equal totals keep the host facts' order. With one
    host or none nothing is weighed (every total is 0.0), as in Nova.
    """
    if len(states) <= 1:
        return list(states), [0.0] * len(states), []
    per = [weigher_weights(name, states, ctx) for name in weighers]
    totals = [sum(col) for col in zip(*(p["weighted"] for p in per))] if per else [0.0] * len(states)
    order = sorted(range(len(states)), key=totals.__getitem__, reverse=True)
    ranked = [states[i] for i in order]
    return ranked, [totals[i] for i in order], [_reorder(p, order) for p in per]


def _reorder(per, order):
    return {k: ([v[i] for i in order] if isinstance(v, list) else v) for k, v in per.items()}
