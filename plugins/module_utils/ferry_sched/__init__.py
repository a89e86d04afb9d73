"""ferry's scheduler as a package, laid out like Nova's ``nova/scheduler``.

Pure logic, standard library only: no Ansible, no libvirt.

* ``config``       Nova's option names and defaults, validation of a ``ferry_scheduler`` dict
* ``resolve``      the one resolver of a host's aggregates, allocation ratios, AZs and weight
                   multipliers (scheduler, claim re-check, AZ pinning, adoption, validation)
* ``host_state``   usage and free resources of one host (Nova's HostState)
* ``extra_specs``  extra-spec operators (``nova/scheduler/filters/extra_specs_ops.py``)
* ``image_props``  image property canonicalisation and hypervisor version predicates
* ``request``      the per-request context every filter and weigher reads
* ``filters``      one module per concern, with an explicit registry (``filters.FILTERS``)
* ``weights``      the weighers and Nova's normalisation, registry ``weights.WEIGHERS``
* ``selection``    pre-filter steps, the filter run, the choice among the best and alternates
* ``report``       the readable report
* ``scheduler``    ``schedule()``, the public entry (re-exported by ``ferry_scheduler``)

Every module is imported statically (``from ansible.module_utils.ferry_sched...``), which is
what AnsiballZ follows to ship module_utils with a module: there is no directory scan.
"""
