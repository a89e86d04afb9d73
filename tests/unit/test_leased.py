"""ferry_leased: the lease lock, the lease check and the stop a move's source call makes (the stop
option of ferry_ship), on a fake libvirt connection (pure logic; the lab tests run the real one)."""

import os
import time

import pytest

from ansible.module_utils import ferry_leased, ferry_libvirt, ferry_metadata, ferry_state

LEASE = {"id": "m-1", "holder": "ctl", "expires": time.time() + 600}


class Client(object):
    """One domain with ferry metadata; records the calls that change it."""

    def __init__(self, meta, state="running"):
        self.meta, self.state, self.calls = meta, state, []

    def domain(self, name):
        xml = ferry_libvirt.with_metadata("<domain type='qemu'><name>%s</name></domain>" % name, self.meta)
        return {"name": name, "uuid": "u", "state": self.state, "xml": xml, "persistent": True}

    def domain_state(self, name):
        return self.state

    def set_metadata(self, name, text):
        self.calls.append("set_metadata")
        # libvirt adds the namespace to the plain element it is given
        self.meta = ferry_metadata.decode(text.replace("<instance", "<instance xmlns='%s'" % ferry_metadata.NAMESPACE, 1))

    def shutdown(self, name):
        self.calls.append("shutdown")
        self.state = "shutoff"

    def destroy(self, name):
        self.calls.append("destroy")
        self.state = "shutoff"


def meta(status="pre-migrating", lease=LEASE):
    return {"lease": dict(lease), "migration": {"id": "m-1", "kind": "migrate", "status": status}}


def test_stop_marks_then_stops_under_the_lease(tmp_path):
    c = Client(meta())
    actions, how = ferry_leased.stop(c, str(tmp_path), "web01", "m-1", merge={"task_state": "resize_migrating"},
                                     renew=900, shutdown_timeout=5)
    assert how == "graceful" and c.state == "shutoff"
    assert actions == ["marked stopping", "stop"]
    assert c.calls[0] == "set_metadata"            # marked before it is stopped
    assert c.meta["migration"]["status"] == "migrating" and c.meta["task_state"] == "resize_migrating"
    assert float(c.meta["lease"]["expires"]) > time.time() + 800
    assert os.path.exists(tmp_path / ".lease.lock")


def test_stop_with_zero_timeout_forces_it_off(tmp_path):
    c = Client(meta())
    _, how = ferry_leased.stop(c, str(tmp_path), "web01", "m-1", shutdown_timeout=0)
    assert how == "forced" and c.calls == ["set_metadata", "destroy"]


def test_stop_refused_when_the_lease_is_anothers_changes_nothing(tmp_path):
    c = Client(meta(lease=dict(LEASE, id="m-other")))
    with pytest.raises(ferry_state.LeaseHeld):
        ferry_leased.stop(c, str(tmp_path), "web01", "m-1", shutdown_timeout=0)
    assert c.calls == [] and c.state == "running"


def test_stop_refused_from_an_illegal_state_changes_nothing(tmp_path):
    c = Client(meta(status="finished"))
    with pytest.raises(ferry_state.IllegalTransition):
        ferry_leased.stop(c, str(tmp_path), "web01", "m-1", shutdown_timeout=0)
    assert c.calls == [] and c.state == "running"


def test_a_missing_domain_is_named(tmp_path):
    class Gone(Client):
        def domain(self, name):
            return None
    with pytest.raises(LookupError, match="web01: no domain"):
        ferry_leased.stop(Gone({}), str(tmp_path), "web01", "m-1")


def test_leased_releases_the_lock_when_it_refuses(tmp_path):
    import fcntl
    c = Client(meta(lease=dict(LEASE, id="m-other")))
    with pytest.raises(ferry_state.LeaseHeld):
        with ferry_leased.Leased(c, str(tmp_path), "web01", "m-1"):
            pass
    with open(tmp_path / ".lease.lock", "a") as f:   # free again: a non-blocking lock succeeds
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
