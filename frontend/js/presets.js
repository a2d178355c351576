// presets.js: the "start from a preset" box of the new-sweep form (GET /presets): pick a named
// sweep and its size, read what it shows, load it into the form. A failed request is shown in
// the box (the endpoint is part of every server).

import { api } from './api.js';
import { h } from './dom.js';

function renderPresets(root, presets, onLoad) {
  const sel = h('select', { id: 'f-preset', 'aria-label': 'preset', dataset: { testid: 'f-preset' } },
    presets.map((p) => h('option', { value: p.name, text: p.title || p.name })));
  const size = h('select', { id: 'f-preset-size', 'aria-label': 'preset size' },
    h('option', { value: 'quick', text: 'quick' }), h('option', { value: 'full', text: 'full' }));
  const info = h('div', { class: 'preset-info', dataset: { testid: 'preset-info' } });
  const describe = () => {
    const p = presets.find((x) => x.name === sel.value);
    info.replaceChildren(h('span', { text: p.description || '' }),
      p.claims && p.claims.length ? h('ul', {}, p.claims.map((c) => h('li', { text: c }))) : '');
  };
  const load = h('button', { type: 'button', class: 'small', text: 'Load preset', dataset: { testid: 'preset-load' } });
  load.addEventListener('click', () => {
    const p = presets.find((x) => x.name === sel.value);
    const sp = p[size.value] || p.quick;
    onLoad({ ...sp, name: sp.name || `${p.name} (${size.value})` });
  });
  sel.addEventListener('change', describe);
  root.replaceChildren(h('div', { class: 'legend', text: 'Start from a preset' }),
    h('div', { class: 'preset-box' },
      h('div', { class: 'field' }, h('label', { for: 'f-preset', text: 'preset' }), sel),
      h('div', { class: 'field size' }, h('label', { for: 'f-preset-size', text: 'size' }), size), load), info);
  describe();
}

/** Fill `root` with the presets; `onLoad(spec)` puts the chosen one into the form. */
export async function loadPresets(root, onLoad) {
  let presets;
  try {
    presets = (await api.presets()) || [];
  } catch (err) {
    root.replaceChildren(h('p', { class: 'form-error', role: 'alert', dataset: { testid: 'presets-error' },
      text: `Presets could not be loaded: ${err.text ? err.text() : err}` }));
    return;
  }
  if (!presets.length) {
    root.replaceChildren(h('p', { class: 'note', dataset: { testid: 'presets-empty' }, text: 'This server has no presets.' }));
    return;
  }
  renderPresets(root, presets, onLoad);
}
