"""A host's disabled record: parsing, precedence over the inventory, the file under the claims lock,
host facts and claims reading it."""

import json
import os

import ferry_host_state
import pytest
from ansible.module_utils import ferry_hoststate
from ansible.module_utils.ferry_hostfacts import read_claims


@pytest.mark.parametrize("text, reason, since, controller", [
    pytest.param('{"disabled": true, "reason": "disk swap", "since": 1700000000.5, "controller": "ctl pid 1"}',
                 "disk swap", 1700000000.5, "ctl pid 1", id="complete"),
    pytest.param('{"since": "yesterday"}', "disabled", None, None, id="no-reason-bad-since"),
    pytest.param('{"reason": ""}', "disabled", None, None, id="empty-reason"),
    pytest.param("not json at all", "unreadable disabled record (15 bytes)", None, None, id="garbage-is-disabled"),
    pytest.param("[1, 2]", "unreadable disabled record (not an object)", None, None, id="not-an-object"),
    pytest.param("", "unreadable disabled record (0 bytes)", None, None, id="empty-file-is-disabled"),
    pytest.param('{"reason": 42}', "42", None, None, id="reason-as-text"),
])
def test_parse_record(text, reason, since, controller):
    rec = ferry_hoststate.parse_record(text)
    assert rec["disabled"] is True
    assert (rec["reason"], rec["since"], rec["controller"]) == (reason, since, controller)


@pytest.mark.parametrize("inv_enabled, inv_reason, record, expected", [
    pytest.param(True, None, None, (True, None), id="enabled-no-record"),
    pytest.param(True, None, {"reason": "evacuated"}, (False, "evacuated"), id="record-wins-over-enabled-inventory"),
    pytest.param(False, "rack move", {"reason": "evacuated"}, (False, "evacuated"), id="record-reason-wins"),
    pytest.param(False, "rack move", None, (False, "rack move"), id="inventory-disabled"),
    pytest.param(False, None, None, (False, "disabled in the inventory"), id="inventory-disabled-no-reason"),
    pytest.param("false", None, None, (False, "disabled in the inventory"), id="inventory-string-false"),
    pytest.param(True, None, {"reason": None}, (False, "disabled"), id="record-without-reason"),
])
def test_effective(inv_enabled, inv_reason, record, expected):
    assert ferry_hoststate.effective(inv_enabled, inv_reason, record) == expected


def test_record_roundtrip_and_not_a_claim(tmp_path):
    d = str(tmp_path)
    assert ferry_hoststate.read_record(d) is None
    with open(os.path.join(d, "web01.json"), "w") as f:
        json.dump({"instance": "web01", "vcpus": 1, "memory_mb": 64, "disk_gb": 1}, f)
    rec = ferry_hoststate.make_record("kernel <upgrade>", "ctl pid 7", 1700000000, by="evacuate")
    ferry_hoststate.write_record(d, rec)
    assert ferry_hoststate.read_record(d) == {"disabled": True, "reason": "kernel <upgrade>", "since": 1700000000.0,
                                              "controller": "ctl pid 7", "by": "evacuate"}
    # the record is never read as a claim, and no temporary file is left
    assert [c["instance"] for c in read_claims(d)] == ["web01"]
    assert sorted(os.listdir(d)) == [".host-disabled", "web01.json"]
    assert ferry_hoststate.remove_record(d) is True
    assert ferry_hoststate.remove_record(d) is False
    assert ferry_hoststate.read_record(d) is None


def _params(claims_dir, state, **kw):
    p = {"claims_dir": claims_dir, "state": state, "reason": None, "controller": "ctl", "by": "disable_host",
         "replace": False}
    p.update(kw)
    return p


