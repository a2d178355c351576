// guard.js: the guardrails before a launch. The form's summary states the estimated compute time
// (POST /sweeps/validate `estimated_s`, on one CPU worker) and the peak memory of the largest
// ensemble on one worker (`peak_memory_bytes`, backend/memory.py); a launch above a threshold
// (more than an hour, or more than 4 GiB) asks for confirmation in a dialog first. A shape that
// cannot fit a worker at all is refused by the API (422 max_memory_bytes_per_worker), shown on the form.

import { fmtDuration, h } from './dom.js';

export const CONFIRM_SECONDS = 3600;
export const CONFIRM_BYTES = 4 * 1024 ** 3;

const YEAR = 365.25 * 86400;

/** Seconds, readable at any size (a huge sweep's estimate runs to years). */
export function fmtLongDuration(s) {
  if (Number.isFinite(s) && s >= 2 * 86400) return s >= YEAR ? `${(s / YEAR).toPrecision(3)} years` : `${(s / 86400).toPrecision(3)} days`;
  return fmtDuration(s);
}

export function fmtBytes(n) {
  if (n === null || n === undefined || !Number.isFinite(n)) return '—';
  const units = [['TiB', 1024 ** 4], ['GiB', 1024 ** 3], ['MiB', 1024 ** 2], ['KiB', 1024]];
  for (const [u, x] of units) if (n >= x) return `${(n / x).toPrecision(3)} ${u}`;
  return `${n} B`;
}

/** The summary's cost line: time and memory of a validated draft. */
export function costText(draft) {
  const shape = draft.peak_memory_shape ? ` (D=${draft.peak_memory_shape.D}, L=${draft.peak_memory_shape.L}, M=${draft.peak_memory_shape.M})` : '';
  return `~${fmtLongDuration(draft.estimated_s)} on one CPU worker · peak ${fmtBytes(draft.peak_memory_bytes)} per worker${shape}`;
}

/** Why a draft needs a confirmation (empty: it does not). */
export function reasons(draft) {
  const out = [];
  if (draft.estimated_s > CONFIRM_SECONDS) out.push(`it is estimated to take ${fmtLongDuration(draft.estimated_s)} of compute on one CPU worker (over ${fmtDuration(CONFIRM_SECONDS)})`);
  if (draft.peak_memory_bytes > CONFIRM_BYTES) out.push(`its largest ensemble needs ${fmtBytes(draft.peak_memory_bytes)} on one worker (over ${fmtBytes(CONFIRM_BYTES)})`);
  return out;
}

/** Resolve true when the launch may go ahead: at once under the thresholds, else the user's answer. */
export function confirmLaunch(draft) {
  const why = reasons(draft);
  if (!why.length) return Promise.resolve(true);
  return new Promise((resolve) => {
    const done = (ok) => { dialog.close(); dialog.remove(); resolve(ok); };
    const launch = h('button', { type: 'button', class: 'primary', text: 'Launch anyway', dataset: { testid: 'confirm-launch' }, onclick: () => done(true) });
    const cancel = h('button', { type: 'button', text: 'Cancel', dataset: { testid: 'cancel-launch' }, onclick: () => done(false) });
    const dialog = h('dialog', { class: 'confirm-dialog', dataset: { testid: 'launch-confirm' }, 'aria-labelledby': 'confirm-title' },
      h('h2', { id: 'confirm-title', text: `Launch ${draft.n_points} points?` }),
      h('ul', {}, why.map((w) => h('li', { text: `This sweep is big: ${w}.` }))),
      h('p', { text: costText(draft) }),
      h('div', { class: 'form-buttons' }, cancel, launch));
    dialog.addEventListener('cancel', (ev) => { ev.preventDefault(); done(false); }); // Escape
    document.body.append(dialog);
    dialog.showModal();
    cancel.focus();
  });
}
