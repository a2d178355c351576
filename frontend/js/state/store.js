// state/store.js: the page's shared state (view, server meta, selected sweep) and change events.
// Panels read `store.view` and call `store.update({...})`; the URL follows every view change, and
// each change the user makes is a history entry (Back and Forward move between views; popstate
// restores them through loadFromUrl). `auto` lists the view keys the sweep decides (view_defaults.js):
// those a link left unset, and all of them when another sweep is chosen.

import { checkView } from './view_check.js';
import { DEFAULT_VIEW, LINK_KEYS, givenKeys, readView, writeView } from './url.js';

const listeners = new Map();
// Keys whose change makes the drawn zoom meaningless.
const UNZOOM = ['sweep', 'x', 'y', 'fixed'];

export const store = {
  view: { ...DEFAULT_VIEW },
  meta: null,        // GET /meta
  presets: [],       // GET /presets (each with its recommended `view`)
  sweep: null,       // summary of the selected sweep (GET /sweeps/{id})
  sweeps: [],        // GET /sweeps (the page of the list's search)
  sweepTotal: 0,     // how many sweeps match that search (X-Total-Count)
  health: null,      // GET /health, as last polled
  auto: new Set(),   // view keys to take from the next selected sweep's defaults

  /** Subscribe to 'view' | 'sweep' | 'results' | 'polled' | 'problems' | 'notfound'; returns an unsubscribe function. */
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
   * Merge `patch` into the view, write the URL (a new history entry unless `push` is false), tell
   * listeners which keys changed. A different sweep clears the typed predicted exponent (it was
   * typed for the previous sweep) unless the patch sets one, and hands the sweep's keys not in
   * the patch to its defaults; a new sweep, x, y or held value clears the zoom, a new metric the
   * locked colour range.
   */
  update(patch, { push = true } = {}) {
    if ('sweep' in patch && patch.sweep !== this.view.sweep) {
      if (!('pred' in patch)) patch = { ...patch, pred: '' };
      this.auto = new Set(LINK_KEYS.filter((k) => !(k in patch)));
    }
    if (!('zoom' in patch) && UNZOOM.some((k) => k in patch && JSON.stringify(patch[k]) !== JSON.stringify(this.view[k]))) {
      patch = { ...patch, zoom: null };
    }
    if ('metric' in patch && patch.metric !== this.view.metric && !('crange' in patch)) patch = { ...patch, crange: null };
    const changed = Object.keys(patch).filter((k) => JSON.stringify(this.view[k]) !== JSON.stringify(patch[k]));
    if (!changed.length) return;
    this.view = { ...this.view, ...patch };
    writeView(this.view, push);
    this.emit('view', new Set(changed));
  },

  /** Set view keys without a history entry or an event (the sweep's defaults, before drawing). */
  fill(patch) {
    this.view = { ...this.view, ...patch };
    writeView(this.view, false);
  },

  /** Replace the view from the URL (page load, back/forward); bad parameters are reset and told. */
  loadFromUrl() {
    const search = window.location.search;
    const { view, problems, reset } = checkView(readView(), this.meta, search);
    const given = givenKeys(search).filter((k) => !reset.includes(k));
    this.auto = new Set(LINK_KEYS.filter((k) => !given.includes(k)));
    this.view = view;
    if (problems.length) writeView(view, false);
    this.emit('problems', problems);
    this.emit('view', new Set(Object.keys(this.view)));
  },
};
