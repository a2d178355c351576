// phase.js: the phase-diagram panel: its controls (x, y, metric, seed aggregate, log colour,
// held axes), fetching /phase slices for the view, and drawing the metric heatmap and the regime
// map with theory overlays. Redraws in place (Plotly.react) whenever results arrive.

import { api } from './api.js';
import { floorLabel } from './categories.js';
import { AXES, AXIS_IDS, RAW_AXES, axisLabel, planSlices } from './axes.js';
import { derivedSlices } from './cells.js';
import { $, fmtValue, h, selectControl } from './dom.js';
import { attachFigureActions, sliceCsv } from './export.js';
import { formatFixed } from './format.js';
import { draw, heatmapFigure, scatterFigure } from './heatmap.js';
import { mergeCoincident } from './coincident.js';
import { colourLockControl } from './colour_lock.js';
import { clearMultiples, multiplesControl, refreshMultiples } from './multiples.js';
import { boundaryTraces } from './boundary_traces.js';
import { overlayTraces, renderOverlayControls } from './overlays.js';
import { selectionTraces } from './selection_layer.js';
import { select, toggle } from './state/selection.js';
import { store } from './state/store.js';
import { fitLegend, keepZoom, zoomed } from './zoom_legend.js';

const HEATMAP = 'phase-heatmap';
const REGIME = 'phase-regime';
let seq = 0;
let lastSlices = null;   // the slices of the drawn view (for CSV export)

function note(text) {
  $('#phase-note').textContent = text || '';
}

/** The axes held fixed in this view, with a select each (values of the selected sweep). */
function heldControls(plan) {
  const v = store.view;
  return RAW_AXES.filter((a) => a in plan.fixed).map((a) => selectControl(
    `fixed-${a}`, `${axisLabel(a)} (held)`, store.sweep.axes[a].map((x) => [x, fmtValue(x)]), plan.fixed[a],
    (val) => store.update({ fixed: { ...v.fixed, [a]: Number(val) } }), `the value of ${a} in this slice`,
  ));
}

export function renderPhaseControls() {
  const root = $('#phase-controls');
  root.replaceChildren();
  const v = store.view;
  const metrics = Object.keys(store.meta.metrics);
  const axisOptions = AXIS_IDS.map((id) => [id, `${AXES[id].label}${AXES[id].raw.length > 1 ? ' (derived)' : ''}`]);
  root.append(
    selectControl('phase-x', 'x axis', axisOptions, v.x, (x) => store.update({ x })),
    selectControl('phase-y', 'y axis', axisOptions, v.y, (y) => store.update({ y })),
    selectControl('phase-metric', 'colour by', metrics.map((m) => [m, m]), v.metric, (metric) => store.update({ metric }),
      store.meta.metrics[v.metric]),
    selectControl('phase-agg', 'over seeds', (store.meta.aggregates || ['mean']).map((a) => [a, a]), v.agg,
      (agg) => store.update({ agg })),
  );
  const log = h('input', { type: 'checkbox', id: 'phase-log', checked: v.log, dataset: { testid: 'phase-log' } });
  log.addEventListener('change', () => store.update({ log: log.checked }));
  root.append(h('div', { class: 'control inline' }, log, h('label', { for: 'phase-log', text: 'log colour scale' })),
    colourLockControl());
  if (!store.sweep) {
    $('#overlay-controls').replaceChildren();
    return;
  }
  try {
    const plan = planSlices(v.x, v.y, store.sweep.axes, v.fixed);
    root.append(...heldControls(plan), ...multiplesControl(plan));
  } catch {
    // an impossible x/y pair: refresh() explains it
  }
  renderOverlayControls($('#overlay-controls'));
}

function figureOpts(mode, plan) {
  const v = store.view;
  return {
    mode, metric: v.metric, log: v.log, crange: v.crange, xLabel: axisLabel(v.x), yLabel: axisLabel(v.y),
    regimes: store.meta.regimes, floorLabel: floorLabel(store.meta), uirevision: `${v.sweep}|${v.x}|${v.y}|${JSON.stringify(plan.fixed)}`,
  };
}

