"""What an operator watches, run the way AWX runs jobs (ansible-runner, the lab inventory, a
survey's answers as extravars): a base image fetch reports its progress while it runs (bytes,
percent, rate, ETA: runner_retry events and the ferry callback's lines), limited by ferry_bwlimit;
the move ends with its phase table and its result in the job's stats.  cache_prune.yml removes a
cached base nothing uses and keeps one a guest stands on."""

import os
import re
import shlex

from tests.integration import lab
from tests.integration.test_move import assert_same_content

PHASES = ["locate", "schedule", "claim", "prepare", "pre-copy", "stop", "final ship", "finish+start"]
LIMIT_KIB = 16384  # 16 MiB/s: the 192 MiB base takes ~12 s, several polls


def test_base_fetch_reports_progress_and_the_move_its_phases(guest_name):
    name = guest_name("prog")
    lab.ok(lab.run_playbook("boot.yml", instance=name, flavor="m1.small", image="fat", host="hv-b1"))
    hv = lab.inventory()[2]["hv-b2"]
    entry = lab.manifest()["images"]["fat"]
    cached = "%s/%s.qcow2" % (hv["ferry_cache_dir"], entry["sha256"])
    pruned = lab.ok(lab.run_playbook("cache_prune.yml", host="hv-b2", image="fat", ferry_cache_min_age=0))
    assert not lab.exists("hv-b2", cached), pruned.task_result("Remove unused cached images")

    r = lab.ok(lab.run_playbook("migrate.yml", instance=name, target_host="hv-b2", ferry_bwlimit=LIMIT_KIB))
    polls = [e["event_data"]["res"] for e in r.events if e.get("event") == "runner_retry"
             and e["event_data"].get("task", "").startswith("Wait for the base image")]
    sizes = [p["progress"]["bytes"] for p in polls if p.get("progress")]
    assert len(sizes) >= 3, polls
    assert sizes == sorted(sizes) and sizes[-1] > sizes[0]
    last = [p for p in polls if p.get("progress")][-1]["progress"]
    store_size = os.path.getsize(os.path.join(lab.inventory()[0]["vars"]["ferry_lab_root"], "store", "fat.qcow2"))
    assert last["total"] == store_size and 0 < last["percent"] < 100 and last["eta_s"] > 0
    assert last["rate_bps"] <= LIMIT_KIB * 1024 * 1.15, last  # the limit holds
    assert all(re.search(r"MiB of [\d.]+ MiB \(\d+%\), [\d.]+ MiB/s, ETA \d+ s", p["ferry_progress_line"]) for p in polls
               if p.get("progress") and p["progress"]["total"]), polls
    done = r.task_result("Wait for the base image to arrive and be verified on hv-b2")["results"][-1]
    assert done["finished"] and done["result"]["fetched_from"] == "store" and done["result"]["bytes"] == store_size
    assert lab.exists("hv-b2", cached)

    # the ferry callback, in the job's stdout: progress lines, then the move's line and phase table
    shown = re.findall(r"^  progress: .*MiB", r.stdout, re.M)
    assert len(shown) >= 3, r.stdout[-3000:]
    assert re.search(r"^ferry: migrate %s: hv-b1 -> hv-b2, downtime [\d.]+ s" % re.escape(name), r.stdout, re.M)
    assert re.findall(r"^  phase (\S+(?: \S+)?)\s", r.stdout, re.M) == PHASES
    stats = [e["event_data"].get("artifact_data") or {} for e in r.events if e.get("event") == "playbook_on_stats"]
    res = stats[-1]["ferry_move_result"]
    assert res["instance"] == name and res["target"] == "hv-b2" and res["base_image"] == "store"

    # while the move awaits confirm its claim is live on hv-b2: the prune refuses (a move in flight)
    refused = lab.run_playbook("cache_prune.yml", host="hv-b2", image="fat", ferry_cache_min_age=0)
    assert refused.rc != 0 and any("move is in flight" in m for m in refused.failures()), refused.failures()
    lab.ok(lab.run_playbook("confirm.yml", instance=name))
    # confirmed: the base is used by the guest's disk on hv-b2, so it is kept, saying by whom
    kept = lab.ok(lab.run_playbook("cache_prune.yml", host="hv-b2", image="fat", ferry_cache_min_age=0))
    res = kept.task_result("Remove unused cached images")
    assert res["removed"] == [] and any("used by domain %s" % name in k["why"] for k in res["kept"]), res
    assert lab.exists("hv-b2", cached)


