"""ferry's playbooks run the way AWX runs a job template: through ansible-runner (private data dir,
the lab inventory), the template's survey answers as extravars (AWX sends every answer as it was
typed: booleans as the strings 'true'/'false' of a multiplechoice, integers as numbers), and the
job judged by its events and artifacts, not its exit code alone:

- a migrate job: its result in the job's stats (playbook_on_stats artifact_data), the move's phase
  events, the guest on the target (virsh); launched as check, the plan only and nothing touched;
- a resize job that no host can take: failed, its failure carrying the scheduler's report;
- a job with a bad answer: refused before anything is touched, naming the variable;
- confirm and revert jobs ending the moves."""

import os

import yaml

from tests.integration import lab

TEMPLATES = os.path.join(lab.ROOT, "awx", "job_templates")


def answers(template, **given):
    """Extravars as AWX builds them from a survey: only the template's own questions, each value
    one of its choices when it has some."""
    with open(os.path.join(TEMPLATES, template + ".yml")) as f:
        t = yaml.safe_load(f)
    spec = {q["variable"]: q for q in t["survey_spec"]["spec"]}
    for var, value in given.items():
        assert var in spec, "%s is not a question of the %s template" % (var, template)
        if spec[var]["type"] == "multiplechoice":
            assert value in spec[var]["choices"], (var, value, spec[var]["choices"])
    assert os.path.basename(t["playbook"]) == template + ".yml"
    return given


def stats_of(result):
    done = [e["event_data"].get("artifact_data") or {} for e in result.events if e.get("event") == "playbook_on_stats"]
    return done[-1] if done else {}


def test_migrate_job_as_awx_runs_it(guest_name):
    name = guest_name("job")
    lab.ok(lab.run_playbook("boot.yml", **answers("boot", instance=name, flavor="m1.small", image="tiny",
                                                  host="hv-b1")))
    plan = lab.ok(lab.run_playbook("migrate.yml", check=True, **answers(
        "migrate", instance=name, target_host="hv-b2", ferry_auto_confirm="false")))
    assert "ferry_move_result" not in stats_of(plan)  # check: the plan only
    assert lab.domain_state("hv-b2", name) == "absent" and lab.domain_state("hv-b1", name) == "running"
    r = lab.ok(lab.run_playbook("migrate.yml", **answers(
        "migrate", instance=name, target_host="hv-b2", ferry_auto_confirm="false", ferry_precopy="true",
        ferry_bwlimit=0)))
    res = stats_of(r)["ferry_move_result"]
    assert res["instance"] == name and res["source"] == "hv-b1" and res["target"] == "hv-b2"
    assert res["precopy_bytes"] > 0  # the survey's 'true' string was read as true
    tasks = {e["event_data"].get("task") for e in r.events if e.get("event") == "runner_on_ok"}
    assert {"Freeze the disks (external disk-only snapshot; the guest writes to new small overlays)",
            "Ship the guest's files host to host (holes kept, checksums compared)",
            "Arm the target's finish (one-call stop window; it waits for the source's go)",
            "Keep the target's finish result"} <= tasks
    assert lab.domain_state("hv-b2", name) == "running" and lab.domain_state("hv-b1", name) == "shut off"
    lab.ok(lab.run_playbook("revert.yml", **answers("revert", instance=name)))
    assert lab.domain_state("hv-b1", name) == "running" and lab.domain_state("hv-b2", name) == "absent"


def test_a_job_no_host_can_take_fails_with_the_schedulers_report(guest_name):
    name = guest_name("jobx")
    lab.ok(lab.run_playbook("boot.yml", **answers("boot", instance=name, flavor="m1.small", image="tiny",
                                                  host="hv-b1")))
    # the only host asked for is the guest's own, which a move never takes (Nova's ignore_hosts)
    r = lab.run_playbook("resize.yml", **answers("resize", instance=name, flavor="m1.medium", target_host="hv-b1"))
    msg = "\n".join(r.failures())
    assert r.rc != 0 and "No valid host for %s" % name in msg and "hv-b1" in msg, msg
    assert "ferry_move_result" not in stats_of(r)
    assert lab.domain_state("hv-b1", name) == "running"


def test_a_bad_answer_is_refused_naming_the_variable(guest_name):
    name = guest_name("jobb")
    lab.ok(lab.run_playbook("boot.yml", **answers("boot", instance=name, flavor="m1.small", image="tiny",
                                                  host="hv-b1")))
    r = lab.run_playbook("migrate.yml", **answers("migrate", instance=name, target_host="hv-b2;reboot"))
    msg = "\n".join(r.failures())
    assert r.rc != 0 and "target_host" in msg, msg
    assert not [e for e in r.events if e.get("event") == "runner_on_ok" and e["event_data"].get("host", "").startswith("hv-")]
    assert lab.domain_state("hv-b1", name) == "running" and lab.domain_state("hv-b2", name) == "absent"
