// form.js: the new-sweep form: four axes (list or log range, with the achieved values shown,
// D, L, M rounded to integers as the API does), the settings (built from GET /meta by
// settings_fields.js), presets (presets.js), the optional boundary refinement (refine_fields.js),
// the live point count and cost (POST /sweeps/validate) and the API's 422 errors next to their fields.

import { api } from './api.js';
import { RAW_AXES, axisLabel } from './axes.js';
import { $, debounce, fmtFlops, fmtValue, h } from './dom.js';
import { confirmLaunch, costText } from './guard.js';
import { loadPresets } from './presets.js';
import { buildRefine, fillRefine, readRefine, refineInput, refinePath } from './refine_fields.js';
import {
  buildSettings, errorSpan, field, fillSettings, input, numeric, readSettings, settingInput, settingPath,
} from './settings_fields.js';
import { store } from './state/store.js';

const INT_AXES = new Set(['D', 'L', 'M']);
const DEFAULT_SPEC = {
  name: '',
  grid: { alpha: { geom: [0.25, 16, 7] }, D: [16], L: [2, 8, 32], M: [16] },
  settings: { steps: 10, seeds: 4 },
};

let validateSeq = 0;
let form = null;

function axisRow(a) {
  const mode = h('select', { id: `f-${a}-mode`, 'aria-label': `${a} mode` },
    h('option', { value: 'list', text: 'list' }), h('option', { value: 'geom', text: 'log range' }));
  const list = input(`f-${a}-list`, `${a} values`, { placeholder: 'e.g. 1, 2, 4', dataset: { path: `grid.${a}` } });
  const start = input(`f-${a}-start`, `${a} from`, { placeholder: 'from', inputmode: 'decimal', dataset: { path: `grid.${a}` } });
  const stop = input(`f-${a}-stop`, `${a} to`, { placeholder: 'to', inputmode: 'decimal', dataset: { path: `grid.${a}` } });
  const num = input(`f-${a}-num`, `${a} count`, { placeholder: 'n', inputmode: 'numeric', class: 'count', dataset: { path: `grid.${a}` } });
  const sync = () => {
    const geom = mode.value === 'geom';
    list.hidden = geom;
    [start, stop, num].forEach((el) => { el.hidden = !geom; });
  };
  mode.addEventListener('change', sync);
  sync();
  return [
    h('div', { class: 'axis-row' }, h('label', { class: 'axis-name', for: `f-${a}-list`, text: axisLabel(a) }), mode,
      h('div', { class: 'axis-inputs' }, list, start, stop, num)),
    h('div', { class: 'axis-preview', id: `f-${a}-preview`, dataset: { testid: `preview-${a}` } }),
    h('div', { class: 'axis-row' }, h('span'), h('span'), errorSpan(`grid.${a}`)),
  ];
}

function build() {
  form = $('#sweep-form');
  const presetBox = h('div', { class: 'form-section', id: 'preset-section', dataset: { testid: 'preset-section' } });
  const settings = buildSettings(store.meta.run_settings);
  form.replaceChildren(
    presetBox,
    h('div', { class: 'form-section' }, field('f-name', 'sweep name', input('f-name', 'sweep name', { placeholder: 'my sweep' }), 'name', true)),
    h('div', { class: 'form-section' }, h('div', { class: 'legend', text: 'Axes' }), RAW_AXES.flatMap(axisRow), errorSpan('grid')),
    h('div', { class: 'form-section' }, h('div', { class: 'legend', text: 'Settings' }),
      h('div', { class: 'field-grid' }, settings.main),
      h('details', { class: 'more' }, h('summary', { text: 'More settings' }), h('div', { class: 'field-grid' }, settings.more))),
    h('div', { class: 'form-section' }, buildRefine(store.meta)),
    h('div', { class: 'form-summary', id: 'form-summary', dataset: { testid: 'form-summary' }, 'aria-live': 'polite' }),
    h('p', { class: 'form-error', id: 'err-form', dataset: { testid: 'error-form' }, role: 'alert' }),
    h('div', { class: 'form-buttons' },
      h('button', { type: 'submit', class: 'primary', text: 'Launch sweep', dataset: { testid: 'submit-sweep' } }),
      h('button', { type: 'button', text: 'Reset', onclick: () => { fill(DEFAULT_SPEC); scheduleValidate(); } })),
  );
  form.addEventListener('input', () => scheduleValidate());
  form.addEventListener('change', () => scheduleValidate());
  form.addEventListener('submit', (ev) => { ev.preventDefault(); submit(); });
}

