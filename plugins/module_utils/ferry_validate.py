"""ferry's input validation: pure functions (no I/O, no Ansible), shared by the `validate` role (through
the ferry_validate filters) and by modules on the hosts.

- Names (instance, host, flavor, image, AZ, server group): ``[A-Za-z0-9][A-Za-z0-9._-]*``, never
  ``.`` or ``..``, capped in length.  Nothing else: no ``/``, spaces, shell metacharacters,
  control characters or non-ASCII letters, so a name is safe as a path component, in a command's
  argv, in XML and in a log line.
- A playbook's variables: `input_errors(values, spec, known)` checks every variable a playbook takes
  against a small spec (what kind of name, boolean, integer, path...) and returns one message per
  bad variable, naming it.  Values are shown with `show()`: quoted, control characters escaped,
  truncated; never echoed raw.
- Paths a module is about to act on (`path_errors`): absolute, no ``..``, and, once normalised,
  strictly below one of the allowed directories or equal to one of the allowed paths.
- `xml_escape` for values interpolated into XML templates.
"""

import os
import re

from ansible.module_utils.ferry_sched import resolve

NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
NAME_RULE = "[A-Za-z0-9][A-Za-z0-9._-]*"
# Longest name per kind: a guest's name becomes a libvirt domain name, a directory and part of
# socket paths (108-byte limit), so it is short; host names may be FQDNs.
NAME_MAX = {"instance": 64, "host": 253, "flavor": 128, "image": 128, "az": 64, "group": 64}
NAME_KINDS = tuple(NAME_MAX)
KIND_TEXT = {"instance": "instance", "host": "host", "flavor": "flavor", "image": "image", "az": "AZ",
             "group": "server group"}
DEVICE_RE = re.compile(r"[a-z][a-z0-9]{0,31}")
# Path variables (instances/cache/claims dirs, shared storage prefixes) take letters, digits and
# ._/@+:,=- only: enough for /var/lib/..., /dev/disk/by-path/pci-0000:00:1f.2-ata-1, /mnt/nfs@site.
SHELL_META = set("`$;&|<>()[]{}*?!#~'\"\\^%")
CONTROL_RE = re.compile("[\x00-\x1f\x7f-\x9f]")
TRUE = ("true", "yes", "on", "1", "y", "t")
FALSE = ("false", "no", "off", "0", "n", "f")
KINDS = NAME_KINDS + ("bool", "int", "path", "paths", "device", "choice", "text")
# Free text an operator gives (a host's disabled reason): printable, one line, capped in length.
TEXT_MAX = 200


def show(value, limit=60):
    """A value as a message may show it: quoted, control and non-printable characters escaped
    (repr), at most `limit` characters of it."""
    if value is None or isinstance(value, (bool, int, float)):
        return repr(value)
    text = str(value) if isinstance(value, str) else repr(value)
    return repr(text[:limit]) + ("... (%d characters)" % len(text) if len(text) > limit else "")


def _char_problems(text, allowed):
    """What in `text` is not a letter, a digit or one of `allowed`, in plain words (a slash, a
    space, a control character, shell metacharacters, anything else), each sort once."""
    out = []
    if "/" in text and "/" not in allowed:
        out.append("contains '/'")
    if CONTROL_RE.search(text):
        out.append("contains a control character")
    if any(c.isspace() and not CONTROL_RE.match(c) for c in text):
        out.append("contains a space")
    meta = sorted({c for c in text if c in SHELL_META})
    if meta:
        out.append("contains the shell metacharacter%s %s" % ("s" if len(meta) > 1 else "", " ".join(meta)))
    other = sorted({c for c in text if not (c.isascii() and c.isalnum()) and c not in allowed and c != "/"
                    and c not in SHELL_META and not c.isspace() and not CONTROL_RE.match(c)})
    if other:
        out.append("contains %s" % " ".join(repr(c) for c in other[:5]))
    return out


def name_problems(value, kind="instance"):
    """Why `value` is not a valid name of this kind, in plain words ([] when it is)."""
    if not isinstance(value, str):
        return ["is a %s, not a string" % type(value).__name__]
    if value == "":
        return ["is empty"]
    out = []
    if value in (".", ".."):
        out.append("is %r (a path component)" % value)
    out += _char_problems(value, "._-")
    if not out and not NAME_RE.fullmatch(value):
        out.append("does not start with a letter or a digit")
    limit = NAME_MAX.get(kind, 64)
    if len(value) > limit:
        out.append("is %d characters long (at most %d)" % (len(value), limit))
    return out


def is_valid_name(value, kind="instance"):
    return not name_problems(value, kind)


def name_errors(value, kind="instance", var=None, what=None):
    """[] or one message naming the variable (`var`, else the kind), the value and what is wrong."""
    problems = name_problems(value, kind)
    if not problems:
        return []
    return ["%s: %s %s is invalid: it %s (a name is %s, at most %d characters)"
            % (var or kind, what or KIND_TEXT.get(kind, kind) + " name", show(value), ", ".join(problems), NAME_RULE,
               NAME_MAX.get(kind, 64))]


