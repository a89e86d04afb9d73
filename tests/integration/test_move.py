"""Issue 4: resize and cold migration end to end on the real lab.

Every move is checked through the hosts themselves: the target's libvirt (virsh over its own
sshd), `qemu-img info` of the target's chain, and `qemu-img compare` of the guest-visible content
against a flattened copy taken before the move.
"""

import os

import pytest

from tests.integration import lab

ALL = ("hv-a1", "hv-a2", "hv-b1", "hv-b2")


def boot(name, host, flavor="m1.small", image="tiny", **kw):
    if host:
        kw["host"] = host
    return lab.ok(lab.run_playbook("boot.yml", instance=name, flavor=flavor, image=image, **kw))


def ship_result(result):
    return result.task_result("Ship the guest's files host to host (holes kept, checksums compared)")


def move_result(result):
    return result.task_result("Sum up the move")["ansible_facts"]["ferry_move_result"]


def assert_same_content(host, name, ref, fname="disk.qcow2"):
    out = lab.compare(host, lab.disk_path(host, name, fname), ref)
    assert "Images are identical" in out and "rc=0" in out, out


def test_migrate_ships_only_the_delta_keeps_content_and_reverts(guest_name):
    name = guest_name("mig")
    boot(name, "hv-a1", image="fat")
    ref = lab.write_pattern("hv-a1", name)
    r = lab.ok(lab.run_playbook("migrate.yml", instance=name))
    res = move_result(r)
    assert (res["source"], res["target"]) == ("hv-a1", "hv-a2")  # the only other host of az1
    # running on the target with the same flavor, seen by the target's own libvirt
    info = lab.dominfo("hv-a2", name)
    assert (info["state"], info["vcpus"], info["memory_mb"]) == ("running", 1, 128)
    # the overlay now sits on the target's cached base, same content as before
    chain = lab.qemu_img_info("hv-a2", lab.disk_path("hv-a2", name))
    _, _, hosts = lab.inventory()
    assert os.path.dirname(chain[0]["full-backing-filename"]) == hosts["hv-a2"]["ferry_cache_dir"]
    assert_same_content("hv-a2", name, ref)
    # only the delta travelled: within a few percent of the overlay, far below base + overlay
    ship = ship_result(r)
    base_bytes = chain[1]["actual-size"]
    assert ship["bytes_sent"] <= ship["allocated_bytes"] * 1.05 + 65536
    assert ship["bytes_sent"] >= ship["file_bytes"] * 0.95
    assert base_bytes > 150 * 1024 ** 2
    assert ship["bytes_sent"] < 0.1 * (base_bytes + ship["allocated_bytes"])
    assert res["bytes_shipped"] == ship["bytes_sent"]
    assert res["downtime_s"] > 0 and set(res["phases_s"]) >= {"ship_delta", "stop_guest"}
    # the one-call window (the default): the downtime by the hosts' clocks, the source's stop request
    # to the target's start, lies inside the controller's view of it (which waits for the target's job)
    assert res["downtime_s"] < res["downtime_controller_s"], res
    # the target's finish result came back on the go's connection: the controller did not ask it
    assert ship["go_sent"] is True and ship["target_finish"]["failed"] is False, ship
    assert ship["target_finish"]["state"] == "running" and ship["target_finish"]["gate"] == "started"
    assert ship["target_finish"]["running_at"] >= ship["go_at"]
    tasks = {e["event_data"].get("task") for e in r.events if e.get("event") == "runner_on_ok"}
    assert "Keep the target's finish result" in tasks
    assert not any(t.startswith("Wait for the target's finish") for t in tasks), tasks
    # the source is stopped, still defined, marked as the resize source
    assert lab.domain_state("hv-a1", name) == "shut off"
    assert 'role type="str">source' in lab.virsh("hv-a1", "dumpxml", name)
    # revert: target copy gone, source runs again with the same content
    lab.ok(lab.run_playbook("revert.yml", instance=name))
    assert lab.ok(lab.run_playbook("revert.yml", instance=name)).changed_count() == 0
    assert lab.domain_state("hv-a2", name) == "absent"
    assert not lab.exists("hv-a2", lab.disk_path("hv-a2", name))
    assert lab.dominfo("hv-a1", name)["state"] == "running"
    assert_same_content("hv-a1", name, ref)
    assert "reverted" in lab.virsh("hv-a1", "dumpxml", name)


