"""The HTML report of `resphase reproduce`: at its top what made it (the exact command, resphase and
torch versions, device, date, the command-line options, the run settings); the verdict table with each
claim's controls; one Plotly figure per claim (errors drawn beside their reference's noise floor),
with Plotly.js inlined once so the file opens offline."""

from __future__ import annotations

import html
import json
import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

import plotly.graph_objects as go

from backend.analysis.claims import BASE, ClaimResult, Rows


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


def claim_figure(claim: ClaimResult, rows: Rows) -> go.Figure:
    metric, x_axis, group = claim.figure["metric"], claim.figure["x"], tuple(claim.figure["group"])
    fig = go.Figure()
    floors = line_series(rows, f"{metric}_floor", x_axis, group) if metric.startswith("err_") else {}
    for key, pts in sorted(line_series(rows, metric, x_axis, group).items()):
        label = ", ".join(f"{g}={v:g}" for g, v in zip(group, key, strict=True))
        fig.add_trace(go.Scatter(x=[p[0] for p in pts], y=[p[1] for p in pts], name=label, mode="lines+markers",
                                 error_y={"type": "data", "array": [p[2] for p in pts], "visible": True}))
        if key in floors:
            fl = floors[key]
            fig.add_trace(go.Scatter(x=[p[0] for p in fl], y=[p[1] for p in fl], name=f"noise floor ({label})",
                                     mode="lines", line={"dash": "dot", "width": 1}))
    fig.update_layout(title=f"{claim.claim}: {metric} against {x_axis} ({claim.preset})", xaxis_title=x_axis,
                      yaxis_title=metric, xaxis_type="log", yaxis_type="log", template="plotly_white", height=420)
    return fig


def _num(x: float | None) -> str:
    return "-" if x is None else f"{x:.3g}"


def _table(claims: Sequence[ClaimResult]) -> str:
    rows = []
    for c in claims:
        ci = "" if c.ci is None else f" [{_num(c.ci[0])}, {_num(c.ci[1])}]"
        controls = "<br>".join(f"{html.escape(k['name'])}: {_num(k['measured'])} &rarr; {html.escape(k['verdict'])}"
                               for k in c.controls)
        conds = "; ".join(f"{html.escape(k['name'])} {_num(k['measured'])} &le; {_num(k['limit'])}: "
                          f"{'yes' if k['holds'] else 'no'}" for k in c.conditions)
        rows.append(f"<tr class='{c.verdict.replace(' ', '-')}'><td>{html.escape(c.preset)}</td>"
                    f"<td><b>{html.escape(c.claim)}</b><br>{html.escape(c.statement)}</td>"
                    f"<td>{_num(c.predicted)} &plusmn; {_num(c.tolerance)}</td>"
                    f"<td>{_num(c.measured)}{ci}</td><td>{html.escape(c.verdict)}</td><td>{controls}</td>"
                    f"<td>{html.escape(c.detail)}{'<br>' + conds if conds else ''}</td></tr>")
    return ("<table><thead><tr><th>preset</th><th>claim</th><th>predicted</th><th>measured [95% CI]</th>"
            "<th>verdict</th><th>controls (must not hold)</th><th>how</th></tr></thead><tbody>"
            + "".join(rows) + "</tbody></table>")


STYLE = """body{font-family:system-ui,sans-serif;margin:2rem;color:#222}table{border-collapse:collapse}
td,th{border:1px solid #ccc;padding:.3rem .6rem;text-align:left;font-size:.9rem;vertical-align:top}
tr.holds td:nth-child(5){color:#1a7f37}tr.does-not-hold td:nth-child(5){color:#cf222e}
tr.inconclusive td:nth-child(5){color:#9a6700}pre{font-size:.8rem;background:#f6f8fa;padding:.5rem}"""


# The scalar facts of `meta` shown first, in this order, under these labels; the rest follow.
HEADLINE = {"command": "command", "resphase_version": "resphase", "torch_version": "torch", "device": "device",
            "date": "date (UTC)", "size": "size", "where": "where it ran", "elapsed_s": "elapsed (s)"}


def _json_block(value: object) -> str:
    return f"<pre>{html.escape(json.dumps(value, indent=1, sort_keys=True))}</pre>"


def provenance_html(meta: Mapping[str, Any]) -> str:
    """The top of the report: what made it. `meta` as backend.commands.reproduce.provenance makes
    it: scalar facts (command, versions, device, date, ...), `options` (the command-line options),
    `preset_settings` (each preset's run settings) and `settings` (every run, controls included)."""
    nested = ("options", "preset_settings", "settings")
    facts = {**{k: meta[k] for k in HEADLINE if k in meta}, **{k: v for k, v in meta.items()
                                                               if k not in HEADLINE and k not in nested}}
    rows = "".join(f"<tr><th>{html.escape(HEADLINE.get(k, k))}</th><td><code>{html.escape(str(v))}</code></td></tr>"
                   for k, v in facts.items())
    parts = [f"<section id='provenance'><h2>What made this report</h2><table>{rows}</table>"]
    if "options" in meta:
        parts.append(f"<h3>Command-line options</h3>{_json_block(meta['options'])}")
    if "preset_settings" in meta:
        parts.append(f"<h3>Run settings of each preset</h3>{_json_block(meta['preset_settings'])}")
    parts.append("<details><summary>settings of every run (negative controls included)</summary>"
                 f"{_json_block(meta.get('settings', {}))}</details></section>")
    return "".join(parts)


def build_report(runs: Mapping[tuple[str, str], Rows], claims: Sequence[ClaimResult], title: str,
                 meta: dict[str, Any]) -> str:
    """One HTML file: what made it (provenance_html), the verdict table, the figures."""
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
             f"<style>{STYLE}</style></head><body><h1>{html.escape(title)}</h1>",
             provenance_html(meta), "<h2>Verdicts</h2>", _table(claims)]
    first = True
    for claim in claims:
        rows = runs.get((claim.preset, BASE))
        if rows:
            parts.append(claim_figure(claim, rows).to_html(full_html=False, include_plotlyjs=first))
            first = False
    parts.append("</body></html>")
    return "\n".join(parts)