/** Put a sweep spec (a preset's or the default) into the form. */
export function fill(spec) {
  $('#f-name').value = spec.name || '';
  for (const a of RAW_AXES) {
    const ax = spec.grid[a];
    const geom = ax && !Array.isArray(ax) && ax.geom;
    $(`#f-${a}-mode`).value = geom ? 'geom' : 'list';
    $(`#f-${a}-mode`).dispatchEvent(new Event('change'));
    $(`#f-${a}-list`).value = geom ? '' : (ax || []).join(', ');
    $(`#f-${a}-start`).value = geom ? ax.geom[0] : '';
    $(`#f-${a}-stop`).value = geom ? ax.geom[1] : '';
    $(`#f-${a}-num`).value = geom ? ax.geom[2] : '';
  }
  fillSettings(spec.settings || {});
  fillRefine(spec.refine);
}

/** The spec the form describes (empty settings fields are left to the API's defaults). */
export function spec() {
  const grid = {};
  for (const a of RAW_AXES) {
    if ($(`#f-${a}-mode`).value === 'geom') {
      grid[a] = { geom: ['start', 'stop', 'num'].map((k) => numeric($(`#f-${a}-${k}`).value)) };
    } else {
      grid[a] = $(`#f-${a}-list`).value.split(/[\s,;]+/).filter(Boolean).map(numeric);
    }
  }
  const out = { name: $('#f-name').value.trim(), grid, settings: readSettings() };
  const refine = readRefine();
  return refine ? { ...out, refine } : out;
}

/** The achieved values of one axis as the API computes them (log spacing, integer rounding). */
function localValues(a, ax) {
  let raw = ax;
  if (!Array.isArray(ax)) {
    const [lo, hi, n] = ax.geom;
    if (!(lo > 0 && hi > 0 && n >= 1 && n <= 1000)) return null;
    raw = n === 1 ? [lo] : Array.from({ length: n }, (_, i) => Math.exp(Math.log(lo) + (i * (Math.log(hi) - Math.log(lo))) / (n - 1)));
  }
  if (raw.some((v) => typeof v !== 'number')) return null;
  const vals = raw.map((v) => (INT_AXES.has(a) ? Math.round(v) : Number(v.toPrecision(12))));
  return [...new Set(vals)].sort((x, y) => x - y);
}

function showPreview(axes, sp) {
  for (const a of RAW_AXES) {
    const vals = axes ? axes[a] : localValues(a, sp.grid[a]);
    const el = $(`#f-${a}-preview`);
    if (!vals) { el.textContent = ''; continue; }
    const ax = sp.grid[a];
    const typed = Array.isArray(ax) ? ax.length : ax.geom[2];
    const rounded = INT_AXES.has(a) && (!Array.isArray(ax) || ax.some((v) => !Number.isInteger(v)) || vals.length !== typed);
    const shown = vals.length > 12 ? [...vals.slice(0, 6).map(fmtValue), '…', ...vals.slice(-3).map(fmtValue)] : vals.map(fmtValue);
    el.textContent = `→ ${shown.join(', ')} (${vals.length} value${vals.length === 1 ? '' : 's'}${rounded ? ', rounded to integers' : ''})`;
    el.title = vals.map(fmtValue).join(', ');
  }
}

/** FastAPI's loc (["body", "grid", "D", ...]) -> the form path of the field it concerns. */
export function locToPath(loc) {
  const parts = (loc || []).filter((p) => p !== 'body').map(String);
  if (parts[0] === 'grid') return RAW_AXES.includes(parts[1]) ? `grid.${parts[1]}` : 'grid';
  if (parts[0] === 'settings') return settingPath(parts.slice(1)) || 'form';
  if (parts[0] === 'name') return 'name';
  if (parts[0] === 'refine') return refinePath(parts.slice(1));
  return 'form';
}

