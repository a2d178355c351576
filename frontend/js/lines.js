// lines.js: the "Lines & fits" panel: a metric against one axis, one line per value of a second
// axis, log-log, error bars over seeds (data: the /phase slice), the fitted power law per line
// and the predicted slope (GET /sweeps/{id}/fit; when it fails, the data is drawn and the error said in the note).
// The predicted exponent shows the server's (from the sweep's preset or its theory table) until
// the user types one; only a typed value is sent as predicted=, and it is cleared with the sweep,
// the metric or the axis it was typed for. Each line's verdict is the server's (one rule).

import { api } from './api.js';
import { RAW_AXES, axisLabel, pickValue } from './axes.js';
import { $, fmt, fmtValue, h, selectControl } from './dom.js';
import { attachFigureActions, toCsv } from './export.js';
import { formatFixed } from './format.js';
import { draw } from './heatmap.js';
import { FLOOR_MARK, floorLabel, verdictBadge } from './categories.js';
import { store } from './state/store.js';

const DIV = 'lines-plot';
const PALETTE = ['#2f6db5', '#e4572e', '#2e7d4f', '#7b2cbf', '#b7791f', '#00897b', '#c2185b', '#5f6770'];
let seq = 0;
let drawn = null;
const served = new Map();  // `${sweep}|${metric}|${along}` -> the server's {predicted, tolerance}

const predKey = () => `${store.view.sweep}|${store.view.lmetric}|${linesPlan().along}`;
const predText = (v) => (v === null || v === undefined ? '' : String(v));

function note(text) {
  $('#lines-note').textContent = text || '';
}

/** along, group (or null) and the held axes of the lines view, made consistent. */
function linesPlan() {
  const v = store.view;
  const along = RAW_AXES.includes(v.along) ? v.along : 'alpha';
  const group = v.group !== 'none' && RAW_AXES.includes(v.group) && v.group !== along ? v.group : null;
  const rowAxis = group || RAW_AXES.find((a) => a !== along);
  const held = {};
  for (const a of RAW_AXES) if (a !== along && a !== group) held[a] = pickValue(store.sweep.axes[a], v.lfixed[a]);
  return { along, group, rowAxis, held };
}

export function renderLinesControls() {
  const root = $('#lines-controls');
  root.replaceChildren();
  if (!store.sweep) return;
  const v = store.view;
  const plan = linesPlan();
  const axisOpts = RAW_AXES.map((a) => [a, axisLabel(a)]);
  root.append(
    selectControl('lines-metric', 'metric', Object.keys(store.meta.metrics).map((m) => [m, m]), v.lmetric,
      (lmetric) => store.update({ lmetric, pred: '' })),
    selectControl('lines-along', 'against', axisOpts, plan.along, (along) => store.update({ along, pred: '' })),
    selectControl('lines-group', 'one line per', [['none', '(single line)'], ...axisOpts.filter(([a]) => a !== plan.along)],
      plan.group || 'none', (group) => store.update({ group })),
    ...Object.entries(plan.held).map(([a, val]) => selectControl(`lines-fixed-${a}`, `${axisLabel(a)} (held)`,
      store.sweep.axes[a].map((x) => [x, fmtValue(x)]), val, (x) => store.update({ lfixed: { ...v.lfixed, [a]: Number(x) } }))),
  );
  const pred = h('input', { id: 'lines-pred', type: 'text', placeholder: 'none', inputmode: 'decimal',
    'aria-label': 'predicted exponent', dataset: { testid: 'lines-pred' }, size: 6,
    title: "the slope the fits are judged against: the server's for this sweep until you type one (clear it to go back)" });
  const tol = h('span', { id: 'lines-tol', class: 'muted', dataset: { testid: 'lines-tol' } });
  pred.addEventListener('change', () => {
    const text = pred.value.trim();
    if (pred.dataset.source === 'server' && text === pred.dataset.server) return;
    store.update({ pred: text });
  });
  root.append(h('div', { class: 'control' }, h('label', { for: 'lines-pred', text: 'predicted exponent' }),
    h('span', { class: 'pred-box' }, pred, tol)));
  showPred();
}

