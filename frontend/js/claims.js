// claims.js: the "Claims" panel: the paper's claims on the presets the selected sweep runs
// (GET /sweeps/{id}/claims, the verdicts `resphase reproduce` gives), with the run progress of each
// preset and of its negative controls, a button that launches the controls not run yet
// (POST /sweeps/{id}/claims/controls) and, per claim, a link to its figure in "Lines & fits".
// Verdicts, conditions and controls are the server's: the page only shows them.

import { api } from './api.js';
import { AXES, RAW_AXES } from './axes.js';
import { $, fmt, h } from './dom.js';
import { verdictBadge } from './categories.js';
import { store } from './state/store.js';
import { poll } from './sweeps.js';

let seq = 0;
let last = null;            // {sweep, data, key, live} of the last response drawn
const launched = new Map(); // sweep id -> ids of the control sweeps this page created for it

const variantLabel = (v) => (v === 'none' ? 'the preset as specified' : `control: ${v.replace(/_/g, ' ')}`);
const ci = (c) => (c ? ` [${fmt(c[0])}, ${fmt(c[1])}]` : '');
const isLive = (s) => s.state === 'running' || (s.counts.queued || 0) + (s.counts.running || 0) > 0;

function note(text) {
  $('#claims-note').textContent = text || '';
}

/** Are some runs of the shown claims incomplete while something computes or just stopped (worth a refresh)? */
export function claimsPending() {
  if (!last || !store.sweep || last.sweep !== store.sweep.id) return false;
  const incomplete = last.data.presets.some((p) => p.runs.some((r) => !r.complete));
  // one more fetch after the last sweep stops computing: it may have completed a run
  return incomplete && (store.sweeps.some(isLive) || last.live);
}

/** The live sweep computing a run, if the list has one (control sweeps are named "... [control: X]"). */
function liveRun(variant, sweepId) {
  return store.sweeps.find((s) => isLive(s) && (variant === 'none' ? s.id === sweepId : (s.name || '').endsWith(`[control: ${variant}]`)));
}

function runRow(r, sweepId) {
  const pct = r.n_points ? Math.round((100 * r.n_finished) / r.n_points) : 0;
  const live = r.complete ? null : liveRun(r.variant, sweepId);
  const state = r.complete ? 'complete' : live ? `computing (#${live.id})` : r.n_finished ? 'incomplete' : 'not run';
  return h('div', { class: 'run-row', dataset: { testid: `claims-run-${r.variant}`, complete: String(r.complete) } },
    h('span', { class: 'run-name', text: variantLabel(r.variant) }),
    h('div', { class: 'progress', role: 'progressbar', 'aria-valuemin': '0', 'aria-valuemax': '100', 'aria-valuenow': String(pct),
      'aria-label': `progress of ${variantLabel(r.variant)}` }, h('div', { class: r.complete ? 'finished' : '', style: `width:${pct}%` })),
    h('span', { class: `run-count${r.complete ? ' complete' : ''}`, text: `${r.n_finished}/${r.n_points} · ${state}` }));
}

function conditionsCell(conds) {
  if (!conds || !conds.length) return h('td', { class: 'muted', text: '—' });
  return h('td', {}, h('ul', { class: 'cell-list' }, conds.map((c) => h('li', { title: c.meaning, dataset: { condition: c.name } },
    `${c.name}: ${fmt(c.measured)} ≤ ${fmt(c.limit)} `,
    h('span', { class: c.holds ? 'agree-yes' : 'agree-no', text: c.holds ? 'yes' : 'no' })))));
}

function controlsCell(claim) {
  if (!claim.controls || !claim.controls.length) return h('td', { class: 'muted', text: '—' });
  return h('td', {}, h('ul', { class: 'cell-list' }, claim.controls.map((c) => h('li', {
    title: `${c.settings ? JSON.stringify(c.settings) : ''}: rules out ${c.rules_out}${c.detail ? `\n${c.detail}` : ''}`,
    dataset: { control: c.name },
  }, `${c.name.replace(/_/g, ' ')}: ${c.verdict === 'not run' ? '' : `${fmt(c.measured)}${ci(c.ci)} `}`,
  verdictBadge(c.verdict, `control-verdict-${claim.claim}-${c.name}`)))));
}

/** Open the claim's figure in "Lines & fits": its metric, its x (a raw axis of it), its first grouping axis. */
function showFigure(fig) {
  const group = (fig.group || [])[0];
  let along = store.view.along;
  if (RAW_AXES.includes(fig.x)) along = fig.x;
  else if (AXES[fig.x]) along = AXES[fig.x].raw.find((a) => a !== group) || along;
  store.update({ tab: 'lines', lmetric: fig.metric, along, group: group && group !== along ? group : 'none', lfixed: { ...(fig.fixed || {}) }, pred: '' },
    { push: true });
}

function claimRow(c) {
  const fig = c.figure || {};
  return h('tr', { dataset: { testid: `claim-${c.claim}`, claim: c.claim } },
    h('td', { class: 'claim-name' }, h('b', { text: c.claim.replace(/_/g, ' ') }), h('div', { class: 'small', text: c.statement }),
      fig.metric ? h('button', { type: 'button', class: 'small link', text: 'show figure', dataset: { testid: `claim-figure-${c.claim}` },
        title: `in Lines & fits: ${fig.metric} against ${fig.x}${fig.group && fig.group.length ? `, one line per ${fig.group[0]}` : ''}`,
        onclick: () => showFigure(fig) }) : ''),
    h('td', { class: 'num predicted', text: `${fmt(c.predicted)} ± ${fmt(c.tolerance)}` }),
    h('td', { class: 'num measured' }, `${fmt(c.measured)}${ci(c.ci)}`, c.detail ? h('div', { class: 'small muted', text: c.detail }) : ''),
    h('td', {}, verdictBadge(c.verdict, `claim-verdict-${c.claim}`)),
    conditionsCell(c.conditions),
    controlsCell(c));
}

