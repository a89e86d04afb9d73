"""A scheduling plan as one self-contained HTML page (no external assets: inline CSS, no script).

Rendered from the scheduler's own report data (ferry_scheduler.schedule results) and the hosts'
facts: the hosts grouped by AZ, each host's RAM/vCPU/disk use before and after the planned
move(s) as bars against what the scheduler allows (capacity x allocation ratio, less what is
reserved), what each filter removed and why, the weight table, the chosen host.  Every text that
comes from outside (host, guest, flavor names, filter reasons) goes through html.escape.
"""

import html
import time

from ansible.module_utils import ferry_scheduler

RESOURCES = (("memory_mb", "RAM", "MiB"), ("vcpus", "vCPU", ""), ("disk_gb", "disk", "GiB"))

CSS = """
body{font-family:sans-serif;margin:1.5em;color:#222;background:#fff}
h1{font-size:1.4em}h2{font-size:1.2em;margin-top:1.5em}h3{font-size:1.05em}
table{border-collapse:collapse;margin:.5em 0}
td.cap{white-space:nowrap}
td,th{border:1px solid #bbb;padding:.25em .5em;text-align:left;vertical-align:top}
th{background:#e8eef6}
.az{border:2px solid #5a7fb0;border-radius:6px;padding:.5em 1em;margin:1em 0;background:#f7f9fc}
.bar{width:8em;height:.9em;background:#e3e3e3;border:1px solid #999;position:relative;display:inline-block}
.fill{height:100%;background:#3c8d40;display:block}
.fill.after{background:#2f6db5}.fill.over{background:#c0392b}
.chosen{background:#fff3c4;font-weight:bold}.disabled{color:#888}.source{background:#fde2e2}
.tag{display:inline-block;border-radius:3px;padding:0 .3em;margin-left:.3em;font-size:.8em;color:#fff}
.tag.chosen{background:#b07d00}.tag.source{background:#a33}.tag.disabled{background:#777}
.removed{color:#a33}.none{color:#666}
"""


def esc(value):
    return html.escape("" if value is None else str(value), quote=True)


def _num(value, digits=2):
    if isinstance(value, float):
        value = value + 0.0 if value else 0.0  # no "-0"
        text = ("%%.%df" % digits) % value
        return text.rstrip("0").rstrip(".") if "." in text else text
    return str(value)


def limits(host, cfg):
    """What the scheduler lets a host hold: capacity x the host's ratio (its own, else the
    configured one, as the scheduler's resolver gives it), less what is reserved (Nova)."""
    cap = host.get("capacity") or {}
    ratio = {k: v[0] for k, v in ferry_scheduler.host_settings(host, cfg)["ratio"].items()}
    return {"memory_mb": (cap.get("memory_mb") or 0) * ratio["ram_allocation_ratio"] - cfg["reserved_host_memory_mb"],
            "vcpus": (cap.get("vcpus") or 0) * ratio["cpu_allocation_ratio"],
            "disk_gb": (cap.get("disk_gb") or 0) * ratio["disk_allocation_ratio"] - cfg["reserved_host_disk_mb"] / 1024.0}


def usage_before_after(hosts, decisions):
    """{host: {"before": usage, "after": usage}}: usage as the scheduler counts it (domains and
    live claims); after = once the planned moves are done and confirmed (the guest's flavor
    added on its chosen host and taken off its source)."""
    out = {}
    for h in hosts:
        u = ferry_scheduler.host_usage(h)
        out[h["name"]] = {"before": {k: u[k] for k, _, _ in RESOURCES}, "after": {k: u[k] for k, _, _ in RESOURCES}}
    for d in decisions:
        flavor = d.get("flavor") or {}
        old = d.get("old_flavor") or flavor
        disk = d.get("disk_gb") if d.get("disk_gb") is not None else flavor.get("disk_gb")
        if not d.get("host"):
            continue
        for key, _, _ in RESOURCES:
            add = float(disk or 0) if key == "disk_gb" else (flavor.get(key) or 0)
            take = float(disk or 0) if key == "disk_gb" else (old.get(key) or 0)
            if d["host"] in out:
                out[d["host"]]["after"][key] += add
            if d.get("source") in out:
                out[d["source"]]["after"][key] -= take
    return out