def test_resize_without_az_stays_in_az_grows_and_confirm_deletes_source(guest_name):
    name = guest_name("rsz")
    boot(name, "hv-a1")  # no AZ requested at boot
    ref = lab.write_pattern("hv-a1", name)
    r = lab.ok(lab.run_playbook("resize.yml", instance=name, flavor="m1.large"))
    res = move_result(r)
    assert res["target"] == "hv-a2", "seed defect 1: a guest booted without AZ must stay in its host's AZ"
    info = lab.dominfo("hv-a2", name)
    assert (info["state"], info["vcpus"], info["memory_mb"]) == ("running", 2, 512)
    chain = lab.qemu_img_info("hv-a2", lab.disk_path("hv-a2", name))
    assert chain[0]["virtual-size"] == 4 * 1024 ** 3
    assert_same_content("hv-a2", name, ref)
    assert lab.domain_state("hv-a1", name) == "shut off"
    # a second resize is refused while this one is unconfirmed
    again = lab.run_playbook("resize.yml", instance=name, flavor="m1.xlarge")
    assert again.rc != 0 and any("confirm or revert it first" in m for m in again.failures())
    lab.ok(lab.run_playbook("confirm.yml", instance=name))
    again = lab.ok(lab.run_playbook("confirm.yml", instance=name))
    assert again.changed_count() == 0  # a re-run changes nothing
    assert lab.domain_state("hv-a1", name) == "absent"
    assert not lab.exists("hv-a1", lab.disk_path("hv-a1", name))
    assert lab.dominfo("hv-a2", name)["state"] == "running"
    assert name + ".json" not in lab.claims("hv-a2")
    assert 'status type="str">confirmed' in lab.virsh("hv-a2", "dumpxml", name)
    assert_same_content("hv-a2", name, ref)


def assert_rolled_back(name, source, target, ref):
    """The source runs again with its old flavor (m1.small) and content, marked error; the target
    kept nothing: no domain, no instance directory, no claim."""
    info = lab.dominfo(source, name)
    assert (info["state"], info["vcpus"], info["memory_mb"]) == ("running", 1, 128)
    assert_same_content(source, name, ref)
    assert 'status type="str">error' in lab.virsh(source, "dumpxml", name)
    assert lab.domain_state(target, name) == "absent"
    assert not lab.exists(target, os.path.dirname(lab.disk_path(target, name)))
    assert name + ".json" not in lab.claims(target)


def _fill(host, guest_name):
    """Boot fillers on `host` until its RAM is used up (largest flavor that fits first).

    Flavors of at most 2 vCPUs: a lab host has 2 physical CPUs, and CoreFilter (as Nova's) refuses
    a guest with more vCPUs than the host has in total, whatever the ratio.
    """
    flavors = [("m1.large", 512), ("m1.medium", 256), ("m1.small", 128), ("m1.tiny", 64)]
    for _ in range(12):
        h = lab.status_hosts()[host]
        free = h["capacity"]["memory_mb"] - h["used"]["memory_mb"]
        fit = [f for f, mb in flavors if mb <= free]
        if not fit:
            return
        lab.ok(lab.run_playbook("boot.yml", instance=guest_name("fill"), flavor=fit[0], image="tiny", host=host))
    raise AssertionError("could not fill %s" % host)


def test_resize_refused_when_own_az_is_full_never_goes_to_other_az(guest_name):
    name = guest_name("azfull")
    boot(name, "hv-a1")  # no AZ
    _fill("hv-a2", guest_name)
    r = lab.run_playbook("resize.yml", instance=name, flavor="m1.medium")
    assert r.rc != 0
    msg = "\n".join(r.failures())
    assert "No valid host" in msg
    assert "AvailabilityZoneFilter removed hv-b1" in msg and "AvailabilityZoneFilter removed hv-b2" in msg
    assert "RamFilter removed hv-a2" in msg
    for host in ("hv-a2", "hv-b1", "hv-b2"):
        assert lab.domain_state(host, name) == "absent"
    info = lab.dominfo("hv-a1", name)
    assert (info["state"], info["vcpus"], info["memory_mb"]) == ("running", 1, 128)
    # the operator can leave the AZ explicitly
    plan = lab.ok(lab.run_playbook("plan.yml", instance=name, flavor="m1.medium", ferry_allow_cross_az=True))
    assert plan.task_result("Schedule (filters, then weighers)")["host"] in ("hv-b1", "hv-b2")


