// detail.js: one grid point in full (GET /points/{id}): its configuration and queue state, the
// loss curve of every seed and their mean, every diagnostic with its per-seed values, and the
// server's warnings about its numbers (`flags`: near the reference's noise floor, float32 chaos).

import { api } from './api.js';
import { floorLabel } from './categories.js';
import { $, fmt, h } from './dom.js';
import { attachFigureActions, toCsv } from './export.js';
import { draw } from './heatmap.js';
import { liveCurve, stopFollowing } from './live_curve.js';
import { store } from './state/store.js';

const DIV = 'detail-loss';
let seq = 0;
let current = null;

// One line per flag of GET /points/{id} (backend/metrics.point_flags); unknown flags show as named.
const FLAGS = {
  near_floor_out: ['err_out near the noise floor', (f) => `err_out is ${f} (the reference is a finite network too): `
    + 'the error to the limit is not a trustworthy measurement at this point.'],
  near_floor_emb: ['err_emb near the noise floor', (f) => `err_emb is ${f}: the embedding error is not a trustworthy measurement at this point.`],
  float32_chaotic: ['float32 chaotic', () => 'noise-dominated in float32: runs from the same initial weights in float32 and '
    + 'float64 differ by tens of percent after 10 steps, so these numbers do not reproduce.'],
};

function flagList(flags) {
  if (!flags || !flags.length) return '';
  const floor = floorLabel(store.meta);
  return h('ul', { class: 'flags', dataset: { testid: 'detail-flags' }, 'aria-label': 'warnings about this point' },
    flags.map((f) => {
      const [title, meaning] = FLAGS[f] || [f.replace(/_/g, ' '), () => 'a warning from the server about these numbers.'];
      return h('li', { class: 'flag', dataset: { flag: f } }, h('b', { text: `⚠ ${title}` }), ` ${meaning(floor)}`);
    }));
}

const when = (iso) => (iso ? `${iso.replace('T', ' ').slice(0, 19)} UTC` : null);

function kv(pairs) {
  return h('div', { class: 'kv' }, pairs.map(([k, v]) => h('div', {}, h('span', { text: k }), h('span', { text: v ?? '—' }))));
}

function metricsTable(p) {
  const seeds = (p.metrics && Object.values(p.metrics)[0]?.values.length) || 0;
  const head = h('tr', {}, ['metric', 'mean', 'stderr', 'n', ...Array.from({ length: seeds }, (_, s) => `seed ${s}`)]
    .map((t) => h('th', { text: t })));
  const rows = Object.entries(p.metrics || {}).map(([name, m]) => h('tr', { dataset: { metric: name } },
    h('td', { text: name, title: store.meta.metrics[name] || '' }), h('td', { class: 'num', text: fmt(m.mean, 4) }),
    h('td', { class: 'num', text: fmt(m.stderr, 2) }), h('td', { class: 'num', text: m.n }),
    ...m.values.map((v) => h('td', { class: 'num', text: fmt(v, 4) }))));
  const extra = [];
  if (p.seed_regimes) extra.push(h('tr', {}, h('td', { text: 'regime' }), h('td', { colspan: '3', text: p.regime || '—' }),
    ...p.seed_regimes.map((r) => h('td', { text: r || '—' }))));
  if (p.diverged_at_step) extra.push(h('tr', {}, h('td', { text: 'diverged at step' }), h('td', { colspan: '3' }),
    ...p.diverged_at_step.map((d) => h('td', { class: 'num', text: d ?? '—' }))));
  return h('table', { class: 'table', dataset: { testid: 'detail-metrics' } }, h('thead', {}, head), h('tbody', {}, rows, extra));
}

