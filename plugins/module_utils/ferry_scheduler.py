"""ferry scheduler: Nova's FilterScheduler over ferry host facts.

The public entry, ``schedule(hosts, request, config)``, and the names other module_utils, modules
and tests use. The logic lives in the ``ferry_sched`` package, laid out like Nova's
``nova/scheduler`` (see ``ferry_sched/__init__.py``): configuration, the one resolver of
aggregates / ratios / AZs / multipliers, host state, extra specs, image properties, the request
context, ``filters/`` and ``weights/`` with explicit registries, selection and the report.

Host state shape (from host facts)::

    {"name", "az", "reachable", "enabled", "disabled_reason", "host_ip",
     "capacity": {"vcpus", "memory_mb", "disk_gb"},
     "allocation_ratios": {"ram", "cpu", "disk"},        # ferry_allocation_ratios
     "arch", "domain_type", "hypervisor_type", "machine_types",
     "capabilities": {...}, "aggregates": [{"name", "metadata"}],
     "instances": [{"name", "uuid", "state", "vcpus", "memory_mb", "disk_gb",
                    "flavor", "image", "az", "server_group", "migration",
                    "task_state"}],
     "claims": [{"id", "instance", "vcpus", "memory_mb", "disk_gb", "kind"}]}

Request spec shape::

    {"instance", "flavor": {"name", "vcpus", "memory_mb", "disk_gb",
     "extra_specs"}, "image": {"name", "properties"}, "availability_zone",
     "ignore_hosts", "requested_host", "retry": {"num_attempts", "hosts"},
     "scheduler_hints": {"same_host", "different_host", "build_near_host_ip",
     "cidr"}, "server_group"}
"""

from ansible.module_utils.ferry_sched.config import (  # noqa: F401
    ALL_WEIGHERS,
    DEFAULT_CONFIG,
    DEFAULT_FILTERS,
    resolve_config,
)
from ansible.module_utils.ferry_sched.extra_specs import (  # noqa: F401
    aggregate_specs,
    capability_specs,
    extra_spec_match,
    spec_str,
)
from ansible.module_utils.ferry_sched.filters import FILTERS, RESOURCE_FILTERS  # noqa: F401
from ansible.module_utils.ferry_sched.host_state import host_state, host_usage  # noqa: F401
from ansible.module_utils.ferry_sched.image_props import (  # noqa: F401
    image_requirements,
    supported_instances,
    version_satisfies,
)
from ansible.module_utils.ferry_sched.report import format_report, weights_report  # noqa: F401
from ansible.module_utils.ferry_sched.request import build_context, group_context  # noqa: F401
from ansible.module_utils.ferry_sched.resolve import (  # noqa: F401
    az_errors,
    host_az,
    host_azs,
    host_settings,
    request_az_for_move,
)
from ansible.module_utils.ferry_sched.scheduler import schedule  # noqa: F401
from ansible.module_utils.ferry_sched.selection import (  # noqa: F401
    apply_filter,
    pre_filter_steps,
    run_filters,
    select_hosts,
)
from ansible.module_utils.ferry_sched.weights import WEIGHERS, normalize, weigh_hosts, weigher_weights  # noqa: F401