@pytest.mark.parametrize("flavor,expect", [
    ("m1.tiny", "disk shrink refused"),
    ("m9.huge", "unknown flavor 'm9.huge'"),
    ("m1.small", "already has flavor m1.small"),
])
def test_resize_refusals_touch_nothing(guest_name, flavor, expect):
    name = guest_name("ref")
    boot(name, "hv-b1")
    before = lab.virsh("hv-b1", "dumpxml", "--inactive", name)
    r = lab.run_playbook("resize.yml", instance=name, flavor=flavor)
    assert r.rc != 0 and any(expect in m for m in r.failures()), r.failures()
    assert lab.virsh("hv-b1", "dumpxml", "--inactive", name) == before
    assert lab.dominfo("hv-b1", name)["state"] == "running"


def test_unknown_guest_refused():
    r = lab.run_playbook("migrate.yml", instance="no-such-guest-x")
    assert r.rc != 0 and any("no guest named 'no-such-guest-x'" in m for m in r.failures())


def test_check_mode_prints_plan_and_touches_nothing(guest_name):
    name = guest_name("chk")
    boot(name, "hv-b1")
    before = lab.virsh("hv-b1", "dumpxml", "--inactive", name)
    r = lab.ok(lab.run_playbook("resize.yml", check=True, instance=name, flavor="m1.medium"))
    assert "Scheduled" in "\n".join(r.task_result("Show the scheduler's report")["msg"])
    assert lab.virsh("hv-b1", "dumpxml", "--inactive", name) == before
    assert lab.dominfo("hv-b1", name)["state"] == "running"
    for host in ("hv-a1", "hv-a2", "hv-b2"):
        assert lab.domain_state(host, name) == "absent"
    assert not lab.exists("hv-b2", os.path.dirname(lab.disk_path("hv-b2", name)))


def test_failure_after_stop_rolls_back_to_the_source(guest_name):
    name = guest_name("rb")
    boot(name, "hv-b1")
    ref = lab.write_pattern("hv-b1", name)
    # break the target: a directory where the shipped overlay must land makes the receiving tar fail
    lab.ssh("hv-b2", "mkdir -p %s/keep && touch %s/keep/x" % ((lab.disk_path("hv-b2", name),) * 2))
    r = lab.run_playbook("migrate.yml", instance=name, target_host="hv-b2")
    assert r.rc != 0
    msg = "\n".join(r.failures())
    assert "Rolled back" in msg and "Ship the guest's files" in msg, msg
    # the source runs again, old flavor, same content; the target kept nothing, claim released
    assert_rolled_back(name, "hv-b1", "hv-b2", ref)
    # and the guest can move again afterwards
    lab.ok(lab.run_playbook("migrate.yml", instance=name, target_host="hv-b2", ferry_auto_confirm=True))
    assert lab.domain_state("hv-b1", name) == "absent"
    assert_same_content("hv-b2", name, ref)


def test_same_host_resize_in_place_and_revert(guest_name):
    name = guest_name("same")
    boot(name, "hv-b1")
    ref = lab.write_pattern("hv-b1", name)
    r = lab.ok(lab.run_playbook("resize.yml", instance=name, flavor="m1.medium", target_host="hv-b1",
                                ferry_allow_resize_to_same_host=True))
    assert move_result(r)["target"] == "hv-b1" and move_result(r)["bytes_shipped"] == 0
    info = lab.dominfo("hv-b1", name)
    assert (info["state"], info["vcpus"], info["memory_mb"]) == ("running", 2, 256)
    guest = lab.copies(name)["hv-b1"]
    new_disk = guest["disks"][0]["path"]
    assert new_disk != lab.disk_path("hv-b1", name)
    assert guest["disks"][0]["chain"]["virtual_size"] == 3 * 1024 ** 3
    assert_same_content("hv-b1", name, ref, os.path.basename(new_disk))
    lab.ok(lab.run_playbook("revert.yml", instance=name))
    info = lab.dominfo("hv-b1", name)
    assert (info["state"], info["vcpus"], info["memory_mb"]) == ("running", 1, 128)
    assert lab.copies(name)["hv-b1"]["disks"][0]["path"] == lab.disk_path("hv-b1", name)
    assert not lab.exists("hv-b1", new_disk)
    assert_same_content("hv-b1", name, ref)


def test_named_target_in_other_az_is_filtered(guest_name):
    name = guest_name("tgt")
    boot(name, "hv-a1")
    r = lab.run_playbook("migrate.yml", instance=name, target_host="hv-b2")
    assert r.rc != 0 and any("AvailabilityZoneFilter removed hv-b2" in m for m in r.failures())
    assert lab.dominfo("hv-a1", name)["state"] == "running"
    assert all(lab.domain_state(h, name) == "absent" for h in ALL if h != "hv-a1")


