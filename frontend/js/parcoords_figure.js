// parcoords_figure.js: parallel coordinates drawn as a plain (SVG) Plotly figure, and brushing
// them with the mouse. Plotly's own parcoords trace draws with WebGL through regl, which compiles
// its shaders with `new Function`: the page's CSP (no eval) blocks it, and machines without WebGL
// (headless Chromium, remote desktops) show nothing. Here each dimension is a vertical axis at
// x = 0, 1, ..., n - 1 with its values scaled to [0, 1]; each point is one polyline, in K colour
// bins of the colour dimension (one 'lines' trace per bin, NaN-free by construction), grey when a
// brush leaves it out; at most MAX_DRAWN lines. Brushes are {key: [lo, hi]} in drawn units
// (log10 for a log axis).

import { fmt } from './dom.js';

const K = 8;  // colour bins
// Most polylines drawn: past it every k-th point is drawn (SVG paths of 20,000 lines take seconds);
// the spans, the ticks and the brushes' filtering of the table still use every point.
export const MAX_DRAWN = 5000;
const VIRIDIS = ['#440154', '#46327e', '#365c8d', '#277f8e', '#1fa187', '#4ac16d', '#a0da39', '#fde725'];
const OUT = 'rgba(150, 156, 165, 0.25)';
const MARGIN = { l: 56, r: 96, t: 34, b: 16 };
const YR = [-0.04, 1.04];

/** The drawn span of a dimension: its values and ticks (a single value: +- 0.5). */
function span(d) {
  let lo = Math.min(...d.values, ...(d.tickvals || []));
  let hi = Math.max(...d.values, ...(d.tickvals || []));
  if (hi === lo) { lo -= 0.5; hi += 0.5; }
  return [lo, hi];
}

function linearTicks(lo, hi) {
  return Array.from({ length: 5 }, (_, k) => lo + ((hi - lo) * k) / 4);
}

/**
 * dims: [{key, label, log, values: [p], tickvals?, ticktext?}] (values drawn: log10 on a log axis);
 * colour: index of the dimension that colours the lines; brushes: {key: [lo, hi]}.
 */
