// parcoords.js: parallel coordinates of the selected sweep's points over the axes that vary and
// the chosen metrics, coloured by the first metric (drawn by parcoords_figure.js in SVG: Plotly's
// WebGL parcoords needs eval, which the page's CSP forbids). There is no log axis: an axis whose
// grid is log-spaced, and a metric spanning two decades or more, are drawn as log10 of the value
// with ticks labelled at the grid's values (at decades for metrics). Brushing an axis filters the
// points table (table.setBrush, in the values' own units).
// Data: the table route in pages of 5,000, at most MAX_LINES points (metrics asked for only).

import { api } from './api.js';
import { $, fmt, fmtValue, h } from './dom.js';
import { PLOT_CONFIG } from './heatmap.js';
import { MAX_DRAWN, bindBrushing, parcoordsFigure } from './parcoords_figure.js';
import { store } from './state/store.js';
import { setBrush } from './table.js';

const DIV = 'parcoords';
const FETCH = 5000;
const MAX_LINES = 20000;
const MAX_TICKS = 8;
const THROTTLE_MS = 5000;
let chosen = null;   // metric names shown (null: the defaults for the sweep)
let seq = 0;
let drawn = null;    // {dims, colour} of the figure: the brushes redraw it without a fetch
let brushes = {};    // {key: [lo, hi]} in drawn units (log10 on a log axis)

const note = (text) => { $('#parcoords-note').textContent = text || ''; };
const finite = (v) => typeof v === 'number' && Number.isFinite(v);

/** Log-spaced grid: positive, and its log steps are more even than its steps (two values: 4x apart or more). */
export function logSpaced(values) {
  const v = [...values].sort((a, b) => a - b);
  if (v.length < 2 || v[0] <= 0) return false;
  if (v.length === 2) return v[1] / v[0] >= 4;
  const spread = (xs) => {
    const steps = xs.slice(1).map((x, i) => x - xs[i]);
    const mean = steps.reduce((a, b) => a + b, 0) / steps.length;
    return Math.sqrt(steps.reduce((a, s) => a + (s - mean) ** 2, 0) / steps.length) / Math.abs(mean);
  };
  return spread(v.map(Math.log)) < spread(v);
}

/** At most MAX_TICKS of the values, evenly picked, always the first and the last. */
function thin(values) {
  if (values.length <= MAX_TICKS) return values;
  const k = (values.length - 1) / (MAX_TICKS - 1);
  return [...new Set(Array.from({ length: MAX_TICKS }, (_, i) => values[Math.round(i * k)]))];
}

function axisDim(axis, grid, points) {
  const log = logSpaced(grid);
  const ticks = thin([...grid].sort((a, b) => a - b));
  return {
    key: axis, log, label: axis === 'alpha' ? 'α' : axis,
    values: points.map((p) => (log ? Math.log10(p[axis]) : p[axis])),
    tickvals: ticks.map((t) => (log ? Math.log10(t) : t)), ticktext: ticks.map(fmtValue),
  };
}

function metricDim(m, points) {
  const raw = points.map((p) => p.metrics[m].mean);
  const lo = Math.min(...raw);
  const hi = Math.max(...raw);
  const log = lo > 0 && hi / lo >= 100;
  const dim = { key: m, log, label: log ? `${m} (log)` : m, values: log ? raw.map(Math.log10) : raw };
  if (log) {
    const decades = [];
    for (let d = Math.ceil(Math.log10(lo)); d <= Math.floor(Math.log10(hi)); d += 1) decades.push(d);
    dim.tickvals = decades;
    dim.ticktext = decades.map((d) => fmt(10 ** d, 2));
  }
  return dim;
}

function defaults() {
  const v = store.view.metric;
  return [...new Set([v, 'feature_update_rel', 'err_out'])].filter((m) => m in store.meta.metrics).slice(0, 3);
}

async function fetchPoints(id, metrics) {
  const items = [];
  let total = Infinity;
  while (items.length < Math.min(total, MAX_LINES)) {
    const page = await api.table(id, { metrics, status: 'done,diverged', offset: items.length, limit: FETCH });
    total = page.total;
    items.push(...page.items);
    if (!page.items.length) break;
  }
  return { items: items.slice(0, MAX_LINES), total };
}

/** The brushes in the values' own units ([{key, lo, hi}]), for the table's `where`. */
function ranges() {
  if (!drawn) return [];
  return drawn.dims.filter((d) => brushes[d.key]).map((d) => {
    const [lo, hi] = brushes[d.key].map((x) => (d.log ? 10 ** x : x));
    return { key: d.key, lo, hi };
  });
}

