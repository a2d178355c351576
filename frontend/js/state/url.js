// state/url.js: the whole view <-> the page URL's query string, so a copied link reopens it.
//   ?sweep=3&tab=phase&x=alpha&y=L&metric=feature_update&agg=mean&log=1&fixed=D:16,M:64
//    &ov=feature+learning,noise&f=alpha:sqrt(L)&lmetric=err_out&along=L&group=M&lfixed=alpha:1,D:16
//    &pred=-1&point=17&cmp=4&cop=diff&zoom=-0.5,3.2,0.5,2.5
// `zoom` is the phase diagram's x and y ranges after a zoom or pan (drawn coordinates: gridScale
// positions on grid axes, log10 on derived ones), cleared with a new x, y, sweep or held values;
// `crange` a locked colour range (colour_lock.js), cleared with a new metric; `multi` the held axis
// of the small multiples (multiples.js); `cmp` and `cop` the compared sweep and how (compare.js).
// `ov` lists the built-in overlays shown (absent: the defaults for the sweep's residual scale);
// each `f` is a custom overlay "AXIS:FORMULA". `cmp` is the sweep compared with (compare.js), `cop`
// how: side (by side), diff (A - B) or ratio (A / B).

import { formatFixed, parseFixed } from '../format.js';

export const DEFAULT_VIEW = Object.freeze({
  sweep: null,
  tab: 'phase',
  x: 'alpha',
  y: 'L',
  metric: 'feature_update',
  agg: 'mean',
  log: false,
  fixed: {},
  ov: null,
  custom: [],
  lmetric: 'feature_update',
  along: 'alpha',
  group: 'L',
  lfixed: {},
  pred: '',
  point: null,
  cmp: null,
  cop: 'side',
  zoom: null,
  crange: null,
  multi: '',
});

// Keys the page writes into every link (a link without them takes the sweep's defaults).
export const LINK_KEYS = ['x', 'y', 'metric', 'lmetric', 'along', 'group'];

/** The keys of LINK_KEYS that a query string sets. */
export function givenKeys(search) {
  const q = new URLSearchParams(search);
  return LINK_KEYS.filter((k) => q.has(k));
}

function intOrNull(s) {
  const n = Number.parseInt(s, 10);
  return Number.isFinite(n) ? n : null;
}

/** The view held by a query string (missing keys take DEFAULT_VIEW's values). */
export function parseView(search) {
  const q = new URLSearchParams(search);
  const v = { ...DEFAULT_VIEW, fixed: {}, lfixed: {}, custom: [] };
  const str = (k) => { if (q.has(k)) v[k] = q.get(k); };
  v.sweep = intOrNull(q.get('sweep'));
  v.point = intOrNull(q.get('point'));
  v.cmp = intOrNull(q.get('cmp'));
  if (['side', 'diff', 'ratio'].includes(q.get('cop'))) v.cop = q.get('cop');
  ['tab', 'x', 'y', 'metric', 'agg', 'lmetric', 'along', 'group', 'pred', 'multi'].forEach(str);
  v.log = q.get('log') === '1';
  v.fixed = parseFixed(q.get('fixed'));
  v.lfixed = parseFixed(q.get('lfixed'));
  v.ov = q.has('ov') ? q.get('ov').split(',').filter(Boolean) : null;
  v.custom = q.getAll('f').map((s) => {
    const i = s.indexOf(':');
    return i > 0 ? { axis: s.slice(0, i), formula: s.slice(i + 1) } : null;
  }).filter(Boolean);
  const zoom = (q.get('zoom') || '').split(',').map(Number);
  v.zoom = zoom.length === 4 && zoom.every(Number.isFinite) ? zoom : null;
  const crange = (q.get('crange') || '').split(',').map(Number);
  v.crange = crange.length === 2 && crange.every(Number.isFinite) && crange[0] < crange[1] ? crange : null;
  return v;
}

/** The query string of a view (every field written: the link is the whole view). */
export function serializeView(v) {
  const q = new URLSearchParams();
  if (v.sweep !== null) q.set('sweep', String(v.sweep));
  q.set('tab', v.tab);
  q.set('x', v.x);
  q.set('y', v.y);
  q.set('metric', v.metric);
  q.set('agg', v.agg);
  if (v.log) q.set('log', '1');
  if (Object.keys(v.fixed).length) q.set('fixed', formatFixed(v.fixed));
  if (v.ov !== null) q.set('ov', v.ov.join(','));
  for (const c of v.custom) q.append('f', `${c.axis}:${c.formula}`);
  q.set('lmetric', v.lmetric);
  q.set('along', v.along);
  q.set('group', v.group);
  if (Object.keys(v.lfixed).length) q.set('lfixed', formatFixed(v.lfixed));
  if (v.pred !== '') q.set('pred', v.pred);
  if (v.point !== null) q.set('point', String(v.point));
  if (v.cmp !== null) q.set('cmp', String(v.cmp));
  if (v.cop !== 'side') q.set('cop', v.cop);
  if (v.crange) q.set('crange', v.crange.join(','));
  if (v.multi) q.set('multi', v.multi);
  if (v.zoom) q.set('zoom', v.zoom.map((r) => Number(r.toPrecision(5))).join(','));
  return `?${q.toString()}`;
}

export function readView() {
  return parseView(window.location.search);
}

/** Write the view to the address bar; `push` adds a history entry (a change of view), else replaces. */
export function writeView(v, push = false) {
  const url = `${window.location.pathname}${serializeView(v)}`;
  if (url === `${window.location.pathname}${window.location.search}`) return;
  if (push) window.history.pushState(null, '', url);
  else window.history.replaceState(null, '', url);
}
