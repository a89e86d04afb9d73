"""Table-driven tests of the move decisions (ferry_move), claims' re-check and rsync stats parsing."""

import pytest

from ansible.module_utils import ferry_claim, ferry_move, ferry_ship, ferry_state

GIB = 1024 ** 3
FLAVORS = {
    "m1.small": {"vcpus": 1, "memory_mb": 128, "disk_gb": 2},
    "m1.medium": {"vcpus": 2, "memory_mb": 256, "disk_gb": 3},
    "m1.tiny": {"vcpus": 1, "memory_mb": 64, "disk_gb": 1},
}


def inst(name="web", flavor="m1.small", az=None, migration=None, state="running", vsize=2 * GIB):
    return {"name": name, "uuid": "u-" + name, "state": state, "vcpus": 1, "memory_mb": 128, "disk_gb": vsize / GIB,
            "flavor": flavor, "image": "tiny", "az": az, "migration": migration,
            "disks": [{"path": "/x/%s/disk.qcow2" % name, "chain": {"virtual_size": vsize, "base": "/c/s.qcow2"}}],
            "metadata": {"flavor": dict(FLAVORS[flavor], name=flavor), "az": az, "migration": migration}}


def host(name, az, *instances):
    return {"name": name, "az": az, "reachable": True, "instances": list(instances)}


@pytest.mark.parametrize("kind,flavor,instances,expect", [
    ("resize", "m1.medium", [inst()], None),
    ("resize", "m1.tiny", [inst()], "disk shrink refused"),
    ("resize", "m9", [inst()], "unknown flavor 'm9'"),
    ("resize", "m1.small", [inst()], "already has flavor m1.small"),
    ("migrate", None, [], "no guest named 'web'"),
    ("migrate", None, [inst(migration={"status": "finished", "kind": "resize"})], "confirm or revert it first"),
    ("migrate", None, [inst(migration={"status": "reverted"})], None),
    ("migrate", None, [inst(migration={"status": "error"})], None),
    ("migrate", None, [inst(state="paused")], "only a running or stopped guest can move"),
    ("migrate", None, [inst(state="shutoff")], None),
])
def test_move_errors(kind, flavor, instances, expect):
    hosts = [host("a1", "az1", *instances), host("a2", "az1")]
    errors = ferry_move.move_errors(kind, "web", ferry_move.locate(hosts, "web"), FLAVORS, flavor,
                                    None, ["a1", "a2"])
    if expect is None:
        assert errors == []
    else:
        assert errors and expect in errors[0], errors


def test_two_copies_means_unconfirmed():
    src = inst(migration={"status": "finished", "role": "source", "kind": "migrate"}, state="shutoff")
    tgt = inst(migration={"status": "finished", "role": "target", "kind": "migrate"})
    hosts = [host("a1", "az1", src), host("a2", "az1", tgt)]
    errors = ferry_move.move_errors("migrate", "web", ferry_move.locate(hosts, "web"), FLAVORS)
    assert "confirm or revert it first" in errors[0]


@pytest.mark.parametrize("guest_az,target_az,cross,expect", [
    (None, None, False, "az1"),       # seed defect 1: booted without AZ -> its host's AZ
    ("az1", None, False, "az1"),
    (None, "az2", False, "az2"),      # explicit target AZ
    (None, None, True, None),         # explicitly any AZ
])
def test_move_request_pins_az(guest_az, target_az, cross, expect):
    h = host("a1", "az1", inst(az=guest_az))
    copy = ferry_move.locate([h], "web")[0]
    req = ferry_move.move_request("migrate", copy, dict(FLAVORS["m1.small"], name="m1.small"), {},
                                  target_az=target_az, allow_cross_az=cross)
    assert req["availability_zone"] == expect
    assert req["ignore_hosts"] == ["a1"]


@pytest.mark.parametrize("kind,same,ignored", [("resize", True, []), ("resize", False, ["a1"]), ("migrate", True, ["a1"])])
def test_same_host_only_for_resize(kind, same, ignored):
    copy = ferry_move.locate([host("a1", "az1", inst())], "web")[0]
    req = ferry_move.move_request(kind, copy, {"name": "x"}, {}, allow_same_host=same)
    assert req["ignore_hosts"] == ignored


