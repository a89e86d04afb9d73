"""ferry's filter plugins (plugins/filter/ferry.py, ferry_lab.py), loaded by path."""

import importlib.util
import ipaddress
import os

import pytest

FILTER_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                          "plugins", "filter")


def _load(name):
    spec = importlib.util.spec_from_file_location("ferry_test_filter_" + name, os.path.join(FILTER_DIR, name + ".py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


ferry = _load("ferry")
ferry_lab = _load("ferry_lab")

GIB = 1024 ** 3


@pytest.mark.parametrize("mod, names", [
    (ferry, {"ferry_collect_hosts", "ferry_locate", "ferry_valid_name", "ferry_status_table"}),
    (ferry_lab, {"ferry_lab_hosts"}),
])
def test_filters_registered(mod, names):
    filters = mod.FilterModule().filters()
    assert names <= set(filters)
    assert all(callable(f) for f in filters.values())


# ---------------------------------------------------------------- ferry_collect_hosts

def host_facts(name, az="az1", instances=()):
    return {"name": name, "az": az, "reachable": True, "enabled": True,
            "capacity": {"vcpus": 2, "memory_mb": 2048, "disk_gb": 20},
            "used": {"vcpus": 1, "memory_mb": 512, "disk_gb": 2.5, "instances": len(instances)},
            "free": {"vcpus": 1, "memory_mb": 1536, "disk_gb": 17.5},
            "instances": list(instances), "claims": []}


OK = {"changed": False, "host": host_facts("hv-a1")}
FAILED = {"failed": True, "msg": "cannot connect to libvirt at qemu:///session: no socket", "host": host_facts("x")}
UNREACHABLE = {"unreachable": True, "msg": "Failed to connect to the host via ssh: Connection refused",
               "changed": False}


@pytest.mark.parametrize("hostvar, expected", [
    pytest.param({"ferry_az": "az1", "ferry_host_facts_result": OK}, OK["host"], id="reachable"),
    pytest.param({"ferry_az": "az2", "ferry_host_facts_result": FAILED},
                 {"name": "hv-x", "az": "az2", "reachable": False, "enabled": False,
                  "disabled_reason": "facts failed: cannot connect to libvirt at qemu:///session: no socket"},
                 id="failed"),
    pytest.param({"ferry_az": "az1", "ferry_host_facts_result": UNREACHABLE},
                 {"name": "hv-x", "az": "az1", "reachable": False, "enabled": False,
                  "disabled_reason": "unreachable: Failed to connect to the host via ssh: Connection refused"},
                 id="unreachable"),
    pytest.param({"ferry_az": "az1", "ferry_host_facts_result": {"unreachable": True}},
                 {"reachable": False, "disabled_reason": "unreachable: no facts gathered"}, id="unreachable-no-msg"),
    pytest.param({"ferry_az": "az1"}, {"name": "hv-x", "reachable": False,
                                       "disabled_reason": "facts failed: no facts gathered"}, id="never-ran"),
    pytest.param({"ferry_host_facts_result": {"skipped": True, "changed": False}},
                 {"az": None, "reachable": False, "disabled_reason": "facts failed: no facts gathered"},
                 id="skipped-no-az"),
    pytest.param({"ferry_host_facts_result": None}, {"reachable": False}, id="null-result"),
])
def test_collect_hosts_one(hostvar, expected):
    [got] = ferry.ferry_collect_hosts(["hv-x"], {"hv-x": hostvar})
    assert {k: got[k] for k in expected} == expected
    if not got["reachable"]:
        # a marked host is still a complete host entry the scheduler can read
        assert got["capacity"] == {"vcpus": 0, "memory_mb": 0, "disk_gb": 0}
        for key in ("instances", "claims", "aggregates"):
            assert got[key] == []


def test_collect_hosts_order_copy_and_custom_var():
    hostvars = {
        "hv-a1": {"ferry_az": "az1", "facts": OK},
        "hv-a2": {"ferry_az": "az1", "facts": UNREACHABLE},
        "hv-b1": {"ferry_az": "az2", "facts": FAILED},
        "hv-b2": {"ferry_az": "az2"},
        "not-a-hypervisor": {"facts": OK},
    }
    hosts = ferry.ferry_collect_hosts(["hv-b2", "hv-a1", "hv-a2", "hv-b1"], hostvars, result_var="facts")
    assert [h["name"] for h in hosts] == ["hv-b2", "hv-a1", "hv-a2", "hv-b1"]
    assert [h["reachable"] for h in hosts] == [False, True, False, False]
    assert hosts[1] == OK["host"] and hosts[1] is not OK["host"]
    assert ferry.ferry_collect_hosts([], hostvars) == []


# ---------------------------------------------------------------- ferry_locate

WEB = {"name": "web01", "state": "running"}
WEB_SRC = {"name": "web01", "state": "shutoff"}
DB = {"name": "db01", "state": "running"}
HOSTS = [host_facts("hv-a1", "az1", [WEB_SRC, DB]), host_facts("hv-b1", "az2", [WEB]),
         {"name": "hv-b2", "az": "az2", "reachable": False}]


@pytest.mark.parametrize("hosts, name, expected", [
    (HOSTS, "db01", [("hv-a1", DB)]),
    (HOSTS, "web01", [("hv-a1", WEB_SRC), ("hv-b1", WEB)]),  # mid-resize: on both hosts
    (HOSTS, "nope", []),
    (HOSTS, "WEB01", []),
    ([], "web01", []),
])
def test_locate(hosts, name, expected):
    found = ferry.FilterModule().filters()["ferry_locate"](hosts, name)
    assert [(c["host"], c["instance"]) for c in found] == expected
    assert all(c["host_facts"]["name"] == c["host"] for c in found)


# ---------------------------------------------------------------- ferry_valid_name

@pytest.mark.parametrize("name, valid", [
    ("web01", True),
    ("a", True),
    ("0", True),
    ("9lives", True),
    ("Web-01.example_x", True),
    ("a.b-c_d", True),
    ("web01.", True),
    ("x" * 64, True),
    ("x" * 65, False),
    (".", False),
    ("..", False),
    ("", False),
    (None, False),
    ("-web", False),
    (".web", False),
    ("_web", False),
    ("web 01", False),
    (" web01", False),
    ("web01 ", False),
    ("web/01", False),
    ("../web01", False),
    ("web:01", False),
    ("web;rm", False),
    ("web$", False),
    ("wéb01", False),
    ("web01\t", False),
    ("\nweb01", False),
    ("web01\n", False),
    ("web\n01", False),
])
def test_valid_name(name, valid):
    assert ferry.ferry_valid_name(name) is valid


# ---------------------------------------------------------------- ferry_status_table

def guest(name, state="running", flavor="m1.small", migration=None, disks=None):
    if disks is None:
        disks = [{"path": "/srv/i/%s/disk.qcow2" % name, "chain": {
            "virtual_size": 10 * GIB,
            "layers": [{"path": "/srv/i/%s/disk.qcow2" % name}, {"path": "/srv/cache/0123456789abcdef0123.qcow2"}]}}]
    return {"name": name, "state": state, "flavor": flavor, "migration": migration, "disks": disks}


DOWN = {"name": "hv-a2", "az": "az1", "reachable": False, "enabled": False, "instances": []}
STATUS_HOSTS = [
    host_facts("hv-b1", "az2", [guest("web01", migration={"role": "dest", "status": "resize_finished"})]),
    DOWN,
    host_facts("hv-a1", "az1", [guest("web01", state="shutoff",
                                      migration={"role": "source", "status": "resize_finished"}),
                                guest("db01", flavor=None, disks=[{"path": "/srv/i/db01/disk.qcow2",
                                                                   "error": "disk file missing"}])]),
    dict(host_facts("hv-b2", "az2"), enabled=False),
]


def test_status_table_layout():
    lines = ferry.ferry_status_table(STATUS_HOSTS)
    header = lines[0].split()
    assert header[:3] == ["HOST", "AZ", "STATE"]
    assert "GUESTS" in header
    host_rows = lines[1:5]
    assert [r.split()[0] for r in host_rows] == ["hv-a1", "hv-a2", "hv-b1", "hv-b2"]  # by AZ, then name
    assert lines[5] == ""
    assert lines[6].split()[0] == "GUEST"
    assert "DISK CHAIN" in lines[6]
    assert [r.split()[:2] for r in lines[7:]] == [["db01", "hv-a1"], ["web01", "hv-a1"], ["web01", "hv-b1"]]
    assert len(lines) == 10
    assert all(line == line.rstrip() for line in lines)


@pytest.mark.parametrize("row_start, cells", [
    ("hv-a2", ["hv-a2", "az1", "UNREACHABLE", "-", "-", "-", "-"]),
    ("hv-a1", ["hv-a1", "az1", "enabled", "1/2", "512/2048", "2.5/20", "2"]),
    ("hv-b2", ["hv-b2", "az2", "disabled", "1/2", "512/2048", "2.5/20", "0"]),
])
def test_status_table_host_rows(row_start, cells):
    lines = ferry.ferry_status_table(STATUS_HOSTS)
    [row] = [line for line in lines[1:5] if line.startswith(row_start + " ")]
    assert row.split() == cells


@pytest.mark.parametrize("guest_name, host, fragments", [
    ("web01", "hv-b1", ["running", "m1.small", "dest resize_finished", "disk.qcow2 -> 0123456789abcdef [10 GiB]"]),
    ("web01", "hv-a1", ["shutoff", "source resize_finished"]),
    ("db01", "hv-a1", ["/srv/i/db01/disk.qcow2 (disk file missing)"]),
])
def test_status_table_guest_rows(guest_name, host, fragments):
    lines = ferry.ferry_status_table(STATUS_HOSTS)
    [row] = [line for line in lines[7:] if line.split()[:2] == [guest_name, host]]
    for fragment in fragments:
        assert fragment in row
    if guest_name == "db01":
        assert row.split()[4] == "-"  # no flavor


@pytest.mark.parametrize("hosts, host_rows", [
    ([DOWN], 1),
    ([host_facts("hv-a1")], 1),
    ([DOWN, host_facts("hv-a1"), host_facts("hv-b1", "az2")], 3),
])
def test_status_table_no_guests(hosts, host_rows):
    lines = ferry.ferry_status_table(hosts)
    assert lines[0].startswith("HOST")
    assert len(lines) == 1 + host_rows + 2
    assert lines[-2:] == ["", "(no guests)"]
    unreachable = [line for line in lines if "UNREACHABLE" in line]
    assert len(unreachable) == sum(1 for h in hosts if not h["reachable"])


# ---------------------------------------------------------------- ferry_lab_hosts

@pytest.mark.parametrize("azs, per_az, names", [
    (["az1"], 1, ["hv-a1"]),
    (["az1", "az2"], 2, ["hv-a1", "hv-a2", "hv-b1", "hv-b2"]),
    (["az1", "az2"], "2", ["hv-a1", "hv-a2", "hv-b1", "hv-b2"]),
    (["east", "west", "north"], 1, ["hv-a1", "hv-b1", "hv-c1"]),
    (["az1"], 3, ["hv-a1", "hv-a2", "hv-a3"]),
    (["az%d" % i for i in range(1, 10)], 9, ["hv-%s%d" % (c, i) for c in "abcdefghi" for i in range(1, 10)]),
])
def test_lab_hosts(azs, per_az, names):
    hosts = ferry_lab.ferry_lab_hosts(azs, per_az)
    assert [h["name"] for h in hosts] == names
    assert [h["az"] for h in hosts] == [az for az in azs for _ in range(int(per_az))]
    assert [h["user"] for h in hosts] == ["ferry-" + n for n in names]

    addrs = [h["addr"] for h in hosts]
    assert len(set(addrs)) == len(addrs)
    for a in addrs:
        ip = ipaddress.ip_address(a)
        assert ip in ipaddress.ip_network("127.0.1.0/24") and ip.is_loopback
        assert a.startswith("127.0.1.")

    caps = [h["capacity"] for h in hosts]
    for c in caps:
        assert set(c) == {"vcpus", "memory_mb", "disk_gb"}
        assert all(isinstance(v, int) and v > 0 for v in c.values())
    for a, b in zip(caps, caps[1:]):
        assert a != b  # neighbours always differ
    if len(hosts) > 1:
        assert len({tuple(sorted(c.items())) for c in caps}) == min(len(hosts), 4)


def test_lab_hosts_default_lab_spreads_shapes_across_azs():
    hosts = ferry_lab.ferry_lab_hosts(["az1", "az2"], 2)
    by_az = {}
    for h in hosts:
        by_az.setdefault(h["az"], []).append(h["capacity"])
    assert by_az["az1"] != by_az["az2"]
    assert len({tuple(sorted(c.items())) for c in by_az["az1"]}) == 2


def test_lab_hosts_capacity_is_a_copy():
    first = ferry_lab.ferry_lab_hosts(["az1"], 1)
    first[0]["capacity"]["vcpus"] = 999
    assert ferry_lab.ferry_lab_hosts(["az1"], 1)[0]["capacity"]["vcpus"] != 999


@pytest.mark.parametrize("kwargs, addrs, users", [
    ({"net_prefix": "127.0.2."}, ["127.0.2.11", "127.0.2.21"], ["ferry-hv-a1", "ferry-hv-b1"]),
    ({"user_prefix": "lab_"}, ["127.0.1.11", "127.0.1.21"], ["lab_hv-a1", "lab_hv-b1"]),
])
def test_lab_hosts_prefixes(kwargs, addrs, users):
    hosts = ferry_lab.ferry_lab_hosts(["az1", "az2"], 1, **kwargs)
    assert [h["addr"] for h in hosts] == addrs
    assert [h["user"] for h in hosts] == users


@pytest.mark.parametrize("azs, per_az", [
    pytest.param([], 2, id="no-azs"),
    pytest.param(None, 2, id="azs-none"),
    pytest.param(["az%d" % i for i in range(10)], 1, id="ten-azs"),
    pytest.param(["az1"], 0, id="zero-per-az"),
    pytest.param(["az1"], -1, id="negative-per-az"),
    pytest.param(["az1"], 10, id="ten-per-az"),
    pytest.param(["az1"], "two", id="non-numeric-per-az"),
])
def test_lab_hosts_bad_input(azs, per_az):
    with pytest.raises(ValueError):
        ferry_lab.ferry_lab_hosts(azs, per_az)


@pytest.mark.parametrize("stat, expected", [
    ({"exists": True, "path": "/srv/store/tiny.qcow2", "checksum": "ab" * 32, "size": 1048576},
     {"file": "tiny.qcow2", "sha256": "ab" * 32, "size": 1048576, "format": "qcow2"}),
])
def test_lab_manifest_entry(stat, expected):
    assert ferry_lab.ferry_lab_manifest_entry(stat) == expected


def test_lab_manifest_entry_missing():
    with pytest.raises(ValueError, match="/srv/store/gone.qcow2"):
        ferry_lab.ferry_lab_manifest_entry({"exists": False, "path": "/srv/store/gone.qcow2"})


@pytest.mark.parametrize("text, want", [
    ("rsync: Permission denied (publickey).\r\nconnection closed\r\n", "rsync: Permission denied (publickey). connection closed"),
    ("a\x00b\x1bc", "a b c"),
    ("x" * 600, "x" * 497 + "..."),
    (None, ""),
])
def test_safe_text_for_metadata(text, want):
    assert ferry.ferry_safe_text(text) == want


def test_boot_refused_while_a_host_is_unreachable():
    ferry_boot_errors = ferry.ferry_boot_errors
    hosts = [{"name": "hv-a1", "reachable": True, "instances": []}, {"name": "hv-b2", "reachable": False}]
    flavors, images = {"m1.small": {}}, {"tiny": {}}
    errs = ferry_boot_errors("web1", "m1.small", "tiny", None, flavors, images, hosts)
    assert len(errs) == 1 and "hv-b2 is unreachable" in errs[0] and "ferry_boot_ignore_unreachable" in errs[0]
    assert ferry_boot_errors("web1", "m1.small", "tiny", None, flavors, images, hosts, True) == []


def test_cache_names_are_the_files_a_hosts_cache_holds():
    """The claim's probe and the "what the target lacks" fact name cache files the same way."""
    sha = "ab" * 32
    cache = [{"sha256": sha, "ext": ".qcow2", "src": "/x"}, {"sha256": "cd" * 32, "ext": ".iso", "src": "/y"}]
    assert ferry.FilterModule().filters()["ferry_cache_names"](cache) == [sha + ".qcow2", "cd" * 32 + ".iso"]
    assert ferry.ferry_cache_names([]) == []
