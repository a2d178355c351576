// table.js: the Table view's points table: one server page (GET /sweeps/{id}/table) of the
// selected sweep's points with their axes, status, regime and every metric (mean ± stderr),
// sorted by a click on a header (again: the other order), filtered by status, regime, one metric
// range and the ranges brushed on the parallel coordinates (parcoords.js calls setBrush), paged.
// Clicking rows selects points (state/selection.js): the phase figures ring their cells; a cell
// clicked there selects its point here and shows the selected rows only.

import { api } from './api.js';
import { $, fmt, fmtValue, h } from './dom.js';
import { select, selection, toggle } from './state/selection.js';
import { store } from './state/store.js';

const PAGE = 50;
const AXIS_COLUMNS = ['alpha', 'D', 'L', 'M'];
const fresh = () => ({ sort: 'id', order: 'asc', status: new Set(), regime: new Set(), range: { key: '', lo: '', hi: '' },
  brush: [], onlySelected: false, offset: 0 });
let state = fresh();
let seq = 0;

const note = (text) => { $('#table-note').textContent = text || ''; };
const num = (text) => (text.trim() === '' ? null : Number(text));

/** The `where` parameter: the metric range typed above the table, then the brushed ranges. */
function whereParam() {
  const parts = [];
  const { key, lo, hi } = state.range;
  const bounds = [num(lo), num(hi)];
  if (key && bounds.some((b) => b !== null) && bounds.every((b) => b === null || Number.isFinite(b))) {
    parts.push(`${key}:${bounds[0] ?? ''}:${bounds[1] ?? ''}`);
  }
  for (const r of state.brush) parts.push(`${r.key}:${r.lo}:${r.hi}`);
  return parts.join(',');
}

function params() {
  return {
    sort: state.sort, order: state.order, status: [...state.status], regime: [...state.regime], where: whereParam(),
    ids: state.onlySelected ? [...selection.ids] : undefined, offset: state.offset, limit: PAGE,
  };
}

/** Fetch and draw the current page (stale responses are dropped). */
export async function refreshTable() {
  const my = ++seq;
  if (!store.sweep) return;
  let page;
  try {
    page = await api.table(store.sweep.id, params());
  } catch (err) {
    if (my === seq) note(`Could not load the table: ${err.text ? err.text() : err}`);
    return;
  }
  if (my !== seq) return;
  renderRows(page);
  renderSelectionBar();
  const first = page.total ? page.offset + 1 : 0;
  const last = page.offset + page.items.length;
  $('#table-range').textContent = `${first}–${last} of ${page.total.toLocaleString('en')} point${page.total === 1 ? '' : 's'}`;
  $('#table-prev').disabled = page.offset === 0;
  $('#table-next').disabled = last >= page.total;
  note(state.brush.length ? `Brushed on the parallel coordinates: ${state.brush.map((r) => `${r.key} ${fmt(r.lo)}–${fmt(r.hi)}`).join(', ')}` : '');
  $('#points-table').dataset.total = String(page.total);
  $('#points-table').dataset.drawn = String(my);
}

function sortBy(key) {
  state.order = state.sort === key && state.order === 'asc' ? 'desc' : 'asc';
  state.sort = key;
  state.offset = 0;
  refreshTable();
}

function headerCell(key, label, title) {
  const sorted = state.sort === key;
  const arrow = sorted ? (state.order === 'asc' ? ' ▲' : ' ▼') : '';
  const th = h('th', { scope: 'col', title, 'aria-sort': sorted ? (state.order === 'asc' ? 'ascending' : 'descending') : 'none' },
    h('button', { type: 'button', class: 'th-sort', text: `${label}${arrow}`, dataset: { testid: `sort-${key}` },
      onclick: () => sortBy(key) }));
  return th;
}

function stat(s) {
  if (!s || s.mean === null) return '—';
  return s.stderr === null ? fmt(s.mean, 4) : `${fmt(s.mean, 4)} ± ${fmt(s.stderr, 2)}`;
}

function rowOf(item, metrics) {
  const open = h('button', { type: 'button', class: 'link', text: `#${item.id}`, title: 'open in Point detail',
    onclick: (e) => { e.stopPropagation(); store.update({ point: item.id, tab: 'detail' }); } });
  const tr = h('tr', { tabindex: '0', 'aria-selected': String(selection.ids.has(item.id)),
    class: selection.ids.has(item.id) ? 'selected' : '', dataset: { testid: `row-${item.id}`, id: String(item.id) } },
  h('td', {}, open), ...AXIS_COLUMNS.map((a) => h('td', { class: 'num', text: fmtValue(item[a]) })),
  h('td', { text: item.status }), h('td', { text: item.regime ? item.regime.replace(/_/g, ' ') : '—' }),
  ...metrics.map((m) => h('td', { class: 'num', text: stat(item.metrics[m]) })));
  const flip = () => toggle(item.id, 'table');
  tr.addEventListener('click', flip);
  tr.addEventListener('keydown', (e) => { if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); flip(); } });
  return tr;
}

