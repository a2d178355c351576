// main.js: boots the page: loads /meta, builds the panels, restores the view from the URL, wires
// view changes to redraws, and polls the sweeps so figures fill in as results arrive.
// Everything is bound here with addEventListener: the page's CSP allows no inline script.

import { api, setToken } from './api.js';
import { claimsPending, clearClaims, refreshClaims } from './claims.js';
import { COMPARE_KEYS, clearCompare, comparePending, refreshCompare } from './compare.js';
import { $ } from './dom.js';
import { initForm } from './form.js';
import { clearLines, initLines, refreshLines, renderLinesControls } from './lines.js';
import { loadOverlays } from './overlays.js';
import { clearPhase, initPhase, refreshPhase, renderPhaseControls } from './phase.js';
import { showPoint, refreshPoint } from './detail.js';
import { renderRefinement } from './refinement.js';
import { clearParcoords, refreshParcoords, refreshParcoordsSoon } from './parcoords.js';
import { store } from './state/store.js';
import { TABS } from './state/view_check.js';
import { initNotes, renderNotes } from './sweep_notes.js';
import { initSweeps, mergeSummary, poll, renderHeader, setSelected } from './sweeps.js';
import { initTable, refreshTable, resetTable } from './table.js';
import { sweepDefaults } from './view_defaults.js';
import { initViewMessages, viewMessage } from './view_messages.js';
import { renderWorkerBanner } from './worker_banner.js';

const PHASE_KEYS = ['x', 'y', 'metric', 'agg', 'log', 'fixed', 'ov', 'custom', 'crange', 'multi'];
const LINES_KEYS = ['lmetric', 'along', 'group', 'lfixed', 'pred'];
const dirty = { phase: true, lines: true, table: true, claims: true, compare: true };

// Report CSP violations loudly (tests fail on console errors).
window.__cspViolations = [];
document.addEventListener('securitypolicyviolation', (e) => {
  window.__cspViolations.push(`${e.violatedDirective}: ${e.blockedURI}`);
  console.error(`CSP violation: ${e.violatedDirective} blocked ${e.blockedURI}`);
});

/** Redraw a panel now if it is visible, else when its tab is opened. */
function refresh(panel, soon = false) {
  if (!store.sweep) return;
  if (store.view.tab !== panel) {
    dirty[panel] = true;
    return;
  }
  dirty[panel] = false;
  if (panel === 'phase') refreshPhase();
  else if (panel === 'lines') refreshLines();
  else if (panel === 'table') {
    refreshTable();
    if (soon) refreshParcoordsSoon();
    else refreshParcoords();
  } else if (panel === 'compare') refreshCompare();
  else refreshClaims();
}

function showTab(tab) {
  const active = TABS.includes(tab) ? tab : 'phase';
  for (const t of TABS) {
    $(`#tab-${t}`).setAttribute('aria-selected', String(t === active));
    $(`#panel-${t}`).hidden = t !== active;
  }
  for (const div of document.querySelectorAll(`#panel-${active} .js-plotly-plot`)) window.Plotly.Plots.resize(div);
  if (active in dirty && dirty[active]) refresh(active);
}

/** The selected sweep's defaults for the view keys no link or choice has set (store.auto). */
function applyDefaults(summary) {
  if (!summary || !store.auto.size) return;
  const defaults = sweepDefaults(summary, store.presets, store.meta.metrics);
  store.fill(Object.fromEntries([...store.auto].map((k) => [k, defaults[k]])));
  store.auto = new Set();
}

function onSweep(summary) {
  document.body.classList.toggle('no-sweep', !summary);
  if (summary) viewMessage('notfound', '');
  applyDefaults(summary);
  renderPhaseControls();
  renderLinesControls();
  clearClaims();
  resetTable();
  clearParcoords();
  if (!summary) {
    clearCompare();
    clearPhase();
    clearLines();
    return;
  }
  dirty.phase = true;
  dirty.lines = true;
  dirty.table = true;
  dirty.claims = true;
  dirty.compare = true;
  refresh(store.view.tab in dirty ? store.view.tab : 'phase');
}

