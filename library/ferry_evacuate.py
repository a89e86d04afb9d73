#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: ferry_evacuate
short_description: Migrate a list of guests off a host, a bounded number at a time, from the controller
description:
  - Runs C(playbooks/migrate.yml -e instance=NAME) once per guest through ansible-runner, at most
    I(parallel) at a time, and returns one result per guest. Each run is an ordinary migration;
    it gathers facts, schedules (the drained host is disabled and the source is ignored), takes
    the guest's lease, claims the target under its lock (the next alternate when two runs meet),
    moves the guest and keeps a stopped guest stopped; a failure rolls back to the source.
  - Runs on the controller (C(localhost)); the hypervisors are reached by the runs themselves.
  - Each run's private data dir (events, stdout) is kept under I(artifacts_dir)/I(guest).
version_added: "0.1.0"
attributes:
  check_mode:
    support: none
    details: Moves guests; evacuate.yml plans the drain instead in check mode and never calls it.
  diff_mode:
    support: none
options:
  guests:
    description: Guest names to migrate.
    type: list
    elements: str
    required: true
  parallel:
    description: How many migrations run at once.
    type: int
    default: 2
  playbook:
    description: Absolute path of the migrate playbook.
    type: path
    required: true
  project_dir:
    description: The ferry checkout (its C(ansible.cfg) is used).
    type: path
    required: true
  inventory:
    description: Inventory sources, as the calling play got them (C(ansible_inventory_sources)).
    type: list
    elements: path
    required: true
  extravars:
    description: Extra variables for every run (C(instance) is added per guest).
    type: dict
    default: {}
  artifacts_dir:
    description: Where each run's private data dir is kept.
    type: path
    required: true
  binary:
    description:
      - The ansible-playbook to run (default the one next to this Python, else PATH's); its directory
        is put first on the runs' PATH.
    type: path
requirements:
  - ansible-runner on the controller
seealso:
  - module: ferry_host_state
author:
  - ferry developers
"""

EXAMPLES = r"""
- name: Migrate the guests off hv-a1, two at a time
  ferry_evacuate:
    guests: [web01, db01]
    parallel: 2
    playbook: "{{ playbook_dir }}/migrate.yml"
    project_dir: "{{ playbook_dir | dirname }}"
    inventory: "{{ ansible_inventory_sources }}"
    extravars: {ferry_auto_confirm: false}
    artifacts_dir: /var/tmp/ferry/evacuate-hv-a1
"""

RETURN = r"""
results:
  description: One entry per guest, in the order given.
  returned: always
  type: list
  elements: dict
  contains:
    instance: {description: Guest name, type: str}
    moved: {description: Whether the migration finished (the guest runs, or stays stopped, on the target), type: bool}
    target: {description: Where it went, type: str}
    result: {description: The move's result (ferry_move_result), type: dict}
    reason: {description: Why it did not move (the scheduler's report, a refusal, a rollback's cause), type: str}
    artifacts: {description: The run's private data dir, type: str}
    elapsed_s: {description: Seconds the run took, type: float}
"""

import os
import sys
import time
import traceback
from concurrent.futures import ThreadPoolExecutor

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible.module_utils import ferry_evacuate

try:
    import ansible_runner
    RUNNER_ERR = None
except ImportError:
    ansible_runner = None
    RUNNER_ERR = traceback.format_exc()


def _tail(runner):
    """The last line the run printed (why a run without failure events ended: a usage error...)."""
    try:
        lines = [x.strip() for x in runner.stdout.read().splitlines() if x.strip()]
    except Exception:
        return None
    return lines[-1][:300] if lines else None


def run_one(p, guest, binary):
    pdd = os.path.join(p["artifacts_dir"], guest)
    os.makedirs(pdd, exist_ok=True)
    start = time.time()
    envvars = {"ANSIBLE_CONFIG": os.path.join(p["project_dir"], "ansible.cfg"), "ANSIBLE_NOCOLOR": "1"}
    if binary:
        # ansible-runner runs `ansible-playbook` from PATH (its `binary` option would run a raw command
        # without the playbook): put the chosen one's directory first
        envvars["PATH"] = os.path.dirname(binary) + os.pathsep + os.environ.get("PATH", "")
    kwargs = dict(private_data_dir=pdd, project_dir=p["project_dir"], playbook=p["playbook"],
                  inventory=p["inventory"], extravars=dict(p["extravars"], instance=guest), quiet=True,
                  envvars=envvars)
    try:
        r = ansible_runner.run(**kwargs)
        res = ferry_evacuate.run_result(guest, r.rc, r.status, list(r.events), pdd, _tail(r))
    except Exception as e:  # the runner itself failed: the guest's state is unknown to us, say so
        res = ferry_evacuate.run_result(guest, None, "error", [], pdd)
        res["reason"] = "could not run migrate.yml: %s" % e
    res["elapsed_s"] = round(time.time() - start, 1)
    return res


def run_all(p, binary):
    """Every guest's run, at most p["parallel"] at a time, started in the order given; results in
    that order."""
    os.makedirs(p["artifacts_dir"], exist_ok=True)
    with ThreadPoolExecutor(max_workers=p["parallel"]) as pool:
        return list(pool.map(lambda g: run_one(p, g, binary), p["guests"]))


def main():
    module = AnsibleModule(
        argument_spec=dict(
            guests=dict(type="list", elements="str", required=True),
            parallel=dict(type="int", default=2),
            playbook=dict(type="path", required=True),
            project_dir=dict(type="path", required=True),
            inventory=dict(type="list", elements="path", required=True),
            extravars=dict(type="dict", default={}),
            artifacts_dir=dict(type="path", required=True),
            binary=dict(type="path"),
        ),
        supports_check_mode=False,
    )
    if ansible_runner is None:
        module.fail_json(msg=missing_required_lib("ansible-runner"), exception=RUNNER_ERR)
    p = module.params
    if p["parallel"] < 1:
        module.fail_json(msg="parallel must be at least 1, not %d" % p["parallel"])
    binary = p["binary"]
    if not binary:
        here = os.path.join(os.path.dirname(sys.executable), "ansible-playbook")
        binary = here if os.access(here, os.X_OK) else None
    # the runs must not inherit the callback settings of the runner (tests, AWX) that started this play
    clean = ferry_evacuate.inner_env(os.environ)
    for key in set(os.environ) - set(clean):
        del os.environ[key]
    start = time.time()
    results = run_all(p, binary)
    module.exit_json(changed=any(r["moved"] for r in results), results=results,
                     elapsed_s=round(time.time() - start, 1))


if __name__ == "__main__":
    main()
