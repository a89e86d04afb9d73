# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The gate of a one-call stop window: the target's finish, armed before the guest stops, starts
the guest on its own once the source says go, and a rollback can close the gate first.

Two files in the target's instance directory, named by the move's id (the token):

  ferry-go-<token>       written by the target's peer dispatcher (verb `go`) when the source has
                         stopped the guest and every final file arrived verified;
  ferry-outcome-<token>  the armed finish's result (JSON), written when it ends after a go; the
                         dispatcher's `go` waits for it and hands it to the source's call, so the
                         controller need not ask the target (it falls back to asking when absent);
  ferry-decided-<token>  who decided the move's fate on this host, created once (O_EXCL) and never
                         rewritten: "started <pid>" by the armed finish when it saw the go,
                         "cancelled <pid>" by a rollback or recover, "timed-out <pid>" by the
                         finish when no go came in time.

Exactly one decision is ever made (the first O_EXCL create wins, the loser reads it), so a rollback
that closed the gate knows the target will never start the guest, and one that found it started
knows it must not restart the source.  Standard library only: the finish, the gate module and the
tests share it."""

import errno
import json
import os
import re
import time

TOKEN_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,63}$")
DECISIONS = ("started", "cancelled", "timed-out")


def check_token(token):
    if not isinstance(token, str) or not TOKEN_RE.match(token):
        raise ValueError("not a move token: %r (allowed: [A-Za-z0-9][A-Za-z0-9-]{0,63})" % (token,))
    return token


def go_name(token):
    return "ferry-go-" + check_token(token)


def decided_name(token):
    return "ferry-decided-" + check_token(token)


def outcome_name(token):
    return "ferry-outcome-" + check_token(token)


def write_outcome(directory, token, result):
    """The finish's result, for the go's connection (ferry_peer's `go` reads and removes it);
    written whole or not at all (a temporary name, then a rename)."""
    path = os.path.join(directory, outcome_name(token))
    tmp = path + ".new"
    with open(tmp, "w") as f:
        json.dump(result, f, default=str)
    os.replace(tmp, path)
    return path


def read_decision(directory, token):
    """(decision, pid) as written, or (None, None) when nothing was decided."""
    try:
        with open(os.path.join(directory, decided_name(token))) as f:
            words = f.read().split()
    except FileNotFoundError:
        return None, None
    if not words or words[0] not in DECISIONS:
        # a create that has not written yet (the winner writes right after its O_EXCL create)
        return "pending", None
    return words[0], int(words[1]) if len(words) > 1 and words[1].isdigit() else None


def decide(directory, token, what, pid=None):
    """Make the decision `what` unless one was made; returns (decision, pid, won)."""
    if what not in DECISIONS:
        raise ValueError("not a decision: %r" % (what,))
    path = os.path.join(directory, decided_name(token))
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o640)
    except FileExistsError:
        for _ in range(500):   # the winner writes its line right after its create
            decision, owner = read_decision(directory, token)
            if decision != "pending":
                return decision, owner, False
            time.sleep(0.01)
        raise OSError("%s: empty for 5 s (its writer died between create and write)" % path) from None
    pid = os.getpid() if pid is None else pid
    with os.fdopen(fd, "w") as f:
        f.write("%s %d\n" % (what, pid))
        f.flush()
        os.fsync(f.fileno())
    return what, pid, True


def go_given(directory, token):
    return os.path.exists(os.path.join(directory, go_name(token)))


def wait_go(directory, token, timeout, poll=0.01, clock=time.monotonic, sleep=time.sleep):
    """The armed finish's wait: 'started' (this process decided, on the go) or the decision someone
    else made ('cancelled'), or 'timed-out' when no go came within `timeout` seconds."""
    deadline = clock() + timeout
    while True:
        if not os.path.isdir(directory):
            return "cancelled"   # the instance directory was removed: a rollback cleaned it
        if go_given(directory, token):
            return decide(directory, token, "started")[0]
        decision, _ = read_decision(directory, token)
        if decision not in (None, "pending"):
            return decision
        if clock() >= deadline:
            return decide(directory, token, "timed-out")[0]
        sleep(poll)


def alive(pid):
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except OSError as e:
        return e.errno == errno.EPERM
    return True


def close(directory, token, wait=120.0, poll=0.05, clock=time.monotonic, sleep=time.sleep):
    """A rollback's fence: decide 'cancelled' unless the finish already started.  When it did, wait
    (up to `wait` seconds) for the finishing process to end.  Returns {decision, finishing}: finishing
    is True when that process still runs after the wait."""
    if not os.path.isdir(directory):
        # no instance directory: nothing was armed here (or it was cleaned); nothing can start
        return {"decision": "cancelled", "finishing": False, "armed": False}
    decision, pid, _ = decide(directory, token, "cancelled")
    deadline = clock() + wait
    while decision == "started" and alive(pid) and clock() < deadline:
        sleep(poll)
    return {"decision": decision, "finishing": decision == "started" and alive(pid), "armed": True}


def way_out(gate, go_called, go_sent):
    """A failed one-call move's way out, from the target's answer (the ferry_gate module's result,
    None or skipped when nothing was armed), whether the source's call was asked to say go, and
    what it said of it (go_sent: False, True or "unknown"):

      forward  the guest started on the target and runs there: keep the move;
      back     it never will start there (the gate closed, nothing armed, or the go never sent):
               restart the source;
      hold     the target could not answer and the go may have reached it: restart nothing."""
    if not isinstance(gate, dict) or gate.get("skipped"):
        return "back"
    if gate.get("forward"):
        return "forward"
    if gate.get("safe_to_restart_source") or not go_called or go_sent is False:
        return "back"
    return "hold"
