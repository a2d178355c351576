// boundary_traces.js: the measured boundary over the phase diagram (GET /sweeps/{id}/boundaries),
// where the seed mean of the view's metric (or feature_update) crosses its threshold along alpha:
// one diamond per line, with the crossing's interval as error bars. The theory curves are
// overlays.js's.

import { api } from './api.js';
import { logPosition } from './axes.js';
import { formatFixed } from './format.js';
import { store } from './state/store.js';

/** Measured boundary (GET /sweeps/{id}/boundaries) as points with CI bars, when alpha is plotted. */
export async function boundaryTraces(slice) {
  const X = slice.x_axis;
  const Y = slice.y_axis;
  if (X !== 'alpha' && Y !== 'alpha') return [];
  const thresholds = Object.values(store.meta.thresholds || {});
  // only thresholds the server draws boundaries for (`boundary`; absent on older servers: all)
  const metric = thresholds.some((t) => t.metric === store.view.metric && t.boundary !== false) ? store.view.metric : 'feature_update';
  const group = X === 'alpha' ? Y : X;
  const fixed = formatFixed(slice.fixed);
  const r = await api.boundaries(store.sweep.id, { metric, group, fixed });
  const found = (r.curves || []).filter((c) => c.found && Number.isFinite(c.alpha));
  if (!found.length) return [];
  const aPos = (v) => logPosition(slice.x_axis === 'alpha' ? slice.x : slice.y, v);
  const gVals = X === 'alpha' ? slice.y : slice.x;
  const a = found.map((c) => aPos(c.alpha));
  const g = found.map((c) => logPosition(gVals, c.fixed[group]));
  // The crossing's interval: its bootstrap interval widened to the grid alphas it sits between.
  const span = (c) => c.interval || c.alpha_ci;
  const plus = found.map((c, k) => (span(c) ? aPos(span(c)[1]) - a[k] : 0));
  const minus = found.map((c, k) => (span(c) ? a[k] - aPos(span(c)[0]) : 0));
  const err = { type: 'data', array: plus, arrayminus: minus, color: '#111', thickness: 1.5, width: 4 };
  const trace = {
    type: 'scatter', mode: 'markers', name: `measured: ${metric} = ${fmtThreshold(r.threshold)}`, hoverinfo: 'skip',
    marker: { symbol: 'diamond', size: 9, color: '#ffffff', line: { color: '#111', width: 1.5 } }, meta: { role: 'boundary' },
  };
  return X === 'alpha' ? [{ ...trace, x: a, y: g, error_x: err }] : [{ ...trace, x: g, y: a, error_y: err }];
}

const fmtThreshold = (t) => (typeof t === 'number' ? String(Number(t.toPrecision(3))) : 'threshold');
