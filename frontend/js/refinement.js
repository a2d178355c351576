// refinement.js: the "Refinement" panel of a sweep that refines a boundary (its summary's
// `refinement`, GET /sweeps/{id}): state, rounds, points spent of the budget, per line (D, L, M)
// the crossing and its interval, and a chart of each line's interval round by round (one bar per
// round, so the interval visibly narrows). It is drawn from the summaries the sweep polling
// already fetches (sweeps.js emits 'summary' for each): there is no poll loop here. A sweep that
// refines several boundaries (summary.refinements, in the order of its `refine` list) gets a
// picker; the panel shows one boundary at a time.
//
// summary.refinement: null | {metric, threshold, threshold_name, axis, tol, max_points, rounds,
//   points_added, uniform_points, state: 'waiting' | 'refining' | 'converged' | 'budget_spent' | 'no_crossing',
//   lines: [{D, L, M, crossing, ci: [lo, hi] | null, bracket, interval: [lo, hi] | null (the hull of
//            ci and bracket: what width_rel measures), width_rel, converged, reason,
//            history: [{round, crossing, ci, width_rel, n_alphas}]}]}

import { axisLabel } from './axes.js';
import { $, fmt, fmtValue, h } from './dom.js';
import { PLOT_CONFIG } from './heatmap.js';
import { themed } from './theme.js';

const PLOT = 'refinement-history';
const STATE_TEXT = {
  waiting: 'waiting for the grid',
  refining: 'refining',
  converged: 'converged',
  budget_spent: 'budget spent',
  no_crossing: 'no crossing found',
};
// One colour per line (cycled): the bars of a line's rounds share it.
const COLORS = ['#4c78a8', '#e45756', '#54a24b', '#b279a2', '#f58518', '#72b7b2', '#9d755d', '#79706e'];
let drawn = '';   // the refinement last drawn (JSON), so an unchanged poll does not redraw
let picked = { sweep: null, index: 0 };  // which of the sweep's refinements the panel shows
let lastSummary = null;

const lineKey = (l) => `D=${fmtValue(l.D)}, L=${fmtValue(l.L)}, M=${fmtValue(l.M)}`;
const widthOf = (e) => e.width_rel ?? (e.ci && e.crossing > 0 ? (e.ci[1] - e.ci[0]) / e.crossing : null);
const intervalOf = (l) => l.interval || l.ci || null;
const fmtCi = (ci) => (ci ? `[${fmt(ci[0], 4)}, ${fmt(ci[1], 4)}]` : '—');

// A threshold as given: a number, a named threshold (with its value) or a formula in D, L, M.
const thresholdText = (r) => r.threshold_formula || (typeof r.threshold === 'number' ? fmt(r.threshold, 4) : String(r.threshold));

function summaryLine(r) {
  const value = thresholdText(r);
  const threshold = r.threshold_name ? `${value} (${r.threshold_name})` : value;
  const uniform = r.uniform_points ? h('span', { class: 'meta', dataset: { testid: 'refinement-uniform' },
    text: `a uniform α grid would need ${r.uniform_points} points for the same tol` }) : null;
  return h('div', { class: 'refine-summary' },
    h('h3', { text: 'Refinement' }),
    h('span', { class: `badge refine-state ${r.state}`, text: STATE_TEXT[r.state] || r.state,
      dataset: { testid: 'refinement-state', state: r.state } }),
    h('span', { class: 'meta', text: `round ${r.rounds}`, dataset: { testid: 'refinement-rounds', rounds: String(r.rounds) } }),
    h('span', { class: 'meta', text: `${r.points_added} / ${r.max_points} points added`,
      dataset: { testid: 'refinement-points', added: String(r.points_added), max: String(r.max_points) } }),
    h('span', { class: 'meta', text: `${r.metric} = ${threshold} along ${axisLabel(r.axis)}, until width/crossing ≤ ${fmt(r.tol, 3)}` }),
    uniform);
}

/** The per-line table: D, L, M, crossing, interval, relative width, converged. */
function linesTable(r) {
  const perLine = !!r.threshold_formula;  // a formula: each line has its own threshold
  const head = h('tr', {}, ['D', 'L', 'M', ...(perLine ? ['threshold'] : []), `crossing (${axisLabel(r.axis)})`,
    'interval', 'width / crossing', 'converged'].map((t) => h('th', { text: t })));
  const rows = r.lines.map((l, k) => h('tr', {
    dataset: {
      testid: `refinement-line-${k}`, line: lineKey(l), crossing: String(l.crossing ?? ''),
      lo: String(intervalOf(l) ? intervalOf(l)[0] : ''), hi: String(intervalOf(l) ? intervalOf(l)[1] : ''),
      width: String(l.width_rel ?? ''),
      converged: String(!!l.converged), rounds: String((l.history || []).length),
    },
  },
  h('td', {}, h('span', { class: 'swatch', style: `background:${COLORS[k % COLORS.length]}` }), fmtValue(l.D)),
  h('td', { text: fmtValue(l.L) }), h('td', { text: fmtValue(l.M) }),
  perLine ? h('td', { text: fmt(l.threshold, 4), dataset: { testid: `refinement-threshold-${k}` } }) : null,
  h('td', { text: fmt(l.crossing, 4) }),
  h('td', { text: fmtCi(intervalOf(l)), title: `the hull of the bracket ${fmtCi(l.bracket)} and the 95% CI ${fmtCi(l.ci)}` }),
  h('td', { text: fmt(l.width_rel, 3), dataset: { testid: `refinement-width-${k}` } }),
  h('td', { text: l.converged ? 'yes' : (l.reason || 'no') })));
  return h('table', { class: 'table refine-table', dataset: { testid: 'refinement-lines' } },
    h('thead', {}, head), h('tbody', {}, rows));
}

