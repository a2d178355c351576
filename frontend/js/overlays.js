// overlays.js: theory boundaries drawn over the phase diagram (docs/science.md section 4).
// Built-in curves come from GET /theory/overlays (alpha = 1, alpha = sqrt(L*M/D), alpha = sqrt(D)
// for the plain scale), custom ones from a formula field; every formula is evaluated by the API
// (GET /theory/evaluate), never in the page, so a bad formula shows the API's 422 message.
// A boundary "AXIS = f(other axes)" becomes, in the current view:
//  - AXIS plotted: a curve, f sampled along the other plotted axis (the held axes at their values);
//  - AXIS held fixed (raw axes): the contour where f equals AXIS's held value, on a 20x20 grid;
//  - derived views: f at each plotted cell's raw values, joined into polylines.

import { api } from './api.js';
import { AXES, RAW_AXES, axisLabel, edgeSamples, logPosition, pickValue } from './axes.js';
import { h } from './dom.js';
import { store } from './state/store.js';
import { plotColors } from './theme.js';

// 12 colours x 6 dashes: the k-th overlay gets colour k mod 12 and dash floor(k / 12) (no pair
// repeats before the 72nd); the ink colour follows the page's scheme (theme.js).
const COLORS = ['#e4572e', 'ink', '#7b2cbf', '#00897b', '#c2185b', '#1565c0', '#b7791f', '#2e7d4f', '#8d6e63',
  '#5c6bc0', '#d81b60', '#00acc1'];
const DASHES = ['dash', 'solid', 'dot', 'dashdot', 'longdash', 'longdashdot'];
const CONTOUR_N = 20;
const CURVE_N = 40;
const cache = new Map();

let builtins = null;   // GET /theory/overlays, or [] when it failed
let loadError = '';    // why GET /theory/overlays failed ('' when it answered)

export async function loadOverlays() {
  try {
    builtins = await api.overlays();
    loadError = '';
  } catch (err) {
    builtins = [];
    loadError = err.text ? err.text() : String(err);
  }
  return builtins;
}

/** The built-in overlays shown by default for a sweep: those of its residual scale. */
function defaultOn(sweep) {
  const scale = sweep ? sweep.settings.residual_scale : 'mlu';
  return (builtins || []).filter((o) => !o.residual_scale || o.residual_scale === scale).map((o) => o.name);
}

/** The overlays of the current view: [{name, axis, formula, color, dash}]. */
export function activeOverlays() {
  const on = store.view.ov ?? defaultOn(store.sweep);
  const list = (builtins || []).filter((o) => on.includes(o.name)).map((o) => ({ ...o }));
  for (const c of store.view.custom) list.push({ name: `${axisLabel(c.axis)} = ${c.formula}`, ...c, custom: true });
  const ink = plotColors().ink;
  return list.map((o, i) => {
    const color = COLORS[i % COLORS.length];
    return { ...o, color: color === 'ink' ? ink : color, dash: DASHES[Math.floor(i / COLORS.length) % DASHES.length] };
  });
}

const num = (v) => Number(v.toPrecision(6));

/** A formula without the sampled variables evaluates to one value: repeat it. */
const broadcast = (values, n) => (values.length === 1 && n > 1 ? Array(n).fill(values[0]) : values);

/** Evaluate `formula` with env {axis: number | number[]} (cached); resolves to number[]. */
function evaluate(formula, env) {
  const params = { formula };
  for (const [k, v] of Object.entries(env)) params[k] = Array.isArray(v) ? v.map(num).join(',') : num(v);
  const key = JSON.stringify(params);
  if (!cache.has(key)) {
    const p = api.evaluate(params).then((r) => r);
    p.catch(() => cache.delete(key));
    cache.set(key, p);
  }
  return cache.get(key);
}

/** Env of every raw axis at one value: held values, else the sweep's first value. */
function baseEnv(held) {
  const env = {};
  for (const a of RAW_AXES) env[a] = held[a] ?? pickValue(store.sweep.axes[a]);
  return env;
}

function lineTraces(o, x, y, extra = {}) {
  const common = { type: 'scatter', mode: 'lines', x, y, hoverinfo: 'skip', connectgaps: false, ...extra };
  return [
    { ...common, line: { color: plotColors().halo, width: 5 }, showlegend: false, meta: { role: 'overlay-halo' } },
    { ...common, name: o.name, line: { color: o.color, width: 2, dash: o.dash }, meta: { role: 'overlay', formula: o.formula },
      legendgroup: `ov-${o.name}` },
  ];
}