def test_module_disable_keeps_first_record_enable_removes(tmp_path):
    d = str(tmp_path)
    changed, prev, rec = ferry_host_state.apply(_params(d, "disabled", reason="first"), False, 100.0)
    assert (changed, prev, rec["reason"], rec["since"]) == (True, None, "first", 100.0)
    # a second disable keeps the first reason and time (unless replace)
    changed, prev, rec = ferry_host_state.apply(_params(d, "disabled", reason="second"), False, 200.0)
    assert (changed, rec["reason"], rec["since"]) == (False, "first", 100.0)
    changed, prev, rec = ferry_host_state.apply(_params(d, "disabled", reason="second", replace=True), False, 300.0)
    assert (changed, prev["reason"], rec["reason"]) == (True, "first", "second")
    assert ferry_hoststate.read_record(d)["reason"] == "second"
    changed, prev, rec = ferry_host_state.apply(_params(d, "enabled"), False, 400.0)
    assert (changed, prev["reason"], rec) == (True, "second", None)
    assert not os.path.exists(ferry_hoststate.record_path(d))
    changed, prev, rec = ferry_host_state.apply(_params(d, "enabled"), False, 500.0)
    assert (changed, prev, rec) == (False, None, None)


def test_module_check_mode_writes_nothing(tmp_path):
    d = str(tmp_path)
    changed, _, rec = ferry_host_state.apply(_params(d, "disabled", reason="planned"), True, 100.0)
    assert changed and rec["reason"] == "planned"
    assert ferry_hoststate.read_record(d) is None
    ferry_hoststate.write_record(d, ferry_hoststate.make_record("real", "ctl", 1))
    changed, prev, rec = ferry_host_state.apply(_params(d, "enabled"), True, 100.0)
    assert changed and prev["reason"] == "real" and rec is None
    assert ferry_hoststate.read_record(d)["reason"] == "real"


def test_module_refuses_missing_claims_dir(tmp_path):
    with pytest.raises(OSError):
        ferry_host_state.apply(_params(str(tmp_path / "nope"), "disabled"), False, 1.0)


def test_gather_reports_the_record(tmp_path):
    """Host facts carry the record (the module turns it into enabled=false), claims stay claims."""
    from tests.unit.test_hostfacts import FakeClient  # the fake libvirt client of the host facts tests
    from ansible.module_utils.ferry_hostfacts import gather
    claims = tmp_path / "claims"
    claims.mkdir()
    storage = tmp_path / "instances"
    storage.mkdir()
    client = FakeClient({})
    facts = gather(client, lambda argv: (1, "", "no"), {}, str(storage), str(claims))
    assert facts["disabled_record"] is None
    ferry_hoststate.write_record(str(claims), ferry_hoststate.make_record("evacuated", "ctl", 5))
    facts = gather(client, lambda argv: (1, "", "no"), {}, str(storage), str(claims))
    assert facts["disabled_record"]["reason"] == "evacuated"
    assert facts["claims"] == []


@pytest.mark.parametrize("state, changed, previous, record, inv, expected", [
    pytest.param("disabled", True, None, {"reason": "swap", "since": 0, "controller": "ctl"}, True,
                 "hv-a1: disabled for scheduling (swap, since 1970-01-01 00:00:00 UTC, by ctl)", id="disabled"),
    pytest.param("disabled", False, {"reason": "old"}, {"reason": "old", "since": None, "controller": "c"}, True,
                 "hv-a1: disabled for scheduling (old, since unknown time, by c); it was already: the first record is kept",
                 id="already"),
    pytest.param("enabled", True, {"reason": "swap"}, None, True, "hv-a1: enabled again (was disabled: swap)",
                 id="enabled"),
    pytest.param("enabled", False, None, None, False,
                 "hv-a1: was not disabled on the host; the inventory's ferry_host_enabled=false still keeps it out "
                 "of scheduling", id="inventory-still-off"),
])
def test_describe(state, changed, previous, record, inv, expected):
    assert ferry_hoststate.describe("hv-a1", state, changed, previous, record, inv) == expected


def test_describe_check_mode():
    line = ferry_hoststate.describe("hv-a1", "disabled", True, None, {"reason": "r", "since": 0, "controller": "c"},
                                    check_mode=True)
    assert line == "check mode, nothing written: hv-a1: disabled for scheduling (r, since 1970-01-01 00:00:00 UTC, by c)"
