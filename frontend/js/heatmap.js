// heatmap.js: pure drawing of phase diagrams with Plotly (no fetching, no page state).
// - heatmapFigure(slice, opts): a raw-axis /phase slice as a heatmap in index coordinates
//   (cell i at x = i, ticks labelled with the axis values: log grids get equal cells);
// - scatterFigure(cells, opts): cells at derived (non-uniform) coordinates on log axes;
// - draw(div, figure): Plotly.react, so live updates redraw in place;
// - syntheticSlice / timeRender: the 10,000-cell benchmark used by tests and benchmarks/page.py.
// Cells without a value are never silent holes: a status layer colours them by status and, up to
// MAX_MARKS cells, a symbol marks each queued, running, diverged, failed or cancelled cell.
// Error metrics (err_out, err_emb) with a reference: cells within 3x of the reference's noise
// floor (the API's near_floor) are hatched, and the floor is in every cell's hover text.

import { FLOOR_MARK, MARKS, categories, cellCategory, floorLabel } from './categories.js';
import { fmt, fmtValue } from './dom.js';

export { MARKS, categories, cellCategory };

const Plotly = () => window.Plotly;
export const MAX_MARKS = 2500;
const COLORSCALE = 'Viridis';

function discreteScale(cats) {
  const k = cats.length;
  return cats.flatMap((c, i) => [[i / k, c.color], [(i + 1) / k, c.color]]);
}

const finite = (v) => typeof v === 'number' && Number.isFinite(v);

/** Colour values (log10 when asked; non-positive values have no log) and a colorbar to match. */
function colourValues(zs, log) {
  const vals = zs.map((row) => row.map((v) => (finite(v) && (!log || v > 0) ? (log ? Math.log10(v) : v) : null)));
  if (!log) return { vals, colorbar: {} };
  let lo = Infinity;
  let hi = -Infinity;
  for (const row of vals) for (const v of row) if (v !== null) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
  let ticks = [];
  for (let d = Math.ceil(lo); d <= Math.floor(hi); d += 1) ticks.push(d);
  if (ticks.length < 2 && hi > lo) ticks = [lo, (lo + hi) / 2, hi];
  return { vals, colorbar: { tickvals: ticks, ticktext: ticks.map((t) => fmt(10 ** t, 2)) } };
}

function tickIndices(n, maxTicks = 12) {
  const step = Math.max(1, Math.ceil(n / maxTicks));
  return Array.from({ length: n }, (_, i) => i).filter((i) => i % step === 0 || i === n - 1);
}

function indexAxis(values, title) {
  const ticks = tickIndices(values.length);
  return {
    title: { text: title }, tickmode: 'array', tickvals: ticks, ticktext: ticks.map((i) => fmtValue(values[i])),
    range: [-0.5, values.length - 0.5], showgrid: false, zeroline: false, ticks: 'outside', automargin: true,
  };
}

function hoverText(slice, opts, i, j) {
  const z = slice.z[i][j];
  const se = slice.stderr ? slice.stderr[i][j] : null;
  const n = slice.n ? slice.n[i][j] : null;
  const st = slice.status[i][j];
  const rg = slice.regime ? slice.regime[i][j] : null;
  return `${opts.xLabel} = ${fmtValue(slice.x[j])}<br>${opts.yLabel} = ${fmtValue(slice.y[i])}<br>`
    + `${opts.metric} (${slice.agg || 'mean'}): ${fmt(z, 4)} ± ${fmt(se, 2)} (n=${n ?? 0})<br>`
    + `status: ${st}${rg ? `, regime: ${rg.replace(/_/g, ' ')}` : ''}`
    + floorHover(slice.floor ? slice.floor[i][j] : undefined, slice.near_floor ? slice.near_floor[i][j] : false, opts);
}

/** The hover line of a cell's noise floor (error metrics only: `floor` undefined elsewhere). */
function floorHover(floor, near, opts) {
  if (floor === undefined) return '';
  const flag = near ? `<br><b>${opts.floorLabel || floorLabel()}</b>: not a trustworthy measurement` : '';
  return `<br>reference noise floor: ${fmt(floor, 3)}${flag}`;
}

/**
 * The near-floor cells of a grid slice as one hatched line trace in index coordinates (an
 * outline and three diagonals per cell, so the hatch scales with the cell), with a legend entry.
 */
