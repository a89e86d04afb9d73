"""module_utils/ferry_validate.py (pure validators), its filter shim, and the validate play at the top of
every operator playbook: table-driven."""

import importlib.util
import os

import pytest
import yaml

from ansible.module_utils import ferry_validate as v

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _load_filter(name):
    spec = importlib.util.spec_from_file_location("ferry_test_vfilter_" + name,
                                                  os.path.join(ROOT, "plugins", "filter", name + ".py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


vf = _load_filter("ferry_validate")

BAD_NAMES = ["a/b", "..", "x y", "x;id", "$(id)"]


# ---------------------------------------------------------------- names

@pytest.mark.parametrize("value, kind, problem", [
    ("web01", "instance", None),
    ("Web-01.example_x", "instance", None),
    ("0", "instance", None),
    ("web01.", "instance", None),
    ("x" * 64, "instance", None),
    ("x" * 65, "instance", "is 65 characters long (at most 64)"),
    ("x" * 65, "host", None),
    ("kvm-e1.example.org", "host", None),
    ("m1.small", "flavor", None),
    ("x" * 129, "flavor", "at most 128"),
    ("x" * 254, "host", "at most 253"),
    ("", "instance", "is empty"),
    (None, "instance", "is a NoneType, not a string"),
    (7, "instance", "is a int, not a string"),
    (True, "flavor", "not a string"),
    ("a/b", "instance", "contains '/'"),
    ("..", "instance", "is '..' (a path component)"),
    (".", "image", "is '.' (a path component)"),
    ("../etc", "instance", "contains '/'"),
    ("x y", "instance", "contains a space"),
    (" web", "host", "contains a space"),
    ("web\t", "instance", "control character"),
    ("web\n01", "instance", "control character"),
    ("web\x1b[31m", "instance", "control character"),
    ("a\u00a0b", "instance", "contains a space"),
    ("x;id", "instance", "shell metacharacter ;"),
    ("$(id)", "instance", "shell metacharacters $ ( )"),
    ("`id`", "flavor", "shell metacharacter `"),
    ("a|b&c", "image", "shell metacharacters & |"),
    ("a>b", "az", "shell metacharacter >"),
    ("a'b\"c", "group", "shell metacharacters \" '"),
    ("*", "instance", "shell metacharacter *"),
    ("wéb01", "instance", "contains 'é'"),
    ("web:01", "instance", "contains ':'"),
    ("web\u202e10", "instance", "contains '\\u202e'"),
    ("-web", "instance", "does not start with a letter or a digit"),
    (".web", "instance", "does not start with a letter or a digit"),
    ("_web", "instance", "does not start with a letter or a digit"),
])
def test_name_problems(value, kind, problem):
    problems = v.name_problems(value, kind)
    if problem is None:
        assert problems == [] and v.is_valid_name(value, kind)
    else:
        assert any(problem in p for p in problems), problems
        assert not v.is_valid_name(value, kind)


def test_name_error_names_the_variable_and_the_rule():
    (msg,) = v.name_errors("-bad", "instance", "instance")
    assert msg.startswith("instance: instance name '-bad' is invalid: it does not start with a letter or a digit")
    assert "[A-Za-z0-9][A-Za-z0-9._-]*" in msg and "at most 64" in msg
    assert v.name_errors("ok", "host", "target_host") == []


@pytest.mark.parametrize("value", ["web\n01", "a\x1b[2Jb", "x\x00y", "\r", "a\u0085b", "a\x7fb"])
def test_messages_never_carry_control_characters(value):
    for msg in v.name_errors(value, "instance", "instance") + v.input_errors(
            {"ferry_auto_confirm": value, "ferry_bwlimit": value, "ferry_root_disk": value, "ferry_shared_storage": [value],
             "server_group_policy": value},
            {"ferry_auto_confirm": {"kind": "bool"}, "ferry_bwlimit": {"kind": "int"}, "ferry_root_disk": {"kind": "device"},
             "ferry_shared_storage": {"kind": "paths"}, "server_group_policy": {"kind": "choice", "choices": ["a"]}}):
        assert not v.CONTROL_RE.search(msg), repr(msg)


@pytest.mark.parametrize("value, shown", [
    ("a/b", "'a/b'"),
    ("x\ny", "'x\\ny'"),
    ("x" * 70, "'%s'... (70 characters)" % ("x" * 60)),
    (5, "5"),
    (None, "None"),
    (["a"], "\"['a']\""),
])
def test_show(value, shown):
    assert v.show(value) == shown


# ---------------------------------------------------------------- booleans, integers, paths

@pytest.mark.parametrize("value, expected", [
    (True, True), (False, False), ("true", True), ("True", True), ("yes", True), ("on", True), ("1", True),
    (1, True), ("false", False), ("no", False), ("off", False), ("0", False), (0, False), ("n", False),
    ("ture", None), ("", None), ("x;id", None), (2, None), (None, None), ([], None), ("a/b", None),
])
def test_bool_value(value, expected):
    assert v.bool_value(value) is expected


@pytest.mark.parametrize("value, expected", [
    (0, 0), (60, 60), ("100", 100), (" 20 ", 20), ("-1", -1), ("+5", 5),
    (True, None), ("1.5", None), (1.5, None), ("x", None), ("", None), ("1e9", None), ("9" * 13, None),
])
def test_int_value(value, expected):
    assert v.int_value(value) == expected


@pytest.mark.parametrize("value, problem", [
    ("/var/lib/ferry/instances", None),
    ("/var/lib/ferry-lab/hosts/hv-a1/cache", None),
    ("/dev/disk/by-path/pci-0000:00:1f.2-ata-1", None),
    ("/mnt/nfs@site+b,c=d", None),
    ("a/b", "is not an absolute path"),
    ("..", "contains '..'"),
    ("/srv/../etc", "contains '..'"),
    ("/srv/x y", "contains a space"),
    ("/srv/x;id", "shell metacharacter ;"),
    ("/srv/$(id)", "shell metacharacters $ ( )"),
    ("/srv/\nx", "control character"),
    ("/srv/é", "contains 'é'"),
    ("/srv//x", "is not normalised ('/srv/x')"),
    ("/srv/./x", "is not normalised"),
    ("/srv/x/", "is not normalised ('/srv/x')"),
    ("/", "is the root directory"),
    ("", "is empty"),
    (5, "not a string"),
])
def test_path_value_problems(value, problem):
    problems = v.path_value_problems(value)
    if problem is None:
        assert problems == []
    else:
        assert any(problem in p for p in problems), problems


# ---------------------------------------------------------------- a playbook's variables

SPEC = {
    "instance": {"kind": "instance", "required": True},
    "flavor": {"kind": "flavor"},
    "image": {"kind": "image"},
    "target_host": {"kind": "host"},
    "ferry_target_az": {"kind": "az"},
    "server_group": {"kind": "group"},
    "server_group_policy": {"kind": "choice", "choices": ["affinity", "anti-affinity"]},
    "ferry_auto_confirm": {"kind": "bool"},
    "ferry_bwlimit": {"kind": "int", "min": 0},
    "ferry_shutdown_timeout": {"kind": "int", "min": 0, "max": 3600},
    "ferry_root_disk": {"kind": "device"},
    "ferry_shared_storage": {"kind": "paths"},
    "ferry_instances_dir": {"kind": "path"},
}
KNOWN = {"flavor": ["m1.small", "m1.large"], "image": ["tiny"], "host": ["hv-a1", "hv-b1"], "az": ["az1", "az2"]}


@pytest.mark.parametrize("values, expected", [
    ({"instance": "web01"}, []),
    ({"instance": "web01", "flavor": "m1.small", "image": "tiny", "target_host": "hv-b1", "ferry_target_az": "az2",
      "server_group": "g1", "server_group_policy": "anti-affinity", "ferry_auto_confirm": "true", "ferry_bwlimit": "100",
      "ferry_shutdown_timeout": 20, "ferry_root_disk": "vdb", "ferry_shared_storage": ["/srv/nfs"],
      "ferry_instances_dir": "/var/lib/ferry/instances"}, []),
    # not given: null or empty (-e target_host=) counts as absent
    ({"instance": "web01", "target_host": "", "flavor": None, "ferry_shared_storage": []}, []),
    ({}, ["instance: required, not given (-e instance=...)"]),
    ({"instance": ""}, ["instance: required, not given (-e instance=...)"]),
    ({"instance": "web01", "flavor": "m9.huge"},
     ["flavor: unknown flavor 'm9.huge' (known: m1.large, m1.small)"]),
    ({"instance": "web01", "image": "nosuch"}, ["image: unknown image 'nosuch' (known: tiny)"]),
    ({"instance": "web01", "target_host": "hv-z9"}, ["target_host: unknown host 'hv-z9' (known: hv-a1, hv-b1)"]),
    ({"instance": "web01", "ferry_target_az": "az9"}, ["ferry_target_az: unknown AZ 'az9' (known: az1, az2)"]),
    ({"instance": "web01", "server_group_policy": "affinty"},
     ["server_group_policy: 'affinty' is not one of affinity, anti-affinity"]),
    ({"instance": "web01", "ferry_auto_confirm": "ture"},
     ["ferry_auto_confirm: 'ture' is not a boolean (true/false, yes/no, on/off, 1/0)"]),
    ({"instance": "web01", "ferry_bwlimit": "fast"}, ["ferry_bwlimit: 'fast' is not a whole number"]),
    ({"instance": "web01", "ferry_bwlimit": -5}, ["ferry_bwlimit: -5 is below 0"]),
    ({"instance": "web01", "ferry_shutdown_timeout": "7200"}, ["ferry_shutdown_timeout: 7200 is above 3600"]),
    ({"instance": "web01", "ferry_root_disk": "../vda"},
     ["ferry_root_disk: '../vda' is not a disk's target device (vda, sdb...: [a-z][a-z0-9]*)"]),
    ({"instance": "web01", "ferry_shared_storage": "/srv/nfs"}, []),
    ({"instance": "web01", "ferry_shared_storage": ["/srv/nfs", "rel"]},
     ["ferry_shared_storage[1]: 'rel' is not an absolute path"]),
    ({"instance": "web01", "ferry_shared_storage": {"a": 1}},
     ["ferry_shared_storage: \"{'a': 1}\" is not a list of absolute paths"]),
    ({"instance": "web01", "ferry_instances_dir": "/srv/../etc"}, ["ferry_instances_dir: '/srv/../etc' contains '..'"]),
])
def test_input_errors(values, expected):
    assert v.input_errors(values, SPEC, KNOWN) == expected


def test_input_errors_are_in_spec_order_one_per_variable():
    errs = v.input_errors({"ferry_bwlimit": "x", "instance": "a/b", "flavor": "$(id)"}, SPEC, KNOWN)
    assert [e.split(":")[0] for e in errs] == ["instance", "flavor", "ferry_bwlimit"]


def test_an_invalid_name_is_not_looked_up():
    (msg,) = v.input_errors({"instance": "w", "flavor": "a/b"}, SPEC, KNOWN)
    assert "invalid" in msg and "unknown" not in msg


def test_without_a_catalogue_names_are_checked_but_not_looked_up():
    assert v.input_errors({"instance": "w", "flavor": "anything"}, SPEC, {}) == []
    assert v.input_errors({"instance": "w", "flavor": "a b"}, SPEC, {})


def test_unknown_names_in_the_catalogue_are_shown_escaped():
    (msg,) = v.input_errors({"instance": "w", "flavor": "m2"}, SPEC, {"flavor": ["ok", "bad\nname"]})
    assert "'bad\\nname'" in msg and "\n" not in msg


def test_a_spec_with_an_unknown_kind_is_a_programming_error():
    with pytest.raises(ValueError):
        v.input_errors({"x": "1"}, {"x": {"kind": "nmae"}})


@pytest.mark.parametrize("bad", BAD_NAMES)
@pytest.mark.parametrize("var", sorted(SPEC))
def test_every_kind_refuses_the_bad_names(var, bad):
    (msg,) = v.input_errors(dict({"instance": "web01"}, **{var: bad}), SPEC, KNOWN)
    assert msg.startswith(var + ": ") or msg.startswith(var + "[0]: "), msg


# ---------------------------------------------------------------- the inventory

GOOD_HOST = {"ferry_instances_dir": "/var/lib/ferry/instances", "ferry_cache_dir": "/var/lib/ferry/cache",
             "ferry_claims_dir": "/var/lib/ferry/claims", "ferry_az": "az1"}


@pytest.mark.parametrize("name, changes, expected", [
    ("hv-a1", {}, []),
    ("kvm-e1.example.org", {"ferry_ssh_alias": "kvm-e1"}, []),
    ("hv a1", {}, ["inventory host: host name 'hv a1' is invalid: it contains a space"]),
    ("hv-a1", {"ferry_instances_dir": "instances"}, ["hv-a1: ferry_instances_dir: 'instances' is not an absolute path"]),
    ("hv-a1", {"ferry_cache_dir": "/var/lib/../cache"}, ["hv-a1: ferry_cache_dir: '/var/lib/../cache' contains '..'"]),
    ("hv-a1", {"ferry_claims_dir": None}, ["hv-a1: ferry_claims_dir: not set"]),
    ("hv-a1", {"ferry_ssh_alias": "x;id"}, ["hv-a1: ferry_ssh_alias: host name 'x;id' is invalid"]),
    ("hv-a1", {"ferry_az": "az 1"}, ["hv-a1: ferry_az: AZ name 'az 1' is invalid"]),
])
def test_host_errors(name, changes, expected):
    errs = v.host_errors(name, dict(GOOD_HOST, **changes))
    assert len(errs) == len(expected) and all(e.startswith(x) for e, x in zip(errs, expected)), errs


@pytest.mark.parametrize("flavors, images, expected", [
    ({"m1.small": {}}, {"tiny": {"file": "tiny.qcow2"}}, []),
    ({"m1 small": {}}, {}, ["ferry_flavors: flavor name 'm1 small' is invalid"]),
    ({}, {"../x": {"file": "x.qcow2"}}, ["ferry_images: image name '../x' is invalid"]),
    ({}, {"tiny": {"file": "../../etc/shadow"}}, ["ferry_images['tiny'].file: file name '../../etc/shadow' is invalid"]),
    (None, None, []),
])
def test_catalogue_errors(flavors, images, expected):
    errs = v.catalogue_errors(flavors, images)
    assert len(errs) == len(expected) and all(e.startswith(x) for e, x in zip(errs, expected)), errs


# ---------------------------------------------------------------- paths a module acts on

IDIR = "/var/lib/ferry/instances/web01"


@pytest.mark.parametrize("path, dirs, paths, problem", [
    (IDIR + "/disk.qcow2", [IDIR], [], None),
    (IDIR + "/sub/pre-resize-1234.xml", [IDIR], [], None),
    (IDIR + "//disk.qcow2", [IDIR + "/"], [], None),
    (IDIR + "/./disk.qcow2", [IDIR], [], None),
    ("/srv/vm/web01.qcow2", [IDIR], ["/srv/vm/web01.qcow2"], None),
    ("/srv/vm//web01.qcow2", [IDIR], ["/srv/vm/web01.qcow2"], None),
    (IDIR, [IDIR], [], "lies outside '/var/lib/ferry/instances/web01/'"),
    (IDIR + "/../web02/disk.qcow2", [IDIR], [], "contains '..'"),
    ("/var/lib/ferry/instances/web01x/disk.qcow2", [IDIR], [], "lies outside"),
    ("/var/lib/ferry/instances/web02/disk.qcow2", [IDIR], [], "lies outside"),
    ("/etc/passwd", [IDIR], ["/srv/vm/web01.qcow2"], "lies outside '/var/lib/ferry/instances/web01/' and the guest's recorded"),
    ("/srv/vm/web01.qcow2.bak", [IDIR], ["/srv/vm/web01.qcow2"], "lies outside"),
    ("/srv/vm/web01.qcow2/x", [IDIR], ["/srv/vm/web01.qcow2"], "lies outside"),
    ("disk.qcow2", [IDIR], [], "is not an absolute path"),
    ("", [IDIR], [], "is not a path"),
    (None, [IDIR], [], "is not a path"),
    (IDIR + "/x\n", [IDIR], [], "control character"),
    # relative or empty allowed entries allow nothing
    ("/anything", ["", "relative"], ["rel/x"], "lies outside any allowed directory"),
    ("/etc/passwd", [], [], "lies outside any allowed directory"),
])
def test_path_errors(path, dirs, paths, problem):
    errs = v.path_errors(path, dirs, paths)
    if problem is None:
        assert errs == []
    else:
        assert len(errs) == 1 and problem in errs[0], errs


# ---------------------------------------------------------------- XML

@pytest.mark.parametrize("value, expected", [
    ("web01", "web01"),
    ("a<b>&\"c'", "a&lt;b&gt;&amp;&quot;c&apos;"),
    ("&amp;", "&amp;amp;"),
    (128, "128"),
    (None, ""),
])
def test_xml_escape(value, expected):
    assert v.xml_escape(value) == expected


@pytest.mark.parametrize("value", ["a\x00b", "a\x1bb", "\ufffe"])
def test_xml_escape_refuses_what_xml_cannot_carry(value):
    with pytest.raises(ValueError):
        v.xml_escape(value)


# ---------------------------------------------------------------- the filter shim

HOSTVARS = {"hv-a1": dict(GOOD_HOST), "hv-b1": dict(GOOD_HOST, ferry_az="az2")}


def test_filters_registered():
    assert {"ferry_validate_input", "ferry_path_errors", "ferry_xml_escape"} <= set(vf.FilterModule().filters())


@pytest.mark.parametrize("values, spec, hostvars, flavors, expected", [
    ({"instance": "w", "target_host": "hv-b1", "ferry_target_az": "az2"},
     {"instance": {"kind": "instance"}, "target_host": {"kind": "host"}, "ferry_target_az": {"kind": "az"}},
     HOSTVARS, None, []),
    ({"target_host": "hv-z9"}, {"target_host": {"kind": "host"}}, HOSTVARS, None,
     ["target_host: unknown host 'hv-z9' (known: hv-a1, hv-b1)"]),
    ({"ferry_target_az": "az3"}, {"ferry_target_az": {"kind": "az"}}, HOSTVARS, None,
     ["ferry_target_az: unknown AZ 'az3' (known: az1, az2)"]),
    ({}, {}, dict(HOSTVARS, **{"hv-b1": dict(GOOD_HOST, ferry_instances_dir="$(id)")}), None,
     ["hv-b1: ferry_instances_dir: '$(id)' is not an absolute path, contains the shell metacharacters $ ( )"]),
    # the catalogue is checked only when the playbook takes a flavor or image name
    ({}, {}, HOSTVARS, {"a b": {}}, []),
    ({}, {"flavor": {"kind": "flavor"}}, HOSTVARS, {"a b": {}},
     ["ferry_flavors: flavor name 'a b' is invalid: it contains a space"]),
])
def test_ferry_validate_input(values, spec, hostvars, flavors, expected):
    errs = vf.ferry_validate_input(values, spec, list(hostvars), hostvars, flavors)
    assert len(errs) == len(expected) and all(e.startswith(x) for e, x in zip(errs, expected)), errs


# ---------------------------------------------------------------- the validate play of every playbook

# What each operator playbook takes (README, "Using ferry"): the validate play must cover all of it.
LEASE = {"ferry_lease_ttl": "int", "ferry_libvirt_timeout": "int"}
MOVE = {"target_host": "host", "ferry_target_az": "az", "ferry_allow_cross_az": "bool",
        "ferry_allow_resize_to_same_host": "bool", "ferry_auto_confirm": "bool", "ferry_adopt": "bool",
        "ferry_shutdown_timeout": "int", "ferry_bwlimit": "int", "ferry_precopy": "bool",
        "ferry_precopy_rounds": "int", "ferry_precopy_threshold_mb": "int", "ferry_root_disk": "device",
        "ferry_transfer_mode": "choice", "ferry_stop_window": "choice",
        "ferry_shared_storage": "paths", **LEASE}
PLAYBOOKS = {
    "boot.yml": {"instance": "instance", "flavor": "flavor", "image": "image", "host": "host", "az": "az",
                 "server_group": "group", "server_group_policy": "choice", "ferry_default_schedule_zone": "az",
                 "ferry_boot_ignore_unreachable": "bool", "ferry_shutdown_timeout": "int",
                 "ferry_shared_storage": "paths"},
    "resize.yml": dict(MOVE, instance="instance", flavor="flavor"),
    "migrate.yml": dict(MOVE, instance="instance"),
    "plan.yml": {"instance": "instance", "flavor": "flavor", "target_host": "host", "ferry_target_az": "az",
                 "ferry_allow_cross_az": "bool", "ferry_allow_resize_to_same_host": "bool", "ferry_adopt": "bool",
                 "ferry_root_disk": "device", "ferry_shared_storage": "paths", "ferry_plan_html": "path"},
    "confirm.yml": {"instance": "instance", "ferry_shared_storage": "paths", **LEASE},
    "revert.yml": {"instance": "instance", "ferry_shutdown_timeout": "int", "ferry_shared_storage": "paths", **LEASE},
    "recover.yml": {"instance": "instance", "ferry_shared_storage": "paths", **LEASE, "ferry_break_lease": "instance"},
    "delete.yml": {"instance": "instance", "ferry_shared_storage": "paths", **LEASE, "ferry_delete_takeover": "bool"},
    "adopt.yml": {"instance": "instance", "host": "host", "ferry_root_disk": "device", "ferry_shared_storage": "paths"},
    "status.yml": {"ferry_shared_storage": "paths"},
    "cache_prune.yml": {"host": "host", "image": "image", "ferry_cache_min_age": "int", "ferry_libvirt_timeout": "int"},
    "evacuate.yml": {"host": "host", "reason": "text", "ferry_evacuate_parallel": "int", "ferry_evacuate_confirm": "bool",
                     "ferry_evacuate_artifacts_dir": "path", "ferry_evacuate_plan_html": "path",
                     "ferry_shutdown_timeout": "int", "ferry_bwlimit": "int", "ferry_shared_storage": "paths",
                     "ferry_lease_ttl": "int", "ferry_libvirt_timeout": "int"},
    "disable_host.yml": {"host": "host", "reason": "text"},
    "enable_host.yml": {"host": "host"},
}
REQUIRED = {"boot.yml": {"instance", "flavor", "image"}, "resize.yml": {"instance", "flavor"}, "cache_prune.yml": set(),
            "evacuate.yml": {"host"}, "disable_host.yml": {"host"}, "enable_host.yml": {"host"}}
# Free text (a disabled host's reason) may hold spaces and shell metacharacters: it is only ever a
# JSON value and escaped text, never a name, a path or part of a command; control characters and
# length are refused.
TEXT_BAD = ["a\nb", "x\x1b[31m", "x" * 201]


def _validate_spec(playbook):
    with open(os.path.join(ROOT, "playbooks", playbook)) as f:
        plays = yaml.safe_load(f)
    first = plays[0]
    assert first["hosts"] == "localhost" and first["gather_facts"] is False, first
    (role,) = first["roles"]
    assert role["role"] == "validate"
    return role["vars"]["ferry_validate_spec"]


def test_every_operator_playbook_is_listed():
    found = {p for p in os.listdir(os.path.join(ROOT, "playbooks")) if p.endswith(".yml")}
    # awx_configure.yml talks to AWX, not to hypervisors: it checks its own settings
    # (validate_argument_spec, tests/unit/test_awx.py)
    assert found - {"lab.yml", "lab_down.yml", "awx_configure.yml"} == set(PLAYBOOKS)


@pytest.mark.parametrize("playbook", sorted(PLAYBOOKS))
def test_the_first_play_validates_what_the_playbook_takes(playbook):
    spec = _validate_spec(playbook)
    assert {k: s["kind"] for k, s in spec.items()} == PLAYBOOKS[playbook]
    required = {k for k, s in spec.items() if s.get("required")}
    assert required == REQUIRED.get(playbook, {"instance"} if "instance" in spec else set())
    # every variable of the playbook refuses every bad name, naming itself
    good = {"instance": "web01", "flavor": "m1.small", "image": "tiny", "host": "hv-a1"}
    for var in spec:
        for bad in (TEXT_BAD if spec[var]["kind"] == "text" else BAD_NAMES):
            values = dict({k: x for k, x in good.items() if k in spec}, **{var: bad})
            errs = v.input_errors(values, spec, KNOWN)
            assert len(errs) == 1 and errs[0].split(":")[0].split("[")[0] == var, (var, bad, errs)


@pytest.mark.parametrize("value, expected", [
    ("disk swap; see ticket #42 $(not run)", []),
    ("x" * 200, []),
    ("x" * 201, ["reason: '%s'... (201 characters) is longer than 200 characters" % ("x" * 60)]),
    ("two\nlines", ["reason: 'two\\nlines' contains a control character"]),
    (42, ["reason: 42 is not text"]),
    ("", []),
])
def test_text_kind(value, expected):
    assert v.input_errors({"reason": value}, {"reason": {"kind": "text"}}) == expected