/** Traces of one overlay on a raw-axis heatmap in index coordinates (slice: the /phase response). */
async function gridTraces(o, slice) {
  const X = slice.x_axis;
  const Y = slice.y_axis;
  const env = baseEnv(slice.fixed);
  if (o.axis === X || o.axis === Y) {
    const other = o.axis === X ? Y : X;
    const vals = o.axis === X ? slice.y : slice.x;
    const samples = edgeSamples(vals, CURVE_N);
    const r = await evaluate(o.formula, { ...env, [other]: samples });
    const values = broadcast(r.values, samples.length);
    if (!values.some(Number.isFinite)) return { note: nonFinite(o) };
    const onAxis = values.map((v) => logPosition(o.axis === X ? slice.x : slice.y, v));
    let along = samples.map((s) => logPosition(vals, s));
    let pos = onAxis;
    if (samples.length === 1) { along = [-0.5, 0.5]; pos = [onAxis[0], onAxis[0]]; }
    return o.axis === X ? lineTraces(o, pos, along) : lineTraces(o, along, pos);
  }
  const held = env[o.axis];
  const xs = edgeSamples(slice.x, CONTOUR_N);
  const ys = edgeSamples(slice.y, CONTOUR_N);
  const r = await evaluate(o.formula, { ...env, [X]: ys.flatMap(() => xs), [Y]: ys.flatMap((v) => xs.map(() => v)) });
  if (!r.variables.includes(X) && !r.variables.includes(Y)) {
    return { note: `${o.name}: ${axisLabel(o.axis)} = ${r.values[0].toPrecision(3)} here, against the held ${axisLabel(o.axis)} = ${held}` };
  }
  if (xs.length < 2 || ys.length < 2) return { note: `${o.name}: needs two values on each plotted axis` };
  const vals = broadcast(r.values, xs.length * ys.length);
  if (!vals.some(Number.isFinite)) return { note: nonFinite(o) };
  const z = ys.map((_, i) => xs.map((_, j) => Math.log(held / vals[i * xs.length + j])));
  return [{
    type: 'contour', x: xs.map((v) => logPosition(slice.x, v)), y: ys.map((v) => logPosition(slice.y, v)), z,
    contours: { start: 0, end: 0, size: 1, coloring: 'none', showlabels: false }, ncontours: 1,
    line: { color: o.color, width: 2.5, dash: o.dash }, showscale: false, hoverinfo: 'skip', name: o.name,
    showlegend: true, meta: { role: 'overlay', formula: o.formula },
  }];
}

/** Traces of one overlay on a derived-axis scatter (cells carry their raw `params`). */
async function derivedTraces(o, cells, xId, yId) {
  const inX = AXES[xId].raw.includes(o.axis);
  const inY = AXES[yId].raw.includes(o.axis);
  if (inX === inY) return { note: `${o.name}: not drawn when ${inX ? 'both axes use' : 'neither axis uses'} ${axisLabel(o.axis)}` };
  const side = inX ? AXES[xId] : AXES[yId];
  const keyAxes = side.raw.filter((a) => a !== o.axis);
  const seen = new Map();
  for (const c of cells) {
    const p = { ...c.params };
    delete p[o.axis];
    seen.set(JSON.stringify(p), p);
  }
  const params = [...seen.values()];
  const env = {};
  for (const a of RAW_AXES) if (a !== o.axis) env[a] = params.map((p) => p[a]);
  env[o.axis] = pickValue(store.sweep.axes[o.axis]);
  const r = await evaluate(o.formula, env);
  const values = broadcast(r.values, params.length);
  if (!values.some(Number.isFinite)) return { note: nonFinite(o) };
  const groups = new Map();
  params.forEach((p, k) => {
    const q = { ...p, [o.axis]: values[k] };
    const key = keyAxes.map((a) => p[a]).join(',');
    if (!groups.has(key)) groups.set(key, []);
    groups.get(key).push([AXES[xId].f(q), AXES[yId].f(q)]);
  });
  const out = [];
  const span = spanOf(cells, inX ? 'yv' : 'xv');
  [...groups.values()].slice(0, 12).forEach((pts, gi) => {
    const line = densify(pts.filter((p) => p.every((c) => c > 0)), inX ? 1 : 0, span);
    const tr = lineTraces(o, line.map((p) => p[0]), line.map((p) => p[1]));
    tr[1].showlegend = gi === 0;
    out.push(...tr);
  });
  return out;
}

const nonFinite = (o) => `${o.name}: no finite value on this sweep's grid (a division by zero, or a log or sqrt of a negative?)`;

/** [lo, hi] of the cells' coordinate `key` (positive values: the axes are log). */
function spanOf(cells, key) {
  const vs = cells.map((c) => c[key]).filter((v) => v > 0);
  return [Math.min(...vs), Math.max(...vs)];
}

/**
 * A boundary through the cells' points as a line in the derived coordinates: the points sorted
 * along the other axis (`along`: 0 for x, 1 for y; on log axes a straight segment is the log
 * interpolation between them), carried at its end values to the plot's edges, as a heatmap cell
 * spans its row; so a single point (one row) becomes a straight line across the plot.
 */
function densify(pts, along, span) {
  if (!pts.length) return [];
  const sorted = [...pts].sort((a, b) => a[along] - b[along]);
  const at = (p, a) => (along === 0 ? [a, p[1]] : [p[0], a]);
  const first = sorted[0];
  const last = sorted[sorted.length - 1];
  return [at(first, Math.min(span[0], first[along]) / 1.25), ...sorted, at(last, Math.max(span[1], last[along]) * 1.25)];
}