function titleOf(mode, plan) {
  const v = store.view;
  const held = Object.entries(plan.fixed).map(([a, x]) => `${axisLabel(a)}=${fmtValue(x)}`).join(', ');
  const what = mode === 'regime' ? 'regime' : `${v.metric} (${v.agg} over seeds${v.log ? ', log colour' : ''})`;
  return `${store.sweep.name || `sweep ${store.sweep.id}`}: ${what}${held ? ` at ${held}` : ''}`;
}

/** Cells of several slices placed at derived coordinates (see axes.planSlices). */
function derivedCells(slices, plan) {
  const cells = [];
  slices.forEach(({ combo, slice }) => {
    slice.y.forEach((yv, i) => slice.x.forEach((xv, j) => {
      const params = { ...plan.fixed, ...combo, [plan.sx]: xv, [plan.sy]: yv };
      cells.push({
        params, xv: AXES[store.view.x].f(params), yv: AXES[store.view.y].f(params), z: slice.z[i][j],
        stderr: slice.stderr[i][j], n: slice.n[i][j], status: slice.status[i][j], regime: slice.regime[i][j],
        point_id: slice.point_id[i][j], floor: slice.floor ? slice.floor[i][j] : undefined,
        near_floor: slice.near_floor ? slice.near_floor[i][j] : false,
      });
    }));
  });
  return cells;
}

async function fetchSlices(plan, id) {
  const v = store.view;
  return Promise.all(plan.combos.map(async (combo) => {
    const fixed = { ...plan.fixed, ...combo };
    const params = { x: plan.sx, y: plan.sy, metric: v.metric, agg: v.agg,
      fixed: formatFixed(fixed) };
    return { combo, slice: await api.phase(id, params) };
  }));
}

async function extraTraces(ctx) {
  const { traces, notes } = await overlayTraces(ctx);
  if (ctx.kind === 'grid') {
    try {
      traces.push(...await boundaryTraces(ctx.slice));
    } catch (err) {
      notes.push(`measured boundary: ${err.text ? err.text() : err}`);
    }
  }
  return { traces, notes };
}

/** "12 of 14 cells computed", and the cells where the sweep has no point (status 'missing'). */
function counts(cells) {
  const done = cells.filter((c) => c.status === 'done' || c.status === 'diverged').length;
  const missing = cells.filter((c) => c.status === 'missing').length;
  const blank = missing ? ` · ${missing} blank cell${missing > 1 ? 's' : ''}: no point there (an α refinement added for another line)` : '';
  return `${done} of ${cells.length - missing} cells computed${blank}`;
}

