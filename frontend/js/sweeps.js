// sweeps.js: the selected sweep's header and the polling (the list itself, updated in place, with
// its search and pages, is sweep_list.js) that tells the panels when results arrive
// ('results' for the selected sweep, 'polled' after every poll: other sweeps, such as controls, moved;
// 'summary' with each fresh summary of the selected sweep, changed or not).

import { api } from './api.js';
import { AXES } from './axes.js';
import { $, fmtFlops, fmtValue, h } from './dom.js';
import { initSweepList, isLive, labelText, listQuery, renderSweepList } from './sweep_list.js';
import { store } from './state/store.js';

const FAST_MS = 1000;   // while any sweep is running
const SLOW_MS = 5000;
let timer = null;

async function act(kind, id) {
  try {
    const summary = await (kind === 'cancel' ? api.cancel : api.retry)(id);
    mergeSummary(summary);
  } catch (err) {
    window.alert(err.text ? err.text() : String(err));
  }
  poll();
}

export { renderSweepList };

/** The list's search box and pager (sweep_list.js); the list itself is drawn by each poll. */
export function initSweeps() {
  initSweepList({ act, refresh: () => poll() });
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
    h('span', { class: `badge ${s.label}`, dataset: { testid: 'sweep-label' }, text: labelText(s) }),
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
  } else if (prev.label !== summary.label) renderHeader();
}

/** One poll: the list, then the selected sweep if it is not in the list. */
export async function poll() {
  clearTimeout(timer);
  try {
    const page = await api.sweepsPage(listQuery());
    store.sweeps = page.items;
    store.sweepTotal = page.total;
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
