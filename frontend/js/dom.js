// dom.js: tiny DOM and formatting helpers shared by the panels (no framework).

/** h('div', {class: 'x', dataset: {testid: 'y'}, onclick: fn}, child, ...) -> Element. */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') el.className = v;
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k === 'text') el.textContent = v;
    else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k in el && typeof v !== 'string') el[k] = v;
    else el.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

export const $ = (sel, root = document) => root.querySelector(sel);

/** A labelled <select>; options are [value, text] pairs or plain values. */
export function selectControl(id, label, options, value, onChange, title) {
  const sel = h('select', { id, 'aria-label': label, dataset: { testid: id } });
  for (const o of options) {
    const [v, t] = Array.isArray(o) ? o : [o, o];
    sel.append(h('option', { value: String(v), text: t }));
  }
  sel.value = String(value);
  if (onChange) sel.addEventListener('change', () => onChange(sel.value));
  return h('div', { class: 'control', title }, h('label', { for: id, text: label }), sel);
}

/** Compact number: 3 significant digits, exponent form when very small or large. */
export function fmt(v, digits = 3) {
  if (v === null || v === undefined || Number.isNaN(v)) return '—';
  if (typeof v !== 'number') return String(v);
  if (!Number.isFinite(v)) return v > 0 ? '∞' : '-∞';
  const a = Math.abs(v);
  if (a !== 0 && (a < 1e-3 || a >= 1e5)) return v.toExponential(digits - 1);
  return String(Number(v.toPrecision(digits)));
}

/** Axis values as the user typed them: integers stay integers, floats get 4 significant digits. */
export function fmtValue(v) {
  return Number.isInteger(v) ? String(v) : String(Number(v.toPrecision(4)));
}

export function fmtDuration(s) {
  if (s === null || s === undefined || !Number.isFinite(s)) return '—';
  if (s < 60) return `${s.toFixed(s < 10 ? 1 : 0)} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`;
  return `${Math.floor(s / 3600)} h ${Math.round((s % 3600) / 60)} min`;
}

export function fmtFlops(f) {
  if (!Number.isFinite(f)) return '—';
  const units = [['P', 1e15], ['T', 1e12], ['G', 1e9], ['M', 1e6], ['k', 1e3]];
  for (const [u, x] of units) if (f >= x) return `${(f / x).toPrecision(3)} ${u}FLOP`;
  return `${Math.round(f)} FLOP`;
}

/** Save a Blob under a file name (an <a download> click; blob: URLs are allowed by the CSP). */
export function saveBlob(blob, filename) {
  const url = URL.createObjectURL(blob);
  const a = h('a', { href: url, download: filename });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

/** Debounce: call fn once, `ms` after the last call. */
export function debounce(fn, ms) {
  let t = null;
  return (...args) => {
    clearTimeout(t);
    t = setTimeout(() => fn(...args), ms);
  };
}
