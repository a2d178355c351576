// heatmap.js: pure drawing of phase diagrams with Plotly (no fetching, no page state).
// - heatmapFigure(slice, opts): a raw-axis /phase slice as a heatmap on axes.gridScale positions
//   (log-spaced in grid steps, ticks labelled with the grid's own values);
// - scatterFigure(cells, opts): cells at derived (non-uniform) coordinates on log axes;
// - draw(div, figure): Plotly.react, so live updates redraw in place;
// - syntheticSlice / timeRender: the 10,000-cell benchmark used by tests and benchmarks/page.py.
// Cells without a value are never silent holes: a status layer colours them by status and, up to
// MAX_MARKS cells, a symbol marks each queued, running, diverged, failed or cancelled cell.
// Error metrics (err_out, err_emb) with a reference: cells within 3x of the reference's noise
// floor (the API's near_floor) are hatched, and the floor is in every cell's hover text.
// Refined sweeps: the alphas refinement adds are not uniformly spaced. A heatmap still shows them
// well once its cells sit at their true log positions (each cell spans the midpoints to its
// neighbours, so added alphas are narrow columns exactly where they were computed): that is
// chosen over a scatter layer, which would hide the grid cells underneath. Added alphas exist on
// the refined line only; the other rows of such a column have no point of the sweep ("missing")
// and are left as gaps, not painted as "no value".

import { FLOOR_MARK, MARKS, categories, cellCategory, floorLabel } from './categories.js';
import { gridScale } from './axes.js';
import { MAX_MARKS, floorTrace, markTraces } from './cell_traces.js';
import { fmt, fmtValue } from './dom.js';
import { themed } from './theme.js';

export { MARKS, MAX_MARKS, categories, cellCategory };

const Plotly = () => window.Plotly;
const COLORSCALE = 'Viridis';
// The status of a /phase cell where the sweep has no point (an alpha added for another line only).
const MISSING = 'missing';

function discreteScale(cats) {
  const k = cats.length;
  return cats.flatMap((c, i) => [[i / k, c.color], [(i + 1) / k, c.color]]);
}

const finite = (v) => typeof v === 'number' && Number.isFinite(v);

/**
 * Colour values (log10 when asked; non-positive values have no log), a colorbar to match, and
 * the colour range: `range` ([lo, hi] in metric units: a locked range) or the data's own.
 * Returns {vals, colorbar, span: {zmin, zmax} | {}} (span in colour units, empty when unlocked).
 */
function colourValues(zs, log, range) {
  const vals = zs.map((row) => row.map((v) => (finite(v) && (!log || v > 0) ? (log ? Math.log10(v) : v) : null)));
  const locked = Array.isArray(range) && range.every(finite) && (!log || range.every((v) => v > 0));
  const span = locked ? { zmin: log ? Math.log10(range[0]) : range[0], zmax: log ? Math.log10(range[1]) : range[1] } : {};
  if (!log) return { vals, colorbar: {}, span };
  let lo = Infinity;
  let hi = -Infinity;
  for (const row of vals) for (const v of row) if (v !== null) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
  if (locked) [lo, hi] = [span.zmin, span.zmax];
  let ticks = [];
  for (let d = Math.ceil(lo); d <= Math.floor(hi); d += 1) ticks.push(d);
  if (ticks.length < 2 && hi > lo) ticks = [lo, (lo + hi) / 2, hi];
  return { vals, colorbar: { tickvals: ticks, ticktext: ticks.map((t) => fmt(10 ** t, 2)) }, span };
}

/** Significant digits of a value as labelled (0.25 -> 2, 16 -> 2, 0.7327 -> 4): rounder reads better. */
const digits = (v) => fmtValue(v).replace(/[-.]/g, '').replace(/^0+/, '').replace(/0+$/, '').length;

/**
 * Indices of the values to label, at least 1/10 of the axis apart: the roundest values first, so
 * the typed grid (0.25, 1, 4, ...) keeps its labels among the dense alphas refinement adds.
 */
function tickIndices(values, centers) {
  const n = centers.length;
  const gap = (centers[n - 1] - centers[0]) / 10;
  const order = [...centers.keys()].sort((a, b) => digits(values[a]) - digits(values[b]) || a - b);
  const keep = [];
  for (const i of order) {
    if (keep.every((k) => Math.abs(centers[i] - centers[k]) >= gap)) keep.push(i);
  }
  return keep.sort((a, b) => a - b);
}

