"""Filling the page's New sweep form from Playwright, shared by the browser tests and the
screenshots (benchmarks/screenshots.py): one place that knows the form's labels."""

from __future__ import annotations

from typing import Any


def fill_shape(page: Any, d: str, lm: str, seeds: str) -> None:
    """alpha in {1, 4}, D = d, L = M = lm, K = 10 steps, `seeds` seeds, typed into the form."""
    page.get_by_label("alpha mode", exact=True).select_option("list")
    page.get_by_label("alpha values", exact=True).fill("1, 4")
    page.get_by_label("D values", exact=True).fill(d)
    page.get_by_label("L values", exact=True).fill(lm)
    page.get_by_label("M values", exact=True).fill(lm)
    page.get_by_label("steps K", exact=True).fill("10")
    page.get_by_label("seeds", exact=True).fill(seeds)