def test_server_group_anti_affinity_spreads_then_refuses(guest_name):
    group = lab.unique("grp")
    placed = []
    for _ in range(2):
        name = guest_name("aa")
        r = boot(name, None, az="az2", server_group=group, server_group_policy="anti-affinity")
        placed.append(r.task_result("Schedule (filters, then weighers)")["host"])
        assert lab.dominfo(placed[-1], name)["state"] == "running"
    assert sorted(placed) == ["hv-b1", "hv-b2"]
    third = guest_name("aa")
    r = lab.run_playbook("boot.yml", instance=third, flavor="m1.small", image="tiny", az="az2",
                         server_group=group, server_group_policy="anti-affinity")
    assert r.rc != 0 and any("ServerGroupAntiAffinityFilter removed" in m for m in r.failures()), r.failures()
    assert all(lab.domain_state(h, third) == "absent" for h in ALL)


def test_base_missing_from_store_comes_from_the_source_host(guest_name):
    """The store lacks the guest's base: the target gets it from the source's cache, verified."""
    _, _, hosts = lab.inventory()
    with lab.store_image() as (image, sha, images):
        name = guest_name("fb")
        boot(name, "hv-a1", image=image, ferry_images=images)
        ref = lab.write_pattern("hv-a1", name)
    # the store no longer has it
    r = lab.ok(lab.run_playbook("migrate.yml", instance=name, target_host="hv-a2", ferry_images=images))
    assert move_result(r)["base_image"] == "source"
    assert lab.dominfo("hv-a2", name)["state"] == "running"
    assert_same_content("hv-a2", name, ref)
    cached = "%s/%s.qcow2" % (hosts["hv-a2"]["ferry_cache_dir"], sha)
    assert lab.ssh("hv-a2", "sha256sum " + cached).split()[0] == sha
    chain = lab.qemu_img_info("hv-a2", lab.disk_path("hv-a2", name))
    assert chain[0]["full-backing-filename"] == cached
    # back, and again: now the claim on hv-a2 finds the base in its cache, and no base task runs
    lab.ok(lab.run_playbook("revert.yml", instance=name))
    r = lab.ok(lab.run_playbook("migrate.yml", instance=name, target_host="hv-a2", ferry_images=images))
    assert move_result(r)["base_image"] == "cache"
    ran = {e["event_data"].get("task") for e in r.events if e.get("event") in ("runner_on_ok", "runner_on_skipped")}
    assert "Claim room on the candidate host" in ran
    assert not any(t.startswith("Look for the base image") for t in ran), sorted(ran)
    assert lab.dominfo("hv-a2", name)["state"] == "running"
    assert_same_content("hv-a2", name, ref)