/** Fill the predicted-exponent box: the typed value, else the server's default for this view. */
function showPred() {
  const input = $('#lines-pred');
  if (!input) return;
  const known = served.get(predKey());
  const typed = store.view.pred !== '';
  input.dataset.source = typed ? 'typed' : 'server';
  input.dataset.server = known ? predText(known.predicted) : '';
  if (document.activeElement !== input) input.value = typed ? store.view.pred : input.dataset.server;
  $('#lines-tol').textContent = known && Number.isFinite(known.tolerance) ? `± ${fmt(known.tolerance)}` : '';
  $('#lines-tol').title = typed ? 'typed by you (the tolerance is the server\'s)' : "the server's prediction for this sweep";
}

/** Lines from the slice: [{value, x, y, se}] per row (or only the held row without a group). */
function sliceLines(slice, plan) {
  const rows = slice.y.map((value, i) => ({ value, x: slice.x, y: slice.z[i], se: slice.stderr[i], status: slice.status[i],
    near: slice.near_floor ? slice.near_floor[i] : null }));
  if (plan.group) return rows;
  const want = pickValue(store.sweep.axes[plan.rowAxis], store.view.lfixed[plan.rowAxis]);
  return rows.filter((r) => r.value === want);
}

function dataTrace(line, i, plan) {
  const color = PALETTE[i % PALETTE.length];
  return {
    type: 'scatter', mode: 'lines+markers', name: plan.group ? `${axisLabel(plan.group)} = ${fmtValue(line.value)}` : store.view.lmetric,
    x: line.x, y: line.y, error_y: { type: 'data', array: line.se.map((s) => s ?? 0), visible: true, color, thickness: 1 },
    line: { color, width: 1.5 }, marker: { color, size: 6 }, meta: { role: 'data', group: line.value },
    text: line.status.map((st, k) => (line.near && line.near[k] ? `${st}, ${floorLabel(store.meta)}` : st)), customdata: line.se,
    hovertemplate: `${axisLabel(plan.along)}=%{x}<br>%{y:.4g} ± %{customdata:.2g}<br>%{text}<extra></extra>`,
  };
}

/** Rings around the points within FLOOR_FACTOR of the reference's noise floor (one legend entry). */
function nearFloorTrace(lines) {
  const pts = lines.flatMap((l) => (l.near ? l.x.map((x, k) => [x, l.y[k], l.near[k]]).filter((p) => p[2] && p[1] > 0) : []));
  if (!pts.length) return [];
  return [{ type: 'scatter', mode: 'markers', name: `${floorLabel(store.meta)} (dropped from the fit)`, x: pts.map((p) => p[0]),
    y: pts.map((p) => p[1]), hoverinfo: 'skip', meta: { role: 'near_floor' },
    marker: { symbol: FLOOR_MARK.symbol, size: 13, color: FLOOR_MARK.color, line: { width: 2, color: FLOOR_MARK.color } } }];
}

function fitTraces(fitLine, line, i, firstOfKind, slope) {
  const color = PALETTE[i % PALETTE.length];
  const fit = fitLine ? fitLine.fit : null;
  const xs = line.x.filter((x, k) => Number.isFinite(line.y[k]) && line.y[k] > 0);
  if (xs.length < 2) return [];
  const [lo, hi] = [Math.min(...xs), Math.max(...xs)];
  const out = [];
  if (fit && Number.isFinite(fit.exponent) && Number.isFinite(fit.prefactor)) {
    const ci = fit.exponent_ci ? ` [${fmt(fit.exponent_ci[0])}, ${fmt(fit.exponent_ci[1])}]` : '';
    out.push({ type: 'scatter', mode: 'lines', x: [lo, hi], y: [lo, hi].map((x) => fit.prefactor * x ** fit.exponent),
      name: `fit: slope ${fmt(fit.exponent)}${ci}`, line: { color, dash: 'dash', width: 1.5 }, hoverinfo: 'skip', meta: { role: 'fit' } });
  }
  if (Number.isFinite(slope)) {
    // anchor the predicted slope at the geometric mean of the line's positive points
    const pts = line.x.map((x, k) => [x, line.y[k]]).filter(([, y]) => Number.isFinite(y) && y > 0);
    const gx = Math.exp(pts.reduce((s, p) => s + Math.log(p[0]), 0) / pts.length);
    const gy = Math.exp(pts.reduce((s, p) => s + Math.log(p[1]), 0) / pts.length);
    out.push({ type: 'scatter', mode: 'lines', x: [lo, hi], y: [lo, hi].map((x) => gy * (x / gx) ** slope),
      name: `predicted slope ${fmt(slope)}`, showlegend: firstOfKind, legendgroup: 'pred',
      line: { color: '#9aa5b1', dash: 'dot', width: 1.5 }, hoverinfo: 'skip', meta: { role: 'predicted' } });
  }
  const floor = fitLine && fitLine.floor ? fitLine.x.map((x, k) => [x, fitLine.floor[k]]).filter(([, f]) => Number.isFinite(f) && f > 0)
    .sort((a, b) => a[0] - b[0]) : [];
  if (floor.length) {
    const factor = store.meta.thresholds && store.meta.thresholds.floor_factor ? store.meta.thresholds.floor_factor.value : 3;
    out.push({ type: 'scatter', mode: 'lines', x: floor.map((p) => p[0]), y: floor.map((p) => factor * p[1]),
      name: `${factor}x the reference's noise floor`, showlegend: firstOfKind, legendgroup: 'floor',
      line: { color, dash: 'dashdot', width: 1 }, opacity: 0.7, hoverinfo: 'skip', meta: { role: 'floor' } });
  }
  return out;
}

