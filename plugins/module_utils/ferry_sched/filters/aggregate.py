"""Filters matching the request against the host's aggregates' metadata.

Nova: ``nova/scheduler/filters/aggregate_instance_extra_specs.py``
(AggregateInstanceExtraSpecsFilter), ``aggregate_image_properties_isolation.py``
(AggregateImagePropertiesIsolation). Both read the metadata with every value split on commas
(``aggregate_metadata_get_by_host``). The per-aggregate resource filters are in resources.py and
load.py; the AZ filter in availability_zone.py.
"""

from __future__ import annotations

from ansible.module_utils.ferry_sched.extra_specs import spec_str


def aggregate_instance_extra_specs_filter(hs, ctx):
    """AggregateInstanceExtraSpecsFilter: each unscoped or "aggregate_instance_extra_specs:" extra
    spec must be matched (extra_specs_ops) by one of the values its key has in the host's
    aggregates; no extra specs -> every host passes."""
    specs = ctx["aggregate_specs"]
    if not specs:
        return None
    meta = hs["settings"]["metadata"]
    for key, meta_key, req, match in specs:
        values = meta.get(meta_key)
        if not values:
            return f"no aggregate sets {meta_key} (flavor {key} wants {spec_str(req)!r})"
        if not any(match(v) for v in values):
            return f"aggregate {meta_key}={'|'.join(sorted(values))}, flavor wants {spec_str(req)!r}"
    return None


def aggregate_image_properties_isolation(hs, ctx):
    """AggregateImagePropertiesIsolation: for each key of the host's aggregates' metadata (only
    those starting with ``aggregate_image_properties_isolation_namespace`` + separator when a
    namespace is set), an image property of that same name, when the image has it, must be one of
    the values."""
    props = ctx["image_props"]
    if not props:
        return None
    cfg = ctx["cfg"]
    namespace = cfg["aggregate_image_properties_isolation_namespace"]
    prefix = namespace + cfg["aggregate_image_properties_isolation_separator"] if namespace else None
    for key, options in hs["settings"]["metadata"].items():
        if prefix and not key.startswith(prefix):
            continue
        prop = props.get(key)
        if prop and spec_str(prop) not in options:
            return f"image {key}={spec_str(prop)}, its aggregates allow {'|'.join(sorted(options))}"
    return None
