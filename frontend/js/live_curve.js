// live_curve.js: the loss of a point while it trains (GET /points/{id}/progress, written by the
// worker every ~2 s): polled every POLL_MS while the point is queued or running and drawn per seed
// at the sampled steps, so a long point is not a black box. The point detail (detail.js) shows it
// in place of its final curves until the result is recorded, then draws those instead.

import { api } from './api.js';
import { h } from './dom.js';
import { draw } from './heatmap.js';

export const POLL_MS = 2000;
const LIVE = new Set(['queued', 'running']);
let follow = 0;

function figure(prog) {
  const data = prog.loss_per_seed.map((c, s) => ({
    type: 'scatter', mode: prog.at_steps.length < 30 ? 'lines+markers' : 'lines', name: `seed ${s}`, x: prog.at_steps, y: c,
    meta: { role: 'seed' }, line: { width: 1.5 }, marker: { size: 5 }, hovertemplate: `seed ${s}, step %{x}: %{y:.4g}<extra></extra>`,
  }));
  return {
    data,
    layout: {
      margin: { l: 64, r: 20, t: 36, b: 50 }, plot_bgcolor: '#fff', paper_bgcolor: '#fff',
      font: { family: 'system-ui, -apple-system, Segoe UI, Roboto, sans-serif', size: 12, color: '#1f2933' },
      title: { text: `loss so far: step ${prog.step} of ${prog.steps}`, x: 0.01, xanchor: 'left', font: { size: 12 } },
      xaxis: { title: { text: 'step' }, range: [0, prog.steps], gridcolor: '#eef1f4' },
      yaxis: { title: { text: 'loss (MSE)' }, type: 'log', gridcolor: '#eef1f4' }, legend: { font: { size: 11 } },
    },
  };
}

/** Stop following (another point is shown, or the detail was left). */
export function stopFollowing() {
  follow += 1;
}

/**
 * A box that follows point `id`'s loss while it trains: a status line, and the curve once the
 * worker has written one. Polls until the point is no longer queued or running (or stopFollowing).
 */
export function liveCurve(id, status) {
  const my = ++follow;
  const line = h('p', { class: 'muted', dataset: { testid: 'detail-live-status' }, 'aria-live': 'polite', text: `No results yet (status: ${status}).` });
  const plot = h('div', { id: 'detail-live', class: 'plot short', dataset: { testid: 'detail-live' }, hidden: true });
  const box = h('div', { class: 'live-curve' }, line, plot);
  const tick = async () => {
    if (my !== follow || !box.isConnected) return;
    let prog;
    try {
      prog = await api.pointProgress(id);
    } catch (err) {
      line.textContent = `Progress of point ${id}: ${err.text ? err.text() : err}`;
      return;
    }
    if (my !== follow) return;
    if (prog.step !== null) {
      line.textContent = `Training: step ${prog.step} of ${prog.steps} (status: ${prog.status}; updated every ~2 s).`;
      plot.hidden = false;
      plot.dataset.step = String(prog.step);
      await draw(plot, figure(prog));
    } else {
      line.textContent = `No results yet (status: ${prog.status}).`;
    }
    if (LIVE.has(prog.status)) setTimeout(tick, POLL_MS);
  };
  setTimeout(tick, 0);
  return box;
}
