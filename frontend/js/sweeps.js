// sweeps.js: the sweep list (live counts, progress bar, elapsed and remaining time, cancel and
// retry), the selected sweep's header, and the polling that tells the panels when results arrive
// ('results' for the selected sweep, 'polled' after every poll: other sweeps, such as controls, moved;
// 'summary' with each fresh summary of the selected sweep, changed or not).

import { api } from './api.js';
import { AXES } from './axes.js';
import { $, fmtDuration, fmtFlops, fmtValue, h } from './dom.js';
import { store } from './state/store.js';

const FAST_MS = 1000;   // while any sweep is running
const SLOW_MS = 5000;
let timer = null;

const finished = (s) => (s.counts.done || 0) + (s.counts.diverged || 0) + (s.counts.failed || 0) + (s.counts.cancelled || 0);
const isLive = (s) => s.state === 'running' || (s.counts.queued || 0) + (s.counts.running || 0) > 0;

async function act(fn, id) {
  try {
    const summary = await fn(id);
    mergeSummary(summary);
  } catch (err) {
    window.alert(err.text ? err.text() : String(err));
  }
  poll();
}

/** One count per point status (GET /meta `statuses`, in its order); zeros left out but done. */
function countsLine(s) {
  return h('div', { class: 'counts', dataset: { testid: `sweep-counts-${s.id}` } }, store.meta.statuses
    .filter((k) => (s.counts[k] || 0) > 0 || k === 'done')
    .map((k) => h('span', { class: `count ${k}`, dataset: { testid: `count-${k}` } }, h('b', { text: s.counts[k] || 0 }), ` ${k}`)));
}

function item(s) {
  const selected = store.view.sweep === s.id;
  const pct = Math.round(100 * (s.progress || 0));
  const actions = h('div', { class: 'sweep-actions' });
  if (isLive(s)) {
    actions.append(h('button', { type: 'button', class: 'small danger', text: 'Cancel', dataset: { testid: `cancel-${s.id}` },
      'aria-label': `cancel sweep ${s.id}`, onclick: (ev) => { ev.stopPropagation(); act(api.cancel, s.id); } }));
  }
  if ((s.counts.failed || 0) + (s.counts.cancelled || 0) > 0) {
    actions.append(h('button', { type: 'button', class: 'small', text: 'Retry', dataset: { testid: `retry-${s.id}` },
      'aria-label': `retry sweep ${s.id}`, onclick: (ev) => { ev.stopPropagation(); act(api.retry, s.id); } }));
  }
  const remaining = s.remaining_s === null || !isLive(s) ? '' : ` · ~${fmtDuration(s.remaining_s)} left`;
  const li = h('li', {
    class: `sweep-item${selected ? ' selected' : ''}`, tabindex: '0', 'aria-current': selected ? 'true' : null,
    dataset: { testid: `sweep-item-${s.id}`, state: s.state, progress: String(s.progress) },
  },
  h('div', { class: 'row' },
    h('span', { class: 'sweep-name', text: `#${s.id} ${s.name || '(unnamed)'}` }),
    h('span', { class: `sweep-state ${s.state}`, dataset: { testid: `sweep-state-${s.id}` }, text: s.state })),
  h('div', { class: 'progress', role: 'progressbar', 'aria-valuemin': '0', 'aria-valuemax': '100', 'aria-valuenow': String(pct),
    'aria-label': `progress of sweep ${s.id}` }, h('div', { class: s.state, style: `width:${pct}%` })),
  countsLine(s),
  h('div', { class: 'row' },
    h('span', { class: 'times', text: `${finished(s)}/${s.n_points} · ${fmtDuration(s.elapsed_s)}${remaining}` }), actions));
  const select = () => { if (store.view.sweep !== s.id) store.update({ sweep: s.id, point: null, fixed: {}, lfixed: {} }, { push: true }); };
  li.addEventListener('click', select);
  li.addEventListener('keydown', (ev) => { if (ev.key === 'Enter') select(); });
  return li;
}

export function renderSweepList() {
  const list = $('#sweep-list');
  list.replaceChildren(...store.sweeps.map(item));
  $('#sweep-list-empty').hidden = store.sweeps.length > 0;
}

