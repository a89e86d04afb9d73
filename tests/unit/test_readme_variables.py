"""The README's variables table covers every ferry_ variable an operator can set: every variable a
playbook's validate play accepts, and every role default that is not a role's own parameter."""

import os
import re

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# role parameters set by ferry's own playbooks/roles, not by operators
INTERNAL = re.compile(r"^ferry_(boot|move|claim|domain|validate|lab|base_image|host_state|plan_html"
                      r"|lease_(takeover|missing_ok)|evacuate_(passthrough|reason))_")


def operator_variables():
    found = set()
    pdir = os.path.join(ROOT, "playbooks")
    for f in sorted(os.listdir(pdir)):
        if not f.endswith(".yml"):
            continue
        with open(os.path.join(pdir, f)) as fh:
            plays = yaml.safe_load(fh) or []
        for role in plays[0].get("roles") or []:
            if isinstance(role, dict) and role.get("role") == "validate":
                found.update(v for v in role["vars"]["ferry_validate_spec"] if v.startswith("ferry_"))
    rdir = os.path.join(ROOT, "roles")
    for role in sorted(os.listdir(rdir)):
        path = os.path.join(rdir, role, "defaults", "main.yml")
        if role != "lab" and os.path.exists(path):
            with open(path) as fh:
                found.update(k for k in (yaml.safe_load(fh) or {}) if not INTERNAL.match(k + "_"))
    return sorted(found)


def test_every_operator_variable_is_in_the_readme():
    with open(os.path.join(ROOT, "README.md")) as f:
        readme = f.read()
    missing = [v for v in operator_variables() if "`%s`" % v not in readme]
    assert not missing, "variables an operator can set that the README does not name: %s" % missing
