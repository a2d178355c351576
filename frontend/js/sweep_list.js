// sweep_list.js: the sweep list, updated IN PLACE on every poll (one <li> per sweep id, kept
// across polls: keyboard focus stays where it is and nothing is re-announced), the search box
// (words: name; tag:X; by:NAME the creator), the pager (GET /sweeps offset and X-Total-Count) and
// a polite live region that announces changes only (a sweep's label changed, a sweep appeared).
//
// Honest progress: the label is the API's `label` (queued / running / finished / finished with
// failures / cancelled) and the bar has one segment per status (done, diverged, failed,
// cancelled, running; queued is the empty track), so a cancelled or failed sweep never shows a
// full bar.

import { $, fmtDuration, h } from './dom.js';
import { store } from './state/store.js';

export const PAGE_SIZE = 50;
const SEGMENTS = ['done', 'diverged', 'failed', 'cancelled', 'running'];
const LABELS = { finished_with_failures: 'finished with failures' };
const items = new Map();  // sweep id -> {li, parts}
const search = { text: '', offset: 0 };
let hooks = { act: () => {}, refresh: () => {} };
let announced = new Map();  // sweep id -> the label last seen (null before the first poll)

export const labelText = (s) => LABELS[s.label] || s.label || s.state;
export const isLive = (s) => s.state === 'running' || (s.counts.queued || 0) + (s.counts.running || 0) > 0;
const n = (s, k) => s.counts[k] || 0;

/** GET /sweeps parameters of the search box and the page: {limit, offset, name, tag, owner}. */
export function listQuery() {
  const words = [];
  const q = { limit: PAGE_SIZE, offset: search.offset };
  for (const w of search.text.trim().split(/\s+/).filter(Boolean)) {
    if (w.startsWith('tag:') && w.length > 4) q.tag = w.slice(4);
    else if (w.startsWith('by:') && w.length > 3) q.owner = w.slice(3);
    else words.push(w);
  }
  if (words.length) q.name = words.join(' ');
  return q;
}

/** Set the search text (a tag chip's click searches for its tag) and go back to the first page. */
export function setSearch(text) {
  search.text = text;
  search.offset = 0;
  announced = new Map();  // a new list is not news: it is read as a whole
  const box = $('#sweep-search-input');
  if (box && box.value !== text) box.value = text;
  hooks.refresh();
}

function build(s) {
  const p = {};
  p.name = h('span', { class: 'sweep-name' });
  p.state = h('span', { class: 'sweep-state', dataset: { testid: `sweep-state-${s.id}` } });
  p.bar = h('div', { class: 'progress segmented', role: 'progressbar', 'aria-valuemin': '0', 'aria-valuemax': '100',
    'aria-label': `progress of sweep ${s.id}`, dataset: { testid: `sweep-bar-${s.id}` } });
  p.segs = Object.fromEntries(SEGMENTS.map((k) => [k, h('div', { class: `seg ${k}`, dataset: { seg: k } })]));
  p.bar.append(...SEGMENTS.map((k) => p.segs[k]));
  p.counts = h('div', { class: 'counts', dataset: { testid: `sweep-counts-${s.id}` } });
  p.tags = h('div', { class: 'tag-chips small', dataset: { testid: `sweep-tags-${s.id}` } });
  p.times = h('span', { class: 'times', dataset: { testid: `sweep-times-${s.id}` } });
  const stop = (fn) => (ev) => { ev.stopPropagation(); fn(); };
  p.cancel = h('button', { type: 'button', class: 'small danger', text: 'Cancel', dataset: { testid: `cancel-${s.id}` },
    'aria-label': `cancel sweep ${s.id}`, onclick: stop(() => hooks.act('cancel', s.id)) });
  p.retry = h('button', { type: 'button', class: 'small', text: 'Retry', dataset: { testid: `retry-${s.id}` },
    'aria-label': `retry sweep ${s.id}`, onclick: stop(() => hooks.act('retry', s.id)) });
  const li = h('li', { class: 'sweep-item', tabindex: '0', dataset: { testid: `sweep-item-${s.id}` } },
    h('div', { class: 'row' }, p.name, p.state), p.bar, p.counts, p.tags,
    h('div', { class: 'row' }, p.times, h('div', { class: 'sweep-actions' }, p.cancel, p.retry)));
  const select = () => {
    if (store.view.sweep !== s.id) store.update({ sweep: s.id, point: null, fixed: {}, lfixed: {} }, { push: true });
  };
  li.addEventListener('click', select);
  li.addEventListener('keydown', (ev) => { if (ev.key === 'Enter' && ev.target === li) select(); });
  return { li, p, key: '' };
}

