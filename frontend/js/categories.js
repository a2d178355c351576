// categories.js: the regime map's categories (one colour per regime, in /meta's order, then one
// per non-result status), the marks drawn over cells without a plain result, the near-floor mark
// of error metrics, and the verdict badge shared by the fit table and the claims table.

import { h } from './dom.js';

// Known regimes keep their colour whatever order /meta lists them in; an unknown one gets the
// next colour of EXTRA_COLORS. Hues are far apart: blue, green, brown, amber, magenta, red.
const REGIME_COLORS = {
  feature_learning: '#4c78a8',
  lazy: '#8cc5a1',
  saturated: '#8c564b',
  noise_dominated: '#f2b447',
  unstable: '#d35fb7',
  diverged: '#c44e52',
};
const DEFAULT_REGIMES = ['feature_learning', 'lazy', 'saturated', 'noise_dominated', 'unstable', 'diverged'];
const EXTRA_COLORS = ['#17becf', '#9467bd', '#bcbd22', '#393b79'];
const STATUS_CATEGORIES = [
  { key: 'queued', label: 'queued', color: '#e4e7eb' },
  { key: 'running', label: 'running', color: '#cdbfea' },
  { key: 'failed', label: 'failed', color: '#3b3b3b' },
  { key: 'cancelled', label: 'cancelled', color: '#a7adb4' },
  { key: 'no_value', label: 'no value', color: '#f5efe2' },
];

const label = (key) => key.replace(/_/g, ' ').replace('noise dominated', 'noise-dominated');

/** The category list: the server's regimes in its order (diverged included), then the statuses. */
export function categories(regimes) {
  const list = regimes && regimes.length ? [...regimes] : [...DEFAULT_REGIMES];
  if (!list.includes('diverged')) list.push('diverged');
  let extra = 0;
  const cats = list.map((key) => ({
    key, label: label(key), color: REGIME_COLORS[key] || EXTRA_COLORS[extra++ % EXTRA_COLORS.length],
  }));
  return [...cats, ...STATUS_CATEGORIES.filter((s) => !list.includes(s.key))];
}

/** Which category a cell falls in: its regime when computed, otherwise its status. */
export function cellCategory(status, regime) {
  if (status === 'done') return regime || 'no_value';
  return status || 'queued';
}

// Marks drawn over cells that have no plain result (shape + colour, with a legend entry).
export const MARKS = {
  queued: { symbol: 'circle-open', color: '#8a949e', label: 'queued' },
  running: { symbol: 'hourglass', color: '#6b4fbb', label: 'running' },
  diverged: { symbol: 'x', color: '#7a1f1f', label: 'diverged' },
  failed: { symbol: 'triangle-down', color: '#000000', label: 'failed' },
  cancelled: { symbol: 'line-ew-open', color: '#5f6770', label: 'cancelled' },
  no_value: { symbol: 'asterisk-open', color: '#8a6d3b', label: 'no value' },
};

// Cells of err_out / err_emb whose value is within FLOOR_FACTOR of the reference's noise floor.
export const FLOOR_MARK = { symbol: 'square-open', color: '#e4572e', line: 2.5 };

/** "within 3x of the reference's noise floor", with the factor /meta documents. */
export function floorLabel(meta) {
  const t = meta && meta.thresholds && meta.thresholds.floor_factor;
  const factor = t && Number.isFinite(t.value) ? t.value : 3;
  return `within ${factor}x of the reference's noise floor`;
}

const VERDICT_CLASS = { holds: 'holds', 'does not hold': 'fails', inconclusive: 'inconclusive' };

/** A coloured verdict word: holds green, does not hold red, inconclusive amber, else grey. */
export function verdictBadge(verdict, testid) {
  const v = verdict || '—';
  return h('span', { class: `verdict v-${VERDICT_CLASS[v] || 'other'}`, text: v, dataset: { testid, verdict: v } });
}
