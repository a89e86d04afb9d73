"""The controller killed at every phase of a move, a confirm and a revert (the fault hook
`ferry_fault`: ferry stops dead there, no rescue, its lease left held), then the way forward: the
lease expires, recover.yml (or a re-run) ends the operation by the end-state rule, and afterwards

- the guest runs on exactly one host,
- its disk's guest-visible content is identical (`qemu-img compare` on the host),
- no lease is left on any copy and no claim of it on any host (a kept move's own claim until its
  confirm),
- no half-copied file is left on the target.

One guest serves every point (its boot is not under test); it moves between hv-b1 and hv-b2."""

import os

import pytest

from tests.integration import lab
from tests.faults.test_regress_lease import meta_xml, running_on, status

HOSTS = ("hv-b1", "hv-b2")
TTL = 3  # seconds: the killed operation's lease expires quickly, so recover.yml may take it over


@pytest.fixture(scope="module")
def guest():
    name = lab.unique("fp")
    lab.ok(lab.run_playbook("boot.yml", instance=name, flavor="m1.small", image="tiny", host="hv-b1"))
    ref = lab.write_pattern("hv-b1", name)
    yield name, ref
    lab.run_playbook("delete.yml", instance=name, ferry_delete_takeover=True)


def where(name):
    on = running_on(name)
    assert len(on) == 1, "the guest runs on %s" % on
    return on[0], [h for h in HOSTS if h != on[0]][0]


def assert_clean(name, host, ref, pending_claim=False):
    assert running_on(name) == [host]
    assert "rc=0" in lab.compare(host, lab.disk_path(host, name), ref)
    for h in ("hv-a1", "hv-a2", "hv-b1", "hv-b2"):
        if lab.domain_state(h, name) != "absent":
            assert "<lease" not in meta_xml(h, name), "a lease is left on %s" % h
        if not pending_claim:
            assert name + ".json" not in lab.claims(h), "a claim is left on %s" % h
    other = [h for h in HOSTS if h != host][0]
    if lab.domain_state(other, name) == "absent":
        assert not lab.exists(other, os.path.dirname(lab.disk_path(other, name))), "files left on %s" % other


def killed(playbook, point, **extra):
    r = lab.run_playbook(playbook, ferry_fault=point, ferry_lease_ttl=TTL, **extra)
    assert r.rc == 0, r.failures()  # stopped dead: no rescue ran, nothing reported failed
    import time
    time.sleep(TTL + 1)
    return r


M = pytest.mark.matrix


@pytest.mark.parametrize("point", [pytest.param("after-claim", marks=M), pytest.param("before-stop", marks=M),
                                   pytest.param("after-stop", marks=M), "after-ship"])
def test_move_killed_before_the_target_runs_is_rolled_back(guest, point):
    name, ref = guest
    src, dst = where(name)
    # (after-ship in the two-calls window: in the one-call window the target has started the guest
    # on the source's go by then, and recover keeps the move: test_one_call.py)
    killed("migrate.yml", point, instance=name, target_host=dst, ferry_stop_window="two-calls")
    assert "<lease" in meta_xml(src, name)  # the dead controller's lease is still there
    # a new move is refused while the interrupted one is not recovered
    again = lab.run_playbook("migrate.yml", instance=name, target_host=dst)
    assert again.rc != 0
    r = lab.ok(lab.run_playbook("recover.yml", instance=name))
    assert "rollback" in r.stdout
    assert status(src, name) == "error"
    assert lab.domain_state(dst, name) == "absent"
    assert_clean(name, src, ref)


@M
def test_move_killed_after_the_target_runs_is_kept(guest):
    name, ref = guest
    src, dst = where(name)
    killed("migrate.yml", "after-finish", instance=name, target_host=dst)
    r = lab.ok(lab.run_playbook("recover.yml", instance=name))
    assert "complete" in r.stdout
    assert status(src, name) == "finished" and status(dst, name) == "finished"
    assert_clean(name, dst, ref, pending_claim=True)
    lab.ok(lab.run_playbook("confirm.yml", instance=name))
    assert lab.domain_state(src, name) == "absent"
    assert_clean(name, dst, ref)


# op, the point it is killed at, what finishes it, the opposite op (refused meanwhile), the status
# it ends in, and whether the guest stays on the target (confirm) or the source (revert)
KILLED_OPS = [
    pytest.param("confirm", "confirm-marked", "confirm.yml", marks=M),
    pytest.param("confirm", "confirm-purged", "recover.yml"),
    pytest.param("revert", "revert-marked", "recover.yml", marks=M),
    pytest.param("revert", "revert-destroyed", "revert.yml", marks=M),
]


@pytest.mark.parametrize("op,point,finish", KILLED_OPS)
def test_confirm_or_revert_killed_is_finished(guest, op, point, finish):
    """A confirm or revert killed midway is finished the way it started (never turned around)."""
    name, ref = guest
    src, dst = where(name)
    lab.ok(lab.run_playbook("migrate.yml", instance=name, target_host=dst))
    killed(op + ".yml", point, instance=name)
    if op == "confirm":
        assert status(dst, name) == "confirming"
    opposite = "revert" if op == "confirm" else "confirm"
    r = lab.run_playbook(opposite + ".yml", instance=name)
    assert r.rc != 0 and "cannot be %sed" % opposite in "\n".join(r.failures())
    lab.ok(lab.run_playbook(finish, instance=name))
    keeps, gone = (dst, src) if op == "confirm" else (src, dst)
    assert status(keeps, name) == op + "ed"
    assert lab.domain_state(gone, name) == "absent"
    assert_clean(name, keeps, ref)
