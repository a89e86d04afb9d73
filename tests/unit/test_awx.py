"""AWX as code: the job templates in awx/job_templates/ and playbooks/awx_configure.yml.

No AWX server runs here, so each template is checked the way the controller and the awx.awx
collection would check it:
- against awx.awx.job_template's own argument spec, read from `ansible-doc -j` (unknown keys,
  types, choices), together with the parameters the configure playbook adds;
- against AWX's survey schema (the API's survey_spec validation: name/description/spec, each
  question's type, question_name, variable, required; choices for (multi)choice questions; integer
  min/max; defaults of the question's type, among the choices), plus ferry's rule that an
  optional question has no default at all (AWX turns a default into an extra var, which outranks
  the inventory);
- against the playbook's own input spec (the validate play's ferry_validate_spec, the single spec
  ferry checks input with): field by field, names, types, choices, required, limits and defaults.
"""

import functools
import json
import os
import re
import subprocess

import pytest
import yaml

from ansible.module_utils import ferry_validate as fv
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.join(ROOT, ".venv", "bin")
TEMPLATES_DIR = os.path.join(ROOT, "awx", "job_templates")
CONFIGURE = os.path.join(ROOT, "playbooks", "awx_configure.yml")
TEMPLATES = sorted(f[:-4] for f in os.listdir(TEMPLATES_DIR) if f.endswith(".yml"))

# The operations AWX must offer (issue 10): one template each.
EXPECTED = {"boot", "plan", "resize", "migrate", "confirm", "revert", "recover", "adopt", "evacuate",
            "enable_host", "disable_host"}
# Spec variables a survey deliberately does not ask: site settings kept in the inventory (a survey
# answer is an extra var and would override every host's value), and files the playbook writes on
# the controller, which under AWX is the job's throw-away execution environment.
NOT_ASKED = {"ferry_shared_storage", "ferry_lease_ttl", "ferry_libvirt_timeout", "ferry_default_schedule_zone",
             "ferry_plan_html", "ferry_evacuate_artifacts_dir", "ferry_evacuate_plan_html"}
# AWX's question types (awx/api/views JobTemplateSurveySpec.ALLOWED_TYPES) and their answers' types.
AWX_TYPES = {"text": str, "textarea": str, "password": str, "multiplechoice": str, "multiselect": str,
             "integer": int, "float": float}
BOOL_CHOICES = ["true", "false"]
DEVICE_MAX = 32  # ferry_validate.DEVICE_RE: [a-z][a-z0-9]{0,31}


def load(path):
    with open(path) as f:
        return yaml.safe_load(f)


def template(name):
    return load(os.path.join(TEMPLATES_DIR, name + ".yml"))


@functools.lru_cache(maxsize=None)
def module_options(module):
    """The module's documented options, as `ansible-doc -j` prints them (its own argument spec)."""
    out = subprocess.run([os.path.join(BIN, "ansible-doc"), "-j", module], capture_output=True, text=True,
                         check=True, cwd=ROOT).stdout
    return json.loads(out)[module]["doc"]["options"]


def argument_spec(module):
    """ansible-doc's options turned back into an AnsibleModule argument spec."""
    spec = {}
    for name, o in module_options(module).items():
        s = {"type": o.get("type", "str")}
        for key in ("choices", "elements", "aliases", "required", "no_log"):
            if o.get(key) is not None:
                s[key] = o[key]
        spec[name] = s
    return spec


def argspec_errors(module, params):
    result = ArgumentSpecValidator(argument_spec(module)).validate(params)
    return list(result.error_messages)


def configure_tasks():
    """(module, args) of every awx.awx task in the configure playbook."""
    out = []
    for play in load(CONFIGURE):
        for task in play.get("tasks", []):
            for key, args in task.items():
                if key.startswith("awx.awx."):
                    out.append((key, args, task))
    return out


def jt_task():
    (task,) = [t for m, a, t in configure_tasks() if m == "awx.awx.job_template"]
    return task


def templated(value):
    return isinstance(value, str) and "{{" in value


# ---------------------------------------------------------------------------------------------
# awx.awx.job_template's argument spec


