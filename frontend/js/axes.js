// axes.js: the axes a figure can use: the four sweep axes and quantities derived from them
// (L*M, alpha/sqrt(D), sqrt(D/(L*M))), how to fetch a derived view as raw phase slices, and the
// drawn position of a value on a grid axis (gridScale: log-spaced in grid steps, so the
// non-uniform alphas of a refined sweep sit where they are; overlays use the same positions).

export const RAW_AXES = ['alpha', 'D', 'L', 'M'];

export const AXES = {
  alpha: { label: 'α', raw: ['alpha'], f: (p) => p.alpha },
  D: { label: 'D', raw: ['D'], f: (p) => p.D },
  L: { label: 'L', raw: ['L'], f: (p) => p.L },
  M: { label: 'M', raw: ['M'], f: (p) => p.M },
  'L*M': { label: 'L·M', raw: ['L', 'M'], f: (p) => p.L * p.M },
  'alpha/sqrt(D)': { label: 'α/√D', raw: ['alpha', 'D'], f: (p) => p.alpha / Math.sqrt(p.D) },
  'sqrt(D/(L*M))': { label: '√(D/(L·M))', raw: ['D', 'L', 'M'], f: (p) => Math.sqrt(p.D / (p.L * p.M)) },
};

export const AXIS_IDS = Object.keys(AXES);
export const isRaw = (id) => RAW_AXES.includes(id);
export const axisLabel = (id) => (AXES[id] ? AXES[id].label : id);

// Most slices a derived view may fetch: beyond this the view shows the first combinations and says so.
export const MAX_SLICES = 64;

/**
 * How to draw x against y from /phase slices, which only vary two raw axes at a time.
 * Pragmatic plan: pick one raw axis of x and a different raw axis of y as the slice axes (sx, sy);
 * every other raw axis x or y depends on is "expanded": one slice per combination of its values.
 * The cells of all slices are then placed at their derived coordinates (a scatter, since derived
 * coordinates need not form a rectilinear grid). Raw axes x and y need a single slice (a heatmap).
 * Axes neither x nor y use are held at `fixed` (first value by default).
 * Returns {sx, sy, expand, combos, truncated, fixed} or throws an Error with a readable message.
 */
export function planSlices(x, y, sweepAxes, fixed) {
  if (x === y) throw new Error('x and y must differ');
  const rx = AXES[x].raw;
  const ry = AXES[y].raw;
  let pair = null;
  for (const a of rx) {
    for (const b of ry) if (a !== b && !pair) pair = [a, b];
  }
  if (!pair) throw new Error(`${axisLabel(x)} and ${axisLabel(y)} vary the same sweep axis`);
  const [sx, sy] = pair;
  const used = [...new Set([...rx, ...ry])];
  const expand = used.filter((a) => a !== sx && a !== sy);
  let combos = [{}];
  for (const a of expand) {
    combos = combos.flatMap((c) => sweepAxes[a].map((v) => ({ ...c, [a]: v })));
  }
  const truncated = combos.length > MAX_SLICES;
  if (truncated) combos = combos.slice(0, MAX_SLICES);
  const held = {};
  for (const a of RAW_AXES) {
    if (!used.includes(a)) held[a] = pickValue(sweepAxes[a], fixed[a]);
  }
  return { sx, sy, expand, combos, truncated, fixed: held, used };
}

/** The axis value closest to `want` (the first value when `want` is undefined). */
export function pickValue(values, want) {
  if (!values || !values.length) return undefined;
  if (want === undefined || want === null) return values[0];
  let best = values[0];
  for (const v of values) if (Math.abs(v - want) < Math.abs(best - want)) best = v;
  return best;
}

/**
 * Where a grid axis draws its values. A raw axis is drawn in "grid steps": log-spaced with one unit
 * per mean log step of the grid, pos(v) = ln(v / v0) / ((ln v_last - ln v0) / (n - 1)). A uniform
 * log grid then lands exactly on 0, 1, ..., n - 1 (as category cells would), while the non-uniform
 * alphas that refinement adds land at their true log position between their neighbours. One value:
 * one unit per decade. A grid with a non-positive value (no log) falls back to its indices.
 * Returns {pos(v), at(p), centers: [n], edges: [n + 1]} (edges: midpoints between centers, the end
 * cells as wide as their neighbour's half-gap, as Plotly draws a heatmap on those centers).
 */
export function gridScale(values) {
  const n = values.length;
  const v0 = values[0];
  let pos;
  let at;
  if (values.some((v) => !(v > 0))) {
    pos = (v) => values.indexOf(v);
    at = (p) => values[Math.min(Math.max(Math.round(p), 0), n - 1)];
  } else {
    const unit = n === 1 || values[n - 1] === v0 ? Math.LN10 : Math.log(values[n - 1] / v0) / (n - 1);
    pos = (v) => (v > 0 ? Math.log(v / v0) / unit : NaN);
    at = (p) => v0 * Math.exp(p * unit);
  }
  const centers = values.map(pos);
  const edges = [];
  for (let i = 0; i <= n; i += 1) {
    if (n === 1) edges.push(centers[0] + (i ? 0.5 : -0.5));
    else if (i === 0) edges.push(centers[0] - (centers[1] - centers[0]) / 2);
    else if (i === n) edges.push(centers[n - 1] + (centers[n - 1] - centers[n - 2]) / 2);
    else edges.push((centers[i - 1] + centers[i]) / 2);
  }
  return { pos, at, centers, edges };
}

/** The drawn position of `v` on a grid axis of `values` (see gridScale: overlays use it). */
export function logPosition(values, v) {
  return gridScale(values).pos(v);
}

/** Inverse of logPosition: the value drawn at position `pos`. */
export function valueAt(values, pos) {
  return gridScale(values).at(pos);
}

/** `n` values spread evenly in drawn position over the whole axis, outer cell edges included. */
export function edgeSamples(values, n) {
  if (values.length === 1) return [values[0]];
  const { edges, at } = gridScale(values);
  const lo = edges[0];
  const hi = edges[edges.length - 1];
  return Array.from({ length: n }, (_, k) => at(lo + ((hi - lo) * k) / (n - 1)));
}
