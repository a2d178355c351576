// settings_fields.js: the run-settings inputs of the new-sweep form, built from GET /meta
// `run_settings` (the server's RunSettings, one entry per field: name, type, title, default,
// bounds, choices, group). A choice is a select, a number a text input with a numeric keyboard
// (its raw text goes to the API when it is not a number, so the API names what is wrong), a
// boolean a checkbox, a group (the reference) a checkbox with its own fields. Nothing here names
// a setting: a new one in RunSettings appears in the form by itself.

import { $, h } from './dom.js';

let fields = [];  // GET /meta run_settings

export const input = (id, label, attrs = {}) => h('input', { id, type: 'text', 'aria-label': label, autocomplete: 'off',
  spellcheck: false, ...attrs });
export const errorSpan = (path) => h('span', { class: 'field-error', id: `err-${path}`, dataset: { testid: `error-${path}` }, role: 'alert' });

export function field(id, label, control, path, full = false) {
  return h('div', { class: `field${full ? ' full' : ''}` }, h('label', { for: id, text: label }), control, errorSpan(path));
}

/** A typed number, or the raw text when it is not one (so the API names the problem). */
export const numeric = (text) => (text.trim() !== '' && Number.isFinite(Number(text)) ? Number(text) : text.trim());

/** The input of a setting: f-steps, f-reference, f-reference-L. */
const inputId = (name) => `f-${name.replace(/\./g, '-')}`;
const leaves = () => fields.flatMap((f) => (f.type === 'group' ? [f, ...(f.fields || [])] : [f]));
const isNumber = (f) => f.type === 'integer' || f.type === 'number';

/** The field's help and bounds, for its tooltip: "K, full-batch gradient steps (≥ 0)". */
function tooltip(f) {
  const bounds = [['≥', f.minimum], ['>', f.exclusive_minimum], ['≤', f.maximum], ['<', f.exclusive_maximum]]
    .filter(([, v]) => v !== null && v !== undefined).map(([op, v]) => `${op} ${v}`);
  return bounds.length ? `${f.description} (${bounds.join(', ')})` : f.description;
}

function control(f) {
  const id = inputId(f.name);
  if (f.type === 'choice') {
    return h('select', { id, 'aria-label': f.title, title: tooltip(f) }, f.choices.map((o) => h('option', { value: o, text: o })));
  }
  if (isNumber(f)) {
    return input(id, f.title, { placeholder: String(f.default), title: tooltip(f),
      inputmode: f.type === 'integer' ? 'numeric' : 'decimal' });
  }
  return input(id, f.title, { title: tooltip(f) });
}

function checkbox(f) {
  const box = h('input', { type: 'checkbox', id: inputId(f.name), dataset: { testid: inputId(f.name) }, title: tooltip(f) });
  return h('div', { class: 'field full control inline' }, box, h('label', { for: inputId(f.name), text: f.title }));
}

function render(f) {
  if (f.type === 'group') return [checkbox(f), ...(f.fields || []).map(render).flat()];
  if (f.type === 'boolean') return [checkbox(f)];
  return [field(inputId(f.name), f.title, control(f), `settings.${f.name}`)];
}

/** The inputs of every setting: {main: [...], more: [...]} (`more` goes under "More settings"). */
export function buildSettings(runSettings) {
  fields = runSettings || [];
  const of = (group) => fields.filter((f) => (f.group || 'more') === group);
  // groups (a checkbox and its fields) come last in their section
  const ordered = (list) => [...list.filter((f) => f.type !== 'group'), ...list.filter((f) => f.type === 'group')];
  return { main: ordered(of('main')).flatMap(render), more: ordered(of('more')).flatMap(render) };
}

/** Put a spec's settings into the inputs (an empty number input means the API's default). */
export function fillSettings(s) {
  const put = (f, value) => {
    const el = $(`#${inputId(f.name)}`);
    if (f.type === 'group' || f.type === 'boolean') el.checked = f.type === 'group' ? !!value : value ?? f.default;
    else if (f.type === 'choice') el.value = value ?? f.default;
    else el.value = value ?? '';
  };
  for (const f of fields) {
    put(f, s[f.name]);
    for (const sub of f.fields || []) put(sub, s[f.name] ? s[f.name][sub.name.split('.').pop()] : undefined);
  }
}

function read(list, out) {
  for (const f of list) {
    const el = $(`#${inputId(f.name)}`);
    const key = f.name.split('.').pop();
    if (f.type === 'group') {
      if (el.checked) out[key] = read(f.fields || [], {});
    } else if (f.type === 'boolean') out[key] = el.checked;
    else if (f.type === 'choice') out[key] = el.value;
    else if (el.value.trim() !== '') out[key] = isNumber(f) ? numeric(el.value) : el.value;
  }
  return out;
}

/** The settings the inputs describe (empty number inputs are left to the API's defaults). */
export const readSettings = () => read(fields, {});

/** The form path of an API error under `settings` (parts after it: ['reference', 'L']), or null. */
export function settingPath(parts) {
  const known = new Set(leaves().filter((f) => f.type !== 'group').map((f) => f.name));
  for (let n = parts.length; n > 0; n -= 1) {
    const name = parts.slice(0, n).join('.');
    if (known.has(name)) return `settings.${name}`;
  }
  return null;
}

/** The input of a form path from settingPath. */
export const settingInput = (path) => $(`#${inputId(path.slice('settings.'.length))}`);
