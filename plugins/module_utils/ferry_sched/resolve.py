"""The one resolver of a host's aggregates, allocation ratios, AZs and weight multipliers.

Used by the filters and weighers, by the claim's re-check under the target's lock
(``ferry_claim``), by the AZ pinning of moves, by adoption and boot (the AZ recorded with a
guest) and by inventory validation, so that they all read a host the same way.

Nova's sources:

* ``nova/scheduler/filters/utils.py``: ``aggregate_values_from_key`` (the raw values of one key
  over the host's aggregates, NOT split on commas), ``aggregate_metadata_get_by_host`` (every key,
  values split on commas and stripped), ``validate_num_values`` (the smallest value wins, cast;
  a value that does not cast raises and the caller falls back).
* ``nova/scheduler/utils.py`` ``get_weight_multiplier``: a weigher's multiplier from the host's
  aggregates, the smallest when several set it, else the configured one.
* ``nova/scheduler/filters/{ram,core,disk}_filter.py`` (Aggregate*Filter, before Train): the ratio
  from the aggregates, else the host's own (``host_state.ram_allocation_ratio``, per compute
  node), which is itself the configured one unless the node sets its own.
* ``nova/scheduler/filters/availability_zone_filter.py``: the host's AZs are the comma-split
  ``availability_zone`` values of its aggregates, else ``default_availability_zone``. ferry adds
  the inventory's ``ferry_az`` between the two.

A host's settings are resolved once per request (``host_settings``) and kept with its state.
"""

from __future__ import annotations

RATIO_KEYS = ("ram_allocation_ratio", "cpu_allocation_ratio", "disk_allocation_ratio")
_RATIO_SHORT = {"ram": "ram_allocation_ratio", "cpu": "cpu_allocation_ratio", "disk": "disk_allocation_ratio"}

MULTIPLIER_KEYS = (
    "ram_weight_multiplier", "cpu_weight_multiplier", "disk_weight_multiplier",
    "io_ops_weight_multiplier", "num_instances_weight_multiplier",
    "soft_affinity_weight_multiplier", "soft_anti_affinity_weight_multiplier",
)

# aggregate metadata keys read as numbers (aggregate_values_from_key + validate_num_values)
NUMERIC_KEYS = dict(
    [(k, float) for k in RATIO_KEYS + MULTIPLIER_KEYS]
    + [("max_io_ops_per_host", int), ("max_instances_per_host", int)]
)

AZ_KEY = "availability_zone"
CONFIG = "config"


def aggregate_values_from_key(host: dict, key: str) -> dict:
    """Nova's aggregate_values_from_key, with where each value came from: {raw value: [aggregate
    names]} for one metadata key over the host's aggregates. Values are not split."""
    out = {}
    for agg in host.get("aggregates") or ():
        meta = agg.get("metadata") or {}
        if key in meta:
            out.setdefault(_text(meta[key]), []).append(agg.get("name"))
    return out


def aggregate_metadata(host: dict) -> dict:
    """Nova's aggregate_metadata_get_by_host: {key: set of values}, every value split on commas
    and stripped (so "az1, az2" puts a host in both)."""
    meta = {}
    for agg in host.get("aggregates") or ():
        for key, value in (agg.get("metadata") or {}).items():
            meta.setdefault(key, set()).update(x.strip() for x in _text(value).split(","))
    return meta


