"""The page itself: the 10,000-cell heatmap drawn in under one second; CSP; nothing loaded from elsewhere."""

from __future__ import annotations

import statistics
from typing import Any

import pytest

pytestmark = pytest.mark.browser

# Build a 100 x 100 synthetic slice and time heatmap.js's figure building + Plotly.react (+ paint).
TIME_10K = """async (reps) => {
  const m = await import('/js/heatmap.js');
  const div = document.createElement('div');
  div.id = 'bench-heatmap';
  div.style.width = '900px';
  div.style.height = '700px';
  document.body.append(div);
  const times = [];
  for (let k = 0; k < reps; k++) times.push(await m.timeRender(div, 100, 100));
  const z = div.data[0].z;
  return {times, rows: z.length, cols: z[0].length};
}"""


def test_10k_cell_heatmap_renders_under_a_second(dash: Any) -> None:
    dash.open()
    result = dash.page.evaluate(TIME_10K, 5)
    assert (result["rows"], result["cols"]) == (100, 100)
    median = statistics.median(result["times"])
    print(f"\n10,000-cell heatmap render: median {median:.0f} ms over {len(result['times'])} "
          f"(all: {', '.join(f'{t:.0f}' for t in result['times'])} ms)")
    assert median < 1000


def test_page_has_a_csp_and_loads_nothing_from_elsewhere(dash: Any) -> None:
    origins: list[str] = []
    dash.page.on("request", lambda req: origins.append(req.url))
    dash.open()
    headers = dash.page.request.get(f"{dash.base}/").headers
    assert "script-src 'self'" in headers["content-security-policy"]
    assert any(url.endswith("/vendor/plotly.min.js") for url in origins)
    foreign = [u for u in origins if not u.startswith((dash.base, "data:", "blob:"))]
    assert not foreign, f"requests outside the server: {foreign}"
    assert dash.page.evaluate("typeof window.Plotly") == "object"
    dash.shot("empty")
