#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: ferry_progress
short_description: Poll the progress of a transfer running async on this host (base image fetch)
description:
  - Reads the progress file a running transfer writes (M(ferry_base_image) with I(progress_file))
    for up to I(wait) seconds and returns what it says, with a line for people (bytes, percent,
    rate, ETA). Used with C(until) and C(retries), each poll is an Ansible retry, and the ferry
    callback prints its line, and ansible-runner (AWX) records it as a C(runner_retry) event.
  - When the transfer has ended, returns C(finished=true) with its result (and removes the file);
    a failed transfer fails this task with its message; a transfer whose process is gone without
    a result fails it too.
  - Never used inside a move's stop window (polling there would cost downtime).
version_added: "0.4.0"
options:
  path:
    description: The progress file.
    type: path
    required: true
  wait:
    description: Seconds to wait for the transfer to end before returning its progress.
    type: float
    default: 2.0
  start_timeout:
    description: Seconds after which a progress file that never appeared is an error (the transfer did not start).
    type: float
    default: 60.0
  first_poll:
    description: Time (epoch seconds) of the first poll, carried between polls for I(start_timeout).
    type: float
author:
  - ferry developers
"""

EXAMPLES = r"""
- name: Wait for the base image, printing its progress
  ferry_progress:
    path: /var/lib/ferry/cache/.progress-1a2b
    first_poll: "{{ ferry_first_poll }}"
  register: fetch
  until: fetch.finished
  retries: 1800
  delay: 0
"""

RETURN = r"""
finished:
  description: Whether the transfer has ended (successfully).
  returned: always
  type: bool
progress:
  description: bytes, total (null when unknown), percent, rate_bps, eta_s.
  returned: when the transfer has written progress
  type: dict
ferry_progress_line:
  description: The progress as a line for people, printed by the ferry callback.
  returned: when the transfer has written progress
  type: str
result:
  description: The transfer's own result, once it has ended.
  returned: when finished
  type: dict
"""

import os
import time

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils import ferry_progress


def poll(path, wait, start_timeout, first_poll, clock=time.time, sleep=time.sleep):
    """(finished, record) or raises RuntimeError: a failed or dead transfer, or one never started."""
    deadline = clock() + wait
    while True:
        rec = ferry_progress.read(path)
        if rec is not None and rec.get("done"):
            if rec.get("failed"):
                raise RuntimeError(rec.get("msg") or "the transfer failed")
            return True, rec
        if rec is not None and not ferry_progress.pid_alive(rec.get("pid")):
            rec2 = ferry_progress.read(path)  # it may have written its end just before exiting
            if rec2 is not None and rec2.get("done"):
                continue
            raise RuntimeError("the transfer (pid %s) ended without a result after %s" % (
                rec.get("pid"), ferry_progress.mib(rec.get("bytes") or 0)))
        if rec is None and first_poll and clock() - first_poll > start_timeout:
            raise RuntimeError("no progress from the transfer after %d s: it did not start (%s)" % (start_timeout, path))
        if clock() >= deadline:
            return False, rec
        sleep(0.05)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type="path", required=True),
            wait=dict(type="float", default=2.0),
            start_timeout=dict(type="float", default=60.0),
            first_poll=dict(type="float"),
        ),
        supports_check_mode=True,
    )
    p = module.params
    try:
        finished, rec = poll(p["path"], p["wait"], p["start_timeout"], p["first_poll"])
    except RuntimeError as e:
        module.fail_json(msg=str(e), finished=False)
    out = {"changed": False, "finished": finished}
    if rec is not None:
        s = ferry_progress.summary(rec, None if finished else time.time())
        out.update(progress={k: s[k] for k in ("bytes", "total", "percent", "rate_bps", "eta_s")},
                   ferry_progress_line=s["line"] + (" (done)" if finished else ""))
    if finished:
        out["result"] = rec.get("result") or {}
        if os.path.exists(p["path"]):
            os.unlink(p["path"])
    module.exit_json(**out)


if __name__ == "__main__":
    main()
