// compare.js: the Compare panel: the selected sweep (A) against a second one (B, `cmp` in the URL)
// on the phase view's axes, metric, seed aggregate, log colour and held axes: side by side on the
// same axes (the union of both grids) and the same colour range, or their difference A - B or
// ratio A / B on the cells both grids hold (compare_grid.js matches the two /phase responses).
// The settings that differ between A and B are named above the figures (mlu vs plain, lr 1 vs 10).

import { api } from './api.js';
import { axisLabel, isRaw, pickValue, planSlices } from './axes.js';
import { applyRange, combine, onUnion, sharedRange } from './compare_grid.js';
import { $, fmtValue, h, selectControl } from './dom.js';
import { formatFixed } from './format.js';
import { draw, heatmapFigure, syntheticSlice } from './heatmap.js';
import { store } from './state/store.js';

export const OPS = [['side', 'side by side'], ['diff', 'difference A − B'], ['ratio', 'ratio A / B']];
const DIVS = { a: 'compare-a', b: 'compare-b', op: 'compare-op' };
let seq = 0;

function note(text) {
  $('#compare-note').textContent = text || '';
}

const label = (s) => `${s.name || 'unnamed'} (#${s.id})`;

export function renderCompareControls() {
  const root = $('#compare-controls');
  const v = store.view;
  const others = store.sweeps.filter((s) => !store.sweep || s.id !== store.sweep.id);
  const options = [['', '— pick a sweep —'], ...others.map((s) => [s.id, label(s)])];
  if (v.cmp !== null && !others.some((s) => s.id === v.cmp)) options.push([v.cmp, `sweep #${v.cmp}`]);
  root.replaceChildren(
    selectControl('compare-with', 'compare with', options, v.cmp ?? '', (id) => store.update({ cmp: id ? Number(id) : null }),
      'the second sweep (B), drawn on the same axes as the selected one (A)'),
    selectControl('compare-show', 'show', OPS, v.cop, (cop) => store.update({ cop })),
  );
}

/** "residual_scale: mlu vs plain · lr: 1 vs 10" (the settings that differ), or ''. */
export function settingsDiff(a, b) {
  const keys = [...new Set([...Object.keys(a || {}), ...Object.keys(b || {})])].sort();
  const show = (x) => (x !== null && typeof x === 'object' ? JSON.stringify(x) : String(x));
  return keys.filter((k) => JSON.stringify(a[k]) !== JSON.stringify(b[k]))
    .map((k) => `${k}: ${show(a[k])} vs ${show(b[k])}`).join(' · ');
}

/** B's held values: A's where B has them, else B's closest (named in the note). */
function heldFor(b, fixed) {
  const out = {};
  const moved = [];
  for (const [axis, value] of Object.entries(fixed)) {
    out[axis] = pickValue(b.axes[axis], value);
    if (out[axis] !== value) moved.push(`B has no ${axisLabel(axis)}=${fmtValue(value)}: held at ${fmtValue(out[axis])}`);
  }
  return { fixed: out, moved };
}

async function sweepSummary(id) {
  return store.sweeps.find((s) => s.id === id) || api.sweep(id);
}

/**
 * The figures of a comparison: op 'side' -> [figure of A, figure of B] on the union grid with one
 * colour range; 'diff' | 'ratio' -> [one figure] on the shared cells (diverging colours, centred on
 * 0, or on 1 in log for a ratio), or [] when the grids share no cell. opts as heatmapFigure's.
 */
export function compareFigures(sa, sb, op, opts) {
  if (op === 'side') {
    const [ua, ub] = onUnion(sa, sb);
    const figs = [heatmapFigure(ua, opts), heatmapFigure(ub, opts)];
    applyRange(figs, sharedRange(figs));
    return figs;
  }
  const both = combine(sa, sb, op);
  if (!both) return [];
  const metric = `${opts.metric} ${op === 'diff' ? 'A − B' : 'A / B'}`;
  const fig = heatmapFigure(both, { ...opts, metric, log: op === 'ratio' });
  const range = sharedRange([fig]);
  const m = range ? Math.max(Math.abs(range[0]), Math.abs(range[1])) || 1 : 1;
  applyRange([fig], [-m, m]);
  Object.assign(fig.data[0], { colorscale: 'RdBu', reversescale: true });
  return [fig];
}

async function slice(id, plan, fixed) {
  const v = store.view;
  return api.phase(id, { x: plan.sx, y: plan.sy, metric: v.metric, agg: v.agg, fixed: formatFixed(fixed) });
}

function clear(ids) {
  for (const id of ids) {
    const div = document.getElementById(id);
    window.Plotly.purge(div);
    div.closest('figure').hidden = true;
  }
}

function titled(fig, text) {
  fig.layout.title = { text, x: 0.01, xanchor: 'left', y: 0.985, yanchor: 'top', font: { size: 12 } };
  // no overlay legend here: the bottom margin the phase diagram keeps for one is not needed
  fig.layout.margin = { ...fig.layout.margin, b: 56 };
  return fig;
}