/** The header above the panels: name, axes, settings, export link, copy-link button. */
export function renderHeader() {
  const root = $('#sweep-header');
  const s = store.sweep;
  if (!s) {
    root.replaceChildren(h('p', { class: 'muted', text: 'Select a sweep on the left, or launch a new one.' }));
    return;
  }
  // a refined axis can hold hundreds of values: its ends and count then
  const axes = Object.entries(s.axes).map(([a, vs]) => (vs.length > 10
    ? `${AXES[a].label} ∈ [${fmtValue(vs[0])}, ${fmtValue(vs[vs.length - 1])}] (${vs.length} values)`
    : `${AXES[a].label} ∈ {${vs.map(fmtValue).join(', ')}}`));
  const st = s.settings;
  const ref = st.reference ? `reference L=${st.reference.L}, M=${st.reference.M}` : 'no reference';
  const copy = h('button', { type: 'button', class: 'small', text: 'Copy link', dataset: { testid: 'copy-link' } });
  copy.addEventListener('click', async () => {
    try {
      await navigator.clipboard.writeText(window.location.href);
      copy.textContent = 'Copied';
    } catch {
      window.prompt('Link to this view:', window.location.href);
    }
    setTimeout(() => { copy.textContent = 'Copy link'; }, 1500);
  });
  root.replaceChildren(
    h('h2', { text: `#${s.id} ${s.name || '(unnamed)'}` }),
    h('span', { class: 'badge', text: s.state }),
    h('span', { class: 'meta', text: axes.join(' · ') }),
    h('span', { class: 'meta', text: `${st.residual_scale} · ${st.activation} · K=${st.steps} · η=${st.lr} · ${st.seeds} seeds · ${ref}` }),
    h('span', { class: 'meta', text: `${s.n_points} points (${s.n_reused} reused) · ${fmtFlops(s.estimated_flops)}` }),
    h('span', { class: 'figure-actions' },
      h('a', { class: 'button small', href: api.exportUrl(s.id, 'csv'), download: `resphase-sweep${s.id}.csv`,
        dataset: { testid: 'sweep-export-csv' }, text: 'Sweep CSV' }),
      copy),
  );
}

/** Take a fresh summary of a sweep: update list and selection, emit 'results' when counts moved. */
export function mergeSummary(summary) {
  const i = store.sweeps.findIndex((s) => s.id === summary.id);
  if (i >= 0) store.sweeps[i] = summary; else store.sweeps.unshift(summary);
  if (store.view.sweep === summary.id) setSelected(summary);
  renderSweepList();
}

/** Make `summary` the selected sweep; 'sweep' when it changed identity, 'results' when counts moved. */
export function setSelected(summary) {
  const prev = store.sweep;
  store.sweep = summary;
  store.emit('summary', summary);  // every poll's summary (the refinement panel follows it)
  if (!prev || !summary || prev.id !== summary.id) {
    renderHeader();
    store.emit('sweep', summary);
    return;
  }
  const moved = JSON.stringify(prev.counts) !== JSON.stringify(summary.counts) || prev.state !== summary.state
    || JSON.stringify(prev.axes) !== JSON.stringify(summary.axes);  // refinement added alphas
  if (moved) {
    renderHeader();
    store.emit('results', summary);
  }
}

/** One poll: the list, then the selected sweep if it is not in the list. */
export async function poll() {
  clearTimeout(timer);
  try {
    store.sweeps = await api.sweeps(50);
    const id = store.view.sweep;
    let sel = store.sweeps.find((s) => s.id === id) || null;
    if (id !== null && !sel) {
      try { sel = await api.sweep(id); } catch (err) {
        sel = null;
        if (err.status === 404 && store.view.sweep === id) store.emit('notfound', id);
      }
    }
    if (store.view.sweep === id) setSelected(sel);
    renderSweepList();
    store.emit('polled', store.sweeps);
  } catch (err) {
    console.warn('resphase: poll failed', err);
  }
  // a refinement between rounds (its points done, the next round not added yet) is live too
  const refining = (s) => !!s && !!s.refinement && ['waiting', 'refining'].includes(s.refinement.state);
  const live = store.sweeps.some((s) => isLive(s) || refining(s)) || refining(store.sweep);
  timer = setTimeout(poll, live ? FAST_MS : SLOW_MS);
}