const DROP_WORDS = { near_floor: 'near the noise floor', other_term_dominates: 'other term dominates' };
const droppedText = (d) => (d && Object.keys(d).length
  ? Object.entries(d).map(([k, n]) => `${n} ${DROP_WORDS[k] || k.replace(/_/g, ' ')}`).join(', ') : '—');

function renderFitTable(rows, plan, res) {
  const table = $('#fit-table');
  if (!rows || !rows.length) { table.hidden = true; return; }
  const pred = Number.isFinite(res.predicted_exponent)
    ? `${fmt(res.predicted_exponent)}${Number.isFinite(res.tolerance) ? ` ± ${fmt(res.tolerance)}` : ''}` : '—';
  const head = h('tr', {}, [plan.group ? axisLabel(plan.group) : 'line', 'exponent', 'CI', 'predicted', 'verdict', 'R²',
    'cells used / excluded', 'dropped before the fit'].map((t) => h('th', { text: t })));
  const body = rows.map(({ value, line }, i) => {
    const name = h('td', { text: plan.group ? fmtValue(value) : store.view.lmetric });
    const verdict = h('td', {}, line ? verdictBadge(line.verdict, `fit-verdict-${i}`) : '—');
    const dropped = h('td', { class: 'num', dataset: { testid: `fit-dropped-${i}` }, text: droppedText(line && line.dropped) });
    const fit = line && line.fit;
    if (!fit) {
      return h('tr', { dataset: { group: String(value) } }, name,
        h('td', { colspan: '2' }, 'no fit', line && line.fit_error ? h('div', { class: 'small muted', text: line.fit_error }) : ''),
        h('td', { class: 'num', text: pred }), verdict, h('td', { text: '—' }), h('td', { text: '—' }), dropped);
    }
    return h('tr', { dataset: { group: String(value) } }, name, h('td', { class: 'num', text: fmt(fit.exponent) }),
      h('td', { class: 'num', text: fit.exponent_ci ? `[${fmt(fit.exponent_ci[0])}, ${fmt(fit.exponent_ci[1])}]` : '—' }),
      h('td', { class: 'num', text: pred }), verdict, h('td', { class: 'num', text: fmt(fit.r2) }),
      h('td', { class: 'num', text: `${fit.n_cells_used ?? '—'} / ${fit.n_cells_excluded ?? '—'}` }), dropped);
  });
  const caption = h('caption', { class: 'table-caption',
    text: 'Verdict (the server\'s one rule): holds when the fitted slope lies within predicted ± tolerance (and its interval '
      + 'is not too wide), does not hold when it lies outside, inconclusive when the data cannot tell or nothing is predicted. '
      + 'Cells near the reference\'s noise floor, or where the other error term dominates, are dropped before the fit.' });
  table.replaceChildren(caption, h('thead', {}, head), h('tbody', {}, body));
  table.hidden = false;
}

async function fetchFit(plan, pred) {
  const params = { metric: store.view.lmetric, along: plan.along, group: plan.group || undefined, fixed: formatFixed(plan.held),
    model: 'power', predicted: Number.isFinite(pred) ? pred : undefined };
  try {
    const fit = await api.fit(store.sweep.id, params);
    // the server's own prediction is only seen when none was sent; its tolerance always
    const key = `${store.sweep.id}|${params.metric}|${plan.along}`;
    const known = Number.isFinite(pred) ? served.get(key) : { predicted: fit.predicted_exponent };
    served.set(key, { predicted: known ? known.predicted : null, tolerance: fit.tolerance });
    return { fit };
  } catch (err) {
    return { error: `Could not fit the rates: ${err.text ? err.text() : err}; showing the data.` };
  }
}

