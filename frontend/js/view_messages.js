// view_messages.js: the one line above the sweep header that says why the page is not showing
// what the link asked for: URL parameters that were reset (state/view_check.js) and a sweep the
// server does not know (GET /sweeps/{id} answered 404). Each source keeps its own part.

import { $ } from './dom.js';
import { store } from './state/store.js';

const parts = new Map();  // source -> text

/** Set (or clear, with '') the message of one source. */
export function viewMessage(source, text) {
  if (text) parts.set(source, text);
  else parts.delete(source);
  const el = $('#view-message');
  if (el) el.textContent = [...parts.values()].join(' ');
}

export function initViewMessages() {
  store.on('problems', (problems) => viewMessage('params', problems.length
    ? `Some link parameters were reset: ${problems.join('; ')}.` : ''));
  store.on('notfound', (id) => {
    viewMessage('notfound', `Sweep #${id} not found: it may have been deleted, or the link is wrong. Pick one on the left.`);
    store.update({ sweep: null, point: null }, { push: false });
  });
}