@pytest.mark.parametrize("copies,expect", [
    ([("a1", {"status": "finished", "role": "source"}), ("a2", {"status": "finished", "role": "target"})], ("a1", "a2")),
    ([("a2", {"status": "finished", "role": "target", "same_host": True})], ("a2", "a2")),
    ([("a1", {"status": "confirmed", "role": "target"})], "no unconfirmed move"),
    ([("a1", {"status": "finished", "role": "source"})], "target copy of the move is missing"),
    ([("a2", {"status": "finished", "role": "target"})], "source copy of the move is missing"),
    ([], "no such guest"),
    # an interrupted confirm purged the source: a re-run finishes it on the hosts the record names
    ([("a2", {"status": "confirming", "role": "target", "source_host": "a1", "target_host": "a2"})], ("a1", "a2")),
    # an interrupted revert destroyed the target: a re-run restarts the source
    ([("a1", {"status": "reverting", "role": "source", "source_host": "a1", "target_host": "a2"})], ("a1", "a2")),
])
def test_pending_pair(copies, expect):
    hosts = [host(h, "az1", inst(migration=m)) for h, m in copies]
    located = ferry_move.locate(hosts, "web")
    if isinstance(expect, tuple):
        src, tgt = ferry_state.pending_pair(located)
        assert (src["host"], tgt["host"]) == expect
    else:
        with pytest.raises(ValueError, match=expect):
            ferry_state.pending_pair(located)


@pytest.mark.parametrize("copies,op,error", [
    # issue 8 #2: a same-host confirm interrupted after the old disk went must not be reverted
    ([("a1", {"status": "confirming", "role": "target", "same_host": True})], "revert", "cannot be reverted"),
    ([("a1", {"status": "confirming", "role": "target", "same_host": True})], "confirm", None),
    ([("a1", {"status": "reverting", "role": "source"}), ("a2", {"status": "finished", "role": "target"})],
     "confirm", "cannot be confirmed"),
    ([("a1", {"status": "finished", "role": "source"}), ("a2", {"status": "confirming", "role": "target"})],
     "revert", "cannot be reverted"),
])
def test_pending_pair_never_turns_a_settle_around(copies, op, error):
    located = ferry_move.locate([host(h, "az1", inst(migration=m)) for h, m in copies], "web")
    if error:
        with pytest.raises(ValueError, match=error):
            ferry_state.pending_pair(located, op)
    else:
        ferry_state.pending_pair(located, op)


def test_locate_puts_source_first():
    hosts = [host("a1", "az1", inst(migration={"role": "target"})), host("a2", "az1", inst(migration={"role": "source"}))]
    assert [c["host"] for c in ferry_move.locate(hosts, "web")] == ["a2", "a1"]


def test_result_phases_and_downtime():
    t = {"start": 0.0, "claimed": 1.0, "prepared": 2.5, "stopped": 4.0, "shipped": 5.0, "running": 6.5}
    r = ferry_move.result("id", "resize", "a1", "a2", t, {"bytes_sent": 10, "allocated_bytes": 12},
                          {"fetched_from": "store"}, "m1.small", "m1.medium")
    assert r["downtime_s"] == 4.0 and r["total_s"] == 6.5
    assert r["phases_s"] == {"schedule_claim": 1.0, "prepare_target": 1.5, "stop_guest": 1.5,
                             "ship_delta": 1.0, "rebase_define_start": 1.5}
    assert (r["bytes_shipped"], r["overlay_bytes"], r["base_image"]) == (10, 12, "store")


def _facts(mem_cap, *instances, claims=()):
    return {"name": "a2", "az": "az1", "reachable": True, "enabled": True,
            "capacity": {"vcpus": 2, "memory_mb": mem_cap, "disk_gb": 20},
            "instances": list(instances), "claims": list(claims)}


CFG = {"ram_allocation_ratio": 1.0, "reserved_host_memory_mb": 0, "cpu_allocation_ratio": 4.0}


@pytest.mark.parametrize("cap,instances,claims,fits", [
    (256, [], [], True),                                                   # exactly fits
    (255, [], [], False),                                                  # one MiB short
    (512, [inst("other")], [], True),                                      # 128 used + 256
    (256, [inst("other")], [], False),
    (512, [], [{"instance": "x", "vcpus": 1, "memory_mb": 300, "disk_gb": 1}], False),  # claim in flight counts
    (256, [], [{"instance": "web", "vcpus": 2, "memory_mb": 256, "disk_gb": 3}], True),  # own claim: re-run is idempotent
])
def test_claim_recheck(cap, instances, claims, fits):
    ok, report = ferry_claim.recheck(_facts(cap, *instances, claims=claims), "web",
                                     dict(FLAVORS["m1.medium"], name="m1.medium"), CFG)
    assert ok is fits, report
    if not fits:
        assert "RamFilter removed a2" in report


