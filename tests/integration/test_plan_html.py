"""Issue 10: the plan people can read.  plan.yml writes an HTML page that headless Chromium (Debian's
package) renders: the screenshot is not blank, and the rendered DOM's text names every host, every
filter that removed one (as the scheduler's own report says) and the chosen host."""

import shutil
import struct
import subprocess
import zlib
import pytest
from html.parser import HTMLParser

from tests.integration import lab

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


class _Text(HTMLParser):
    """Visible text of a DOM (style and script contents left out)."""

    def __init__(self):
        super().__init__()
        self.parts, self._skip = [], 0

    def handle_starttag(self, tag, attrs):
        self._skip += tag in ("style", "script")

    def handle_endtag(self, tag):
        self._skip -= tag in ("style", "script")

    def handle_data(self, data):
        if not self._skip:
            self.parts.append(data)


def dom_text(dom):
    p = _Text()
    p.feed(dom)
    return " ".join(" ".join(p.parts).split())


def png_pixels(path):
    """(width, height, rows of RGB(A) bytes) of an 8-bit RGB/RGBA PNG, decoded with zlib alone."""
    with open(path, "rb") as f:
        data = f.read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, ihdr = 8, b"", None
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            ihdr = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    width, height, depth, ctype = ihdr[:4]
    assert depth == 8 and ctype in (2, 6), "unexpected PNG format %r" % (ihdr,)
    bpp = 3 if ctype == 2 else 4
    raw = zlib.decompress(idat)
    stride = width * bpp
    rows, prev = [], bytearray(stride)
    for y in range(height):
        ftype = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            if ftype == 1:
                line[i] = (line[i] + a) & 0xFF
            elif ftype == 2:
                line[i] = (line[i] + b) & 0xFF
            elif ftype == 3:
                line[i] = (line[i] + ((a + b) >> 1)) & 0xFF
            elif ftype == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 0xFF
        rows.append(bytes(line))
        prev = line
    return width, height, bpp, rows


def chromium_check(html_path, tmp_path):
    """Render the page in headless Chromium: the screenshot must not be blank; returns the DOM's text."""
    assert CHROMIUM, "chromium is not installed (make system installs it)"
    base = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
            "--user-data-dir=%s" % (tmp_path / "chromium-profile")]
    shot = str(tmp_path / "plan.png")
    subprocess.run(base + ["--screenshot=%s" % shot, "--window-size=1280,1600", "file://" + html_path],
                   check=True, capture_output=True, timeout=120)
    width, height, bpp, rows = png_pixels(shot)
    assert (width, height) == (1280, 1600)
    colours, inked = set(), 0
    for row in rows[::4]:
        for x in range(0, width * bpp, bpp * 4):
            px = row[x:x + 3]
            colours.add(px)
            inked += px != b"\xff\xff\xff"
    sampled = len(rows[::4]) * len(range(0, width * bpp, bpp * 4))
    assert len(colours) > 20, "screenshot looks blank: %d colours" % len(colours)
    assert inked > sampled * 0.02, "screenshot looks blank: %d of %d sampled pixels not white" % (inked, sampled)
    dom = subprocess.run(base + ["--dump-dom", "file://" + html_path], check=True, capture_output=True, text=True,
                         timeout=120).stdout
    assert "<table" in dom
    return dom_text(dom)


def test_plan_page_rendered_by_chromium(guest_name, tmp_path):
    name = guest_name("plan")
    lab.ok(lab.run_playbook("boot.yml", instance=name, flavor="m1.small", image="tiny", host="hv-b1"))
    html = str(tmp_path / "plan.html")
    r = lab.ok(lab.run_playbook("plan.yml", instance=name, ferry_plan_html=html))
    sched = r.task_result("Schedule (filters, then weighers)")
    removers = {f["name"] for f in sched["report"]["filters"] if f["removed"]}
    removed = {x["host"] for f in sched["report"]["filters"] for x in f["removed"]}
    assert sched["host"] == "hv-b2" and removers >= {"ignore_hosts", "AvailabilityZoneFilter"}
    text = chromium_check(html, tmp_path)
    _, _, hosts = lab.inventory()
    for h in hosts:
        assert h in text, h
    for f in removers:
        assert f in text, f
    for h in removed:
        assert h in text
    assert "Chosen host: %s" % sched["host"] in text
    assert "AZ az1" in text and "AZ az2" in text
    # nothing was touched: the guest still runs where it was, nowhere else
    assert lab.dominfo("hv-b1", name)["state"] == "running"
    assert lab.domain_state("hv-b2", name) == "absent"


@pytest.mark.matrix
def test_plan_page_written_when_no_host_is_valid(guest_name, tmp_path):
    """The page matters most when the answer is no: it is written, naming the filter that refused."""
    name = guest_name("plan")
    lab.ok(lab.run_playbook("boot.yml", instance=name, flavor="m1.small", image="tiny", host="hv-b1"))
    html = str(tmp_path / "novalid.html")
    r = lab.run_playbook("plan.yml", instance=name, target_host="hv-a1", ferry_plan_html=html)
    assert r.rc != 0 and any("No valid host" in m for m in r.failures())
    text = chromium_check(html, tmp_path)
    assert "No valid host: %s stays on hv-b1" % name in text
    assert "requested_host" in text and "not the requested host hv-a1" in text