export async function refreshLines() {
  const my = ++seq;
  if (!store.sweep) return;
  const plan = linesPlan();
  const pred = store.view.pred === '' ? NaN : Number(store.view.pred);
  const sliceFixed = Object.fromEntries(Object.entries(plan.held).filter(([a]) => a !== plan.rowAxis));
  let slice;
  let fitRes;
  try {
    [slice, fitRes] = await Promise.all([
      api.phase(store.sweep.id, { x: plan.along, y: plan.rowAxis, metric: store.view.lmetric, agg: 'mean', fixed: formatFixed(sliceFixed) }),
      fetchFit(plan, pred),
    ]);
  } catch (err) {
    if (my === seq) note(`Could not load the data: ${err.text ? err.text() : err}`);
    return;
  }
  if (my !== seq) return;
  const lines = sliceLines(slice, plan);
  const fitLines = fitRes.fit && fitRes.fit.lines ? fitRes.fit.lines : [];
  const fitFor = (value) => fitLines.find((l) => (plan.group ? Math.abs(l.group_value - value) <= 1e-9 * Math.abs(value) : true)) || null;
  const slope = Number.isFinite(pred) ? pred : fitRes.fit && Number.isFinite(fitRes.fit.predicted_exponent) ? fitRes.fit.predicted_exponent : NaN;
  const data = lines.map((l, i) => dataTrace(l, i, plan));
  lines.forEach((l, i) => data.push(...fitTraces(fitFor(l.value), l, i, i === 0, slope)));
  data.push(...nearFloorTrace(lines));
  const held = Object.entries(plan.held).map(([a, x]) => `${axisLabel(a)}=${fmtValue(x)}`).join(', ');
  const layout = {
    margin: { l: 70, r: 20, t: 40, b: 56 }, plot_bgcolor: '#fff', paper_bgcolor: '#fff', hovermode: 'closest',
    font: { family: 'system-ui, -apple-system, Segoe UI, Roboto, sans-serif', size: 12, color: '#1f2933' },
    title: { text: `${store.sweep.name || `sweep ${store.sweep.id}`}: ${store.view.lmetric} (mean ± stderr over seeds)${held ? ` at ${held}` : ''}`,
      x: 0.01, xanchor: 'left', font: { size: 12 } },
    xaxis: { type: 'log', title: { text: axisLabel(plan.along) }, gridcolor: '#eef1f4' },
    yaxis: { type: 'log', title: { text: store.view.lmetric }, gridcolor: '#eef1f4' },
    legend: { font: { size: 11 } }, uirevision: `${store.sweep.id}|${plan.along}|${plan.group}`,
  };
  await draw(document.getElementById(DIV), { data, layout });
  drawn = { slice, plan, lines };
  showPred();
  renderFitTable(fitRes.fit ? lines.map((l) => ({ value: l.value, line: fitFor(l.value) })) : null, plan, fitRes.fit);
  const anyValue = lines.some((l) => l.y.some((y) => Number.isFinite(y) && y > 0));
  note([fitRes.error, anyValue ? '' : 'No positive values to draw on log axes yet.'].filter(Boolean).join(' '));
  const el = document.getElementById(DIV);
  el.dataset.sweep = String(store.sweep.id);
  el.dataset.drawn = String(my);
}

function linesCsv() {
  if (!drawn) return null;
  const { plan, lines } = drawn;
  const rows = lines.flatMap((l) => l.x.map((x, k) => [plan.group ? l.value : '', x, l.y[k], l.se[k], l.status[k]]));
  const name = `resphase-sweep${store.sweep.id}-${store.view.lmetric}-vs-${plan.along}.csv`;
  return [name, toCsv([plan.group || 'line', plan.along, store.view.lmetric, 'stderr', 'status'], rows)];
}

export function clearLines() {
  seq += 1;
  drawn = null;
  window.Plotly.purge(document.getElementById(DIV));
  $('#fit-table').hidden = true;
  note('');
}

export function initLines() {
  attachFigureActions(DIV, () => `resphase-sweep${store.view.sweep}-${store.view.lmetric}-vs-${store.view.along}`, linesCsv);
}