const setText = (el, text) => { if (el.textContent !== text) el.textContent = text; };

function countsLine(s) {
  return store.meta.statuses.filter((k) => n(s, k) > 0 || k === 'done')
    .map((k) => h('span', { class: `count ${k}`, dataset: { testid: `count-${k}` } }, h('b', { text: n(s, k) }), ` ${k}`));
}

function tagChips(s) {
  return (s.tags || []).map((t) => h('button', { type: 'button', class: 'tag-chip', text: t, title: `sweeps tagged ${t}`,
    dataset: { testid: 'tag-chip' }, onclick: (ev) => { ev.stopPropagation(); setSearch(`tag:${t}`); } }));
}

/** "7/30 computed · 2 failed · 1 min 3 s · ~40 s left" (est. before anything started; "finishing"
 * once the API's count-down from the last finished point has reached 0 with points still running). */
function timesText(s) {
  const parts = [`${n(s, 'done') + n(s, 'diverged')}/${s.n_points} computed`];
  if (n(s, 'failed')) parts.push(`${n(s, 'failed')} failed`);
  if (n(s, 'cancelled')) parts.push(`${n(s, 'cancelled')} cancelled`);
  parts.push(fmtDuration(s.elapsed_s));
  if (isLive(s) && s.remaining_s !== null && s.state !== 'cancelled') {
    if (s.label === 'queued') parts.push(`est. ${fmtDuration(s.remaining_s)} of compute`);
    else parts.push(s.remaining_s < 1 ? 'finishing' : `~${fmtDuration(s.remaining_s)} left`);
  }
  return parts.join(' · ');
}

/** Bring one item up to date, touching only what changed (a key of what it shows decides). */
function update(entry, s) {
  const { li, p } = entry;
  const selected = store.view.sweep === s.id;
  li.classList.toggle('selected', selected);
  if (selected) li.setAttribute('aria-current', 'true'); else li.removeAttribute('aria-current');
  li.dataset.state = s.state;
  li.dataset.label = s.label;
  li.dataset.progress = String(s.progress);
  setText(p.name, `#${s.id} ${s.name || '(unnamed)'}`);
  setText(p.state, labelText(s));
  p.state.className = `sweep-state ${s.label}`;
  const total = Math.max(s.n_points, 1);
  for (const k of SEGMENTS) {
    const width = `${(100 * n(s, k)) / total}%`;
    if (p.segs[k].style.width !== width) p.segs[k].style.width = width;
  }
  const pct = String(Math.round(100 * (s.progress || 0)));
  if (p.bar.getAttribute('aria-valuenow') !== pct) p.bar.setAttribute('aria-valuenow', pct);
  const summary = SEGMENTS.filter((k) => n(s, k)).map((k) => `${n(s, k)} ${k}`).join(', ');
  p.bar.setAttribute('aria-valuetext', `${summary || 'none started'} of ${s.n_points} points`);
  const key = JSON.stringify([s.counts, s.tags]);
  if (entry.key !== key) {  // rebuilt only when they changed (they hold no focusable state of note)
    p.counts.replaceChildren(...countsLine(s));
    p.tags.replaceChildren(...tagChips(s));
    entry.key = key;
  }
  setText(p.times, timesText(s));
  p.cancel.hidden = !isLive(s);
  p.retry.hidden = n(s, 'failed') + n(s, 'cancelled') === 0;
}

