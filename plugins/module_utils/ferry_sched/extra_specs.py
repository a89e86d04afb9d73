"""Extra specs: Nova's operators (nova/scheduler/filters/extra_specs_ops.py) and which specs
each filter reads (ComputeCapabilitiesFilter, AggregateInstanceExtraSpecsFilter)."""

from __future__ import annotations

import operator


def _num_op(op):
    return lambda x, y: op(float(x), float(y))


_SPEC_OPS = {
    "=": _num_op(operator.ge),
    "<in>": lambda x, y: y in x,
    "<all-in>": lambda x, y: all(v in x for v in y),
    "==": _num_op(operator.eq),
    "!=": _num_op(operator.ne),
    ">=": _num_op(operator.ge),
    "<=": _num_op(operator.le),
    "s==": operator.eq,
    "s!=": operator.ne,
    "s<": operator.lt,
    "s<=": operator.le,
    "s>": operator.gt,
    "s>=": operator.ge,
}


def spec_str(value) -> str | None:
    """An extra-spec or capability value as the string Nova compares.

    Booleans render as JSON/YAML does ("true"/"false") since ferry's facts
    come from YAML, where Nova's come as strings already.
    """
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def extra_spec_match(value, req) -> bool:
    """Nova's ``extra_specs_ops.match(value, req)``.

    ``req`` is "<op> arg ..." with op one of =, ==, !=, >=, <= (numeric;
    "=" means ">="), s==, s!=, s<, s<=, s>, s>= (string), <in> (substring),
    <all-in> (every word a substring) or "<or> a <or> b" (any equal). A
    first word that is no operator means plain string equality with the
    whole of ``req``. A non-numeric value under a numeric op does not match.
    """
    return compile_spec(req)(value)


def compile_spec(req):
    """``req`` parsed once: a predicate over a value, as extra_spec_match (a request's specs are
    checked against every host, so they are parsed once per request)."""
    req = spec_str(req) or ""
    words = req.split()
    op = words[0] if words else None
    method = _SPEC_OPS.get(op)
    if op != "<or>" and method is None:
        return lambda value: spec_str(value) == req
    if op == "<or>":
        options = frozenset(words[1::2])
        return lambda value: value is not None and spec_str(value) in options
    if len(words) < 2:
        return lambda value: False
    arg = words[1:] if op == "<all-in>" else words[1]

    def match(value):
        if value is None:
            return False
        try:
            return bool(method(spec_str(value), arg))
        except ValueError:
            return False
    return match


def capability_specs(extra_specs: dict) -> list:
    """(key, path, req, scoped) for ComputeCapabilitiesFilter.

    "capabilities:a:b" -> path [a, b]; an unscoped key is checked only if the
    host has it, as a capability or a computed host value such as
    ``free_ram_mb`` (current Nova; 2014 Nova failed the host); any other scope
    ("hw:", "aggregate_...:") is not this filter's business, except
    ``hw:maxphysaddr_bits``, which becomes
    ``capabilities:cpu_info:maxphysaddr:bits`` ">= bits" (Nova since 2023.1).
    """
    out = []
    for key, req in extra_specs.items():
        if key == "hw:maxphysaddr_bits" and req is not None:
            out.append(("capabilities:cpu_info:maxphysaddr:bits", ["cpu_info", "maxphysaddr", "bits"],
                        ">= " + spec_str(req), True))
            continue
        scope = key.split(":")
        if len(scope) == 1:
            out.append((key, scope, req, False))
        elif scope[0] == "capabilities":
            out.append((key, scope[1:], req, True))
    return out


def aggregate_specs(extra_specs: dict) -> list:
    """(key, metadata_key, req) for AggregateInstanceExtraSpecsFilter.

    Unscoped keys and "aggregate_instance_extra_specs:" keys count; other
    scopes are skipped (key split on the first ':' only, as Nova does).
    """
    out = []
    for key, req in extra_specs.items():
        scope = key.split(":", 1)
        if len(scope) == 1:
            out.append((key, key, req))
        elif scope[0] == "aggregate_instance_extra_specs":
            out.append((key, scope[1], req))
    return out
