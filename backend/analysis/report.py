"""The HTML report of `resphase reproduce`: the verdict table and one Plotly figure per preset,
with Plotly.js inlined once so the file opens offline."""

from __future__ import annotations

import html
import math
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import plotly.graph_objects as go

from backend.analysis.claims import ClaimResult, Rows

# preset -> (metric, x axis, grouping axes) for its figure
FIGURES: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "alpha-phase": ("feature_update", "alpha", ("L", "M")),
    "depth-width": ("err_out", "L*M", ("L",)),
    "rates-L": ("err_out", "L", ("M",)),
    "rates-M": ("err_out", "M", ("L",)),
    "D-scaling": ("init_deviation", "D", ("L", "M")),
    "plain-scale": ("feature_update", "alpha", ("D",)),
}


def _x(row: dict[str, Any], axis: str) -> float:
    return float(row["L"] * row["M"]) if axis == "L*M" else float(row[axis])


def line_series(rows: Rows, metric: str, x_axis: str, group: Sequence[str]
                ) -> dict[tuple[float, ...], list[tuple[float, float, float]]]:
    """Per group: (x, seed mean, standard error) sorted by x, over the finite seed values."""
    acc: dict[tuple[float, ...], dict[float, list[float]]] = defaultdict(lambda: defaultdict(list))
    for r in rows:
        v = r.get(metric)
        if v is not None and math.isfinite(v):
            acc[tuple(float(r[g]) for g in group)][_x(r, x_axis)].append(float(v))
    out = {}
    for key, by_x in acc.items():
        pts = []
        for x, vals in sorted(by_x.items()):
            mean = sum(vals) / len(vals)
            sd = math.sqrt(sum((v - mean) ** 2 for v in vals) / (len(vals) - 1)) if len(vals) > 1 else 0.0
            pts.append((x, mean, sd / math.sqrt(len(vals))))
        out[key] = pts
    return out


def preset_figure(name: str, rows: Rows) -> go.Figure:
    metric, x_axis, group = FIGURES[name]
    fig = go.Figure()
    for key, pts in sorted(line_series(rows, metric, x_axis, group).items()):
        label = ", ".join(f"{g}={v:g}" for g, v in zip(group, key, strict=True))
        fig.add_trace(go.Scatter(x=[p[0] for p in pts], y=[p[1] for p in pts], name=label, mode="lines+markers",
                                 error_y={"type": "data", "array": [p[2] for p in pts], "visible": True}))
    fig.update_layout(title=f"{name}: {metric} against {x_axis}", xaxis_title=x_axis, yaxis_title=metric,
                      xaxis_type="log", yaxis_type="log", template="plotly_white", height=420)
    return fig


def _table(claims: Sequence[ClaimResult]) -> str:
    def num(x: float | None) -> str:
        return "-" if x is None else f"{x:.3g}"

    rows = []
    for c in claims:
        ci = "" if c.ci is None else f" [{num(c.ci[0])}, {num(c.ci[1])}]"
        rows.append(f"<tr class='{c.verdict.replace(' ', '-')}'><td>{html.escape(c.preset)}</td>"
                    f"<td>{html.escape(c.statement)}</td><td>{num(c.predicted)} &plusmn; {num(c.tolerance)}</td>"
                    f"<td>{num(c.measured)}{ci}</td><td>{html.escape(c.verdict)}</td>"
                    f"<td>{html.escape(c.detail)}</td></tr>")
    return ("<table><thead><tr><th>preset</th><th>claim</th><th>predicted</th><th>measured [95% CI]</th>"
            "<th>verdict</th><th>how</th></tr></thead><tbody>" + "".join(rows) + "</tbody></table>")


STYLE = """body{font-family:system-ui,sans-serif;margin:2rem;color:#222}table{border-collapse:collapse}
td,th{border:1px solid #ccc;padding:.3rem .6rem;text-align:left;font-size:.9rem}
tr.holds td:nth-child(5){color:#1a7f37}tr.does-not-hold td:nth-child(5){color:#cf222e}
tr.inconclusive td:nth-child(5){color:#9a6700}"""


def build_report(rows_by_preset: dict[str, Rows], claims: Sequence[ClaimResult], title: str) -> str:
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
             f"<style>{STYLE}</style></head><body><h1>{html.escape(title)}</h1>", _table(claims)]
    first = True
    for name, rows in rows_by_preset.items():
        if name in FIGURES and rows:
            fig = preset_figure(name, rows)
            parts.append(fig.to_html(full_html=False, include_plotlyjs=first))
            first = False
    parts.append("</body></html>")
    return "\n".join(parts)
