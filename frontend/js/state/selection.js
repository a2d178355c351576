// state/selection.js: the points selected across views (table rows, phase cells), not in the URL.
// `select(ids, source)` replaces it and emits 'selection' on the store with {ids: Set, source}:
// source 'table' (rows clicked) or 'phase' (a cell clicked), so a view can tell its own changes.

import { store } from './store.js';

export const selection = { ids: new Set(), source: null };

export function select(ids, source) {
  selection.ids = new Set(ids);
  selection.source = source;
  store.emit('selection', selection);
}

/** Add the id when absent, remove it when present. */
export function toggle(id, source) {
  const ids = new Set(selection.ids);
  if (ids.has(id)) ids.delete(id);
  else ids.add(id);
  select(ids, source);
}
