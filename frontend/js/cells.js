// cells.js: the data of a derived-axis view in one request, GET /sweeps/{id}/cells (every point
// matching the held axes, one tidy row each), instead of one /phase request per combination of
// the expanded axes (up to 64). The view's cells are kept, and each redraw asks only for those
// changed since the last answer's cursor (?after=): a poll while a sweep runs moves a few cells,
// not the whole view. The answer is regrouped into the /phase-shaped slices the view draws, one
// per combination of planSlices (axes.js), so drawing, overlays and the CSV are unchanged.

import { api } from './api.js';
import { formatFixed } from './format.js';

let kept = null; // {key, cursor, cells: Map(point_id -> cell)}: the current view's cells

/** Index of `v` among `values` (the sweep's axis), within float rounding; -1 when absent. */
function indexOf(values, v) {
  const exact = values.indexOf(v);
  if (exact >= 0) return exact;
  return values.findIndex((w) => Math.abs(w - v) <= 1e-9 * Math.max(Math.abs(w), Math.abs(v)) + 1e-12);
}

/** The view's cells: all of them on a new view (or when a poll cannot account for them all), else the kept ones with the changed merged in. */
async function viewCells(plan, sweep, view) {
  const key = JSON.stringify([sweep.id, view.metric, view.agg, plan.fixed]);
  const params = { metric: view.metric, agg: view.agg, fixed: formatFixed(plan.fixed) };
  const entry = kept && kept.key === key ? kept : { key, cursor: null, cells: new Map() };
  let body = await api.cells(sweep.id, entry.cursor ? { ...params, after: entry.cursor } : params);
  if (entry.cursor) {
    body.cells.forEach((c) => entry.cells.set(c.point_id, c));
    if (entry.cells.size !== body.total) {  // a point joined with old timestamps: read them all again
      entry.cells.clear();
      body = await api.cells(sweep.id, params);
    }
  }
  if (!entry.cursor || entry.cells.size === 0) body.cells.forEach((c) => entry.cells.set(c.point_id, c));
  if (!entry.cursor || (body.cursor && body.cursor > entry.cursor)) entry.cursor = body.cursor;
  kept = entry;
  return [...entry.cells.values()];
}

/** [{combo, slice}] as phase.js fetches them from /phase, built from one /cells answer. */
export async function derivedSlices(plan, sweep, view) {
  const cells = await viewCells(plan, sweep, view);
  const xs = sweep.axes[plan.sx];
  const ys = sweep.axes[plan.sy];
  const floored = cells.some((c) => 'floor' in c);
  const grid = (fill) => ys.map(() => xs.map(() => fill));
  const slices = plan.combos.map((combo) => {
    const slice = { x: xs, y: ys, z: grid(null), stderr: grid(null), n: grid(0), status: grid('missing'),
      regime: grid(null), point_id: grid(null) };
    if (floored) Object.assign(slice, { floor: grid(null), near_floor: grid(false) });
    return { combo, slice };
  });
  const comboKey = (values) => plan.expand.map((a) => indexOf(sweep.axes[a], values[a])).join('|');
  const byCombo = new Map(slices.map((s) => [comboKey(s.combo), s.slice]));
  for (const c of cells) {
    const slice = byCombo.get(comboKey(c));
    const i = indexOf(ys, c[plan.sy]);
    const j = indexOf(xs, c[plan.sx]);
    if (!slice || i < 0 || j < 0) continue;  // a combination beyond the first MAX_SLICES
    for (const f of ['z', 'stderr', 'n', 'status', 'regime', 'point_id', ...(floored ? ['floor', 'near_floor'] : [])]) {
      slice[f][i][j] = c[f] ?? slice[f][i][j];
    }
  }
  return slices;
}
