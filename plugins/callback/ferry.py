# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""ferry's callback: progress lines while a transfer runs, a phase table at the end of each move."""

from __future__ import annotations

import time

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = r"""
name: ferry
type: aggregate
short_description: Progress lines of ferry's transfers and a phase summary of each move
description:
  - While a base image is fetched, every poll (an Ansible retry of C(ferry_progress)) prints one
    line with bytes, percent, rate and ETA, beside the default output; under ansible-runner (AWX)
    each poll is also a C(runner_retry) event carrying the same figures.
  - At the end of a playbook that moved a guest (the C(ferry_move_result) job stat), prints one
    line per move and the time of each phase (locate, schedule, claim, prepare, pre-copy, stop,
    final ship, finish+start).
  - Enabled in ferry's C(ansible.cfg) (C(callbacks_enabled = ferry)); also found beside the
    playbooks (C(playbooks/callback_plugins)), where ansible-runner and AWX look for it.
requirements:
  - enabled in ansible.cfg (callbacks_enabled)
"""


def phase_lines(res, playbook_start=None):
    """The phase table of one move result (ferry_move.result), as lines."""
    rows = []
    started = res.get("started_at")
    if playbook_start is not None and started is not None:
        rows.append(("locate", round(max(0.0, float(started) - float(playbook_start)), 1)))
    for p in res.get("phases") or ():
        rows.append((p["phase"], p["s"]))
    out = ["ferry: %s %s: %s -> %s, downtime %s s, total %s s" % (
        res.get("kind"), res.get("instance") or "?", res.get("source"), res.get("target"),
        res.get("downtime_s"), res.get("total_s"))]
    for name, secs in rows:
        out.append("  phase %-13s %s" % (name, "-" if secs is None else "%7.1f s" % secs))
    return out


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "ferry"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._start = time.time()

    def v2_playbook_on_start(self, playbook):
        self._start = time.time()

    def v2_runner_retry(self, result):
        line = result._result.get("ferry_progress_line")
        if line:
            self._display.display("  progress: %s" % line)

    def v2_playbook_on_stats(self, stats):
        custom = getattr(stats, "custom", {}) or {}
        results = []
        for scope in custom.values():
            res = (scope or {}).get("ferry_move_result")
            if isinstance(res, dict) and res.get("kind"):
                results.append(res)
        for res in results:
            for line in phase_lines(res, self._start):
                self._display.display(line)
