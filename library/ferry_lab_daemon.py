#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: ferry_lab_daemon
short_description: Start or stop one of the lab's background processes by pid file
description:
  - The lab runs without systemd; this starts a daemon (a host's sshd, the image store) once,
    records its pid, and stops only that pid. Idempotent; supports check mode.
version_added: "0.1.0"
options:
  argv:
    description: Command to start (first element is also matched against the running process).
    type: list
    elements: str
  pidfile:
    description: Pid file of the process.
    type: path
    required: true
  logfile:
    description: Where the process's output goes.
    type: path
  forks_itself:
    description: The program daemonizes and writes I(pidfile) itself (like sshd).
    type: bool
    default: false
  reaper:
    description:
      - Run the program as the child of a small reaper process (a child subreaper, C(prctl)), which
        writes I(pidfile) with the program's pid and reaps every orphan its descendants leave, at
        once. For libvirtd, whose guests' qemu processes daemonize; this machine's PID 1 reaps
        them late, and libvirt reports a guest shut off only once its qemu was reaped.
    type: bool
    default: false
  match:
    description: String that must appear in the running process's command line; defaults to C(argv[0]).
    type: str
  state:
    description: Whether the process should run.
    type: str
    choices: [started, stopped]
    default: started
author:
  - ferry developers
"""

EXAMPLES = r"""
- name: Run the image store
  ferry_lab_daemon:
    argv: [/usr/bin/python3, -m, http.server, --bind, 127.0.0.1, "8099"]
    pidfile: /var/lib/ferry-lab/store.pid
    logfile: /var/lib/ferry-lab/store.log
"""

RETURN = r"""
pid:
  description: Pid of the running process (null when stopped).
  returned: always
  type: int
"""

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils import ferry_daemon


def main():
    module = AnsibleModule(
        argument_spec=dict(
            argv=dict(type="list", elements="str"),
            pidfile=dict(type="path", required=True),
            logfile=dict(type="path"),
            forks_itself=dict(type="bool", default=False),
            reaper=dict(type="bool", default=False),
            match=dict(type="str"),
            state=dict(type="str", choices=["started", "stopped"], default="started"),
        ),
        required_if=[("state", "started", ("argv", "logfile"))],
        mutually_exclusive=[("forks_itself", "reaper")],
        required_one_of=[("argv", "match")],
        supports_check_mode=True,
    )
    p = module.params
    needle = p["match"] or p["argv"][0]
    pid = ferry_daemon.running_pid(p["pidfile"], needle)
    if p["state"] == "stopped":
        if pid is None or module.check_mode:
            module.exit_json(changed=pid is not None, pid=None)
        ferry_daemon.stop(p["pidfile"], needle)
        module.exit_json(changed=True, pid=None)
    if pid is not None or module.check_mode:
        module.exit_json(changed=pid is None, pid=pid)
    try:
        pid = ferry_daemon.start(p["argv"], p["pidfile"], p["logfile"], p["forks_itself"],
                                 reaper=p["reaper"], needle=needle)
    except (RuntimeError, OSError) as e:
        module.fail_json(msg=str(e))
    module.exit_json(changed=True, pid=pid)


if __name__ == "__main__":
    main()