const CAPTION = 'A claim holds only when its measurement lies within predicted ± tolerance, every condition holds, '
  + 'and every control reads "does not hold". A control repeats the measurement with deliberately wrong physics: '
  + 'if it also holds, or was not run, the measurement cannot tell the right physics from the wrong one and the claim '
  + 'is inconclusive. Hover a control or condition for what it rules out.';

function presetSection(p, sweepId) {
  const base = p.runs.find((r) => r.variant === 'none');
  const body = p.claims.length
    ? h('div', { class: 'table-scroll' }, h('table', { class: 'table claims-table', dataset: { testid: `claims-table-${p.preset}` } },
      h('caption', { class: 'table-caption', text: CAPTION }),
      h('thead', {}, h('tr', {}, ['claim', 'predicted', 'measured [CI]', 'verdict', 'conditions', 'controls (must not hold)']
        .map((t) => h('th', { text: t })))),
      h('tbody', {}, p.claims.map(claimRow))))
    : h('p', { class: 'muted', dataset: { testid: 'claims-waiting' },
      text: `The claims are evaluated once the preset's own run is complete (${base ? `${base.n_finished} of ${base.n_points}` : 'no'} points so far).` });
  return h('section', { class: 'claims-preset', dataset: { testid: `claims-preset-${p.preset}` } },
    h('h3', { text: `Preset ${p.preset} (${p.size})` }),
    h('div', { class: 'runs', dataset: { testid: 'claims-runs' } }, p.runs.map((r) => runRow(r, sweepId))),
    body);
}

/** The "Run controls" button: enabled while some control is neither complete nor being computed by us. */
function controlsButton(data) {
  const sid = data.sweep_id;
  const missing = data.presets.flatMap((p) => p.runs.filter((r) => r.variant !== 'none' && !r.complete));
  if (!missing.length) return h('p', { class: 'muted small', text: 'Every control has been run.' });
  const ours = (launched.get(sid) || []).filter((id) => store.sweeps.some((s) => s.id === id && isLive(s)));
  const button = h('button', { type: 'button', class: 'primary small', dataset: { testid: 'claims-run-controls' },
    text: ours.length ? `Controls running (${ours.map((id) => `#${id}`).join(', ')})` : `Run controls (${missing.length})`,
    disabled: ours.length > 0,
    title: 'create one sweep per control not run yet (points already computed are reused)' });
  button.addEventListener('click', () => runControls(sid, button));
  return h('div', { class: 'claims-actions' }, button,
    h('span', { class: 'muted small', text: 'One sweep per control not run yet; the claims update as they finish.' }));
}

async function runControls(sid, button) {
  button.disabled = true;
  try {
    const res = await api.runControls(sid);
    launched.set(sid, [...(launched.get(sid) || []), ...res.created]);
    note(res.created.length ? `Created control sweep${res.created.length > 1 ? 's' : ''} ${res.created.map((id) => `#${id}`).join(', ')}.`
      : 'Nothing to run: every control is complete or already computed.');
  } catch (err) {
    note(`Could not run the controls: ${err.text ? err.text() : err}`);
    button.disabled = false;
    return;
  }
  await poll();
  await refreshClaims();
}

function render(data) {
  const root = $('#claims');
  if (!data.presets.length) {
    root.replaceChildren(h('p', { class: 'muted', dataset: { testid: 'claims-none' },
      text: 'This sweep does not run a preset exactly as specified, so it has no claims to check. Presets are launched from '
        + 'the New sweep form (pick one under "preset", then launch it); their claims appear here.' }));
    return;
  }
  root.replaceChildren(controlsButton(data), ...data.presets.map((p) => presetSection(p, data.sweep_id)));
}

/** Fetch and draw the claims of the selected sweep (stale responses are dropped). */
export async function refreshClaims() {
  const my = ++seq;
  const s = store.sweep;
  if (!s) return;
  let data;
  try {
    data = await api.claims(s.id);
  } catch (err) {
    if (my !== seq) return;
    last = null;
    $('#claims').replaceChildren();
    note(`Could not load the claims: ${err.text ? err.text() : err}`);
    return;
  }
  if (my !== seq || !store.sweep || store.sweep.id !== s.id) return;
  if (!last || last.sweep !== s.id) note('');
  // redraw only when something shown changed (a redraw drops hover and focus)
  const key = JSON.stringify([data, store.sweeps.filter(isLive).map((x) => [x.id, x.name]), launched.get(s.id)]);
  const same = last && last.sweep === s.id && last.key === key && $('#claims').dataset.sweep === String(s.id);
  last = { sweep: s.id, data, key, live: store.sweeps.some(isLive) };
  if (!same) render(data);
  $('#claims').dataset.sweep = String(s.id);
  $('#claims').dataset.drawn = String(my);
}

export function clearClaims() {
  seq += 1;
  last = null;
  $('#claims').replaceChildren(h('p', { class: 'muted', text: 'Select a sweep to see the claims its preset checks.' }));
  delete $('#claims').dataset.drawn;
  delete $('#claims').dataset.sweep;
  note('');
}