@pytest.mark.matrix  # make test: test_fault_points kills it after the ship
def test_controller_killed_mid_ship_is_recovered_without_loss(guest_name):
    """Kill ansible-playbook while the delta is on the wire, then recover.yml: nothing is lost."""
    import signal
    import subprocess
    import time

    name = guest_name("kill")
    boot(name, "hv-b1")
    ref = lab.write_pattern("hv-b1", name)  # ~6 MiB of delta; at 100 KiB/s the ship lasts a minute
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(lab.ROOT, "ansible.cfg"))
    proc = subprocess.Popen([os.path.join(lab._BIN, "ansible-playbook"), "playbooks/migrate.yml", "-e", "instance=" + name,
                             "-e", "target_host=hv-b2", "-e", "ferry_bwlimit=100"], cwd=lab.ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while 'status type="str">migrating' not in lab.virsh("hv-b1", "dumpxml", "--inactive", name):
            assert proc.poll() is None and time.monotonic() < deadline, "the move ended before it could be killed"
            time.sleep(0.3)
        time.sleep(3)  # the overlay is being shipped now
        assert lab.domain_state("hv-b1", name) == "shut off"
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    # the controller is gone mid-move: new moves are refused until it is recovered
    refused = lab.run_playbook("migrate.yml", instance=name)
    assert refused.rc != 0 and any("confirm or revert it first" in m for m in refused.failures())
    # its lease is still live: recover.yml refuses until it expires, or until the operator, who
    # knows that controller is dead, names the lease
    early = lab.run_playbook("recover.yml", instance=name)
    assert early.rc != 0 and any("being worked on" in m for m in early.failures()), early.failures()
    import re
    lease_id = re.search(r'<(?:ferry:)?lease type="dict">.*?<(?:ferry:)?id type="str">([^<]+)<',
                         lab.virsh("hv-b1", "dumpxml", "--inactive", name), re.S).group(1)
    r = lab.ok(lab.run_playbook("recover.yml", instance=name, ferry_break_lease=lease_id))
    assert "rollback" in r.task_result("Say what will be done")["msg"]
    time.sleep(1)
    # the orphaned ship (kept alive by ssh ControlPersist) was stopped on both ends
    for host in ("hv-b1", "hv-b2"):
        assert name not in lab.ssh(host, "pgrep -af '^tar --' || true"), host
    assert_rolled_back(name, "hv-b1", "hv-b2", ref)
    # recovering again finds nothing to do (it takes and releases the lease, nothing else), and the
    # guest moves normally afterwards
    again = lab.ok(lab.run_playbook("recover.yml", instance=name))
    assert "none" in again.task_result("Say what will be done")["msg"]
    assert_rolled_back(name, "hv-b1", "hv-b2", ref)
    lab.ok(lab.run_playbook("migrate.yml", instance=name, target_host="hv-b2", ferry_auto_confirm=True))
    assert_same_content("hv-b2", name, ref)


def _first_ok(r, prefix):
    """Index of the first runner_on_ok event of a task whose name starts with `prefix`."""
    return next(i for i, e in enumerate(r.events) if e.get("event") == "runner_on_ok"
                and e["event_data"].get("task", "").startswith(prefix))


def test_transfer_modes_overlay_and_flatten_move_like_nova_did(guest_name):
    """ferry_transfer_mode keeps Nova's two old ways as baselines for `make bench`: overlay (the
    overlay ships while the guest is down, then the base is looked for / fetched, still down) and
    flatten (overlay + base flattened on the source after the stop, copied whole, no backing file on
    the target).  Both must still move the guest intact; pre-copy with either is refused up front."""
    name = guest_name("mode")
    boot(name, "hv-a1", image="fat")
    ref = lab.write_pattern("hv-a1", name)
    _, _, hosts = lab.inventory()

    r = lab.run_playbook("migrate.yml", instance=name, ferry_precopy=True, ferry_transfer_mode="flatten")
    assert r.rc != 0 and any("ferry_precopy=true needs ferry_transfer_mode=ferry, not flatten" in m
                             for m in r.failures()), r.failures()
    assert lab.dominfo("hv-a1", name)["state"] == "running"

    # overlay: the base's cache step comes after the ship, inside the downtime
    r = lab.ok(lab.run_playbook("migrate.yml", instance=name, target_host="hv-a2", ferry_transfer_mode="overlay",
                                ferry_auto_confirm=True))
    res = move_result(r)
    assert res["transfer_mode"] == "overlay" and res["target"] == "hv-a2"
    assert _first_ok(r, "Ship the guest's") < _first_ok(r, "Look for the base image in the cache of hv-a2")
    assert _first_ok(r, "Look for the base image") > _first_ok(r, "Note the time the guest stopped")
    chain = lab.qemu_img_info("hv-a2", lab.disk_path("hv-a2", name))
    assert os.path.dirname(chain[0]["full-backing-filename"]) == hosts["hv-a2"]["ferry_cache_dir"]
    assert ship_result(r)["bytes_sent"] < 64 * 1024 ** 2
    assert_same_content("hv-a2", name, ref)

    # flatten: a standalone disk on the target, base and overlay shipped together
    r = lab.ok(lab.run_playbook("migrate.yml", instance=name, target_host="hv-a1", ferry_transfer_mode="flatten"))
    res = move_result(r)
    assert res["transfer_mode"] == "flatten" and res["target"] == "hv-a1"
    assert res["base_image"] == "none"   # no base goes to the target for a flattened disk
    # downtime by the hosts' clocks for every mode (the stop apart too), inside the controller's view
    assert 0 < res["downtime_s"] < res["downtime_controller_s"], res
    chain = lab.qemu_img_info("hv-a1", lab.disk_path("hv-a1", name))
    assert len(chain) == 1 and "backing-filename" not in chain[0], chain
    base_bytes = 150 * 1024 ** 2   # the fat base holds 192 MiB of data
    assert res["bytes_shipped"] > base_bytes
    assert lab.dominfo("hv-a1", name)["state"] == "running"
    assert_same_content("hv-a1", name, ref)
    src_dir = "%s/%s" % (hosts["hv-a2"]["ferry_instances_dir"], name)
    left = lab.ssh("hv-a2", "ls %s" % src_dir).split()
    assert "disk.qcow2" in left and not [f for f in left if f.startswith("flat-")], left   # no flattened copy left
    lab.ok(lab.run_playbook("confirm.yml", instance=name))
    assert lab.domain_state("hv-a2", name) == "absent"
    assert_same_content("hv-a1", name, ref)
