// axes.js: the axes a figure can use: the four sweep axes and quantities derived from them
// (L*M, alpha/sqrt(D), sqrt(D/(L*M))), how to fetch a derived view as raw phase slices, and the
// log-interpolated position of a value on a grid axis (for overlays on index-coordinate heatmaps).

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
 * Fractional index of `v` among the sorted positive grid `values`, interpolated in log space and
 * extrapolated from the end segments: the heatmap draws cell i at x = i, so an overlay value
 * lands between the cells it lies between.
 */
export function logPosition(values, v) {
  const n = values.length;
  if (!(v > 0)) return NaN;
  if (n === 1) return Math.log(v / values[0]) / Math.LN10;  // one cell per decade
  const lv = Math.log(v);
  let i = 0;
  while (i < n - 2 && lv > Math.log(values[i + 1])) i += 1;
  const a = Math.log(values[i]);
  const b = Math.log(values[i + 1]);
  return i + (lv - a) / (b - a);
}

/** Inverse of logPosition: the value at fractional index `pos` (log-linear, extrapolated at the ends). */
export function valueAt(values, pos) {
  const n = values.length;
  if (n === 1) return values[0] * 10 ** pos;
  const i = Math.min(Math.max(Math.floor(pos), 0), n - 2);
  const a = Math.log(values[i]);
  const b = Math.log(values[i + 1]);
  return Math.exp(a + (pos - i) * (b - a));
}

/** `n` values spread evenly in index space over the whole drawn axis, cell edges included. */
export function edgeSamples(values, n) {
  if (values.length === 1) return [values[0]];
  const lo = -0.5;
  const hi = values.length - 0.5;
  return Array.from({ length: n }, (_, k) => valueAt(values, lo + ((hi - lo) * k) / (n - 1)));
}
