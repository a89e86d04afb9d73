"""Helpers shared by the filters: number formatting and where a setting came from."""

from __future__ import annotations


def n(value, digits: int = 2) -> str:
    """A number rounded to ``digits``, without a needless '.0'."""
    value = round(float(value), digits)
    return str(int(value)) if value == int(value) else str(value)


def source_text(source: str) -> str:
    """" from aggregate x" / " from host h" for a setting not taken from the configuration."""
    return "" if source == "config" else f" from {source}"