function floorTrace(slice, opts) {
  if (!slice.near_floor) return [];
  const x = [];
  const y = [];
  const cells = [];
  const w = 0.42;
  slice.near_floor.forEach((row, i) => row.forEach((near, j) => {
    if (!near) return;
    cells.push([i, j]);
    x.push(j - w, j + w, j + w, j - w, j - w, null);
    y.push(i - w, i - w, i + w, i + w, i - w, null);
    for (const c of [-w, 0, w]) {
      x.push(j - w + Math.max(0, -c), j + w - Math.max(0, c), null);
      y.push(i - w + Math.max(0, c), i + w - Math.max(0, -c), null);
    }
  }));
  if (!cells.length) return [];
  return [{
    type: 'scatter', mode: 'lines', name: opts.floorLabel || floorLabel(), x, y, hoverinfo: 'skip',
    line: { color: FLOOR_MARK.color, width: 1.5 }, showlegend: true, legendgroup: 'near-floor',
    meta: { role: 'near_floor', cells },
  }];
}

/** Symbol traces over the cells in `cells` ([{x, y, cat}]), one trace per mark kind. */
function markTraces(cells, showlegend) {
  if (!cells.length || cells.length > MAX_MARKS) return [];
  const byCat = new Map();
  for (const c of cells) {
    if (!MARKS[c.cat]) continue;
    if (!byCat.has(c.cat)) byCat.set(c.cat, { x: [], y: [] });
    byCat.get(c.cat).x.push(c.x);
    byCat.get(c.cat).y.push(c.y);
  }
  return [...byCat.entries()].map(([cat, xy]) => ({
    type: 'scatter', mode: 'markers', name: MARKS[cat].label, x: xy.x, y: xy.y, hoverinfo: 'skip',
    marker: { symbol: MARKS[cat].symbol, color: MARKS[cat].color, size: 9, line: { width: 1.5, color: MARKS[cat].color } },
    showlegend, legendgroup: `mark-${cat}`, meta: { role: 'mark', cat },
  }));
}

function baseLayout(opts) {
  return {
    margin: { l: 64, r: 24, t: 36, b: 104 }, plot_bgcolor: '#ffffff', paper_bgcolor: '#ffffff',
    font: { family: 'system-ui, -apple-system, Segoe UI, Roboto, sans-serif', size: 12, color: '#1f2933' },
    legend: { orientation: 'h', x: 0, xanchor: 'left', yref: 'container', y: 0.005, yanchor: 'bottom', font: { size: 11 } },
    uirevision: opts.uirevision || 'phase', hovermode: 'closest',
  };
}

/**
 * Figure of one raw-axis slice. opts: {mode: 'metric'|'regime', metric, log, xLabel, yLabel,
 * regimes, uirevision, floorLabel}. In 'metric' mode data[0].z is the API's z as is (log colour: log10 of it).
 */
