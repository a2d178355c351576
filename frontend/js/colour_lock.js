// colour_lock.js: a lockable colour range for the metric figures. Locking takes the range the
// metric heatmap shows now (Plotly's computed zmin/zmax, or cmin/cmax of a derived scatter) into
// view.crange ([lo, hi] in the metric's units; the URL's crange=lo,hi); every view drawn after
// that (other x, y, held values, small multiples, another sweep) colours with the same range
// until it is unlocked, so colours compare across views. A new metric unlocks it (state/store.js).

import { fmt, h } from './dom.js';
import { store } from './state/store.js';

/** [lo, hi] in metric units of the metric figure as drawn, or null before a draw. */
function drawnRange() {
  const gd = document.getElementById('phase-heatmap');
  const tr = gd && gd._fullData ? gd._fullData.find((t) => t.meta && t.meta.role === 'value') : null;
  if (!tr) return null;
  const lo = tr.type === 'heatmap' ? tr.zmin : tr.marker.cmin;
  const hi = tr.type === 'heatmap' ? tr.zmax : tr.marker.cmax;
  if (!Number.isFinite(lo) || !Number.isFinite(hi)) return null;
  const back = (v) => Number((store.view.log ? 10 ** v : v).toPrecision(4));
  return [back(lo), back(hi)];
}

function rangeInput(id, label, k) {
  const input = h('input', { id, type: 'text', inputmode: 'decimal', size: 7, 'aria-label': label,
    value: fmt(store.view.crange[k], 4), dataset: { testid: id } });
  input.addEventListener('change', () => {
    const v = Number(input.value);
    if (!Number.isFinite(v)) { input.setAttribute('aria-invalid', 'true'); return; }
    const next = [...store.view.crange];
    next[k] = v;
    if (next[0] < next[1]) store.update({ crange: next });
    else input.setAttribute('aria-invalid', 'true');
  });
  return input;
}

/** The control: a checkbox, and the two ends of the range while locked. */
export function colourLockControl() {
  const locked = !!store.view.crange;
  const box = h('input', { type: 'checkbox', id: 'phase-lock', checked: locked, dataset: { testid: 'phase-lock' } });
  box.addEventListener('change', () => store.update({ crange: box.checked ? drawnRange() : null }));
  const root = h('div', { class: 'control inline', title: 'keep this colour range for every view until unlocked' },
    box, h('label', { for: 'phase-lock', text: 'lock colour range' }));
  if (locked) root.append(rangeInput('phase-cmin', 'colour range from', 0), h('span', { class: 'muted', text: 'to' }),
    rangeInput('phase-cmax', 'colour range to', 1));
  return root;
}
