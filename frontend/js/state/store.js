// state/store.js: the page's shared state (view, server meta, selected sweep) and change events.
// Panels read `store.view` and call `store.update({...})`; the URL follows every view change.

import { DEFAULT_VIEW, readView, writeView } from './url.js';

const listeners = new Map();

export const store = {
  view: { ...DEFAULT_VIEW },
  meta: null,        // GET /meta
  sweep: null,       // summary of the selected sweep (GET /sweeps/{id})
  sweeps: [],        // GET /sweeps (the page of the list's search)
  sweepTotal: 0,     // how many sweeps match that search (X-Total-Count)
  health: null,      // GET /health, as last polled

  /** Subscribe to 'view' | 'sweep' | 'results' | 'polled'; returns an unsubscribe function. */
  on(event, fn) {
    if (!listeners.has(event)) listeners.set(event, new Set());
    listeners.get(event).add(fn);
    return () => listeners.get(event).delete(fn);
  },

  emit(event, detail) {
    for (const fn of listeners.get(event) || []) {
      try {
        fn(detail);
      } catch (err) {
        console.error(`resphase: ${event} listener failed`, err);
      }
    }
  },

  /**
   * Merge `patch` into the view, write the URL, tell listeners which keys changed. A different
   * sweep clears the typed predicted exponent (it was typed for the previous sweep) unless the
   * patch sets one itself.
   */
  update(patch, { push = false } = {}) {
    if ('sweep' in patch && patch.sweep !== this.view.sweep && !('pred' in patch)) patch = { ...patch, pred: '' };
    const changed = Object.keys(patch).filter((k) => JSON.stringify(this.view[k]) !== JSON.stringify(patch[k]));
    if (!changed.length) return;
    this.view = { ...this.view, ...patch };
    writeView(this.view, push);
    this.emit('view', new Set(changed));
  },

  /** Replace the view from the URL (page load, back/forward). */
  loadFromUrl() {
    this.view = readView();
    this.emit('view', new Set(Object.keys(this.view)));
  },
};