def _text(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def smallest(values: dict, cast) -> tuple:
    """Nova's validate_num_values(based_on=min) over {raw: [aggregates]}: (value, source) or
    None when no aggregate sets it. Raises ValueError when a value does not cast."""
    best = None
    for raw, names in values.items():
        num = cast(raw)
        if best is None or num < best[0]:
            best = (num, "aggregate " + ",".join(sorted(str(n) for n in names)))
    return best


def host_ratios(host: dict) -> dict:
    """A host's own allocation ratios (``ferry_allocation_ratios`` in the inventory, carried in
    host facts as ``allocation_ratios``), keys ``ram``/``cpu``/``disk`` or Nova's full names."""
    own = host.get("allocation_ratios") or {}
    out = {}
    for key, value in own.items():
        full = _RATIO_SHORT.get(key, key)
        if full in RATIO_KEYS and value is not None:
            out[full] = float(value)
    return out


def host_settings(host: dict, cfg: dict, cache: dict | None = None) -> dict:
    """Everything per host that filters and weighers read beyond usage, resolved once.

    Returns {"ratio": {key: (value, source)}  the host's own ratio else the configured one
                        (RamFilter, CoreFilter, DiskFilter, CPUWeigher),
             "aggregate": {key: (value, source)}  numeric aggregate values that cast
                        (ratios, multipliers, max_io_ops_per_host, max_instances_per_host),
             "bad": {key: raw values}  aggregate values that did not cast (Nova logs and falls back),
             "metadata": comma-split aggregate metadata,
             "azs": (az, ...), "az_source": "aggregate a,b" | "ferry_az" | "default"}

    ``cache`` (one dict per request) shares the aggregate part between hosts in the same
    aggregates (same names and metadata), so 10,000 hosts in a few aggregates resolve each
    combination once.
    """
    own = host.get("allocation_ratios")
    if own:
        mine = host_ratios(host)
        name = host.get("name")
        ratio = {k: ((mine[k], f"host {name}") if k in mine else (cfg[k], CONFIG)) for k in RATIO_KEYS}
    else:
        ratio = cfg.get("_config_ratios") or {k: (cfg[k], CONFIG) for k in RATIO_KEYS}
    aggs = host.get("aggregates") or ()
    part = _aggregate_part(aggs, cache)
    if part["azs"]:
        azs, az_source = part["azs"], part["az_source"]
    elif host.get("az"):
        azs, az_source = (host["az"],), "ferry_az"
    else:
        default = cfg.get("default_availability_zone")
        azs, az_source = ((default,) if default else ()), "default"
    return {"ratio": ratio, "aggregate": part["aggregate"], "bad": part["bad"], "metadata": part["metadata"],
            "azs": azs, "az_source": az_source}


_EMPTY_PART = {"aggregate": {}, "bad": {}, "metadata": {}, "azs": (), "az_source": None}


def _aggregate_part(aggs, cache):
    if not aggs:
        return _EMPTY_PART
    key = metas = None
    if cache is not None:
        # hosts naming the same aggregates with the same metadata share one resolution; a host
        # whose copy of an aggregate differs is resolved on its own
        key = tuple(a.get("name") for a in aggs)
        metas = [a.get("metadata") for a in aggs]
        found = cache.get(key)
        if found is not None:
            if found[0] == metas:
                return found[1]
            key = None
    per_key, metadata, az_names = {}, {}, []
    for agg in aggs:
        agg_name = agg.get("name")
        for mkey, value in (agg.get("metadata") or {}).items():
            text = _text(value)
            metadata.setdefault(mkey, set()).update(x.strip() for x in text.split(","))
            if mkey in NUMERIC_KEYS:
                per_key.setdefault(mkey, {}).setdefault(text, []).append(agg_name)
            elif mkey == AZ_KEY:
                az_names.append(str(agg_name))
    aggregate, bad = {}, {}
    for mkey, values in per_key.items():
        try:
            aggregate[mkey] = smallest(values, NUMERIC_KEYS[mkey])
        except ValueError:
            bad[mkey] = sorted(values)
    azs = tuple(sorted(v for v in metadata.get(AZ_KEY, ()) if v))
    part = {"aggregate": aggregate, "bad": bad, "metadata": metadata, "azs": azs,
            "az_source": "aggregate " + ",".join(sorted(set(az_names))) if azs else None}
    if key is not None:
        cache[key] = (metas, part)
    return part


def per_key_names(host, key):
    return sorted({str(a.get("name")) for a in host.get("aggregates") or () if key in (a.get("metadata") or {})})


def _azs(host, metadata, names, default):
    if metadata.get(AZ_KEY):
        return tuple(sorted(v for v in metadata[AZ_KEY] if v)), "aggregate " + ",".join(names)
    if host.get("az"):
        return (host["az"],), "ferry_az"
    return ((default,) if default else ()), "default"


def aggregate_ratio(settings: dict, key: str) -> tuple:
    """Aggregate*Filter's ratio: (value, source) from the aggregates, else the host's own, else
    the configured one (a value that does not cast falls back, as in Nova)."""
    return settings["aggregate"].get(key) or settings["ratio"][key]


def multiplier(settings: dict, key: str, cfg: dict) -> tuple:
    """get_weight_multiplier: (value, source), the aggregates' smallest else the configured."""
    return settings["aggregate"].get(key) or (cfg[key], CONFIG)


def aggregate_limit(settings: dict, key: str, cfg: dict) -> tuple:
    """AggregateIoOpsFilter / AggregateNumInstancesFilter limit: (value, source)."""
    return settings["aggregate"].get(key) or (cfg[key], CONFIG)


def host_azs(host: dict, default: str | None = "nova") -> tuple:
    """(azs, source) of one host: the comma-split ``availability_zone`` metadata of its
    aggregates, else its ``az`` (``ferry_az``), else ``default``."""
    return _azs(host, aggregate_metadata(host), per_key_names(host, AZ_KEY), default)


def host_az(host: dict, default: str | None = None) -> str | None:
    """The AZ to show and record for a host: its one AZ, or the comma-joined list when its
    aggregates put it in several (which validation reports as an error)."""
    azs, _ = host_azs(host, default)
    return ",".join(azs) if azs else None


def az_errors(name: str, host: dict) -> list:
    """Inventory problems with a host's AZ: aggregates putting it in more than one AZ (Nova's API
    refuses that), or aggregates naming another AZ than its ``ferry_az``."""
    azs, source = host_azs(host, None)
    errs = []
    if len(azs) > 1:
        errs.append(f"{name}: its aggregates put it in {len(azs)} availability zones ({', '.join(azs)}; "
                    f"{source}): a host belongs to one AZ")
    elif azs and host.get("az") and source != "ferry_az" and azs[0] != host["az"]:
        errs.append(f"{name}: ferry_az is {host['az']} but its aggregates put it in {azs[0]} ({source})")
    return errs


def request_az_for_move(instance: dict, current_host: dict, target_az: str | None = None,
                        allow_cross_az: bool = False) -> str | None:
    """The AZ to request when moving ``instance`` off ``current_host``.

    ferry's fix for Nova's 2014 defect (a guest booted without an AZ could be
    resized into any AZ, because the request carried none): an explicit
    ``target_az`` wins; ``allow_cross_az`` asks for no AZ at all; otherwise
    the AZ recorded with the guest (requested at boot, or its host's when it
    was booted or adopted), else the AZ of the host it is on, resolved as the
    scheduler resolves it (aggregates, then ``ferry_az``). A host that its
    aggregates put in several AZs gives no single AZ: ValueError.
    """
    if target_az:
        return target_az
    if allow_cross_az:
        return None
    if instance.get("az"):
        return instance["az"]
    azs, source = host_azs(current_host, None)
    if len(azs) > 1:
        raise ValueError(f"{current_host.get('name')} is in several AZs ({', '.join(azs)}; {source}) and "
                         f"{instance.get('name')} has no AZ recorded: name one with ferry_target_az")
    return azs[0] if azs else None
