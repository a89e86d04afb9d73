"""The HTML plan: everything from outside escaped, every host grouped by AZ, filters' removals,
weights, the chosen host, capacity before/after."""

import re
from html.parser import HTMLParser

from ansible.module_utils import ferry_evacuate, ferry_planhtml
from ansible.module_utils.ferry_scheduler import schedule

from tests.unit.test_evacuate import CONFIG, _drain_lab, host, inst, item


class Text(HTMLParser):
    """The page's visible text and its tags (a page that does not parse as HTML fails here)."""

    def __init__(self):
        super().__init__()
        self.text, self.tags, self.styles = [], [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.styles += [v for k, v in attrs if k == "style"]

    def handle_data(self, data):
        self.text.append(data)


def parse(page):
    p = Text()
    p.feed(page)
    return " ".join(" ".join(p.text).split()), p


def test_drain_page_has_hosts_by_az_filters_weights_and_choices():
    hosts = _drain_lab()
    steps, _ = ferry_evacuate.plan(hosts, [item(hosts, "hv-a1", n) for n in ("g1", "g2", "g3")], CONFIG)
    page = ferry_planhtml.render(hosts, steps, CONFIG, "drain of hv-a1",
                                 [{"instance": "legacy", "host": "hv-a1", "reason": "not booted by ferry"}], now=0)
    text, p = parse(page)
    assert "script" not in p.tags and "link" not in p.tags and "img" not in p.tags  # no external assets
    assert "http" not in page
    for name in ("hv-a1", "hv-a2", "hv-a3", "hv-b1"):
        assert name in text
    by_az = text[text.index("Hosts by availability zone"):text.index("Decisions")]
    assert by_az.index("AZ az1") < by_az.index("hv-a2") < by_az.index("AZ az2") < by_az.index("hv-b1")
    for f in ("AvailabilityZoneFilter", "RamFilter", "ignore_hosts"):
        assert f in text
    assert "in AZ az2, az1 requested" in text  # the filter's own reason
    assert "Chosen host: hv-a3" in text and "Chosen host: hv-a2" in text
    assert "No valid host: g3 stays on hv-a1" in text
    assert "legacy: stays on hv-a1: not booted by ferry" in text
    assert "RAMWeigher" in text and "disabled: evacuating" in text
    assert "1970-01-01 00:00:00 UTC" in text


def test_capacity_before_and_after():
    hosts = _drain_lab()
    steps, _ = ferry_evacuate.plan(hosts, [item(hosts, "hv-a1", "g1")], CONFIG)
    usage = ferry_planhtml.usage_before_after(hosts, steps)
    assert usage["hv-a3"]["before"]["memory_mb"] == 0 and usage["hv-a3"]["after"]["memory_mb"] == 512
    assert usage["hv-a1"]["before"]["memory_mb"] == 1536 and usage["hv-a1"]["after"]["memory_mb"] == 1024
    assert usage["hv-a1"]["after"]["disk_gb"] == 4.0 and usage["hv-a3"]["after"]["disk_gb"] == 2.0
    page = ferry_planhtml.render(hosts, steps, CONFIG)
    _, p = parse(page)
    widths = [float(m) for s in p.styles for m in re.findall(r"width:([0-9.]+)%", s)]
    # 4 hosts x 3 resources x (before, after); hv-a3's RAM goes from 0% to 512/700
    assert len(widths) == 24
    assert 0.0 in widths and round(512 / 700.0 * 100, 1) in widths


def test_bar_over_limit_is_marked_and_capped():
    assert 'class="fill after over" style="width:100.0%"' in ferry_planhtml.bar(1200, 1000, "after")
    assert 'style="width:50.0%"' in ferry_planhtml.bar(500, 1000)
    assert "over" in ferry_planhtml.bar(1, 0)


def test_everything_from_outside_is_escaped():
    evil = '<script>alert("x")</script>&'
    hosts = [host("hv-a1", "az<1>", instances=[inst("g1")]),
             host("hv-a2", "az<1>", enabled=False, disabled_reason=evil)]
    req = item(hosts, "hv-a1", "g1")["request"]
    res = schedule(hosts, req, CONFIG)
    res["report"]["filters"].append({"name": "Evil<Filter>", "removed": [{"host": "h<b>", "reason": evil}],
                                     "remaining": []})
    page = ferry_planhtml.render(hosts, [{"instance": 'g1"><i>', "source": "hv-a1", "host": None,
                                          "report": res["report"], "flavor": req["flavor"]}], CONFIG, title=evil)
    assert "<script>" not in page and "<i>" not in page and "<b>" not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;" in page
    text, p = parse(page)
    assert "script" not in p.tags
    assert 'Evil<Filter>' in text and "AZ az<1>" in text and "disabled: " + evil in text
    assert "ComputeFilter" in text  # the disabled host was removed, and the page says by what


def test_plan_decision_without_host_and_without_weights():
    hosts = [host("hv-a1", "az1", instances=[inst("g1")]), host("hv-a2", "az1")]
    req = item(hosts, "hv-a1", "g1")["request"]
    res = schedule(hosts, req, CONFIG)
    page = ferry_planhtml.render(hosts, [{"instance": "g1", "source": "hv-a1", "host": res["host"],
                                          "alternates": res["alternates"], "report": res["report"],
                                          "flavor": req["flavor"]}], CONFIG)
    text, _ = parse(page)
    assert "Chosen host: hv-a2 (from hv-a1); alternates: none." in text
    assert "hv-a2: one host passed the filters (not weighed)." in text


def test_limits_use_the_hosts_own_ratio():
    cfg = ferry_planhtml.ferry_scheduler.resolve_config(CONFIG)
    plain = host("hv-a2", "az1", memory_mb=1000)
    own = host("hv-a3", "az1", memory_mb=1000, allocation_ratios={"ram": 2.0, "cpu": 1.0})
    assert ferry_planhtml.limits(plain, cfg)["memory_mb"] == 1000
    assert ferry_planhtml.limits(own, cfg)["memory_mb"] == 2000 and ferry_planhtml.limits(own, cfg)["vcpus"] == 8
