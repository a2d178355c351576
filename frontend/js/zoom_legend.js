// zoom_legend.js: two things the phase figures need around Plotly's layout:
// - the zoom in the URL: a zoom or pan on either figure writes view.zoom ([x0, x1, y0, y1] in drawn
//   coordinates, as Plotly's axis ranges are), a double-click back to the full view clears it, and
//   a view opened with a zoom draws with it (zoomed());
// - a legend that grows the figure instead of squeezing the map: the horizontal legend under the
//   plot wraps into rows; each row beyond the two the margin holds adds its height to the figure.

import { store } from './state/store.js';

const full = new WeakMap();    // div -> the figure's own [x0, x1, y0, y1] (before any zoom)
const LEGEND_ROW_PX = 19;
const BASE_ROWS = 2;

const close = (a, b) => a.every((v, i) => Math.abs(v - b[i]) <= 1e-6 * Math.max(1, Math.abs(b[i])));

/** The figure with the view's zoom applied (and its own ranges remembered for the reset). */
export function zoomed(div, fig, zoom) {
  const { xaxis, yaxis } = fig.layout;
  if (xaxis && yaxis && xaxis.range && yaxis.range) full.set(div, [...xaxis.range, ...yaxis.range]);
  if (!zoom || !xaxis || !yaxis) return fig;
  return { ...fig, layout: { ...fig.layout, xaxis: { ...xaxis, range: zoom.slice(0, 2) }, yaxis: { ...yaxis, range: zoom.slice(2, 4) } } };
}

function onRelayout(div, ev) {
  if (!ev || !Object.keys(ev).some((k) => /^[xy]axis\.(range|autorange)/.test(k))) return;  // resizes, legend clicks
  const fl = div._fullLayout;
  if (!fl || !fl.xaxis || !fl.yaxis) return;
  const now = [...fl.xaxis.range, ...fl.yaxis.range].map(Number);
  const own = full.get(div);
  store.update({ zoom: own && close(now, own) ? null : now.map((r) => Number(r.toPrecision(5))) }, { push: false });
}

/** (Re)bind the zoom listener after each draw. */
export function keepZoom(div) {
  if (typeof div.removeAllListeners === 'function') div.removeAllListeners('plotly_relayout');
  div.on('plotly_relayout', (ev) => onRelayout(div, ev));
}

/** Rows the horizontal legend wraps into at the div's width (Plotly's entry: symbol + text). */
function legendRows(fig, width) {
  const names = fig.data.filter((t) => t.name && t.showlegend !== false && t.type !== 'heatmap' && t.type !== 'contour'
    || (t.type === 'contour' && t.showlegend)).map((t) => t.name);
  let rows = names.length ? 1 : 0;
  let used = 0;
  for (const n of new Set(names)) {
    const w = 46 + 6.4 * n.length;
    if (used + w > width && used > 0) { rows += 1; used = 0; }
    used += w;
  }
  return rows;
}

/** Grow the figure (its margin and the div) by the legend rows beyond BASE_ROWS. */
export function fitLegend(div, fig) {
  const extra = Math.max(0, legendRows(fig, div.clientWidth || 600) - BASE_ROWS) * LEGEND_ROW_PX;
  const margin = fig.layout.margin || {};
  fig.layout.margin = { ...margin, b: (margin.b || 80) + extra };
  div.style.height = extra ? `${460 + extra}px` : '';
}