function renderRows(page) {
  const metrics = Object.keys(store.meta.metrics);
  const head = h('tr', {}, headerCell('id', 'point'), ...AXIS_COLUMNS.map((a) => headerCell(a, a === 'alpha' ? 'α' : a)),
    headerCell('status', 'status'), headerCell('regime', 'regime'),
    ...metrics.map((m) => headerCell(m, m, store.meta.metrics[m])));
  const body = page.items.map((item) => rowOf(item, metrics));
  if (!body.length) body.push(h('tr', {}, h('td', { colspan: String(7 + metrics.length), class: 'muted', text: 'No point passes these filters.' })));
  $('#points-table').replaceChildren(h('thead', {}, head), h('tbody', {}, body));
}

/** Re-mark the drawn rows after a selection change (no refetch unless only selected rows show). */
function markRows() {
  for (const tr of document.querySelectorAll('#points-table tbody tr[data-id]')) {
    const on = selection.ids.has(Number(tr.dataset.id));
    tr.classList.toggle('selected', on);
    tr.setAttribute('aria-selected', String(on));
  }
}

function renderSelectionBar() {
  const n = selection.ids.size;
  const only = h('input', { type: 'checkbox', id: 'table-only-selected', checked: state.onlySelected, disabled: !n,
    dataset: { testid: 'table-only-selected' } });
  only.addEventListener('change', () => { state.onlySelected = only.checked; state.offset = 0; refreshTable(); });
  $('#table-selection').replaceChildren(
    h('span', { dataset: { testid: 'table-selected-count' }, text: `${n} selected (ringed on the phase diagram)` }),
    h('span', { class: 'control inline' }, only, h('label', { for: 'table-only-selected', text: 'show only these' })),
    h('button', { type: 'button', text: 'clear selection', disabled: !n, onclick: () => select([], 'table') }),
  );
}

function onSelection(sel) {
  const was = state.onlySelected;
  if (sel.source === 'phase' && sel.ids.size) state.onlySelected = true;
  if (!sel.ids.size) state.onlySelected = false;
  if (state.onlySelected || was) {
    state.offset = 0;
    refreshTable();
  } else {
    markRows();
    renderSelectionBar();
  }
}

function checks(name, values, set) {
  return h('fieldset', { class: 'checks', dataset: { testid: `table-${name}` } }, h('legend', { text: name }),
    ...values.map((v) => {
      const id = `table-${name}-${v}`;
      const box = h('input', { type: 'checkbox', id, checked: set.has(v) });
      box.addEventListener('change', () => {
        if (box.checked) set.add(v);
        else set.delete(v);
        state.offset = 0;
        refreshTable();
      });
      return h('span', { class: 'control inline' }, box, h('label', { for: id, text: v.replace(/_/g, ' ') }));
    }));
}

function rangeControls() {
  const key = h('select', { id: 'table-range-key', 'aria-label': 'metric range', dataset: { testid: 'table-range-key' } },
    h('option', { value: '', text: '(no range)' }), ...Object.keys(store.meta.metrics).map((m) => h('option', { value: m, text: m })));
  key.value = state.range.key;
  const bound = (which, label) => {
    const input = h('input', { type: 'text', inputmode: 'decimal', size: 8, id: `table-range-${which}`, 'aria-label': label,
      value: state.range[which], placeholder: which === 'lo' ? 'min' : 'max', dataset: { testid: `table-range-${which}` } });
    input.addEventListener('change', () => {
      const bad = input.value.trim() !== '' && !Number.isFinite(Number(input.value));
      input.setAttribute('aria-invalid', String(bad));
      state.range = { ...state.range, [which]: input.value };
      if (!bad) { state.offset = 0; refreshTable(); }
    });
    return input;
  };
  key.addEventListener('change', () => { state.range = { ...state.range, key: key.value }; state.offset = 0; refreshTable(); });
  return h('div', { class: 'control' }, h('label', { for: 'table-range-key', text: 'metric range (seed mean)' }),
    h('span', { class: 'range-inputs' }, key, bound('lo', 'minimum'), bound('hi', 'maximum')));
}

function renderControls() {
  $('#table-controls').replaceChildren(checks('status', store.meta.statuses, state.status),
    checks('regime', store.meta.regimes, state.regime), rangeControls());
}

/** The ranges brushed on the parallel coordinates ([{key, lo, hi}]): the table follows them. */
export function setBrush(ranges) {
  state.brush = ranges;
  state.offset = 0;
  refreshTable();
}

/** A different sweep: filters, sort, brush and selection start afresh. */
export function resetTable() {
  seq += 1;
  state = fresh();
  if (selection.ids.size) select([], 'table');
  if (store.meta) renderControls();
  $('#points-table').replaceChildren();
  note('');
}

export function initTable() {
  renderControls();
  const page = (d) => () => { state.offset = Math.max(0, state.offset + d * PAGE); refreshTable(); };
  $('#table-prev').addEventListener('click', page(-1));
  $('#table-next').addEventListener('click', page(1));
  store.on('selection', onSelection);
}
