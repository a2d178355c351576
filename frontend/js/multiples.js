// multiples.js: small multiples of the metric heatmap over one held axis (view.multi, the URL's
// multi=D): one small figure per value of that axis (at most MAX_PANELS), the other held axes as
// in the main view, all on one colour range (the locked one, else the range over every panel),
// so colours compare across the panels. Raw x and y only (a derived view already spreads its
// raw axes over the plane); theory overlays stay on the main figures.

import { api } from './api.js';
import { AXES, RAW_AXES, axisLabel } from './axes.js';
import { floorLabel } from './categories.js';
import { $, fmtValue, h, selectControl } from './dom.js';
import { formatFixed } from './format.js';
import { draw, heatmapFigure } from './heatmap.js';
import { store } from './state/store.js';

const MAX_PANELS = 12;
let seq = 0;

/** The held axes that small multiples can spread (more than one value in the sweep). */
function spreadable(plan) {
  return RAW_AXES.filter((a) => a in plan.fixed && store.sweep.axes[a].length > 1);
}

/** The "small multiples over" select (raw views with a held axis of several values). */
export function multiplesControl(plan) {
  const v = store.view;
  if (!AXES[v.x] || !AXES[v.y] || AXES[v.x].raw.length > 1 || AXES[v.y].raw.length > 1) return [];
  const axes = spreadable(plan);
  if (!axes.length) return [];
  return [selectControl('phase-multi', 'small multiples over', [['', '(none)'], ...axes.map((a) => [a, axisLabel(a)])],
    axes.includes(v.multi) ? v.multi : '', (multi) => store.update({ multi }), 'one small heatmap per value of a held axis')];
}

/** One colour range over every panel: [lo, hi] of the finite (positive, in log colour) values. */
function sharedRange(slices, log) {
  const vals = slices.flatMap((s) => s.z.flat()).filter((z) => Number.isFinite(z) && (!log || z > 0));
  return vals.length ? [Math.min(...vals), Math.max(...vals)] : null;
}

export function clearMultiples() {
  seq += 1;
  const root = $('#phase-multiples');
  for (const div of root.querySelectorAll('.js-plotly-plot')) window.Plotly.purge(div);
  root.replaceChildren();
  root.hidden = true;
}

/** Draw the small multiples of the current view (stale responses dropped). */
export async function refreshMultiples(plan) {
  const v = store.view;
  if (!v.multi || !spreadable(plan).includes(v.multi) || AXES[v.x].raw.length > 1 || AXES[v.y].raw.length > 1) {
    clearMultiples();
    return;
  }
  const my = ++seq;
  const values = store.sweep.axes[v.multi].slice(0, MAX_PANELS);
  const slices = await Promise.all(values.map((value) => api.phase(store.sweep.id, {
    x: v.x, y: v.y, metric: v.metric, agg: v.agg, fixed: formatFixed({ ...plan.fixed, [v.multi]: value }) })));
  if (my !== seq) return;
  const crange = v.crange || sharedRange(slices, v.log);
  const root = $('#phase-multiples');
  root.hidden = false;
  const divs = values.map((value, k) => {
    const old = root.querySelector(`[data-panel="${k}"]`);
    return old || h('div', { class: 'plot small-multiple', id: `multiple-${k}`, dataset: { panel: String(k), testid: `multiple-${k}` } });
  });
  root.replaceChildren(h('p', { class: 'note', text: `${v.metric} at each ${axisLabel(v.multi)}`
    + `${values.length < store.sweep.axes[v.multi].length ? ` (the first ${MAX_PANELS})` : ''}, on one colour range`
    + `${v.crange ? ' (locked)' : ''}` }), h('div', { class: 'multiples-grid' }, divs));
  await Promise.all(slices.map((slice, k) => {
    const fig = heatmapFigure(slice, { mode: 'metric', metric: v.metric, log: v.log, crange, xLabel: axisLabel(v.x),
      yLabel: axisLabel(v.y), regimes: store.meta.regimes, floorLabel: floorLabel(store.meta), uirevision: `multi|${k}` });
    fig.data[0].showscale = k === slices.length - 1;
    fig.layout.margin = { l: 52, r: 12, t: 30, b: 44 };
    fig.layout.showlegend = false;
    fig.layout.title = { text: `${axisLabel(v.multi)} = ${fmtValue(values[k])}`, x: 0.02, font: { size: 12 } };
    divs[k].dataset.value = String(values[k]);
    return draw(divs[k], fig);
  }));
  root.dataset.drawn = String(my);
}
