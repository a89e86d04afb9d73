"""The scheduler's report: per filter the hosts removed and why, the weights of the best hosts,
the settings a host took from its aggregates or its own inventory entry, and readable text."""

from __future__ import annotations

from ansible.module_utils.ferry_sched import resolve
from ansible.module_utils.ferry_sched.filters._util import n as _n


def weights_report(ranked: list, totals: list, per: list, limit: int) -> list:
    """Report entries for the best ``limit`` hosts, in weighed order."""
    out = []
    for i, hs in enumerate(ranked[:limit]):
        detail = {}
        for p in per:
            d = {"raw": p["raw"][i], "normalized": p["normalized"][i],
                 "multiplier": p["multiplier"][i], "weighted": p["weighted"][i]}
            if p["multiplier_source"][i] != resolve.CONFIG:
                d["multiplier_source"] = p["multiplier_source"][i]
            detail[p["name"]] = d
        out.append({"host": hs["name"], "weighers": detail, "total": totals[i]})
    return out


def host_settings_report(states: list) -> dict:
    """{host: {setting: {"value", "source"}}} for the settings a host does not take from the
    configuration: its own allocation ratios, its aggregates' ratios, multipliers and limits, its
    AZ when its aggregates give it; hosts with none are left out."""
    out = {}
    for hs in states:
        s = hs["settings"]
        entry = {k: {"value": v, "source": src} for k, (v, src) in s["ratio"].items() if src != resolve.CONFIG}
        for k, (v, src) in sorted(s["aggregate"].items()):
            entry[k] = {"value": v, "source": src}
        for k, raws in sorted(s["bad"].items()):
            entry.setdefault(k, {"value": None, "source": "aggregate value %s is not a number: ignored"
                                 % "|".join(raws)})
        if s["az_source"].startswith("aggregate"):
            entry["availability_zone"] = {"value": ",".join(s["azs"]), "source": s["az_source"]}
        if entry:
            out[hs["name"]] = entry
    return out


def format_report(result: dict, limit: int = 25) -> str:
    """Multi-line text for a schedule() result.

    NoValidHost starts with "No valid host", then says which filter removed
    which host and why; at most ``limit`` removals are listed per filter.
    """
    report = result.get("report") or {}
    lines = [_headline(result, report)]
    for entry in report.get("filters") or ():
        lines.extend(_filter_lines(entry, limit))
    if result.get("host") is None:
        lines.append(_stop_line(report))
    else:
        lines.extend(_weight_lines(report.get("weights") or ()))
        lines.extend(_settings_lines(report.get("host_settings") or {}))
    return "\n".join(lines)


def _what(report):
    flavor = report.get("flavor") or {}
    who = report.get("instance") or "new instance"
    spec = f"{flavor.get('vcpus')} vCPU, {flavor.get('memory_mb')} MiB, {flavor.get('disk_gb')} GiB"
    az = report.get("availability_zone")
    where = f", AZ {az}" if az else ""
    return f"{who} (flavor {flavor.get('name')}: {spec}{where})"


def _headline(result, report):
    count = report.get("hosts_considered", 0)
    if result.get("host") is None:
        if not count:
            return f"No valid host for {_what(report)}: the host list is empty."
        return f"No valid host for {_what(report)}: {count} host(s) considered, none passed."
    alternates = ", ".join(result.get("alternates") or ()) or "none"
    return (f"Scheduled {_what(report)} on {result['host']} (alternates: {alternates}); "
            f"{count} host(s) considered.")


def _filter_lines(entry, limit):
    name, remain = entry["name"], len(entry.get("remaining") or ())
    removed = entry.get("removed") or ()
    if not removed:
        return [f"{name}: removed none, {remain} remain"]
    lines = [f"{name} removed {r['host']}: {r['reason']}" for r in removed[:limit]]
    if len(removed) > limit:
        lines.append(f"{name} removed {len(removed) - limit} more host(s)")
    lines.append(f"{name}: {remain} remain")
    return lines


def _stop_line(report):
    entries = report.get("filters") or ()
    if not entries:
        return "No filter ran: there was no host to filter."
    return f"{entries[-1]['name']} left no host."


def _weight_lines(weights):
    lines = ["Weights (best first):"] if weights else []
    for w in weights:
        parts = ", ".join(
            f"{name} {_n(d['multiplier'], 3)}*{_n(d['normalized'], 3)}={_n(d['weighted'], 3)}"
            f" (raw {_n(d['raw'])}" + (f"; multiplier from {d['multiplier_source']})" if d.get("multiplier_source") else ")")
            for name, d in w["weighers"].items()
        )
        lines.append(f"  {w['host']} total {_n(w['total'], 3)}" + (f": {parts}" if parts else " (one host: not weighed)"))
    return lines


def _settings_lines(settings):
    lines = []
    for host, entry in settings.items():
        parts = ", ".join(f"{k} {_value(d['value'])} ({d['source']})" for k, d in entry.items())
        lines.append(f"Settings of {host} not from ferry_scheduler: {parts}")
    return lines


def _value(value):
    if value is None:
        return "-"
    return value if isinstance(value, str) else _n(value, 3)