/** The live region's news: labels that changed since the last poll and sweeps that appeared. */
function announce(sweeps) {
  const first = announced.size === 0;
  const news = [];
  const next = new Map();
  for (const s of sweeps) {
    const before = announced.get(s.id);
    if (!first && before === undefined) news.push(`sweep #${s.id} listed: ${labelText(s)}`);
    else if (!first && before !== s.label) news.push(`sweep #${s.id} ${labelText(s)}`);
    next.set(s.id, s.label);
  }
  announced = next;
  if (news.length) $('#sweep-list-status').textContent = `${news.join('; ')}.`;
}

function renderPager() {
  const total = store.sweepTotal ?? store.sweeps.length;
  const pager = $('#sweep-pager');
  pager.hidden = total <= PAGE_SIZE && search.offset === 0;
  const last = Math.min(search.offset + store.sweeps.length, total);
  setText($('#sweep-page-range'), total ? `${search.offset + 1}–${last} of ${total}` : '0 of 0');
  $('#sweep-page-prev').disabled = search.offset === 0;
  $('#sweep-page-next').disabled = search.offset + PAGE_SIZE >= total;
}

export function renderSweepList() {
  const list = $('#sweep-list');
  const seen = new Set();
  let at = list.firstElementChild;
  for (const s of store.sweeps) {
    let entry = items.get(s.id);
    if (!entry) {
      entry = build(s);
      items.set(s.id, entry);
    }
    update(entry, s);
    seen.add(s.id);
    if (entry.li !== at) list.insertBefore(entry.li, at);  // moves only what is out of place
    else at = at.nextElementSibling;
  }
  for (const [id, entry] of items) {
    if (!seen.has(id)) {
      entry.li.remove();
      items.delete(id);
    }
  }
  announce(store.sweeps);
  const filtered = search.text.trim() !== '';
  const empty = $('#sweep-list-empty');
  empty.hidden = store.sweeps.length > 0;
  setText(empty, filtered ? 'No sweep matches this search.' : 'No sweeps yet: launch one below.');
  renderPager();
}

/** Build the search box and the pager around the list; `act(kind, id)` runs cancel/retry,
 * `refresh()` polls again (after a search or a page change). */
export function initSweepList(callbacks) {
  hooks = callbacks;
  const input = h('input', { id: 'sweep-search-input', type: 'search', placeholder: 'name, tag:mlu, by:alice',
    'aria-label': 'search sweeps by name, tag:TAG or by:CREATOR', dataset: { testid: 'sweep-search' } });
  let t = null;
  input.addEventListener('input', () => {
    clearTimeout(t);
    t = setTimeout(() => setSearch(input.value), 250);
  });
  $('#sweep-list').before(h('div', { class: 'sweep-search' }, input));
  const page = (delta) => {
    search.offset = Math.max(0, search.offset + delta);
    announced = new Map();
    hooks.refresh();
  };
  $('#sweep-list-empty').after(
    h('div', { id: 'sweep-pager', class: 'sweep-pager', dataset: { testid: 'sweep-pager' }, hidden: true },
      h('button', { type: 'button', class: 'small', id: 'sweep-page-prev', text: '‹ Newer', dataset: { testid: 'sweep-page-prev' },
        onclick: () => page(-PAGE_SIZE) }),
      h('span', { id: 'sweep-page-range', class: 'muted', dataset: { testid: 'sweep-page-range' } }),
      h('button', { type: 'button', class: 'small', id: 'sweep-page-next', text: 'Older ›', dataset: { testid: 'sweep-page-next' },
        onclick: () => page(PAGE_SIZE) })),
    h('p', { id: 'sweep-list-status', class: 'visually-hidden', 'aria-live': 'polite', dataset: { testid: 'sweep-list-status' } }));
}
