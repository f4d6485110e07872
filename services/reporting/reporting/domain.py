"""Reporting arithmetic, free of frameworks."""

from __future__ import annotations


def outflow_rate(enrolled: int, placed: int) -> float:
    """Share of people in scope who flowed out to work; 0 when nobody is in scope."""
    return round(placed / enrolled, 4) if enrolled else 0.0