def bar(used, limit, klass="before"):
    """One capacity bar: filled to used/limit (red when over), with the numbers as text."""
    pct = 0.0 if limit <= 0 else max(0.0, used / float(limit) * 100.0)
    over = " over" if limit <= 0 or used > limit else ""
    return ('<span class="bar" title="%s of %s"><span class="fill %s%s" style="width:%.1f%%"></span></span> '
            '%s / %s' % (esc(_num(used)), esc(_num(limit)), klass, over, min(pct, 100.0), esc(_num(used)),
                         esc(_num(limit))))


def _host_rows(hosts, usage, cfg, chosen, sources):
    rows = []
    for h in hosts:
        name = h["name"]
        classes, tags = [], []
        if name in chosen:
            classes.append("chosen")
            tags.append('<span class="tag chosen">chosen for %s</span>' % esc(", ".join(chosen[name])))
        if name in sources:
            classes.append("source")
            tags.append('<span class="tag source">source</span>')
        if not h.get("enabled", True) or not h.get("reachable", True):
            classes.append("disabled")
            tags.append('<span class="tag disabled">%s</span>' % esc(
                "unreachable" if not h.get("reachable", True) else "disabled"))
        state = "enabled" if h.get("enabled", True) and h.get("reachable", True) else \
            "disabled: %s" % (h.get("disabled_reason") or "no reason given")
        lim = limits(h, cfg)
        cells = []
        for key, _, _ in RESOURCES:
            u = usage.get(name) or {"before": {}, "after": {}}
            cells.append('<td class="cap">before %s<br>after&nbsp; %s</td>' % (
                bar(u["before"].get(key, 0), lim[key], "before"), bar(u["after"].get(key, 0), lim[key], "after")))
        rows.append('<tr class="%s"><td>%s%s</td><td>%s</td>%s</tr>'
                    % (" ".join(classes), esc(name), "".join(tags), esc(state), "".join(cells)))
    return rows


def _filter_table(report):
    rows = []
    for entry in report.get("filters") or ():
        removed = entry.get("removed") or ()
        remain = len(entry.get("remaining") or ())
        if not removed:
            rows.append('<tr><td>%s</td><td class="none" colspan="2">removed none</td><td>%d</td></tr>'
                        % (esc(entry["name"]), remain))
            continue
        for i, r in enumerate(removed):
            first = '<td rowspan="%d">%s</td>' % (len(removed), esc(entry["name"])) if i == 0 else ""
            last = '<td rowspan="%d">%d</td>' % (len(removed), remain) if i == 0 else ""
            rows.append('<tr>%s<td class="removed">%s</td><td>%s</td>%s</tr>' % (first, esc(r.get("host")),
                                                                                 esc(r.get("reason")), last))
    if not rows:
        return '<p class="none">No filter ran (no host to filter).</p>'
    return ("<table><tr><th>filter</th><th>removed host</th><th>why</th><th>hosts left</th></tr>%s</table>"
            % "".join(rows))


def _weight_table(report, chosen):
    weights = report.get("weights") or ()
    if not weights:
        return '<p class="none">No weights: no host, or one host (not weighed).</p>'
    names = list((weights[0].get("weighers") or {}).keys())
    if not names:
        return "<p>%s: one host passed the filters (not weighed).</p>" % esc(weights[0]["host"])
    head = "".join("<th>%s<br><small>multiplier x normalised = weighted (raw)</small></th>" % esc(n) for n in names)
    rows = []
    for w in weights:
        cells = "".join("<td>%s x %s = %s (%s)</td>" % (
            esc(_num(d.get("multiplier"), 3)), esc(_num(d.get("normalized"), 3)), esc(_num(d.get("weighted"), 3)),
            esc(_num(d.get("raw")))) for d in (w["weighers"].get(n, {}) for n in names))
        klass = ' class="chosen"' if w["host"] == chosen else ""
        rows.append("<tr%s><td>%s</td>%s<td>%s</td></tr>" % (klass, esc(w["host"]), cells, esc(_num(w["total"], 3))))
    return "<table><tr><th>host</th>%s<th>total</th></tr>%s</table>" % (head, "".join(rows))