def test_claim_file_round_trip(tmp_path):
    c = ferry_claim.make_claim("web", FLAVORS["m1.medium"], "mid", now=lambda: 5.0)
    path = ferry_claim.write_claim(str(tmp_path), c)
    assert path.endswith("web.json")
    from ansible.module_utils import ferry_hostfacts
    assert ferry_hostfacts.read_claims(str(tmp_path)) == [dict(c, expired=False)]


@pytest.mark.parametrize("out,sent,recv", [
    ("Number of files: 1\nTotal bytes sent: 196,772\nTotal bytes received: 35\n", 196772, 35),
    ("Total bytes sent: 1.234.567\nTotal bytes received: 1.035\n", 1234567, 1035),
    ("garbage", None, None),
])
def test_rsync_stats(out, sent, recv):
    assert ferry_ship.parse_stats(out) == {"bytes_sent": sent, "bytes_received": recv}


@pytest.mark.parametrize("bw,has", [(0, False), (None, False), (5000, True)])
def test_rsync_argv(bw, has):
    argv = ferry_ship.rsync_argv("/a", "h:/b", bw)
    assert argv[0] == "rsync" and "--sparse" in argv and argv[-2:] == ["/a", "h:/b"]
    assert any(a.startswith("--bwlimit=") for a in argv) is has


def _copy(host_name, migration):
    return {"host": host_name, "host_facts": {"name": host_name},
            "instance": {"name": "web", "migration": migration, "metadata": {"migration": migration},
                         "disks": [{"path": "/i/web/disk.qcow2"}]}}


UP = {"a1": {"reachable": True}, "a2": {"reachable": True}}
DOWN = {"a1": {"reachable": True}, "a2": {"reachable": False}}


def _mig(status, role, target="a2"):
    return {"id": "1234abcd-x", "status": status, "role": role, "source_host": "a1", "target_host": target,
            "source_state": "running"}


@pytest.mark.parametrize("copies,hosts,action", [
    ([], UP, "none"),
    ([_copy("a1", None)], UP, "none"),                                           # never moved
    ([_copy("a1", _mig("reverted", "source"))], UP, "none"),
    ([_copy("a1", _mig("error", "source"))], UP, "none"),
    ([_copy("a1", _mig("pre-migrating", "source"))], UP, "rollback"),            # killed before the stop
    ([_copy("a1", _mig("migrating", "source"))], UP, "rollback"),                # killed mid-ship
    ([_copy("a1", _mig("migrating", "source")), _copy("a2", _mig("finished", "target"))], UP, "complete"),
    ([_copy("a1", _mig("post-migrating", "source")), _copy("a2", _mig("post-migrating", "target"))], UP, "rollback"),
    ([_copy("a1", _mig("migrating", "source"))], DOWN, "wait"),                  # cannot tell: decide nothing
    ([_copy("a1", _mig("migrating", "source", target="a1"))], UP, "rollback"),   # same-host
    ([_copy("a1", _mig("finished", "source")), _copy("a2", _mig("finished", "target"))], UP, "none"),  # confirm.yml's
    # issue 8 #6: interrupted confirm / revert are finished the way they started
    ([_copy("a2", _mig("confirming", "target"))], UP, "confirm"),
    ([_copy("a1", _mig("finished", "source")), _copy("a2", _mig("confirming", "target"))], UP, "confirm"),
    ([_copy("a1", _mig("reverting", "source"))], UP, "revert"),
    ([_copy("a1", _mig("reverting", "source")), _copy("a2", _mig("reverting", "target"))], UP, "revert"),
    ([_copy("a1", _mig("reverting", "source"))], DOWN, "wait"),
    ([_copy("a1", _mig("finished", "source"))], UP, "revert"),      # the target copy is gone
    ([_copy("a1", _mig("finished", "source"))], DOWN, "wait"),
])
def test_recovery_plan(copies, hosts, action):
    plan = ferry_state.recovery_plan(copies, hosts)
    assert plan["action"] == action, plan
    if action in ("rollback", "complete", "wait") and plan.get("source_metadata"):
        assert plan["source"] == "a1" and plan["source_metadata"]["migration"]["role"] == "source"