function lossFigure(p) {
  const curves = p.curves || {};
  const perSeed = curves.loss_per_seed || [];
  const data = perSeed.map((c, s) => ({
    type: 'scatter', mode: 'lines', name: `seed ${s}`, x: c.map((_, k) => k), y: c, line: { width: 1, color: '#9aa5b1' },
    legendgroup: 'seeds', showlegend: s === 0, hovertemplate: `seed ${s}, step %{x}: %{y:.4g}<extra></extra>`, meta: { role: 'seed' },
  }));
  if (curves.loss) {
    data.push({ type: 'scatter', mode: 'lines+markers', name: 'mean over seeds', x: curves.loss.map((_, k) => k), y: curves.loss,
      line: { width: 2.5, color: '#2f6db5' }, marker: { size: 4 }, meta: { role: 'mean' } });
  }
  const c = p.config;
  return {
    data,
    layout: {
      margin: { l: 64, r: 20, t: 36, b: 50 }, plot_bgcolor: '#fff', paper_bgcolor: '#fff',
      font: { family: 'system-ui, -apple-system, Segoe UI, Roboto, sans-serif', size: 12, color: '#1f2933' },
      title: { text: `loss curve: α=${c.alpha}, D=${c.D}, L=${c.L}, M=${c.M}`, x: 0.01, xanchor: 'left', font: { size: 12 } },
      xaxis: { title: { text: 'step' }, gridcolor: '#eef1f4' },
      yaxis: { title: { text: 'loss (MSE)' }, type: 'log', gridcolor: '#eef1f4' }, legend: { font: { size: 11 } },
    },
  };
}

export async function showPoint(id) {
  const my = ++seq;
  stopFollowing();
  const root = $('#detail');
  if (id === null || id === undefined) {
    current = null;
    root.replaceChildren(h('p', { class: 'muted', text: 'Click a cell of the phase diagram to see one point here.' }));
    return;
  }
  let p;
  try {
    p = await api.point(id);
  } catch (err) {
    if (my === seq) root.replaceChildren(h('p', { class: 'error-box', text: `Point ${id}: ${err.text ? err.text() : err}` }));
    return;
  }
  if (my !== seq) return;
  current = p;
  const c = p.config;
  const plot = h('div', { id: DIV, class: 'plot short', dataset: { testid: 'detail-loss' } });
  const actions = h('span', { class: 'figure-actions', dataset: { figure: DIV } });
  root.replaceChildren(
    h('h3', { dataset: { testid: 'detail-title' }, text: `Point #${p.id}: α=${c.alpha}, D=${c.D}, L=${c.L}, M=${c.M}` }),
    kv([['status', p.status], ['regime', p.regime], ['attempts', String(p.attempts)], ['worker', p.worker], ['device', p.device],
      ['queued', when(p.queued_at)], ['started', when(p.started_at)], ['finished', when(p.finished_at)], ['seeds', String(c.seeds)],
      ['steps', String(c.steps)], ['scale', c.residual_scale], ['time', p.timing_s ? `${fmt(p.timing_s)} s` : null]]),
    flagList(p.flags),
    p.error ? h('pre', { class: 'error-box', text: p.error }) : '',
    p.curves ? h('figure', { class: 'figure' }, h('div', { class: 'figure-bar' }, h('span', { class: 'figure-title', text: 'Loss' }), actions), plot)
      : liveCurve(p.id, p.status), // the loss so far while it trains (live_curve.js)
    p.metrics ? metricsTable(p) : '',
  );
  if (p.curves) {
    attachFigureActions(DIV, () => `resphase-point${p.id}-loss`, detailCsv);
    await draw(plot, lossFigure(p));
  }
}

function detailCsv() {
  if (!current || !current.metrics) return null;
  const rows = Object.entries(current.metrics).flatMap(([name, m]) => m.values.map((v, s) => [current.id, name, s, v]));
  return [`resphase-point${current.id}.csv`, toCsv(['point_id', 'metric', 'seed', 'value'], rows)];
}

/** Re-fetch the shown point while it is still queued or running (called when results arrive). */
export function refreshPoint() {
  if (current && (current.status === 'queued' || current.status === 'running')) showPoint(current.id);
}