export function heatmapFigure(slice, opts) {
  const cats = categories(opts.regimes);
  const catIndex = new Map(cats.map((c, i) => [c.key, i]));
  const nx = slice.x.length;
  const ny = slice.y.length;
  const xi = Array.from({ length: nx }, (_, j) => j);
  const yi = Array.from({ length: ny }, (_, i) => i);
  const text = slice.z.map((row, i) => row.map((_, j) => hoverText(slice, opts, i, j)));
  const marks = [];
  const data = [];
  const layout = baseLayout(opts);
  layout.xaxis = indexAxis(slice.x, opts.xLabel);
  layout.yaxis = indexAxis(slice.y, opts.yLabel);
  if (opts.mode === 'regime') {
    const zc = slice.status.map((row, i) => row.map((st, j) => {
      const cat = cellCategory(st, slice.regime ? slice.regime[i][j] : null);
      if (st !== 'done') marks.push({ x: j, y: i, cat });
      return catIndex.has(cat) ? catIndex.get(cat) : catIndex.get('no_value');
    }));
    data.push({
      type: 'heatmap', x: xi, y: yi, z: zc, text, hovertemplate: '%{text}<extra></extra>', zmin: -0.5,
      zmax: cats.length - 0.5, colorscale: discreteScale(cats), xgap: 1, ygap: 1, meta: { role: 'regime' },
      colorbar: { tickvals: cats.map((_, i) => i), ticktext: cats.map((c) => c.label), thickness: 14, len: 1 },
    });
    data.push(...markTraces(marks, false));
    return { data, layout };
  }
  const { vals, colorbar } = colourValues(slice.z, opts.log);
  const status = vals.map((row, i) => row.map((v, j) => {
    const st = slice.status[i][j];
    const cat = v === null ? (st === 'done' ? 'no_value' : st) : st === 'done' ? null : st;
    if (cat) marks.push({ x: j, y: i, cat });
    return v === null ? (catIndex.get(cat) ?? catIndex.get('no_value')) : null;
  }));
  data.push({
    type: 'heatmap', x: xi, y: yi, z: opts.log ? vals : slice.z, text, hovertemplate: '%{text}<extra></extra>',
    colorscale: COLORSCALE, hoverongaps: true, meta: { role: 'value', log: !!opts.log },
    colorbar: { title: { text: opts.log ? `${opts.metric} (log)` : opts.metric, side: 'right' }, thickness: 14, ...colorbar },
  });
  data.push({
    type: 'heatmap', x: xi, y: yi, z: status, zmin: -0.5, zmax: cats.length - 0.5, colorscale: discreteScale(cats),
    showscale: false, hoverinfo: 'skip', meta: { role: 'status' },
  });
  data.push(...markTraces(marks, true), ...floorTrace(slice, opts));
  return { data, layout };
}

function cellHover(c, opts) {
  const raw = Object.entries(c.params).map(([k, v]) => `${k}=${fmtValue(v)}`).join(', ');
  return `${opts.xLabel} = ${fmt(c.xv, 4)}<br>${opts.yLabel} = ${fmt(c.yv, 4)}<br>${raw}<br>`
    + `${opts.metric}: ${fmt(c.z, 4)} ± ${fmt(c.stderr, 2)} (n=${c.n ?? 0})<br>`
    + `status: ${c.status}${c.regime ? `, regime: ${c.regime.replace(/_/g, ' ')}` : ''}`
    + floorHover(c.floor, c.near_floor, opts);
}

function logRange(vs) {
  const pos = vs.filter((v) => v > 0);
  if (!pos.length) return undefined;
  const lo = Math.log10(Math.min(...pos));
  const hi = Math.log10(Math.max(...pos));
  const pad = Math.max(0.08, (hi - lo) * 0.06);
  return [lo - pad, hi + pad];
}

/**
 * Figure of cells at derived coordinates ([{xv, yv, z, stderr, n, status, regime, point_id, params}])
 * on log axes: squares coloured by value (or regime), symbols where there is no value.
 */