def test_every_operation_has_one_template():
    assert EXPECTED <= set(TEMPLATES), "missing: %s" % sorted(EXPECTED - set(TEMPLATES))


def test_argument_spec_is_the_collections_own():
    spec = argument_spec("awx.awx.job_template")
    # the parameters the templates rely on, as the installed collection declares them
    assert spec["survey_spec"]["type"] == "dict"
    assert spec["survey_enabled"]["type"] == "bool"
    assert spec["job_type"]["choices"] == ["run", "check"]
    assert spec["credentials"] == {"type": "list", "elements": "str"}


def forwarded_keys():
    """Template-file keys the configure playbook hands to awx.awx.job_template, and the keys it
    sets itself."""
    args = jt_task()["awx.awx.job_template"]
    from_file, own = {}, {}
    for key, value in args.items():
        m = re.fullmatch(r"\{\{ ferry_awx_jt\.(\w+)( \| default\(omit\))? \}\}", str(value))
        if m:
            assert m.group(1) == key, "%s is filled from the file's %s" % (key, m.group(1))
            from_file[key] = value
        else:
            own[key] = value
    return from_file, own


@pytest.mark.parametrize("name", TEMPLATES)
def test_template_validates_against_job_template_argspec(name):
    t = template(name)
    from_file, own = forwarded_keys()
    dropped = set(t) - set(from_file)
    assert not dropped, "%s.yml: %s would not reach awx.awx.job_template" % (name, sorted(dropped))
    assert not set(t) & set(own), "%s.yml sets what the playbook sets" % name
    # what the module receives: the file's keys plus the playbook's own (references, as strings)
    params = dict(t)
    for key, value in own.items():
        params[key] = [str(v) for v in value] if isinstance(value, list) else str(value)
    assert argspec_errors("awx.awx.job_template", params) == []
    assert t["playbook"].startswith("playbooks/") and t["playbook"].endswith(".yml")
    assert t["survey_enabled"] is True and t["survey_spec"]["name"] == t["name"]


@pytest.mark.parametrize("bad, needle", [
    ({"surveyspec": {}}, "surveyspec"),                           # a typo is an unsupported parameter
    ({"job_type": "dry-run"}, "job_type"),                         # not one of run, check
    ({"survey_spec": ["not", "a", "dict"]}, "survey_spec"),
    ({"ask_job_type_on_launch": "perhaps"}, "ask_job_type_on_launch"),
])
def test_argspec_check_catches_a_broken_template(bad, needle):
    params = dict(template("resize"), **bad)
    errs = argspec_errors("awx.awx.job_template", params)
    assert errs and any(needle in e for e in errs), errs


def test_configure_playbook_calls_each_module_with_its_own_parameters():
    seen = set()
    for module, args, task in configure_tasks():
        seen.add(module)
        options = module_options(module)
        names = set(options) | {a for o in options.values() for a in o.get("aliases") or []}
        assert set(args) <= names, "%s: unknown %s" % (module, sorted(set(args) - names))
        literal = {k: v for k, v in args.items() if not templated(v) and not isinstance(v, list)}
        spec = {k: s for k, s in argument_spec(module).items() if k in literal}
        assert list(ArgumentSpecValidator(spec).validate(literal).error_messages) == [], module
        assert task.get("name"), module
    assert {"awx.awx.execution_environment", "awx.awx.project", "awx.awx.inventory",
            "awx.awx.inventory_source", "awx.awx.job_template"} <= seen


def test_configure_playbook_reads_every_template_file():
    task = jt_task()
    assert "ferry_awx_templates_dir ~ '/*.yml'" in task["loop"]
    (play,) = load(CONFIGURE)
    assert play["vars"]["ferry_awx_templates_dir"] == "{{ playbook_dir }}/../awx/job_templates"