/** Fetch both sweeps' slices for the phase view and draw the comparison (stale answers dropped). */
export async function refreshCompare() {
  const my = ++seq;
  const v = store.view;
  renderCompareControls();
  if (!store.sweep) return;
  if (v.cmp === null) { clear(Object.values(DIVS)); note('Pick a second sweep (B) to compare with this one (A).'); return; }
  if (!isRaw(v.x) || !isRaw(v.y)) { clear(Object.values(DIVS)); note('Comparison draws raw axes: pick α, D, L or M for x and y in the phase diagram.'); return; }
  let plan;
  let b;
  let sa;
  let sb;
  let held;
  try {
    plan = planSlices(v.x, v.y, store.sweep.axes, v.fixed);
    b = await sweepSummary(v.cmp);
    held = heldFor(b, plan.fixed);
    [sa, sb] = await Promise.all([slice(store.sweep.id, plan, plan.fixed), slice(b.id, plan, held.fixed)]);
  } catch (err) {
    if (my === seq) { clear(Object.values(DIVS)); note(`Cannot compare: ${err.text ? err.text() : err.message || err}`); }
    return;
  }
  if (my !== seq) return;
  const opts = { mode: 'metric', metric: v.metric, log: v.log, xLabel: axisLabel(v.x), yLabel: axisLabel(v.y), regimes: store.meta.regimes, uirevision: `cmp|${v.x}|${v.y}` };
  const figs = compareFigures(sa, sb, v.cop, opts);
  const a = store.sweep;
  const diff = settingsDiff(a.settings, b.settings);
  const heldText = Object.entries(plan.fixed).map(([k, x]) => `${axisLabel(k)}=${fmtValue(x)}`).join(', ');
  const notes = [`A = ${label(a)}, B = ${label(b)}`, diff ? `settings: ${diff}` : 'same settings', ...held.moved];
  if (heldText) notes.push(`held: ${heldText}`);
  if (!figs.length) notes.push(`the two grids share no cell: choose "side by side"`);
  note(notes.join(' · '));
  const what = `${v.metric} (${v.agg} over seeds${v.log ? ', log colour' : ''})`;
  const jobs = [];
  if (v.cop === 'side') {
    clear([DIVS.op]);
    jobs.push(show([[DIVS.a, titled(figs[0], `A: ${label(a)}: ${what}`)], [DIVS.b, titled(figs[1], `B: ${label(b)}: ${what}`)]]));
  } else {
    clear([DIVS.a, DIVS.b]);
    if (figs.length) jobs.push(show([[DIVS.op, titled(figs[0], `${v.cop === 'diff' ? 'A − B' : 'A / B'}: ${what}`)]]));
    else clear([DIVS.op]);
  }
  await Promise.all(jobs);
  $('#panel-compare').dataset.drawn = `${a.id}|${b.id}|${v.cop}|${my}`;
}

/**
 * Draw [[div id, figure], ...]: every figure is unhidden before any is drawn, since Plotly sizes a
 * div when it draws it (and afterwards follows window resizes only). Unhiding A, drawing it, then
 * unhiding B drew A across the whole row, then clipped it to its half of the grid.
 */
function show(pairs) {
  const divs = pairs.map(([id]) => document.getElementById(id));
  for (const div of divs) div.closest('figure').hidden = false;
  return Promise.all(pairs.map(([, fig], i) => draw(divs[i], fig)));
}

export function clearCompare() {
  seq += 1;
  clear(Object.values(DIVS));
  note('');
}

/** True while sweep B still computes (main.js redraws the panel on each poll then). */
export function comparePending() {
  const b = store.view.cmp === null ? null : store.sweeps.find((s) => s.id === store.view.cmp);
  return !!b && b.state === 'running';
}

/** The URL keys this panel reads (main.js redraws it when they change). */
export const COMPARE_KEYS = ['cmp', 'cop'];

/**
 * Benchmark (benchmarks/page.py): milliseconds to match two nx x ny slices (B's alphas shifted by
 * a column, so the union has nx + 1 columns), build both figures with one colour range and draw
 * them side by side, plus one animation frame for the paint.
 */
export async function timeCompare(divA, divB, nx = 100, ny = 100) {
  const a = syntheticSlice(nx, ny);
  const step = a.x[nx - 1] / a.x[nx - 2]; // geometric alphas: B's grid is A's moved up one step
  const b = { ...a, x: [...a.x.slice(1), a.x[nx - 1] * step], z: a.z.map((r) => r.map((z) => z * 1.1)) };
  window.Plotly.purge(divA);
  window.Plotly.purge(divB);
  const t0 = performance.now();
  const opts = { mode: 'metric', metric: 'feature_update', xLabel: 'α', yLabel: 'L', regimes: ['feature_learning', 'lazy', 'noise_dominated', 'diverged'] };
  const [fa, fb] = compareFigures(a, b, 'side', opts);
  await Promise.all([draw(divA, fa), draw(divB, fb)]);
  await new Promise((resolve) => requestAnimationFrame(() => resolve()));
  return performance.now() - t0;
}