def _names_text(names, kind):
    """Known names for a message: each shown raw when it is a valid name, else quoted and escaped."""
    return ", ".join(n if is_valid_name(n, kind) else show(n) for n in sorted(names, key=str)) or "none"


def path_value_problems(value):
    """Why `value` is not acceptable as a directory or path prefix a playbook is given: it must be
    absolute, normalised, without '..', of A-Za-z0-9._/@+:,=- only, and not / itself."""
    if not isinstance(value, str):
        return ["is a %s, not a string" % type(value).__name__]
    if value == "":
        return ["is empty"]
    out = []
    if not value.startswith("/"):
        out.append("is not an absolute path")
    if ".." in value.split("/"):
        out.append("contains '..'")
    out += _char_problems(value, "._-/@+:,=")
    if not out and value == "/":
        out.append("is the root directory")
    if not out and os.path.normpath(value) != value:
        out.append("is not normalised (%s)" % show(os.path.normpath(value)))
    return out


def bool_value(value):
    """True/False for a boolean as Ansible takes one (true/false, yes/no, on/off, 1/0...); None when
    it is none of these."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        v = value.strip().lower()
        if v in TRUE:
            return True
        if v in FALSE:
            return False
    return None


def int_value(value):
    """An int, or None when `value` is not a whole number (a bool is not one)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and re.fullmatch(r"\s*[+-]?[0-9]{1,12}\s*", value):
        return int(value)
    return None


def _absent(value):
    return value is None or (isinstance(value, str) and value == "")


def value_errors(var, value, spec, known=None):
    """Messages for one variable's value ([] when it is acceptable).  spec: {kind, required,
    choices, min, max}; known: {kind: [names]} for the name kinds checked against a catalogue."""
    kind = spec.get("kind", "instance")
    if kind not in KINDS:
        raise ValueError("variable %s: unknown kind %r in the spec" % (var, kind))
    if _absent(value):
        return ["%s: required, not given (-e %s=...)" % (var, var)] if spec.get("required") else []
    if kind in NAME_KINDS:
        errs = name_errors(value, kind, var)
        names = (known or {}).get(kind)
        if not errs and names is not None and value not in names:
            errs = ["%s: unknown %s %s (known: %s)" % (var, KIND_TEXT[kind], show(value), _names_text(names, kind))]
        return errs
    if kind == "bool":
        if bool_value(value) is None:
            return ["%s: %s is not a boolean (true/false, yes/no, on/off, 1/0)" % (var, show(value))]
        return []
    if kind == "int":
        n = int_value(value)
        if n is None:
            return ["%s: %s is not a whole number" % (var, show(value))]
        if spec.get("min") is not None and n < spec["min"]:
            return ["%s: %d is below %d" % (var, n, spec["min"])]
        if spec.get("max") is not None and n > spec["max"]:
            return ["%s: %d is above %d" % (var, n, spec["max"])]
        return []
    if kind == "device":
        if not isinstance(value, str) or not DEVICE_RE.fullmatch(value):
            return ["%s: %s is not a disk's target device (vda, sdb...: [a-z][a-z0-9]*)" % (var, show(value))]
        return []
    if kind == "text":
        return text_errors(var, value, spec.get("max") or TEXT_MAX)
    if kind == "choice":
        choices = list(spec.get("choices") or [])
        if value not in choices:
            return ["%s: %s is not one of %s" % (var, show(value), ", ".join(choices))]
        return []
    items = [value] if kind == "path" or isinstance(value, str) else value
    if not isinstance(items, (list, tuple)):
        return ["%s: %s is not a list of absolute paths" % (var, show(value))]
    errs = []
    for i, item in enumerate(items):
        problems = path_value_problems(item)
        if problems:
            where = var if kind == "path" or isinstance(value, str) else "%s[%d]" % (var, i)
            errs.append("%s: %s %s" % (where, show(item), ", ".join(problems)))
    return errs


def text_errors(var, value, limit=TEXT_MAX):
    """Free text (a reason): a string of at most `limit` characters, no control characters (so one
    line in a log, a report or a JSON record); anything else printable is kept as it is."""
    if not isinstance(value, str):
        return ["%s: %s is not text" % (var, show(value))]
    if CONTROL_RE.search(value):
        return ["%s: %s contains a control character" % (var, show(value))]
    if len(value) > limit:
        return ["%s: %s is longer than %d characters" % (var, show(value), limit)]
    return []


def input_errors(values, spec, known=None):
    """Every problem with a playbook's variables, one message per bad variable, in spec order.

    values: {variable: value} of the variables that are set (a missing one is not given); spec:
    {variable: {kind, required, choices, min, max}}; known: {kind: [names]} (flavors, images,
    hosts, AZs the inventory knows)."""
    errs = []
    for var, s in spec.items():
        errs += value_errors(var, (values or {}).get(var), s or {}, known)
    return errs