/**
 * Overlay traces for the current view. ctx: {kind: 'grid', slice} | {kind: 'scatter', cells, x, y}.
 * Resolves to {traces, notes}; one failing overlay becomes a note, never a broken figure.
 */
export async function overlayTraces(ctx) {
  const traces = [];
  const notes = [];
  if (!store.sweep) return { traces, notes };
  const results = await Promise.allSettled(activeOverlays().map((o) => (
    ctx.kind === 'grid' ? gridTraces(o, ctx.slice) : derivedTraces(o, ctx.cells, ctx.x, ctx.y))));
  results.forEach((res, i) => {
    if (res.status === 'rejected') {
      const msg = res.reason && res.reason.text ? res.reason.text() : String(res.reason);
      notes.push(`${activeOverlays()[i].name}: ${msg}`);
    } else if (Array.isArray(res.value)) traces.push(...res.value);
    else if (res.value && res.value.note) notes.push(res.value.note);
  });
  return { traces, notes };
}

/** Env of every combination of the sweep's axis values (the first 512: the query stays short; each axis a comma list). */
function gridEnv() {
  let combos = [{}];
  for (const a of RAW_AXES) combos = combos.flatMap((c) => store.sweep.axes[a].map((v) => ({ ...c, [a]: v }))).slice(0, 512);
  return Object.fromEntries(RAW_AXES.map((a) => [a, combos.map((c) => c[a])]));
}

/** The overlay controls: one checkbox per built-in curve, the custom formula field, custom chips. */
export function renderOverlayControls(root, onError) {
  root.replaceChildren();
  if (loadError) {
    root.append(h('p', { class: 'error-box', role: 'alert', dataset: { testid: 'overlays-load-error' },
      text: `Could not load the theory overlays: ${loadError}` }));
    return;
  }
  const on = store.view.ov ?? defaultOn(store.sweep);
  root.append(h('span', { class: 'figure-title', text: 'Theory overlays' }));
  for (const o of builtins || []) {
    const id = `ov-${o.name.replace(/[^a-z0-9]+/gi, '-')}`;
    const box = h('input', { type: 'checkbox', id, checked: on.includes(o.name), dataset: { testid: id } });
    box.addEventListener('change', () => {
      const cur = new Set(store.view.ov ?? defaultOn(store.sweep));
      if (box.checked) cur.add(o.name); else cur.delete(o.name);
      store.update({ ov: (builtins || []).map((b) => b.name).filter((n) => cur.has(n)) });
    });
    const scale = o.residual_scale ? ` (${o.residual_scale})` : '';
    root.append(h('div', { class: 'control inline', title: o.meaning || '' }, box,
      h('label', { for: id, text: `${o.name}: ${axisLabel(o.axis)} = ${o.formula}${scale}` })));
  }
  const axisSel = h('select', { id: 'overlay-axis', 'aria-label': 'overlay axis' },
    RAW_AXES.map((a) => h('option', { value: a, text: axisLabel(a) })));
  const input = h('input', { id: 'overlay-formula', type: 'text', placeholder: 'e.g. sqrt(L*M/D)/2',
    'aria-label': 'overlay formula', dataset: { testid: 'overlay-formula' }, spellcheck: false });
  const err = h('span', { class: 'field-error', id: 'overlay-error', dataset: { testid: 'overlay-error' }, role: 'alert' });
  const add = h('button', { type: 'button', class: 'small', text: 'Add overlay', dataset: { testid: 'overlay-add' } });
  const submit = async () => {
    err.textContent = '';
    input.removeAttribute('aria-invalid');
    const formula = input.value.trim();
    if (!formula || !store.sweep) return;
    try {
      const r = await evaluate(formula, gridEnv());
      if (!r.values.some(Number.isFinite)) {
        throw new Error(`${formula} has no finite value on this sweep's grid (a division by zero, or a log or sqrt of a negative?)`);
      }
      input.value = '';
      store.update({ custom: [...store.view.custom, { axis: axisSel.value, formula }] });
    } catch (e) {
      err.textContent = e.text ? e.text() : e.message || String(e);
      input.setAttribute('aria-invalid', 'true');
      if (onError) onError(e);
    }
  };
  add.addEventListener('click', submit);
  input.addEventListener('keydown', (ev) => { if (ev.key === 'Enter') { ev.preventDefault(); submit(); } });
  root.append(h('div', { class: 'overlay-custom' },
    h('div', { class: 'control' }, h('label', { for: 'overlay-axis', text: 'axis' }), axisSel),
    h('div', { class: 'control' }, h('label', { for: 'overlay-formula', text: '= formula in alpha, D, L, M' }), input),
    add), err);
  store.view.custom.forEach((c, i) => {
    const rm = h('button', { type: 'button', 'aria-label': `remove overlay ${c.formula}`, text: '×' });
    rm.addEventListener('click', () => store.update({ custom: store.view.custom.filter((_, k) => k !== i) }));
    root.append(h('span', { class: 'chip', dataset: { testid: 'overlay-custom-chip' } }, `${axisLabel(c.axis)} = ${c.formula}`, rm));
  });
}