def test_configure_playbook_syntax():
    r = subprocess.run([os.path.join(BIN, "ansible-playbook"), "--syntax-check", "-i", "localhost,", CONFIGURE],
                       capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stdout + r.stderr


# ---------------------------------------------------------------------------------------------
# AWX's survey schema


def survey_problems(survey):
    """What AWX's API would refuse in a survey_spec (awx/api/views JobTemplateSurveySpec
    _validate_spec_data), plus ferry's rule: an optional question carries no default."""
    out = []
    for field, typ in (("name", str), ("description", str), ("spec", list)):
        if not isinstance(survey.get(field), typ):
            out.append("survey %s: missing or not a %s" % (field, typ.__name__))
    if out:
        return out
    if not survey["spec"]:
        out.append("survey spec has no question")
    seen = set()
    for i, q in enumerate(survey["spec"]):
        where = "question %d (%s)" % (i, q.get("variable") if isinstance(q, dict) else q)
        if not isinstance(q, dict):
            out.append("%s: not a mapping" % where)
            continue
        for key in ("type", "question_name", "variable", "required"):
            if key not in q:
                out.append("%s: %s missing" % (where, key))
            elif not isinstance(q[key], bool if key == "required" else str):
                out.append("%s: %s has the wrong type" % (where, key))
        if out:
            continue
        if q["variable"] in seen:
            out.append("%s: variable duplicated" % where)
        seen.add(q["variable"])
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", q["variable"]):
            out.append("%s: not a valid variable name" % where)
        if q["type"] not in AWX_TYPES:
            out.append("%s: type %r is not one of %s" % (where, q["type"], ", ".join(AWX_TYPES)))
            continue
        for key in ("min", "max"):
            if key in q and q[key] is not None and (not isinstance(q[key], int) or isinstance(q[key], bool)):
                out.append("%s: %s is not an integer" % (where, key))
        if isinstance(q.get("min"), int) and isinstance(q.get("max"), int) and q["min"] > q["max"]:
            out.append("%s: min above max" % where)
        choices = q.get("choices")
        if q["type"] in ("multiplechoice", "multiselect"):
            if isinstance(choices, str):
                choices = [c for c in choices.splitlines() if c.strip()]
            if not isinstance(choices, list) or not choices or not all(isinstance(c, str) for c in choices):
                out.append("%s: %s needs choices" % (where, q["type"]))
                continue
            if len(set(choices)) != len(choices):
                out.append("%s: choices repeat" % where)
        if "default" in q:
            if not q["required"]:
                out.append("%s: optional question with a default (it would override the inventory)" % where)
            d = q["default"]
            if d != "" and not isinstance(d, AWX_TYPES[q["type"]]):
                out.append("%s: default of the wrong type" % where)
            elif q["type"] == "multiplechoice" and d not in choices:
                out.append("%s: default not among the choices" % where)
    return out


@pytest.mark.parametrize("name", TEMPLATES)
def test_survey_follows_awx_schema(name):
    assert survey_problems(template(name)["survey_spec"]) == []


GOOD_Q = {"question_name": "Guest", "variable": "instance", "type": "text", "required": True, "min": 1, "max": 64}


@pytest.mark.parametrize("change, needle", [
    ({"type": "boolean"}, "is not one of"),                        # AWX has no boolean type
    ({"type": "multiplechoice"}, "needs choices"),
    ({"type": "multiplechoice", "choices": []}, "needs choices"),
    ({"required": "yes"}, "required has the wrong type"),
    ({"min": "1"}, "min is not an integer"),
    ({"min": 5, "max": 2}, "min above max"),
    ({"required": False, "default": ""}, "optional question with a default"),
    ({"type": "integer", "default": "3"}, "default of the wrong type"),
    ({"type": "multiplechoice", "choices": ["a", "b"], "default": "c"}, "not among the choices"),
    ({"variable": "a-b"}, "not a valid variable name"),
])
def test_survey_check_catches(change, needle):
    q = dict(GOOD_Q, **change)
    problems = survey_problems({"name": "s", "description": "", "spec": [q]})
    assert any(needle in p for p in problems), problems


def test_survey_check_catches_missing_keys_and_duplicates():
    for key in ("type", "question_name", "variable", "required"):
        q = {k: v for k, v in GOOD_Q.items() if k != key}
        assert any("%s missing" % key in p for p in survey_problems({"name": "s", "description": "", "spec": [q]}))
    assert any("duplicated" in p for p in survey_problems({"name": "s", "description": "", "spec": [GOOD_Q, GOOD_Q]}))
    assert survey_problems({"name": "s", "description": "", "spec": []}) == ["survey spec has no question"]
    assert survey_problems({"name": "s", "spec": [GOOD_Q]}) == ["survey description: missing or not a str"]
    assert survey_problems({"name": "s", "description": "", "spec": [GOOD_Q]}) == []


# ---------------------------------------------------------------------------------------------
# Surveys agree with the playbooks' input spec (the validate play), field by field


def playbook_spec(playbook):
    """The ferry_validate_spec of the playbook's validate play (its first play)."""
    first = load(os.path.join(ROOT, playbook))[0]
    (role,) = [r for r in first.get("roles", []) if isinstance(r, dict) and r.get("role") == "validate"]
    return role["vars"]["ferry_validate_spec"]


def expected_question(var, spec):
    """What a survey question must be for a spec entry ({kind, required, choices, min, max})."""
    kind, required = spec.get("kind", "instance"), bool(spec.get("required"))
    q = {"variable": var, "required": required}
    if kind in fv.NAME_KINDS:
        q.update(type="text", min=1 if required else 0, max=fv.NAME_MAX[kind])
    elif kind == "device":
        q.update(type="text", min=1 if required else 0, max=DEVICE_MAX)
    elif kind == "bool":
        q.update(type="multiplechoice", choices=BOOL_CHOICES)
    elif kind == "choice":
        q.update(type="multiplechoice", choices=list(spec["choices"]))
    elif kind == "int":
        q.update(type="integer")
        q.update({k: spec[k] for k in ("min", "max") if spec.get(k) is not None})
    elif kind == "text":  # free text (a reason): as long as the spec allows
        q.update(type="text", min=1 if required else 0, max=spec.get("max") or fv.TEXT_MAX)
    else:
        raise AssertionError("%s: no survey type for spec kind %r (a path list is inventory-level)" % (var, kind))
    return q


def agreement_problems(survey, spec):
    out = []
    questions = {q["variable"]: q for q in survey["spec"]}
    for var in sorted(set(questions) - set(spec)):
        out.append("%s: asked by the survey, not in the playbook's spec (never validated)" % var)
    for var in sorted(set(spec) - set(questions) - NOT_ASKED):
        out.append("%s: in the playbook's spec, not asked by the survey" % var)
    for var in sorted(set(questions) & set(spec)):
        q, want = questions[var], expected_question(var, spec[var])
        for key, value in want.items():
            if q.get(key) != value:
                out.append("%s: %s is %r, the spec says %r" % (var, key, q.get(key), value))
        for key in ("min", "max", "choices"):
            if key in q and key not in want:
                out.append("%s: %s %r, the spec has none" % (var, key, q[key]))
        # the spec has no defaults (they live in the roles and the inventory): no survey default
        if "default" in q:
            out.append("%s: survey default %r, the spec has none" % (var, q["default"]))
        # every answer the survey offers is one the playbook accepts
        for choice in q.get("choices") or []:
            errs = fv.value_errors(var, choice, spec[var])
            if errs:
                out.append("%s: choice %r refused by the playbook: %s" % (var, choice, errs))
    return out


@pytest.mark.parametrize("name", TEMPLATES)
def test_survey_agrees_with_playbook_spec(name):
    t = template(name)
    assert os.path.exists(os.path.join(ROOT, t["playbook"])), "%s runs %s, which does not exist" % (name, t["playbook"])
    assert agreement_problems(t["survey_spec"], playbook_spec(t["playbook"])) == []


def test_agreement_check_catches_each_kind_of_drift():
    spec = playbook_spec("playbooks/resize.yml")
    survey = template("resize")["survey_spec"]
    assert agreement_problems(survey, spec) == []

    def drifted(var, **change):
        s = json.loads(json.dumps(survey))
        for q in s["spec"]:
            if q["variable"] == var:
                q.update(change)
                for k in [k for k, v in change.items() if v is None]:
                    del q[k]
        return agreement_problems(s, spec)

    assert any("flavor: required" in p for p in drifted("flavor", required=False))
    assert any("ferry_auto_confirm: choices" in p for p in drifted("ferry_auto_confirm", choices=["yes", "no"]))
    assert any("ferry_auto_confirm: type" in p for p in drifted("ferry_auto_confirm", type="text"))
    assert any("ferry_bwlimit: min" in p for p in drifted("ferry_bwlimit", min=1))
    assert any("ferry_bwlimit: max" in p for p in drifted("ferry_bwlimit", max=100))
    assert any("target_host: max" in p for p in drifted("target_host", max=64))
    assert any("ferry_adopt: survey default" in p for p in drifted("ferry_adopt", default="true"))
    renamed = drifted("target_host", variable="target")
    assert "target: asked by the survey, not in the playbook's spec (never validated)" in renamed
    assert "target_host: in the playbook's spec, not asked by the survey" in renamed
    # a choice the playbook would refuse
    bad_spec = dict(spec, ferry_auto_confirm={"kind": "choice", "choices": ["maybe"]})
    assert any("ferry_auto_confirm" in p for p in agreement_problems(survey, bad_spec))


def test_boolean_answers_are_converted_with_bool():
    """A multiplechoice true/false arrives as the string 'true'/'false': every boolean the surveys
    ask is read with `| bool` (or through a role argument spec of type bool) where it is used."""
    texts = []
    for top in ("playbooks", "roles"):
        for base, _, files in os.walk(os.path.join(ROOT, top)):
            texts += [open(os.path.join(base, f)).read() for f in files if f.endswith(".yml")]
    text = "\n".join(texts)
    present = [n for n in TEMPLATES if os.path.exists(os.path.join(ROOT, template(n)["playbook"]))]
    bools = {q["variable"] for n in present for q in template(n)["survey_spec"]["spec"]
             if q.get("choices") == BOOL_CHOICES}
    assert bools, "no boolean question found"
    for var in sorted(bools):
        read = re.findall(r"\b%s\b((?:\s*\|\s*default\([^)]*\))?\s*\|\s*(?:ansible\.builtin\.)?bool)" % var, text)
        assert read, "%s is never converted with | bool" % var
        bare = re.findall(r"when:\s*(?:not\s+)?%s\s*$" % var, text, re.M)
        assert not bare, "%s used as a bare condition (a string 'false' is not a boolean)" % var


def test_optional_questions_have_no_default_anywhere():
    for name in TEMPLATES:
        for q in template(name)["survey_spec"]["spec"]:
            assert q["required"] or "default" not in q, (name, q["variable"])


# ---------------------------------------------------------------------------------------------
# A blank optional answer: AWX sends nothing, or (some UI versions, awx#16205) null or "".  The
# validate play already takes null and "" as not given; the playbooks' own decisions must too.


def play_var(playbook, play_name, var):
    (play,) = [p for p in load(os.path.join(ROOT, playbook)) if p.get("name") == play_name]
    if var in (play.get("vars") or {}):
        return play["vars"][var]
    for role in play.get("roles") or []:
        if isinstance(role, dict) and var in (role.get("vars") or {}):
            return role["vars"][var]
    raise AssertionError("%s: %s not found in play %r" % (playbook, var, play_name))


def render(expr, variables):
    from ansible.parsing.dataloader import DataLoader
    from ansible.template import Templar, trust_as_template
    return Templar(loader=DataLoader(), variables=variables).template(trust_as_template(expr))


@pytest.mark.parametrize("blank", [{}, {"flavor": None}, {"flavor": ""}])
def test_plan_without_a_flavor_answer_plans_a_migration(blank):
    expr = play_var("playbooks/plan.yml", "Plan a resize or migration", "ferry_move_kind")
    assert render(expr, dict(blank, instance="web01")) == "migrate"
    assert render(expr, {"instance": "web01", "flavor": "m1.large"}) == "resize"


@pytest.mark.parametrize("blank", [{}, {"server_group": None}, {"server_group": ""}])
def test_boot_without_a_server_group_answer_joins_none(blank):
    expr = play_var("playbooks/boot.yml", "Boot a guest", "ferry_boot_server_group")
    assert render(expr, dict(blank, server_group_policy=None)) is None
    assert render(expr, {"server_group": "g1", "server_group_policy": None}) == {"name": "g1", "policy": "anti-affinity"}
    assert render(expr, {"server_group": "g1", "server_group_policy": "affinity"}) == {"name": "g1", "policy": "affinity"}
