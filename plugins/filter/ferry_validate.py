"""ferry's validation filters: thin shims over module_utils/ferry_validate.py (pure, unit-tested)."""

import os

import ansible.module_utils

# The logic lives in module_utils (shared with modules); make it importable here too.
_MU = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "module_utils")
if _MU not in ansible.module_utils.__path__:
    ansible.module_utils.__path__.append(_MU)

from ansible.module_utils import ferry_validate  # noqa: E402
from ansible.module_utils.ferry_sched import resolve  # noqa: E402


def ferry_validate_input(values, spec, names, hostvars, flavors=None, images=None):
    """Every problem with a playbook's input, before anything is touched: the variables it takes
    (`values` against `spec`), flavor/image/host/AZ names checked against the inventory, every
    hypervisor's own entry (name, directories), and the catalogues when the playbook takes a
    flavor or image name.  [] when all is well."""
    hosts = {n: hostvars[n] for n in names or []}
    known = {"host": list(hosts),
             "az": sorted({str(az) for n, hv in hosts.items() for az in _azs(n, hv)}),
             "flavor": list(flavors) if flavors is not None else None,
             "image": list(images) if images is not None else None}
    errs = ferry_validate.input_errors(values, spec, known)
    for n, hv in hosts.items():
        errs += ferry_validate.host_errors(n, hv)
    kinds = {(s or {}).get("kind") for s in (spec or {}).values()}
    if kinds & {"flavor", "image"}:
        errs += ferry_validate.catalogue_errors(flavors, images)
    return errs


def _azs(name, hv):
    """The host's AZs as the scheduler resolves them (aggregates, then ferry_az)."""
    aggs = hv.get("ferry_aggregates")
    host = {"name": name, "az": hv.get("ferry_az"), "aggregates": aggs if isinstance(aggs, list) else []}
    try:
        return resolve.host_azs(host, None)[0]
    except (AttributeError, TypeError):  # malformed aggregates: reported by host_errors
        return [hv.get("ferry_az")] if hv.get("ferry_az") else []


def ferry_path_errors(path, allowed_dirs, allowed_paths=()):
    return ferry_validate.path_errors(path, allowed_dirs, allowed_paths)


def ferry_xml_escape(value):
    return ferry_validate.xml_escape(value)


class FilterModule(object):
    def filters(self):
        return {
            "ferry_validate_input": ferry_validate_input,
            "ferry_path_errors": ferry_path_errors,
            "ferry_xml_escape": ferry_xml_escape,
        }
