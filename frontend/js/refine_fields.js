// refine_fields.js: the new-sweep form's collapsed "Refine a boundary" section. When enabled, the
// submitted spec gets `refine: {metric, threshold, axis: 'alpha', tol, max_points}`: after the
// grid's lines finish, the server adds alpha points near each line's crossing of the threshold.
// The metric is a select of GET /meta `metrics`; the threshold either a typed number or one of
// /meta `thresholds` named for that metric (sent by name, resolved by the server); empty tol and
// max_points inputs are left to the API's defaults. The API's 422 errors under ["body",
// "refine", field] land next to these fields (refinePath).

import { $, h } from './dom.js';
import { errorSpan, field, input, numeric } from './settings_fields.js';

const NUMBER = '#number';   // the threshold select's "type a number" option (not a threshold name)
const FIELDS = ['metric', 'threshold', 'tol', 'max_points'];
let meta = null;            // GET /meta

/** The named thresholds of a metric (/meta thresholds whose `metric` it is), as [name, text]. */
function namedThresholds(metric) {
  return Object.entries(meta.thresholds || {})
    .filter(([, t]) => t.metric === metric)
    .map(([name, t]) => [name, `${name} (${t.value})`]);
}

/** Rebuild the threshold choices for the metric; keep the choice if it still applies, else the
 * metric's first named threshold (a valid spec as soon as refinement is enabled), else a number. */
function syncThreshold() {
  const kind = $('#f-refine-threshold-kind');
  const keep = kind.value;
  const options = [[NUMBER, 'a number'], ...namedThresholds($('#f-refine-metric').value)];
  kind.replaceChildren(...options.map(([v, t]) => h('option', { value: v, text: t })));
  kind.value = options.some(([v]) => v === keep) ? keep : (options[1] || options[0])[0];
  $('#f-refine-threshold').hidden = kind.value !== NUMBER;
}

function syncEnabled() {
  const on = $('#f-refine').checked;
  $('#refine-fields').hidden = !on;
  if (on) $('#refine-section').open = true;
}

/** The section (a <details>, collapsed): an enable checkbox, then metric, threshold, tol, max_points. */
export function buildRefine(serverMeta) {
  meta = serverMeta;
  const metrics = Object.keys(meta.metrics || {});
  const metric = h('select', { id: 'f-refine-metric', 'aria-label': 'refine metric', dataset: { testid: 'f-refine-metric' } },
    metrics.map((m) => h('option', { value: m, text: m, title: meta.metrics[m] })));
  const kind = h('select', { id: 'f-refine-threshold-kind', 'aria-label': 'refine threshold kind', dataset: { testid: 'f-refine-threshold-kind' } });
  const value = input('f-refine-threshold', 'refine threshold', { placeholder: 'e.g. 0.25', inputmode: 'decimal',
    dataset: { testid: 'f-refine-threshold' } });
  const box = h('input', { type: 'checkbox', id: 'f-refine', dataset: { testid: 'f-refine' } });
  metric.addEventListener('change', syncThreshold);
  kind.addEventListener('change', syncThreshold);
  box.addEventListener('change', syncEnabled);
  const section = h('details', { class: 'more', id: 'refine-section', dataset: { testid: 'refine-section' } },
    h('summary', { text: 'Refine a boundary' }),
    h('div', { class: 'control inline refine-enable' }, box,
      h('label', { for: 'f-refine', text: 'add α points near each line\'s crossing until its interval is narrow' })),
    h('div', { class: 'field-grid', id: 'refine-fields' },
      field('f-refine-metric', 'metric', metric, 'refine.metric', true),
      h('div', { class: 'field full' }, h('label', { for: 'f-refine-threshold-kind', text: 'threshold' }),
        h('div', { class: 'threshold-inputs' }, kind, value), errorSpan('refine.threshold')),
      field('f-refine-tol', 'tol (width / crossing)', input('f-refine-tol', 'refine tol', { placeholder: '0.05', inputmode: 'decimal',
        title: 'converged when the crossing interval is at most this fraction of the crossing' }), 'refine.tol'),
      field('f-refine-max_points', 'max points added', input('f-refine-max_points', 'refine max points',
        { placeholder: '100', inputmode: 'numeric', title: 'most points refinement may add to the grid' }), 'refine.max_points'),
      h('p', { id: 'f-refine-more', class: 'muted', dataset: { testid: 'f-refine-more' }, hidden: true }),
      errorSpan('refine')));
  return section;
}

// A loaded spec may refine several boundaries (`refine` a list): the section edits the first, the
// others are kept as loaded and sent with it (a note under the section says so).
let more = [];

/** Put a spec's `refine` (one, a list, or none: disabled) into the section. */
export function fillRefine(refine) {
  const list = Array.isArray(refine) ? refine : (refine ? [refine] : []);
  more = list.slice(1);
  const note = $('#f-refine-more');
  note.hidden = !more.length;
  note.textContent = more.length ? `and ${more.length} more boundar${more.length > 1 ? 'ies' : 'y'} from the loaded spec, `
    + `sent as they are: ${more.map((r) => `${r.metric} = ${r.threshold}`).join(', ')}` : '';
  $('#f-refine').checked = !!list.length;
  const r = list[0] || {};
  const metrics = [...$('#f-refine-metric').options].map((o) => o.value);
  $('#f-refine-metric').value = metrics.includes(r.metric) ? r.metric : (metrics.includes('feature_update') ? 'feature_update' : metrics[0]);
  $('#f-refine-threshold-kind').replaceChildren();  // no choice to keep: the metric's default
  syncThreshold();
  const named = typeof r.threshold === 'string';
  if (r.threshold !== undefined) $('#f-refine-threshold-kind').value = named ? r.threshold : NUMBER;
  $('#f-refine-threshold').value = named || r.threshold === undefined ? '' : String(r.threshold);
  $('#f-refine-tol').value = r.tol ?? '';
  $('#f-refine-max_points').value = r.max_points ?? '';
  syncThreshold();
  syncEnabled();
}

/** The `refine` the section describes (a list when the loaded spec had several), or undefined
 * when it is not enabled. */
export function readRefine() {
  if (!$('#f-refine').checked) return undefined;
  const first = readFirst();
  return more.length ? [first, ...more] : first;
}

function readFirst() {
  const kind = $('#f-refine-threshold-kind').value;
  const out = { metric: $('#f-refine-metric').value, threshold: kind === NUMBER ? numeric($('#f-refine-threshold').value) : kind, axis: 'alpha' };
  for (const k of ['tol', 'max_points']) {
    const text = $(`#f-refine-${k}`).value;
    if (text.trim() !== '') out[k] = numeric(text);
  }
  return out;
}

/** The form path of an API error under `refine` (parts after it: ['threshold'], ...). */
export function refinePath(parts) {
  if (/^\d+$/.test(parts[0] ?? '')) return parts[0] === '0' ? refinePath(parts.slice(1)) : 'refine';
  return FIELDS.includes(parts[0]) ? `refine.${parts[0]}` : 'refine';
}

/** The input an error path from refinePath concerns. */
export function refineInput(path) {
  const name = path.split('.')[1];
  if (name === 'threshold') {
    return $('#f-refine-threshold-kind').value === NUMBER ? $('#f-refine-threshold') : $('#f-refine-threshold-kind');
  }
  return name ? $(`#f-refine-${name}`) : $('#f-refine');
}