/** Fetch the view's slices and draw both figures (stale responses are dropped). */
export async function refreshPhase() {
  const my = ++seq;
  const v = store.view;
  if (!store.sweep) return;
  let plan;
  try {
    plan = planSlices(v.x, v.y, store.sweep.axes, v.fixed);
  } catch (err) {
    note(`Cannot draw this view: ${err.message}.`);
    return;
  }
  let slices;
  try {
    // raw axes: one /phase slice; derived ones: every cell from one /cells request (cells.js)
    const direct = plan.combos.length === 1 && plan.sx === v.x && plan.sy === v.y;
    slices = direct ? await fetchSlices(plan, store.sweep.id) : await derivedSlices(plan, store.sweep, v);
  } catch (err) {
    if (my === seq) note(`Could not load the slice: ${err.text ? err.text() : err}`);
    return;
  }
  if (my !== seq) return;
  const raw = slices.length === 1 && plan.sx === v.x && plan.sy === v.y;
  const allCells = raw ? null : derivedCells(slices, plan);
  const merged = raw ? { cells: null, merged: 0 } : mergeCoincident(allCells);
  const cells = merged.cells;
  const ctx = raw ? { kind: 'grid', slice: slices[0].slice } : { kind: 'scatter', cells, x: v.x, y: v.y };
  const extra = await extraTraces(ctx);
  if (my !== seq) return;
  lastSlices = { plan, slices, raw };
  const notes = [];
  if (!raw) {
    notes.push(`Derived axes: ${slices.length} slice${slices.length > 1 ? 's' : ''} over ${plan.sx} × ${plan.sy}`
      + `${plan.expand.length ? ` for each ${plan.expand.join(', ')}` : ''}, cells placed at their derived coordinates.`);
  }
  if (merged.merged) {
    notes.push(`${merged.merged} position${merged.merged > 1 ? 's' : ''} hold${merged.merged > 1 ? '' : 's'} several cells `
      + `(the same ${axisLabel(v.x)}, ${axisLabel(v.y)} from different ${plan.used.join(', ')}): drawn as their mean, the hover lists each`);
  }
  if (plan.truncated) notes.push(`Only the first ${slices.length} combinations are shown.`);
  notes.push(...extra.notes);
  const nearFloor = slices.reduce((k, { slice }) => k + (slice.near_floor ? slice.near_floor.flat().filter(Boolean).length : 0), 0);
  if (nearFloor) notes.push(`${nearFloor} cell${nearFloor > 1 ? 's' : ''} ${floorLabel(store.meta)} (${raw ? 'hatched' : 'ringed'}): not trustworthy measurements`);
  const all = raw ? slices[0].slice.status.flat() : allCells.map((c) => c.status);
  note([counts(all.map((status) => ({ status }))), ...notes].join(' · '));
  await Promise.all(['metric', 'regime'].map((mode) => {
    const opts = figureOpts(mode, plan);
    const fig = raw ? heatmapFigure(slices[0].slice, opts) : scatterFigure(cells, opts);
    fig.data.push(...extra.traces, ...selectionTraces(ctx));
    fig.layout.title = { text: titleOf(mode, plan), x: 0.01, xanchor: 'left', y: 0.985, yanchor: 'top', font: { size: 12 } };
    const div = document.getElementById(mode === 'metric' ? HEATMAP : REGIME);
    // listeners first (a zoom right after the draw is kept), then the legend's room
    return draw(div, zoomed(div, fig, v.zoom)).then(() => { bindClick(div); keepZoom(div); return fitLegend(div); });
  }));
  await refreshMultiples(plan);
  document.getElementById(HEATMAP).dataset.sweep = String(store.sweep.id);
  document.getElementById(HEATMAP).dataset.drawn = String(my);
}

/**
 * Point id of a clicked cell: heatmap cells by their [row, column] (pointNumber: cells sit at
 * gridScale positions, not at their indices), scatter points by customdata.
 */
function clickedPoint(ev) {
  const pt = ev && ev.points && ev.points[0];
  if (!pt || !lastSlices) return null;
  if (pt.customdata !== undefined && pt.data.type === 'scatter') return pt.customdata;
  if (pt.data.type !== 'heatmap' || !lastSlices.raw || !Array.isArray(pt.pointNumber)) return null;
  const [i, j] = pt.pointNumber;
  const row = lastSlices.slices[0].slice.point_id[i];
  return row ? row[j] : null;
}

function onClick(ev) {
  const id = clickedPoint(ev);
  if (id === null || id === undefined) return;
  // shift-click adds the cell's point to the selection (and stays); a plain click selects it alone
  if (ev.event && ev.event.shiftKey) {
    toggle(id, 'phase');
    return;
  }
  select([id], 'phase');
  store.update({ point: id, tab: 'detail' });
}

/** (Re)bind the click handler after each draw (a full replot drops Plotly's listeners). */
function bindClick(div) {
  if (typeof div.removeAllListeners === 'function') div.removeAllListeners('plotly_click');
  div.on('plotly_click', onClick);
}

export function clearPhase() {
  seq += 1;
  for (const id of [HEATMAP, REGIME]) {
    const div = document.getElementById(id);
    window.Plotly.purge(div);
  }
  lastSlices = null;
  clearMultiples();
  note('');
}

/** CSV of the drawn view: one row per cell (coordinates, raw axes, value, stderr, n, status, regime). */
function currentCsv() {
  if (!lastSlices) return null;
  const v = store.view;
  const name = `resphase-sweep${store.sweep.id}-${v.metric}-${v.x}-vs-${v.y}`.replace(/[^\w.-]+/g, '_');
  return [`${name}.csv`, sliceCsv(lastSlices, v)];
}

export function initPhase() {
  attachFigureActions(HEATMAP, () => `resphase-sweep${store.view.sweep}-${store.view.metric}-${store.view.x}-vs-${store.view.y}`, currentCsv);
  attachFigureActions(REGIME, () => `resphase-sweep${store.view.sweep}-regimes-${store.view.x}-vs-${store.view.y}`, currentCsv);
}