def test_base_fetch_runs_beside_the_precopy(guest_name):
    """With a pre-copy and the base missing on the target, the fetch starts first and runs on
    while the pre-copy ships (asynchronously, its progress polled after); the guest lands intact
    on the fetched base."""
    name = guest_name("beside")
    lab.ok(lab.run_playbook("boot.yml", instance=name, flavor="m1.small", image="fat", host="hv-b1"))
    ref = lab.write_pattern("hv-b1", name)
    hv = lab.inventory()[2]["hv-b2"]
    entry = lab.manifest()["images"]["fat"]
    cached = "%s/%s.qcow2" % (hv["ferry_cache_dir"], entry["sha256"])
    lab.ok(lab.run_playbook("cache_prune.yml", host="hv-b2", image="fat", ferry_cache_min_age=0))
    assert not lab.exists("hv-b2", cached)

    r = lab.ok(lab.run_playbook("migrate.yml", instance=name, target_host="hv-b2", ferry_precopy=True,
                                ferry_bwlimit=LIMIT_KIB))
    ok = [e["event_data"].get("task", "") for e in r.events if e.get("event") == "runner_on_ok"]

    def first(prefix):
        return next(i for i, t in enumerate(ok) if t.startswith(prefix))
    # started (async), then the disks frozen and shipped, then the wait for the fetch, then the stop
    assert first("Fetch the base image into the cache of hv-b2") < first("Freeze the disks")
    assert first("Freeze the disks") < first("Ship the guest's files") < first("Wait for the base image")
    assert first("Wait for the base image") < first("Arm the target's finish")
    assert not any(t.startswith("Look for the base image") for t in ok), ok   # the claim looked
    started = r.task_result("Fetch the base image into the cache of hv-b2")
    assert started.get("ansible_job_id") and not started.get("finished")
    res = r.task_result("Sum up the move")["ansible_facts"]["ferry_move_result"]
    assert res["base_image"] == "store" and res["precopy_rounds"] >= 1, res
    assert lab.ssh("hv-b2", "sha256sum " + cached).split()[0] == entry["sha256"]
    assert lab.dominfo("hv-b2", name)["state"] == "running"
    chain = lab.qemu_img_info("hv-b2", lab.disk_path("hv-b2", name))
    assert chain[0]["full-backing-filename"] == cached
    assert_same_content("hv-b2", name, ref)