export function parcoordsFigure(dims, colour, brushes) {
  const n = dims.length;
  const spans = dims.map(span);
  const norm = dims.map((d, i) => (v) => (v - spans[i][0]) / (spans[i][1] - spans[i][0]));
  const count = dims[0].values.length;
  const bins = Array.from({ length: K + 1 }, () => ({ x: [], y: [] }));  // bin K: left out by a brush
  const limits = dims.map((d) => brushes[d.key] || null);
  const step = Math.ceil(count / MAX_DRAWN);
  for (let p = 0; p < count; p += step) {
    const inside = limits.every((r, i) => !r || (dims[i].values[p] >= r[0] && dims[i].values[p] <= r[1]));
    const c = norm[colour](dims[colour].values[p]);
    const bin = inside ? Math.min(K - 1, Math.max(0, Math.floor(c * K))) : K;
    for (let i = 0; i < n; i += 1) {
      bins[bin].x.push(i);
      bins[bin].y.push(norm[i](dims[i].values[p]));
    }
    bins[bin].x.push(null);
    bins[bin].y.push(null);
  }
  const data = [K, ...Array.from({ length: K }, (_, b) => b)].filter((b) => bins[b].x.length).map((b) => ({
    type: 'scatter', mode: 'lines', x: bins[b].x, y: bins[b].y, hoverinfo: 'skip', showlegend: false,
    line: { width: 1, color: b === K ? OUT : VIRIDIS[b] }, opacity: b === K ? 1 : 0.7, meta: { role: b === K ? 'out' : 'in' },
  }));
  const [clo, chi] = spans[colour];
  data.push({  // the colour bar only (its one marker sits below the plot)
    type: 'scatter', mode: 'markers', x: [0], y: [-10], hoverinfo: 'skip', showlegend: false, meta: { role: 'colourbar' },
    marker: { color: [clo], cmin: clo, cmax: chi, colorscale: 'Viridis', showscale: true,
      colorbar: { title: { text: dims[colour].label, side: 'right' }, thickness: 12, len: 0.9 } },
  });
  const shapes = [];
  const annotations = [];
  dims.forEach((d, i) => {
    shapes.push({ type: 'line', x0: i, x1: i, y0: 0, y1: 1, line: { color: '#1f2933', width: 1 } });
    const r = limits[i];
    if (r) {
      shapes.push({ type: 'rect', x0: i - 0.08, x1: i + 0.08, y0: norm[i](r[0]), y1: norm[i](r[1]),
        fillcolor: 'rgba(232, 89, 12, 0.3)', line: { color: '#e8590c', width: 1.5 } });
    }
    annotations.push({ x: i, y: 1.02, yanchor: 'bottom', text: `<b>${d.label}</b>`, showarrow: false, font: { size: 12 } });
    const tv = d.tickvals || linearTicks(...spans[i]);
    const tt = d.ticktext || tv.map((t) => fmt(t, 3));
    tv.forEach((t, k) => annotations.push({ x: i, y: norm[i](t), xanchor: 'right', xshift: -3, text: tt[k],
      showarrow: false, font: { size: 10, color: '#4a5560' } }));
  });
  const layout = {
    margin: MARGIN, paper_bgcolor: '#ffffff', plot_bgcolor: '#ffffff', dragmode: false, hovermode: false, showlegend: false,
    font: { family: 'system-ui, -apple-system, Segoe UI, Roboto, sans-serif', size: 12, color: '#1f2933' },
    xaxis: { range: [-0.35, n - 0.65], visible: false, fixedrange: true },
    yaxis: { range: YR, visible: false, fixedrange: true }, shapes, annotations,
    meta: { step, dims: dims.map((d, i) => ({ key: d.key, label: d.label, log: d.log, span: spans[i] })) },
  };
  return { data, layout };
}

/** Page pixel -> (x, y) in the figure's coordinates (fixed margins and ranges: no Plotly internals). */
function toData(div, n, e) {
  const box = div.getBoundingClientRect();
  const w = box.width - MARGIN.l - MARGIN.r;
  const h = box.height - MARGIN.t - MARGIN.b;
  const x = -0.35 + ((e.clientX - box.left - MARGIN.l) / w) * (n - 0.3);
  const y = YR[1] - ((e.clientY - box.top - MARGIN.t) / h) * (YR[1] - YR[0]);
  return [x, y];
}

/**
 * Drag along an axis to brush it, click on it to clear it: onBrush(key, [lo, hi] | null) in drawn
 * units. Bound once per div (capture phase: ahead of Plotly's own drag layer).
 */
export function bindBrushing(div, onBrush) {
  if (div.dataset.brushing) return;
  div.dataset.brushing = '1';
  let drag = null;
  const meta = () => (div.layout && div.layout.meta ? div.layout.meta.dims : []);
  div.addEventListener('pointerdown', (e) => {
    const dims = meta();
    const [x, y] = toData(div, dims.length, e);
    const i = Math.round(x);
    if (!dims[i] || Math.abs(x - i) > 0.2 || y < -0.03 || y > 1.03) return;
    e.preventDefault();
    e.stopPropagation();
    drag = { i, y0: y, dims };
  }, true);
  window.addEventListener('pointerup', (e) => {
    if (!drag) return;
    const { i, y0, dims } = drag;
    drag = null;
    const y1 = toData(div, dims.length, e)[1];
    const [s0, s1] = dims[i].span;
    const at = (t) => s0 + Math.min(1, Math.max(0, t)) * (s1 - s0);
    onBrush(dims[i].key, Math.abs(y1 - y0) < 0.01 ? null : [at(Math.min(y0, y1)), at(Math.max(y0, y1))]);
  }, true);
}