HOST_PATH_VARS = ("ferry_instances_dir", "ferry_cache_dir", "ferry_claims_dir")


def host_errors(name, hv):
    """Problems with one hypervisor's inventory entry: its name, the directories ferry works in,
    its SSH alias and AZ (names).  hv: that host's variables."""
    errs = name_errors(name, "host", "inventory host")
    for var in HOST_PATH_VARS:
        if _absent(hv.get(var)):
            errs.append("%s: %s: not set" % (name, var))
            continue
        problems = path_value_problems(hv.get(var))
        if problems:
            errs.append("%s: %s: %s %s" % (name, var, show(hv.get(var)), ", ".join(problems)))
    for var, kind in (("ferry_ssh_alias", "host"), ("ferry_az", "az")):
        if not _absent(hv.get(var)):
            errs += ["%s: %s" % (name, e) for e in name_errors(hv.get(var), kind, var)]
    return errs + scheduler_errors(name, hv)


def scheduler_errors(name, hv):
    """The host's scheduler settings: aggregates well formed and putting it in at most one AZ
    (through the scheduler's own resolver, as the AZ filter and move pinning read it), its own
    allocation ratios positive numbers."""
    aggs = hv.get("ferry_aggregates")
    if _absent(aggs):
        aggs = []
    if not isinstance(aggs, list) or not all(isinstance(a, dict) and isinstance(a.get("metadata", {}), dict)
                                             for a in aggs):
        return ["%s: ferry_aggregates: must be a list of {name, metadata}" % name]
    errs = resolve.az_errors(name, {"name": name, "az": hv.get("ferry_az"), "aggregates": aggs})
    ratios = hv.get("ferry_allocation_ratios")
    if not _absent(ratios):
        if not isinstance(ratios, dict):
            return errs + ["%s: ferry_allocation_ratios: must be a dict (ram, cpu, disk)" % name]
        for key, value in ratios.items():
            if key not in ("ram", "cpu", "disk") + resolve.RATIO_KEYS:
                errs.append("%s: ferry_allocation_ratios: unknown key %s (ram, cpu, disk)" % (name, show(key)))
                continue
            try:
                ok = float(value) > 0
            except (TypeError, ValueError):
                ok = False
            if not ok:
                errs.append("%s: ferry_allocation_ratios.%s: %s is not a positive number" % (name, key, show(value)))
    return errs


def catalogue_errors(flavors, images):
    """Names in the flavor and image catalogues, and each image's file name in the store."""
    errs = []
    for n in (flavors or {}):
        errs += name_errors(n, "flavor", "ferry_flavors")
    for n, entry in (images or {}).items():
        errs += name_errors(n, "image", "ferry_images")
        f = (entry or {}).get("file") if isinstance(entry, dict) else None
        if f is not None:
            errs += name_errors(f, "image", "ferry_images[%s].file" % show(n), "file name")
    return errs


def path_errors(path, allowed_dirs, allowed_paths=()):
    """Why a module must not act on `path` ([] when it may): it must be absolute, have no '..'
    component, and once normalised (os.path.normpath; symlinks are not resolved) lie strictly below
    one of `allowed_dirs` or be one of `allowed_paths`.  Relative or empty allowed entries allow
    nothing."""
    if not isinstance(path, str) or path == "":
        return ["%s is not a path" % show(path)]
    if CONTROL_RE.search(path):
        return ["%s contains a control character" % show(path)]
    if not path.startswith("/"):
        return ["%s is not an absolute path" % show(path)]
    if ".." in path.split("/"):
        return ["%s contains '..'" % show(path)]
    p = os.path.normpath(path)
    for d in allowed_dirs or ():
        if isinstance(d, str) and d.startswith("/"):
            d = os.path.normpath(d)
            if p.startswith(d.rstrip("/") + "/") and p != d:
                return []
    for a in allowed_paths or ():
        if isinstance(a, str) and a.startswith("/") and os.path.normpath(a) == p:
            return []
    dirs = [d for d in (allowed_dirs or ()) if isinstance(d, str) and d.startswith("/")]
    return ["%s lies outside %s%s" % (
        show(path, 200), " and ".join(show(os.path.normpath(d).rstrip("/") + "/", 200) for d in dirs) or "any allowed directory",
        " and the guest's recorded paths" if allowed_paths else "")]


_XML_BAD = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def xml_escape(value):
    """`value` as XML text or attribute content: &, <, >, " and ' escaped.  Characters XML 1.0
    cannot carry at all raise ValueError (no escape makes them valid)."""
    text = "" if value is None else str(value)
    if _XML_BAD.search(text):
        raise ValueError("%s has characters XML cannot carry" % show(text))
    return (text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace('"', "&quot;").replace("'", "&apos;"))