@pytest.mark.parametrize("copies,status,expect", [
    ([_copy("a2", _mig("confirmed", "target"))], "confirmed", True),
    ([_copy("a2", _mig("confirmed", "target"))], "reverted", False),
    ([_copy("a1", _mig("finished", "source")), _copy("a2", _mig("finished", "target"))], "confirmed", False),
    ([_copy("a1", None)], "confirmed", False),
    ([], "confirmed", False),
])
def test_settled(copies, status, expect):
    assert ferry_state.settled(copies, status) is expect


def test_orphan_claims_keep_only_a_pending_moves_claim():
    hosts = [dict(host("a1", "az1", inst(migration={"id": "m1", "status": "finished", "role": "source"})),
                  claims=[{"instance": "web", "id": "dead"}, {"instance": "other", "id": "x"}]),
             dict(host("a2", "az1", inst(migration={"id": "m1", "status": "finished", "role": "target"})),
                  claims=[{"instance": "web", "id": "m1"}])]
    assert ferry_state.orphan_claims(hosts, "web") == [{"host": "a1", "id": "dead", "expired": False}]
    for h in hosts:
        h["instances"][0]["migration"]["status"] = "confirmed"
    assert [c["id"] for c in ferry_state.orphan_claims(hosts, "web")] == ["dead", "m1"]


def test_recovery_is_decided_on_the_state_read_under_the_lease():
    """recover.yml re-plans from what ferry_lease read under the lock: a move that finished between
    the facts and the takeover is kept, not rolled back; a copy gone by then is dropped."""
    src_mig = {"id": "m1", "role": "source", "status": "migrating", "source_host": "a1", "target_host": "a2"}
    tgt_mig = dict(src_mig, role="target", status="migrating")
    hosts = [host("a1", "az1", inst(state="shutoff", migration=src_mig)),
             host("a2", "az1", inst(state="shutoff", migration=tgt_mig))]
    copies = ferry_state.locate(hosts, "web")
    by_name = {h["name"]: h for h in hosts}
    assert ferry_state.recovery_plan(copies, by_name)["action"] == "rollback"
    taken = {"a2": {"metadata": {"migration": dict(tgt_mig, status="finished")}, "domain_state": "running"}}
    fresh = ferry_state.refreshed(copies, taken)
    assert ferry_state.recovery_plan(fresh, by_name)["action"] == "complete"
    assert [c["instance"]["state"] for c in fresh] == ["shutoff", "running"]
    gone = ferry_state.refreshed(copies, {"a2": {"metadata": None, "domain_state": None}})
    assert [c["host"] for c in gone] == ["a1"]


def test_a_copy_defined_after_the_facts_is_seen_under_the_lease():
    """The slow move defined and finished its target copy after recover gathered its facts: the
    target host (named by the source's record) is read under the lease too, and the move is kept."""
    src_mig = {"id": "m1", "role": "source", "status": "post-migrating", "source_host": "a1", "target_host": "a2"}
    hosts = [host("a1", "az1", inst(state="shutoff", migration=src_mig)), host("a2", "az1")]
    copies = ferry_state.locate(hosts, "web")
    assert ferry_state.hosts_of_move(copies) == ["a1", "a2"]
    by_name = {h["name"]: h for h in hosts}
    assert ferry_state.recovery_plan(copies, by_name)["action"] == "rollback"
    taken = {"a1": {"metadata": {"migration": dict(src_mig, status="finished")}, "domain_state": "shutoff"},
             "a2": {"metadata": {"migration": dict(src_mig, role="target", status="finished")},
                    "domain_state": "running"}}
    fresh = ferry_state.refreshed(copies, taken, hosts)
    assert [c["host"] for c in fresh] == ["a1", "a2"]
    assert ferry_state.recovery_plan(fresh, by_name)["action"] == "none"


def test_downtime_by_the_hosts_clocks_when_both_noted():
    """The one-call window: the source's stop request to the target's start, by their own clocks;
    the controller's view (its task boundaries, its poll of the target's job) beside it."""
    t = {"start": 0.0, "claimed": 1.0, "prepared": 2.5, "stopped": 4.0, "shipped": 5.0, "running": 7.0,
         "stop_requested_host": 2.8, "running_host": 5.1}
    r = ferry_move.result("id", "migrate", "a1", "a2", t, {}, {}, "m1.small", "m1.small")
    assert r["downtime_s"] == 2.3 and r["downtime_controller_s"] == 4.5
    t.update(stop_requested_host=None)   # a run that noted only one of them: the controller's view
    assert ferry_move.result("id", "migrate", "a1", "a2", t, {}, {}, "m", "m")["downtime_s"] == 4.5