function paint() {
  const div = document.getElementById(DIV);
  const fig = parcoordsFigure(drawn.dims, drawn.colour, brushes);
  return window.Plotly.react(div, fig.data, fig.layout, { ...PLOT_CONFIG, staticPlot: false }).then(() => {
    bindBrushing(div, (key, range) => {
      if (range) brushes[key] = range;
      else delete brushes[key];
      paint();
      setBrush(ranges());
    });
    div.dataset.brushes = JSON.stringify(ranges());
  });
}

function renderChoice() {
  const metrics = chosen || defaults();
  const boxes = Object.keys(store.meta.metrics).map((m) => {
    const id = `pc-metric-${m}`;
    const box = h('input', { type: 'checkbox', id, checked: metrics.includes(m), dataset: { testid: id } });
    box.addEventListener('change', () => {
      const now = new Set(chosen || defaults());
      if (box.checked) now.add(m);
      else now.delete(m);
      chosen = Object.keys(store.meta.metrics).filter((k) => now.has(k));
      refreshParcoords();
    });
    return h('span', { class: 'control inline' }, box, h('label', { for: id, text: m }));
  });
  $('#parcoords-controls').replaceChildren(h('fieldset', { class: 'checks' }, h('legend', { text: 'metrics' }), ...boxes));
}

/** Fetch the sweep's computed points and draw; brushes on dimensions still drawn are kept. */
export async function refreshParcoords() {
  const my = ++seq;
  if (!store.sweep) return;
  renderChoice();
  const metrics = chosen || defaults();
  const sweep = store.sweep;
  let got;
  try {
    got = await fetchPoints(sweep.id, metrics);
  } catch (err) {
    if (my === seq) note(`Could not load the points: ${err.text ? err.text() : err}`);
    return;
  }
  if (my !== seq) return;
  const div = document.getElementById(DIV);
  // a metric no point has (err_out without a reference) would empty the figure: it is left out, and said so
  const empty = metrics.filter((m) => !got.items.some((p) => finite(p.metrics[m].mean)));
  const shown = metrics.filter((m) => !empty.includes(m));
  const points = got.items.filter((p) => shown.every((m) => finite(p.metrics[m].mean)));
  const axes = ['alpha', 'D', 'L', 'M'].filter((a) => sweep.axes[a].length > 1);
  const before = Object.keys(brushes).length;
  if (!points.length || !shown.length) {
    window.Plotly.purge(div);
    drawn = null;
    brushes = {};
    note('No computed point has a value for any chosen metric yet.');
  } else {
    const dims = [...axes.map((a) => axisDim(a, sweep.axes[a], points)), ...shown.map((m) => metricDim(m, points))];
    const was = Object.fromEntries((drawn ? drawn.dims : []).map((d) => [d.key, d.log]));
    drawn = { dims, colour: axes.length };
    // a brush stays while its axis is drawn in the same units (a metric may turn log as results arrive)
    brushes = Object.fromEntries(Object.entries(brushes).filter(([k]) => dims.some((d) => d.key === k && d.log === was[k])));
    await paint();
    const left = got.total - points.length;
    const none = empty.length ? ` · ${empty.join(', ')}: no value in this sweep` : '';
    note(`${points.length.toLocaleString('en')} computed points${left ? ` (${left.toLocaleString('en')} more without a value for every chosen metric, or past ${MAX_LINES.toLocaleString('en')}, not drawn)` : ''}`
      + `${points.length > MAX_DRAWN ? ` · every ${Math.ceil(points.length / MAX_DRAWN)}th drawn` : ''}`
      + `${none} · drag along an axis to filter the table; click the axis to clear its range.`);
    div.dataset.drawn = String(my);
  }
  if (Object.keys(brushes).length !== before) setBrush(ranges());  // a brushed metric was taken off
}

let last = 0;
let timer = null;

/** refreshParcoords at most every THROTTLE_MS (results arrive every poll while a sweep runs). */
export function refreshParcoordsSoon() {
  const wait = last + THROTTLE_MS - Date.now();
  if (timer) return;
  if (wait <= 0) {
    last = Date.now();
    refreshParcoords();
    return;
  }
  timer = setTimeout(() => { timer = null; last = Date.now(); refreshParcoords(); }, wait);
}

export function clearParcoords() {
  seq += 1;
  clearTimeout(timer);
  timer = null;
  chosen = null;
  drawn = null;
  brushes = {};
  window.Plotly.purge(document.getElementById(DIV));
  note('');
}