def test_two_missing_bases_fetch_at_once_beside_the_precopy(guest_name):
    """A guest whose two disks stand on two bases the target lacks (its root disk's from the store,
    a data disk's kept only in the source's cache): with a pre-copy both fetches start before the
    disks freeze, run on while the pre-copy ships, and are waited for after it; each disk lands on
    its own base, verified by sha256, content intact."""
    import hashlib
    import random
    import subprocess
    hosts = lab.inventory()[2]
    src_cache, dst_cache = hosts["hv-b1"]["ferry_cache_dir"], hosts["hv-b2"]["ferry_cache_dir"]
    with lab.store_image() as (image, sha1, images):
        name = guest_name("beside2")
        lab.ok(lab.run_playbook("boot.yml", instance=name, flavor="m1.small", image=image, host="hv-b1",
                                ferry_images=images))
        ref = lab.write_pattern("hv-b1", name)
        # the data disk's base: in hv-b1's cache only (named by its sha256, as ferry keeps them)
        made = os.path.join(lab.REF_DIR, name + "-base2.qcow2")
        subprocess.run(["python3", os.path.join(lab.ROOT, "roles/lab/files/make_image.py"), made,
                        "--virtual-mb", "256", "--data-mb", "8", "--seed", str(random.randrange(1 << 30))],
                       check=True)
        os.chmod(made, 0o644)
        with open(made, "rb") as f:
            sha2 = hashlib.sha256(f.read()).hexdigest()
        base2 = "%s/%s.qcow2" % (src_cache, sha2)
        vdb = lab.disk_path("hv-b1", name, "vdb.qcow2")
        lab.virsh("hv-b1", "destroy", name)
        xml = ("<disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='%s'/>"
               "<target dev='vdb' bus='virtio'/></disk>" % vdb)
        lab.ssh("hv-b1", "cp %s %s && chmod 0644 %s && qemu-img create -q -f qcow2 -F qcow2 -b %s %s && "
                "qemu-io -f qcow2 -c 'write -P 0x3c 1M 3M' %s && f=$(mktemp) && printf %%s %s > $f && "
                "virsh -q -c qemu:///session attach-device %s $f --config && rm -f $f"
                % (made, base2, base2, base2, vdb, vdb, shlex.quote(xml), name))
        ref_vdb = os.path.join(lab.REF_DIR, name + "-vdb.qcow2")
        subprocess.run(["qemu-img", "convert", "-U", "-f", "qcow2", "-O", "qcow2", vdb, ref_vdb], check=True)
        os.chmod(ref_vdb, 0o644)
        lab.virsh("hv-b1", "start", name)
        assert not lab.exists("hv-b2", "%s/%s.qcow2" % (dst_cache, sha1))
        assert not lab.exists("hv-b2", "%s/%s.qcow2" % (dst_cache, sha2))

        r = lab.ok(lab.run_playbook("migrate.yml", instance=name, target_host="hv-b2", ferry_precopy=True,
                                    ferry_images=images))
    ok = [e["event_data"].get("task", "") for e in r.events if e.get("event") == "runner_on_ok"]
    freeze = next(i for i, t in enumerate(ok) if t.startswith("Freeze the disks"))
    started = [i for i, t in enumerate(ok) if t == "Fetch the base image into the cache of hv-b2"]
    assert len(started) == 2 and max(started) < freeze, ok
    assert all(not s.get("finished") for s in r.task_results("Fetch the base image into the cache of hv-b2"))
    waited = [i for i, t in enumerate(ok) if t.startswith("Wait for the base image")]
    ship = next(i for i, t in enumerate(ok) if t.startswith("Ship the guest's files"))
    assert len(waited) == 1 and freeze < ship < waited[0], ok
    results = r.task_result("Wait for the base image to arrive and be verified on hv-b2")["results"]
    assert sorted(x["result"]["fetched_from"] for x in results) == ["source", "store"], results
    res = r.task_result("Sum up the move")["ansible_facts"]["ferry_move_result"]
    assert res["base_image"] == "several" and res["precopy_rounds"] >= 1, res
    for sha, fname in ((sha1, "disk.qcow2"), (sha2, "vdb.qcow2")):
        cached = "%s/%s.qcow2" % (dst_cache, sha)
        assert lab.ssh("hv-b2", "sha256sum " + cached).split()[0] == sha
        assert lab.qemu_img_info("hv-b2", lab.disk_path("hv-b2", name, fname))[0]["full-backing-filename"] == cached
    assert lab.dominfo("hv-b2", name)["state"] == "running"
    assert_same_content("hv-b2", name, ref)
    assert_same_content("hv-b2", name, ref_vdb, "vdb.qcow2")
    lab.ok(lab.run_playbook("confirm.yml", instance=name))
    assert lab.domain_state("hv-b1", name) == "absent"
