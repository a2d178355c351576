// compare_grid.js: matching two /phase slices of two sweeps (pure functions, no page state).
// The matching happens here, in the browser, from the two sweeps' own /phase responses: axis values
// match when they agree within the API's tolerance (relative 1e-9, backend.grid.axis_tolerance),
// since they went through JSON, geometric spacing and rounding.
// - onUnion(a, b): both slices re-indexed onto the union of their grids, so side by side they
//   have the same axes (a cell one sweep lacks is "missing", drawn as a gap);
// - combine(a, b, op): the difference (a - b) or ratio (a / b) on the cells both grids have,
//   with the propagated standard error;
// - sharedRange(figures): one colour range over several figures (their value traces' z).

const SAME = (u, v) => Math.abs(u - v) <= Math.abs(u) * 1e-9 + 1e-12;

function indexOf(values, v) {
  for (let i = 0; i < values.length; i += 1) if (SAME(values[i], v)) return i;
  return -1;
}

/** Sorted union of two axis value lists (values within tolerance count once). */
export function union(xs, ys) {
  const out = [...xs];
  for (const v of ys) if (indexOf(out, v) < 0) out.push(v);
  return out.sort((p, q) => p - q);
}

/** Sorted values both lists hold. */
export function intersection(xs, ys) {
  return xs.filter((v) => indexOf(ys, v) >= 0).sort((p, q) => p - q);
}

const FIELDS = ['z', 'stderr', 'n', 'status', 'regime', 'point_id', 'floor', 'near_floor'];
const EMPTY = { z: null, stderr: null, n: 0, status: 'missing', regime: null, point_id: null, floor: null, near_floor: false };

/** `slice` on the grid xs x ys: its own cells where it has them, "missing" cells elsewhere. */
export function reindex(slice, xs, ys) {
  const cols = xs.map((v) => indexOf(slice.x, v));
  const rows = ys.map((v) => indexOf(slice.y, v));
  const out = { ...slice, x: xs, y: ys };
  for (const f of FIELDS) {
    if (!slice[f]) continue;
    out[f] = rows.map((i) => cols.map((j) => (i < 0 || j < 0 ? EMPTY[f] : slice[f][i][j])));
  }
  return out;
}

/** Both slices on the union of their grids: [a', b'], the same x and y. */
export function onUnion(a, b) {
  const xs = union(a.x, b.x);
  const ys = union(a.y, b.y);
  return [reindex(a, xs, ys), reindex(b, xs, ys)];
}

const finite = (v) => typeof v === 'number' && Number.isFinite(v);

/** One cell of a - b or a / b with its standard error (null where either has no value). */
function cell(op, za, zb, sa, sb) {
  if (!finite(za) || !finite(zb)) return [null, null];
  const ea = finite(sa) ? sa : 0;
  const eb = finite(sb) ? sb : 0;
  if (op === 'diff') return [za - zb, Math.hypot(ea, eb)];
  if (zb === 0) return [null, null];
  const r = za / zb;
  return [r, za === 0 ? null : Math.abs(r) * Math.hypot(ea / za, eb / zb)];
}

/** A not-done status wins (queued, running, ...), so a cell without a value says why. */
function status(sa, sb) {
  return sa === 'done' ? sb : sa;
}

/**
 * The difference or ratio of two slices on the cells both grids hold, shaped like a /phase slice
 * (regime null, point_id a's). Returns null when the grids share no cell.
 */
export function combine(a, b, op) {
  const xs = intersection(a.x, b.x);
  const ys = intersection(a.y, b.y);
  if (!xs.length || !ys.length) return null;
  const [ra, rb] = [reindex(a, xs, ys), reindex(b, xs, ys)];
  const z = [];
  const stderr = [];
  ys.forEach((_, i) => {
    const row = xs.map((__, j) => cell(op, ra.z[i][j], rb.z[i][j], ra.stderr[i][j], rb.stderr[i][j]));
    z.push(row.map((c) => c[0]));
    stderr.push(row.map((c) => c[1]));
  });
  return {
    ...ra, z, stderr, floor: undefined, near_floor: undefined,
    n: ra.n.map((row, i) => row.map((v, j) => Math.min(v, rb.n[i][j]))),
    status: ra.status.map((row, i) => row.map((s, j) => status(s, rb.status[i][j]))),
    regime: ra.regime.map((row) => row.map(() => null)),
  };
}

/** [lo, hi] over the value traces of several figures (their colour values: log10 when log). */
export function sharedRange(figures) {
  let lo = Infinity;
  let hi = -Infinity;
  for (const fig of figures) {
    const trace = fig.data.find((t) => t.meta && t.meta.role === 'value');
    for (const row of trace ? trace.z : []) for (const v of row) if (finite(v)) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
  }
  return lo <= hi ? [lo, hi] : null;
}

/** Set one colour range on every figure's value trace (and its colour bar follows). */
export function applyRange(figures, range) {
  if (!range) return;
  for (const fig of figures) {
    const trace = fig.data.find((t) => t.meta && t.meta.role === 'value');
    if (trace) Object.assign(trace, { zmin: range[0], zmax: range[1], zauto: false });
  }
}
