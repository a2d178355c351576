// state/view_check.js: a view read from a URL, checked against what this server offers (GET /meta:
// metrics, aggregates) and the page's axes and tabs. A value that is not one of them is reset (to
// the sweep's default where view_defaults.js has one, else DEFAULT_VIEW's) and explained in one
// line per parameter, so "?x=foo" opens a working page with a message, not a broken one.

import { AXIS_IDS, RAW_AXES } from '../axes.js';
import { SWEEP_KEYS } from '../view_defaults.js';
import { DEFAULT_VIEW } from './url.js';

export const TABS = ['phase', 'lines', 'table', 'detail', 'claims', 'compare'];

/** {view, problems: [text], reset: [key]} for `view` (its keys in `reset` want the sweep's defaults). */
export function checkView(view, meta, search) {
  const v = { ...view };
  const problems = [];
  const reset = [];
  const q = new URLSearchParams(search);
  const bad = (key, shown, allowed) => {
    problems.push(`${key}=${shown} is not ${allowed}`);
    v[key] = DEFAULT_VIEW[key];
    if (SWEEP_KEYS.includes(key)) reset.push(key);
  };
  const metrics = Object.keys((meta && meta.metrics) || {});
  const aggs = (meta && meta.aggregates) || ['mean'];
  if (!TABS.includes(v.tab)) bad('tab', v.tab, `a view (${TABS.join(', ')})`);
  for (const k of ['x', 'y']) if (!AXIS_IDS.includes(v[k])) bad(k, v[k], `an axis (${AXIS_IDS.join(', ')})`);
  for (const k of ['metric', 'lmetric']) if (metrics.length && !metrics.includes(v[k])) bad(k, v[k], 'a metric of this server');
  if (!aggs.includes(v.agg)) bad('agg', v.agg, `an aggregate (${aggs.join(', ')})`);
  if (!RAW_AXES.includes(v.along)) bad('along', v.along, `a sweep axis (${RAW_AXES.join(', ')})`);
  if (v.group !== 'none' && !RAW_AXES.includes(v.group)) bad('group', v.group, 'a sweep axis or none');
  for (const k of ['fixed', 'lfixed']) {
    const keep = Object.fromEntries(Object.entries(v[k]).filter(([a, x]) => RAW_AXES.includes(a) && Number.isFinite(x)));
    const parts = (q.get(k) || '').split(',').filter((part) => part.trim()).length;
    if (Object.keys(keep).length !== parts && q.has(k)) {
      problems.push(`${k}=${q.get(k)} is not a list of axis:value (e.g. D:16,M:64)`);
    }
    v[k] = keep;
  }
  const customs = v.custom.filter((c) => RAW_AXES.includes(c.axis));
  if (customs.length !== v.custom.length || customs.length !== q.getAll('f').length) problems.push('an overlay f= is not AXIS:FORMULA');
  v.custom = customs;
  for (const k of ['sweep', 'point']) {
    if (q.has(k) && v[k] === null) problems.push(`${k}=${q.get(k)} is not a number`);
  }
  if (v.pred !== '' && !Number.isFinite(Number(v.pred))) bad('pred', v.pred, 'a number');
  if (v.multi && !RAW_AXES.includes(v.multi)) bad('multi', v.multi, `a sweep axis (${RAW_AXES.join(', ')})`);
  if (q.has('crange') && !v.crange) problems.push(`crange=${q.get('crange')} is not two increasing numbers`);
  if (q.has('zoom') && !v.zoom) problems.push(`zoom=${q.get('zoom')} is not four numbers`);
  return { view: v, problems, reset };
}