/**
 * The interval history as horizontal bars on a log alpha axis: line k's round r is a thick
 * segment over that round's interval (bootstrap CI and grid bracket), at y = r (lines offset a little so they do not overlap), its
 * crossing a tick mark. Rounds run downwards, so a converging line draws a narrowing funnel.
 * Each bar trace carries meta {role: 'interval', line, rounds, widths} for tests and exports.
 */
function historyFigure(r) {
  const data = [];
  const n = r.lines.length;
  r.lines.forEach((l, k) => {
    // each round's interval (the hull of its bootstrap CI and grid bracket; rounds stored before
    // intervals were kept have their CI only)
    const span = (e) => e.interval || e.ci;
    const hist = (l.history || []).filter(span);
    if (!hist.length) return;
    const dy = n > 1 ? (k / (n - 1) - 0.5) * 0.5 : 0;
    const color = COLORS[k % COLORS.length];
    const x = hist.flatMap((e) => [span(e)[0], span(e)[1], null]);
    const y = hist.flatMap((e) => [e.round + dy, e.round + dy, null]);
    data.push({
      type: 'scatter', mode: 'lines', name: lineKey(l), x, y, line: { color, width: n > 4 ? 5 : 9 },
      hoverinfo: 'skip', legendgroup: lineKey(l),
      meta: { role: 'interval', line: lineKey(l), rounds: hist.map((e) => e.round), widths: hist.map(widthOf) },
    });
    data.push({
      type: 'scatter', mode: 'markers', name: `${lineKey(l)} crossing`, showlegend: false, legendgroup: lineKey(l),
      x: hist.map((e) => e.crossing), y: hist.map((e) => e.round + dy),
      text: hist.map((e) => `${lineKey(l)}<br>round ${e.round}: ${axisLabel(r.axis)} = ${fmt(e.crossing, 4)} in ${fmtCi(span(e))}`
        + `<br>width / crossing ${fmt(widthOf(e), 3)} (${e.n_alphas ?? '?'} alphas)`),
      hovertemplate: '%{text}<extra></extra>', meta: { role: 'crossing', line: lineKey(l) },
      marker: { symbol: 'line-ns', size: 16, color: '#111', line: { width: 2, color: '#111' } },
    });
  });
  const rounds = Math.max(1, ...r.lines.flatMap((l) => (l.history || []).map((e) => e.round + 1)));
  const layout = {
    margin: { l: 56, r: 16, t: 8, b: 44 }, height: Math.min(360, 90 + 34 * rounds), showlegend: n > 1 && n <= 8,
    legend: { orientation: 'h', x: 0, y: 1.02, yanchor: 'bottom', font: { size: 11 } },
    xaxis: { type: 'log', title: { text: `${axisLabel(r.axis)}: crossing and its interval (95% CI and grid bracket), per round` }, automargin: true },
    yaxis: { title: { text: 'round' }, autorange: 'reversed', dtick: 1, zeroline: false, automargin: true },
    plot_bgcolor: '#ffffff', paper_bgcolor: '#ffffff', hovermode: 'closest', uirevision: 'refinement',
    font: { family: 'system-ui, -apple-system, Segoe UI, Roboto, sans-serif', size: 12, color: '#1f2933' },
  };
  return { data, layout };
}

const boundaryName = (r) => `${r.metric} = ${thresholdText(r)}`;

/** A picker among the sweep's refinements (null when it refines one boundary). */
function picker(all, index) {
  if (all.length < 2) return null;
  const select = h('select', { 'aria-label': 'refined boundary', dataset: { testid: 'refinement-pick' } },
    all.map((r, k) => h('option', { value: String(k), text: `${boundaryName(r)} (${STATE_TEXT[r.state] || r.state})` })));
  select.value = String(index);
  select.addEventListener('change', () => {
    picked = { sweep: picked.sweep, index: Number(select.value) };
    drawn = '';
    renderRefinement(lastSummary);
  });
  return h('label', { class: 'refine-pick' }, `boundary ${index + 1} of ${all.length}: `, select);
}

/** Show the selected sweep's refinement (hidden when it has none); redraws only on a change. */
export function renderRefinement(summary) {
  const root = $('#refinement');
  lastSummary = summary;
  const all = summary ? (summary.refinements || (summary.refinement ? [summary.refinement] : [])) : [];
  if (summary && picked.sweep !== summary.id) picked = { sweep: summary.id, index: 0 };
  const index = Math.min(picked.index, Math.max(all.length - 1, 0));
  const r = all.length ? all[index] : null;
  if (!r) {
    root.hidden = true;
    if (drawn) window.Plotly.purge($(`#${PLOT}`));
    drawn = '';
    return;
  }
  const key = JSON.stringify([summary.id, index, all.map((x) => x.state), r]);
  if (key === drawn) return;
  drawn = key;
  root.hidden = false;
  const noLines = r.lines.length ? null : h('p', { class: 'muted', text: r.state === 'waiting'
    ? 'The initial grid is still computing: refinement starts when its lines are done.' : 'No line has a crossing to refine.' });
  $('#refinement-body').replaceChildren(...[picker(all, index), summaryLine(r), noLines || linesTable(r)].filter(Boolean));
  const div = $(`#${PLOT}`);
  const fig = historyFigure(r);
  div.hidden = !fig.data.length;
  if (fig.data.length) {
    window.Plotly.react(div, fig.data, themed(fig.layout), PLOT_CONFIG).then(() => { div.dataset.rounds = String(r.rounds); });
  } else window.Plotly.purge(div);
}
