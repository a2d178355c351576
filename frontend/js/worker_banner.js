// worker_banner.js: a banner above the panels when no worker is alive (GET /health: none seen in
// the last few heartbeats) while points are queued, so a sweep that does not move says why.
// It reads the last health answer (main.js polls it) and the sweeps of the last poll.

import { $ } from './dom.js';
import { store } from './state/store.js';

/** Show or hide the banner from store.health and store.sweeps (and the selected sweep). */
export function renderWorkerBanner() {
  const banner = $('#worker-banner');
  const hs = store.health;
  const sweeps = [...store.sweeps];
  if (store.sweep && !sweeps.some((s) => s.id === store.sweep.id)) sweeps.push(store.sweep);
  const queued = sweeps.reduce((sum, s) => sum + (s.counts.queued || 0), 0);
  // only a database that answered says "no worker": when it is down, the health badge says so
  const noWorker = !!hs && hs.database && hs.database.ok && hs.workers && hs.workers.count === 0;
  const show = noWorker && queued > 0;
  if (show) {
    const text = `No worker is running: ${queued} queued point${queued === 1 ? '' : 's'} will wait until one starts `
      + '(resphase worker on a machine with the worker extra, or resphase up).';
    if (banner.textContent !== text) banner.textContent = text;
  }
  banner.hidden = !show;
}