export function scatterFigure(cells, opts) {
  const layout = baseLayout(opts);
  const size = cells.length > 900 ? 6 : cells.length > 200 ? 9 : 14;
  layout.xaxis = { title: { text: opts.xLabel }, type: 'log', range: logRange(cells.map((c) => c.xv)), automargin: true };
  layout.yaxis = { title: { text: opts.yLabel }, type: 'log', range: logRange(cells.map((c) => c.yv)), automargin: true };
  const data = [];
  const cats = categories(opts.regimes);
  if (opts.mode === 'regime') {
    for (const cat of cats) {
      const sel = cells.filter((c) => cellCategory(c.status, c.regime) === cat.key);
      if (!sel.length) continue;
      const mk = MARKS[cat.key] && cat.key !== 'diverged' ? MARKS[cat.key].symbol : 'square';
      data.push({
        type: 'scatter', mode: 'markers', name: cat.label, x: sel.map((c) => c.xv), y: sel.map((c) => c.yv),
        text: sel.map((c) => cellHover(c, opts)), hovertemplate: '%{text}<extra></extra>',
        customdata: sel.map((c) => c.point_id), meta: { role: 'regime' },
        marker: { symbol: mk, size, color: cat.color, line: { width: 1, color: '#55606b' } },
      });
    }
    return { data, layout };
  }
  const withValue = cells.filter((c) => finite(c.z) && (!opts.log || c.z > 0));
  const colour = withValue.map((c) => (opts.log ? Math.log10(c.z) : c.z));
  const { colorbar } = colourValues([colour.map((v) => (opts.log ? 10 ** v : v))], opts.log);
  data.push({
    type: 'scatter', mode: 'markers', name: opts.metric, showlegend: false,
    x: withValue.map((c) => c.xv), y: withValue.map((c) => c.yv), customdata: withValue.map((c) => c.point_id),
    text: withValue.map((c) => cellHover(c, opts)), hovertemplate: '%{text}<extra></extra>', meta: { role: 'value' },
    marker: {
      symbol: 'square', size, color: colour, colorscale: COLORSCALE, showscale: true, line: { width: 0 },
      colorbar: { title: { text: opts.log ? `${opts.metric} (log)` : opts.metric, side: 'right' }, thickness: 14, ...colorbar },
    },
  });
  const valued = new Set(withValue);
  const rest = cells.filter((c) => !valued.has(c) || c.status !== 'done');
  for (const [cat, mk] of Object.entries(MARKS)) {
    const sel = rest.filter((c) => (c.status === 'done' ? 'no_value' : c.status) === cat);
    if (!sel.length) continue;
    data.push({
      type: 'scatter', mode: 'markers', name: mk.label, x: sel.map((c) => c.xv), y: sel.map((c) => c.yv),
      customdata: sel.map((c) => c.point_id), text: sel.map((c) => cellHover(c, opts)),
      hovertemplate: '%{text}<extra></extra>', meta: { role: 'mark', cat },
      marker: { symbol: mk.symbol, size: Math.max(8, size - 2), color: mk.color, line: { width: 1.5, color: mk.color } },
    });
  }
  const near = withValue.filter((c) => c.near_floor);
  if (near.length) {
    data.push({
      type: 'scatter', mode: 'markers', name: opts.floorLabel || floorLabel(), x: near.map((c) => c.xv), y: near.map((c) => c.yv),
      hoverinfo: 'skip', meta: { role: 'near_floor' },
      marker: { symbol: FLOOR_MARK.symbol, size: size + 4, color: FLOOR_MARK.color, line: { width: FLOOR_MARK.line, color: FLOOR_MARK.color } },
    });
  }
  return { data, layout };
}

export const PLOT_CONFIG = { responsive: true, displaylogo: false, modeBarButtonsToRemove: ['lasso2d', 'select2d'] };

/** Draw (or redraw in place) a figure; resolves when Plotly is done. */
export function draw(div, figure) {
  return Plotly().react(div, figure.data, figure.layout, PLOT_CONFIG);
}

/** A /phase-shaped slice of nx x ny done cells with a smooth synthetic metric. */
export function syntheticSlice(nx = 100, ny = 100) {
  const x = Array.from({ length: nx }, (_, j) => 0.1 * 1000 ** (j / Math.max(1, nx - 1)));
  const y = Array.from({ length: ny }, (_, i) => Math.round(2 * 512 ** (i / Math.max(1, ny - 1))) + i);
  const z = y.map((L) => x.map((a) => 1 / (1 + a / Math.sqrt(L)) + 0.02 * Math.sin(a * L)));
  const regimes = ['feature_learning', 'lazy', 'noise_dominated'];
  return {
    x_axis: 'alpha', y_axis: 'L', metric: 'feature_update', agg: 'mean', fixed: { D: 16, M: 64 }, x, y, z,
    stderr: z.map((row) => row.map((v) => 0.05 * v)), n: z.map((row) => row.map(() => 4)),
    status: z.map((row) => row.map(() => 'done')),
    regime: z.map((row) => row.map((v) => regimes[v > 0.6 ? 0 : v > 0.2 ? 1 : 2])),
    point_id: z.map((row, i) => row.map((_, j) => i * nx + j + 1)),
  };
}

/**
 * Milliseconds to build and draw an nx x ny heatmap ('metric' or 'regime' mode) from data already
 * in memory: performance.now() around figure building + Plotly.react, plus one animation frame.
 */
export async function timeRender(div, nx = 100, ny = 100, mode = 'metric') {
  const slice = syntheticSlice(nx, ny);
  Plotly().purge(div);
  const t0 = performance.now();
  const opts = { mode, metric: 'feature_update', xLabel: 'α', yLabel: 'L', regimes: ['feature_learning', 'lazy', 'noise_dominated', 'diverged'] };
  await draw(div, heatmapFigure(slice, opts));
  await new Promise((resolve) => requestAnimationFrame(() => resolve()));
  return performance.now() - t0;
}