function clearErrors() {
  form.querySelectorAll('.field-error, .form-error').forEach((el) => { el.textContent = ''; });
  form.querySelectorAll('[aria-invalid]').forEach((el) => el.removeAttribute('aria-invalid'));
}

/**
 * A pydantic error on an axis comes once per branch of `list | {geom}`: keep the branch the axis's
 * mode uses, and say which list item it concerns. Returns null for the other branch.
 */
function axisMessage(d) {
  const [, axis, branch, index] = (d.loc || []).filter((p) => p !== 'body').map(String);
  if (branch === undefined || !RAW_AXES.includes(axis)) return d.msg;
  const geom = $(`#f-${axis}-mode`).value === 'geom';
  if (geom !== (branch === 'GeomRange')) return null;
  if (geom) return `${d.msg}${index !== undefined ? ` (${index})` : ''}`;
  return index !== undefined && /^\d+$/.test(index) ? `value ${Number(index) + 1}: ${d.msg}` : d.msg;
}

/** Show an ApiError next to its fields; returns the number of messages shown. */
function showErrors(err) {
  clearErrors();
  const details = Array.isArray(err.detail) ? err.detail : [{ loc: [], msg: err.text ? err.text() : String(err) }];
  let shown = 0;
  for (const d of details) {
    const path = locToPath(d.loc);
    const msg = path.startsWith('grid.') && d.type !== 'limit' ? axisMessage(d) : d.msg;
    if (msg === null) continue;
    const span = document.getElementById(`err-${path}`) || document.getElementById('err-form');
    span.textContent = span.textContent ? `${span.textContent}; ${msg}` : msg;
    markInvalid(path);
    shown += 1;
  }
  return shown || details.length;
}

function markInvalid(path) {
  if (path.startsWith('grid.')) {
    const a = path.slice(5);
    const geom = $(`#f-${a}-mode`).value === 'geom';
    (geom ? [`#f-${a}-start`, `#f-${a}-stop`, `#f-${a}-num`] : [`#f-${a}-list`]).forEach((s) => $(s).setAttribute('aria-invalid', 'true'));
  } else if (path.startsWith('settings.')) settingInput(path).setAttribute('aria-invalid', 'true');
  else if (path.startsWith('refine')) refineInput(path).setAttribute('aria-invalid', 'true');
  else if (path === 'name') $('#f-name').setAttribute('aria-invalid', 'true');
}

function summaryText(r) {
  const reused = r.n_reused ? ` (${r.n_reused} already computed)` : '';
  return `${r.n_points} point${r.n_points === 1 ? '' : 's'}${reused} × ${r.settings.seeds} seeds · est. ${fmtFlops(r.estimated_flops)} · ${costText(r)}`;
}

const scheduleValidate = debounce(() => validate(), 250);

export async function validate() {
  const my = ++validateSeq;
  const sp = spec();
  const summary = $('#form-summary');
  showPreview(null, sp);
  try {
    const r = await api.validate(sp);
    if (my !== validateSeq) return;
    clearErrors();
    showPreview(r.axes, sp);
    summary.textContent = summaryText(r);
    summary.classList.remove('bad');
  } catch (err) {
    if (my !== validateSeq) return;
    const n = showErrors(err);
    summary.textContent = `Not valid yet: ${n} problem${n === 1 ? '' : 's'} (see the highlighted fields).`;
    summary.classList.add('bad');
  }
}

async function submit() {
  const button = form.querySelector('button[type=submit]');
  button.disabled = true;
  try {
    const sp = spec();
    // the guardrail: the draft's time and memory, confirmed in a dialog above the thresholds (guard.js)
    if (!(await confirmLaunch(await api.validate(sp)))) return;
    const created = await api.create(sp);
    clearErrors();
    store.emit('created', created);
  } catch (err) {
    showErrors(err);
    $('#form-summary').classList.add('bad');
  } finally {
    button.disabled = false;
  }
}

export function initForm() {
  build();
  fill(DEFAULT_SPEC);
  validate();
  loadPresets($('#preset-section'), (sp) => { fill(sp); validate(); });
}
