"""ferry_state: migration transitions and the guest lease, table-driven."""

import pytest

from ansible.module_utils import ferry_state as st


def rec(status, **kw):
    return dict({"id": "m1", "status": status, "role": "source"}, **kw)


@pytest.mark.parametrize("status,event,to", [
    (None, "claim", "pre-migrating"),
    ("confirmed", "claim", "pre-migrating"),
    ("reverted", "claim", "pre-migrating"),
    ("error", "claim", "pre-migrating"),
    ("pre-migrating", "stop", "migrating"),
    ("migrating", "stop", "migrating"),           # a re-run of the stop
    ("migrating", "finish", "finished"),
    ("post-migrating", "finish", "finished"),
    ("pre-migrating", "fail", "error"),
    ("migrating", "fail", "error"),
    ("finished", "confirm", "confirming"),
    ("confirming", "confirm", "confirming"),      # a re-run of an interrupted confirm
    ("confirming", "confirmed", "confirmed"),
    ("finished", "revert", "reverting"),
    ("reverting", "revert", "reverting"),
    ("reverting", "reverted", "reverted"),
])
def test_legal_transitions(status, event, to):
    assert st.transition(rec(status) if status else None, event, **({"id": "m2"} if event == "claim" else {}))["status"] == to


@pytest.mark.parametrize("status,event", [
    ("confirming", "revert"),     # issue 8 #2: a confirm that started is never reverted
    ("reverting", "confirm"),     # nor a revert confirmed
    ("finished", "fail"),         # a finished move is kept (confirm or revert), never rolled back
    ("finished", "claim"),        # one move at a time
    ("migrating", "claim"),
    ("confirming", "claim"),
    ("pre-migrating", "confirm"),
    ("migrating", "revert"),
    (None, "finish"),
    ("finished", "confirmed"),
    ("error", "finish"),
    ("finished", "bogus"),
])
def test_illegal_transitions(status, event):
    with pytest.raises(st.IllegalTransition):
        st.transition(rec(status) if status else None, event)


def test_claim_starts_a_new_record_and_other_events_keep_it():
    new = st.transition(rec("confirmed", extra=1), "claim", id="m2", role="source")
    assert new == {"id": "m2", "role": "source", "status": "pre-migrating"}
    kept = st.transition(rec("migrating", extra=1), "finish", role="target")
    assert kept == {"id": "m1", "role": "target", "status": "finished", "extra": 1}


L_MINE = st.make_lease("migrate", "me", "ctl-a", 100, now=1000.0)
L_OTHER = st.make_lease("resize", "other", "ctl-b", 100, now=1000.0)


@pytest.mark.parametrize("meta,op,now,kw,error", [
    ({}, "migrate", 1000.0, {}, None),                                         # free
    ({"lease": L_OTHER}, "migrate", 1050.0, {}, "being worked on"),            # live: refused
    ({"lease": L_OTHER}, "recover", 1050.0, {"takeover": True}, "being worked on"),  # live even for recover
    ({"lease": L_OTHER}, "migrate", 1200.0, {}, "expired lease"),              # expired: only recover
    ({"lease": L_OTHER}, "recover", 1200.0, {"takeover": True}, None),         # recover takes it over
    ({"lease": L_OTHER}, "recover", 1050.0, {"break_id": "other"}, None),      # named break
    ({"lease": dict(L_OTHER, op="revert"), "migration": rec("reverting")}, "revert", 1200.0, {}, None),  # re-run
    ({"lease": dict(L_OTHER, op="revert"), "migration": rec("reverting")}, "revert", 1050.0, {}, "being worked on"),
    ({"lease": dict(L_OTHER, op="confirm"), "migration": rec("finished")}, "revert", 1200.0, {}, "expired lease"),
    ({"lease": L_OTHER}, "recover", 1050.0, {"break_id": "wrong"}, "being worked on"),
    ({"lease": L_MINE}, "migrate", 1050.0, {}, None),                          # mine: renewal
    ({"migration": rec("finished")}, "migrate", 1000.0, {}, "not possible"),   # a pending move
    ({"migration": rec("confirming")}, "revert", 1000.0, {}, "not possible"),  # issue 8 #2
    ({"migration": rec("reverting")}, "confirm", 1000.0, {}, "not possible"),
    ({"migration": rec("confirming")}, "confirm", 1000.0, {}, None),
    ({"migration": rec("migrating")}, "recover", 1000.0, {}, None),
    ({"migration": rec("error")}, "resize", 1000.0, {}, None),
])
def test_take(meta, op, now, kw, error):
    lease = st.make_lease(op, "me", "ctl-a", 100, now=now)
    if error:
        with pytest.raises((st.LeaseHeld, st.IllegalTransition), match=error):
            st.take(meta, op, lease, now=now, **kw)
    else:
        assert st.take(meta, op, lease, now=now, **kw)["lease"]["id"] == "me"


def test_refusal_names_the_holder_and_how_to_break_it():
    with pytest.raises(st.LeaseHeld) as e:
        st.take({"lease": L_OTHER}, "migrate", st.make_lease("migrate", "me", "x", 10, 1001.0), now=1001.0)
    assert "resize other by ctl-b" in str(e.value) and "ferry_break_lease=other" in str(e.value)


def test_apply_checks_the_lease_and_changes_only_what_it_is_told():
    meta = {"lease": L_MINE, "flavor": {"name": "m1.small"}, "migration": rec("pre-migrating"), "task_state": "x"}
    new = st.apply(meta, "me", "stop", merge={"task_state": "resize_migrating", "lease": "ignored"}, now=1010.0)
    assert new["migration"]["status"] == "migrating" and new["task_state"] == "resize_migrating"
    assert new["lease"] == L_MINE and new["flavor"] == meta["flavor"]
    assert st.apply(meta, "me", renew=500, now=1010.0)["lease"]["expires"] == 1510.0
    assert "lease" not in st.apply(meta, "me", release=True)
    assert "x" not in st.apply(dict(meta, x=1), "me", unset=["x"])
    with pytest.raises(st.LeaseHeld, match="taken over|gone"):
        st.apply(dict(meta, lease=L_OTHER), "me", "stop")
    with pytest.raises(st.LeaseHeld):
        st.apply({}, "me", "stop")
    with pytest.raises(st.IllegalTransition):
        st.apply(meta, "me", "confirm")


def test_without_lease_and_claim_life():
    assert st.without_lease({"lease": L_MINE, "az": "az1"}) == {"az": "az1"}
    assert st.claim_live({"expires": 10.0}, now=5.0) and not st.claim_live({"expires": 10.0}, now=10.0)
    assert st.claim_live({}, now=1e12)
