"""Helpers shared by the filters: number formatting and where a setting came from."""

from __future__ import annotations

from operator import itemgetter


def n(value, digits: int = 2) -> str:
    """A number rounded to ``digits``, without a needless '.0'."""
    value = round(float(value), digits)
    return str(int(value)) if value == int(value) else str(value)


def source_text(source: str) -> str:
    """" from aggregate x" / " from host h" for a setting not taken from the configuration."""
    return "" if source == "config" else f" from {source}"


def screened(screen):
    """Give a filter a ``screen(states, ctx)``: what apply_filter asks before checking hosts one by
    one. It returns None when no host can fail for this request (nothing to check), True when
    every host is to be checked, else one flag per host, true for the hosts that may fail; a
    host it does not flag passes without its check being called. A screen is only ever a
    cheaper statement of the check's own pass condition, evaluated in C over thousands of hosts;
    the check still decides every flagged host and gives its reason."""
    def attach(check):
        check.screen = screen
        return check
    return attach


def per_settings(check):
    """Mark a filter whose answer for a host (pass, or the reason) depends only on the request
    and the host's ``settings`` (resolve.host_settings: AZs, aggregate metadata and values):
    apply_filter asks it once per distinct settings dict, shared by hosts in the same
    aggregates."""
    check.per_settings = True
    return check


def name_in(key):
    """A screen flagging the hosts whose name is in ``ctx[key]`` (a set)."""
    def screen(states, ctx):
        return map(ctx[key].__contains__, map(_NAME, states)) if ctx[key] else None
    return screen


def unless(*keys):
    """A screen for a filter that checks nothing unless one of ``ctx[key]`` is set."""
    def screen(states, ctx):
        return True if any(ctx[k] for k in keys) else None
    return screen


_NAME = itemgetter("name")
