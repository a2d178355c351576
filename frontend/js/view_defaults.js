// view_defaults.js: the view a sweep opens on when the link does not say (a sweep chosen in the
// list, a permalink without x or y, a URL parameter that was reset):
// - the preset's recommended view (GET /presets `view`) when the sweep runs a preset, recognised
//   by name: the preset's quick or full spec name, or a name starting with the preset's name
//   (the form names a loaded preset "<preset> (quick)"; controls add " [control: ...]");
// - else x and y are the two axes with the most values (ties: alpha, L, M, D), the metric is
//   feature_update, and Lines & fits runs along the axis with the most values, one line per the next.
// An error metric (err_out, err_emb) needs a reference: a sweep without one opens on feature_update.

import { AXES, RAW_AXES } from './axes.js';

// The keys this module fills (store.auto lists those the current link left unset).
export const SWEEP_KEYS = ['x', 'y', 'metric', 'lmetric', 'along', 'group'];
const TIE_ORDER = ['alpha', 'L', 'M', 'D'];
const FALLBACK_METRIC = 'feature_update';

/** The preset a sweep summary runs ({name, view, ...} of GET /presets), or null. */
export function presetOf(summary, presets) {
  const name = (summary && summary.name) || '';
  for (const p of presets || []) {
    const names = [p.quick && p.quick.name, p.full && p.full.name].filter(Boolean);
    if (names.some((n) => name === n || name.startsWith(`${n} [`))) return p;
  }
  for (const p of presets || []) {
    if (name === p.name || name.startsWith(`${p.name} (`) || name.startsWith(`${p.name} [`)) return p;
  }
  return null;
}

/** Raw axes by number of values, most first (ties in TIE_ORDER). */
export function axesByCount(axes) {
  return [...TIE_ORDER].sort((a, b) => (axes[b] || []).length - (axes[a] || []).length
    || TIE_ORDER.indexOf(a) - TIE_ORDER.indexOf(b));
}

/** Whether every raw axis a (possibly derived) axis reads varies in the sweep. */
const varies = (axes, id) => !!AXES[id] && AXES[id].raw.some((a) => (axes[a] || []).length > 1);

/** The sweep's default for each of SWEEP_KEYS: {x, y, metric, lmetric, along, group}. */
export function sweepDefaults(summary, presets, metrics) {
  const axes = summary.axes;
  const order = axesByCount(axes);
  const hasRef = !!(summary.settings && summary.settings.reference);
  const usable = (m) => !!m && m in metrics && (hasRef || !/^err_/.test(m));
  const out = { x: order[0], y: order[1], metric: FALLBACK_METRIC, lmetric: FALLBACK_METRIC, along: order[0],
    group: (axes[order[1]] || []).length > 1 ? order[1] : 'none' };
  const view = (presetOf(summary, presets) || {}).view;
  if (view) {
    if (AXES[view.x] && AXES[view.y] && view.x !== view.y && (varies(axes, view.x) || varies(axes, view.y))) {
      out.x = view.x;
      out.y = view.y;
    }
    if (usable(view.metric)) {
      out.metric = view.metric;
      out.lmetric = view.metric;
    }
    if (RAW_AXES.includes(view.along) && (axes[view.along] || []).length > 1) {
      out.along = view.along;
      const next = order.find((a) => a !== view.along);
      out.group = (axes[next] || []).length > 1 ? next : 'none';
    }
  }
  return out;
}