function onView(changed) {
  const v = store.view;
  // a different sweep: 'sweep' (from setSelected, now or after the next poll) redraws everything
  const newSweep = changed.has('sweep') && (!store.sweep || store.sweep.id !== v.sweep);
  if (newSweep) {
    const known = store.sweeps.find((s) => s.id === v.sweep) || null;
    if (known || v.sweep === null) setSelected(known);
    else poll();
  }
  if (!newSweep && store.auto.size && store.sweep) applyDefaults(store.sweep);  // back to a link without them
  if (changed.has('tab')) showTab(v.tab);
  if (!newSweep && PHASE_KEYS.some((k) => changed.has(k))) {
    renderPhaseControls();
    refresh('phase');
  }
  if (!newSweep && LINES_KEYS.some((k) => changed.has(k))) {
    renderLinesControls();
    refresh('lines');
  }
  if (!newSweep && [...PHASE_KEYS, ...COMPARE_KEYS].some((k) => changed.has(k))) refresh('compare');
  if (changed.has('point')) showPoint(v.point);
}

async function health() {
  const el = $('#server-health');
  try {
    const hs = await api.health();
    store.health = hs;
    renderWorkerBanner();
    el.className = `health ${hs.status === 'ok' ? 'ok' : 'bad'}`;
    el.textContent = `${hs.status} · ${hs.workers ? hs.workers.count : 0} worker${hs.workers && hs.workers.count === 1 ? '' : 's'}`;
  } catch {
    el.className = 'health bad';
    el.textContent = 'server unreachable';
  }
  setTimeout(health, 15000);
}

async function boot() {
  try {
    store.meta = await api.meta();
  } catch (err) {
    $('#sweep-header').textContent = `Cannot reach the resphase API: ${err.text ? err.text() : err}`;
    return;
  }
  if (store.meta.auth_required) {
    $('#token-box').hidden = false;
    $('#api-token').addEventListener('change', (e) => setToken(e.target.value.trim()));
  }
  health();
  initSweeps();
  initNotes((id) => {
    store.sweeps = store.sweeps.filter((s) => s.id !== id);
    store.update({ sweep: null, point: null }, { push: true });
    poll();
  });
  initForm();
  initPhase();
  initLines();
  initTable();
  await loadOverlays();
  // the presets' recommended views (the form shows its own error when /presets fails)
  try { store.presets = (await api.presets()) || []; } catch { store.presets = []; }
  initViewMessages();
  for (const t of TABS) $(`#tab-${t}`).addEventListener('click', () => store.update({ tab: t }));
  store.on('view', onView);
  store.on('sweep', onSweep);
  store.on('summary', renderRefinement);
  store.on('selection', () => refresh('phase'));  // ring the selected points' cells
  store.on('summary', renderNotes);
  store.on('annotated', mergeSummary);
  store.on('polled', renderWorkerBanner);
  store.on('results', () => {
    refresh('phase');
    refresh('lines');
    refresh('table', true);
    refresh('claims');
    refresh('compare');
    refreshPoint();
  });
  // the claims also read other sweeps (the controls): follow them while they compute
  store.on('polled', () => { if (claimsPending()) refresh('claims'); if (comparePending()) refresh('compare'); });
  store.on('created', (summary) => {
    mergeSummary(summary);
    store.update({ sweep: summary.id, point: null, fixed: {}, lfixed: {}, tab: 'phase', ov: null, custom: [] });
  });
  window.addEventListener('popstate', () => store.loadFromUrl());
  store.loadFromUrl();
  renderHeader();
  await poll();
  document.body.dataset.ready = '1';
}

// Test hooks: the store (read-only use) for debugging from the browser console.
window.resphase = { store };
boot();
