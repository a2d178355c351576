"""A derived-axis view reads its cells from one GET /sweeps/{id}/cells (not a /phase request per
combination), and a redraw asks only for the cells changed since (?after=<cursor>)."""

from __future__ import annotations

import math
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import pytest

pytestmark = pytest.mark.browser


def test_derived_view_uses_one_cells_request_then_polls_incrementally(dash: Any, small_sweep: dict[str, Any]) -> None:
    sid = small_sweep["id"]
    api_paths: list[str] = []
    dash.page.on("request", lambda r: api_paths.append(r.url) if "/api/v1/sweeps/" in r.url else None)
    dash.open(f"?sweep={sid}&x={quote('L*M')}&y={quote('alpha/sqrt(D)')}")
    first = dash.wait(lambda: dash.traces("phase-heatmap"), 20, "the derived figure")[0]
    assert sorted(set(first["x"])) == [16, 32] and sorted(set(first["y"])) == [a / math.sqrt(8) for a in (0.25, 1, 4)]
    cells = [urlsplit(u) for u in api_paths if urlsplit(u).path.endswith("/cells")]
    assert cells and not [u for u in api_paths if urlsplit(u).path.endswith("/phase")]
    assert "after" not in parse_qs(cells[0].query)
    dash.shot("derived-1400")
    drawn = dash.page.get_attribute("#phase-heatmap", "data-drawn")
    dash.page.evaluate("window.resphase.store.update({ log: true })")  # a redraw of the same view
    dash.wait(lambda: dash.page.get_attribute("#phase-heatmap", "data-drawn") != drawn, 20, "the redraw")
    polls = [parse_qs(urlsplit(u).query) for u in api_paths if urlsplit(u).path.endswith("/cells")][1:]
    assert polls and all("after" in q for q in polls)  # only the changed cells, since the cursor
    again = dash.traces("phase-heatmap")[0]
    assert sorted(zip(again["x"], again["y"], strict=True)) == sorted(zip(first["x"], first["y"], strict=True))
    dash.page.set_viewport_size({"width": 800, "height": 900})
    dash.shot("derived-800")
