"""AvailabilityZoneFilter (``nova/scheduler/filters/availability_zone_filter.py``)."""

from __future__ import annotations


def availability_zone_filter(hs, ctx):
    """No AZ requested: every host passes. Else the requested AZ must be one of the host's AZs:
    the comma-split ``availability_zone`` metadata of its aggregates, else its ``ferry_az``,
    else ``default_availability_zone`` ("nova") -- resolved once by resolve.host_settings."""
    want = ctx["az"]
    if not want:
        return None
    have = hs["azs"]
    if want in have:
        return None
    source = hs["settings"]["az_source"]
    where = f" ({source})" if source.startswith("aggregate") else ""
    return f"in AZ {','.join(have) or 'none'}{where}, {want} requested"