/** A grid axis on gridScale positions: ticks at the grid's own values. */
function gridAxis(values, scale, title) {
  const ticks = tickIndices(values, scale.centers);
  return {
    title: { text: title }, tickmode: 'array', tickvals: ticks.map((i) => scale.centers[i]), ticktext: ticks.map((i) => fmtValue(values[i])),
    range: [scale.edges[0], scale.edges[values.length]], showgrid: false, zeroline: false, ticks: 'outside', automargin: true,
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
 * regimes, uirevision, floorLabel, crange: [lo, hi] | null (a locked colour range, metric units)}. In 'metric' mode data[0].z is the API's z as is (log colour: log10 of it).
 */
export function heatmapFigure(slice, opts) {
  const cats = categories(opts.regimes);
  const catIndex = new Map(cats.map((c, i) => [c.key, i]));
  const sx = gridScale(slice.x);
  const sy = gridScale(slice.y);
  const xi = sx.centers;
  const yi = sy.centers;
  const text = slice.z.map((row, i) => row.map((_, j) => hoverText(slice, opts, i, j)));
  const marks = [];
  const data = [];
  const layout = baseLayout(opts);
  layout.xaxis = gridAxis(slice.x, sx, opts.xLabel);
  layout.yaxis = gridAxis(slice.y, sy, opts.yLabel);
  // blank (missing) cells on a faint grey, so they read as "no point here", not as a white column
  if (slice.status.some((row) => row.includes(MISSING))) layout.plot_bgcolor = '#eceff3';
  if (opts.mode === 'regime') {
    const zc = slice.status.map((row, i) => row.map((st, j) => {
      if (st === MISSING) return null;
      const cat = cellCategory(st, slice.regime ? slice.regime[i][j] : null);
      if (st !== 'done') marks.push({ x: xi[j], y: yi[i], cat });
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
  const { vals, colorbar, span } = colourValues(slice.z, opts.log, opts.crange);
  const status = vals.map((row, i) => row.map((v, j) => {
    const st = slice.status[i][j];
    if (st === MISSING) return null;
    const cat = v === null ? (st === 'done' ? 'no_value' : st) : st === 'done' ? null : st;
    if (cat) marks.push({ x: xi[j], y: yi[i], cat });
    return v === null ? (catIndex.get(cat) ?? catIndex.get('no_value')) : null;
  }));
  data.push({
    type: 'heatmap', x: xi, y: yi, z: opts.log ? vals : slice.z, text, hovertemplate: '%{text}<extra></extra>',
    colorscale: COLORSCALE, hoverongaps: true, meta: { role: 'value', log: !!opts.log }, ...span,
    colorbar: { title: { text: opts.log ? `${opts.metric} (log)` : opts.metric, side: 'right' }, thickness: 14, ...colorbar },
  });
  data.push({
    type: 'heatmap', x: xi, y: yi, z: status, zmin: -0.5, zmax: cats.length - 0.5, colorscale: discreteScale(cats),
    showscale: false, hoverinfo: 'skip', meta: { role: 'status' },
  });
  data.push(...markTraces(marks, true), ...floorTrace(slice, opts, sx, sy));
  return { data, layout };
}

const RAW_ORDER = ['alpha', 'D', 'L', 'M'];
const rawOf = (c) => RAW_ORDER.filter((k) => k in c.params).map((k) => `${k}=${fmtValue(c.params[k])}`).join(', ');

function cellHover(c, opts) {
  if (c.members) {  // coincident cells (coincident.js): their mean, then every member
    return `${opts.xLabel} = ${fmt(c.xv, 4)}<br>${opts.yLabel} = ${fmt(c.yv, 4)}<br>`
      + `<b>${c.members.length} cells here</b>, ${opts.metric} mean ${fmt(c.z, 4)}:<br>`
      + c.members.map((m) => `${rawOf(m)}: ${fmt(m.z, 4)} ± ${fmt(m.stderr, 2)} (${m.status}${m.regime ? `, ${m.regime.replace(/_/g, ' ')}` : ''})`).join('<br>');
  }
  return `${opts.xLabel} = ${fmt(c.xv, 4)}<br>${opts.yLabel} = ${fmt(c.yv, 4)}<br>${rawOf(c)}<br>`
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

/** A log axis of derived values, ticks at the values the cells take (thinned as gridAxis does), not 2-5-10. */
function valueAxis(vs, title) {
  const values = [...new Set(vs.filter((v) => v > 0).map((v) => Number(v.toPrecision(9))))].sort((a, b) => a - b);
  const axis = { title: { text: title }, type: 'log', range: logRange(values), automargin: true, ticks: 'outside' };
  if (!values.length) return axis;
  const logs = values.map(Math.log10);
  const ticks = values.length === 1 ? [0] : tickIndices(values, logs);
  return { ...axis, tickmode: 'array', tickvals: ticks.map((i) => values[i]), ticktext: ticks.map((i) => fmtValue(values[i])) };
}

/**
 * Figure of cells at derived coordinates ([{xv, yv, z, stderr, n, status, regime, point_id, params}])
 * on log axes: squares coloured by value (or regime), symbols where there is no value.
 */
export function scatterFigure(cells, opts) {
  const layout = baseLayout(opts);
  const size = cells.length > 900 ? 6 : cells.length > 200 ? 9 : 14;
  layout.xaxis = valueAxis(cells.map((c) => c.xv), opts.xLabel);
  layout.yaxis = valueAxis(cells.map((c) => c.yv), opts.yLabel);
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
  const { colorbar, span } = colourValues([colour.map((v) => (opts.log ? 10 ** v : v))], opts.log, opts.crange);
  data.push({
    type: 'scatter', mode: 'markers', name: opts.metric, showlegend: false,
    x: withValue.map((c) => c.xv), y: withValue.map((c) => c.yv), customdata: withValue.map((c) => c.point_id),
    text: withValue.map((c) => cellHover(c, opts)), hovertemplate: '%{text}<extra></extra>', meta: { role: 'value' },
    marker: {
      symbol: 'square', size, color: colour, colorscale: COLORSCALE, showscale: true, line: { width: 0 },
      ...(span.zmin === undefined ? {} : { cmin: span.zmin, cmax: span.zmax }),
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

/** Draw (or redraw in place) a figure in the page's colour scheme; resolves when Plotly is done. */
export function draw(div, figure) {
  return Plotly().react(div, figure.data, themed(figure.layout), PLOT_CONFIG);
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