def _decision(d):
    report = d.get("report") or {}
    flavor = report.get("flavor") or d.get("flavor") or {}
    what = "%s (flavor %s: %s vCPU, %s MiB, %s GiB%s)" % (
        d.get("instance"), flavor.get("name"), flavor.get("vcpus"), flavor.get("memory_mb"), flavor.get("disk_gb"),
        ", AZ %s" % report["availability_zone"] if report.get("availability_zone") else "")
    if d.get("host"):
        verdict = '<p>Chosen host: <b class="chosen">%s</b>%s; alternates: %s.</p>' % (
            esc(d["host"]), " (from %s)" % esc(d["source"]) if d.get("source") else "",
            esc(", ".join(d.get("alternates") or ()) or "none"))
    else:
        verdict = '<p class="removed">No valid host: %s stays%s.</p>' % (
            esc(d.get("instance")), " on %s" % esc(d["source"]) if d.get("source") else "")
    return ("<section><h3>%s</h3>%s<h4>Filters</h4>%s<h4>Weights (best first)</h4>%s</section>"
            % (esc(what), verdict, _filter_table(report), _weight_table(report, d.get("host"))))


def render(hosts, decisions, config=None, title="ferry plan", left=(), now=None):
    """The page.  hosts: host facts (before); decisions: [{instance, source, host, alternates,
    flavor, old_flavor, disk_gb, report}] in the order they were planned (each saw the ones
    before); left: [{instance, host, reason}] guests not planned at all."""
    cfg = ferry_scheduler.resolve_config(config)
    usage = usage_before_after(hosts, decisions)
    chosen, sources = {}, set()
    for d in decisions:
        if d.get("host"):
            chosen.setdefault(d["host"], []).append(d.get("instance"))
        if d.get("source"):
            sources.add(d["source"])
    by_az = {}
    for h in hosts:
        by_az.setdefault(h.get("az") or "(no AZ)", []).append(h)
    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
             "<title>%s</title><style>%s</style></head><body>" % (esc(title), CSS),
             "<h1>%s</h1>" % esc(title),
             "<p>Generated %s by ferry. Bars: use as the scheduler counts it (every defined domain, running or "
             "stopped, and live claims) against what it allows (capacity x allocation ratio, less reserved); "
             "after = once the planned move(s) are done and confirmed.</p>"
             % esc(time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(now if now is not None else time.time())))]
    parts.append("<h2>Plan</h2><ol>")
    for d in decisions:
        parts.append("<li>%s: %s</li>" % (esc(d.get("instance")), esc(
            "%s -> %s" % (d.get("source") or "new", d["host"]) if d.get("host") else "no valid host, stays")))
    for g in left or ():
        parts.append("<li>%s: %s</li>" % (esc(g.get("instance")), esc("stays on %s: %s" % (g.get("host"), g.get("reason")))))
    parts.append("</ol><h2>Hosts by availability zone</h2>")
    head = "".join("<th>%s%s</th>" % (esc(label), " (%s)" % esc(unit) if unit else "") for _, label, unit in RESOURCES)
    for az in sorted(by_az):
        rows = _host_rows(by_az[az], usage, cfg, chosen, sources)
        parts.append('<div class="az"><h3>AZ %s</h3><table><tr><th>host</th><th>state</th>%s</tr>%s</table></div>'
                     % (esc(az), head, "".join(rows)))
    parts.append("<h2>Decisions</h2>")
    parts.extend(_decision(d) for d in decisions)
    parts.append("</body></html>")
    return "\n".join(parts)
