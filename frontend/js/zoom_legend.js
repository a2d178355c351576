// zoom_legend.js: two things the phase figures need around Plotly's layout:
// - the zoom in the URL: a zoom or pan on either figure writes view.zoom ([x0, x1, y0, y1] in drawn
//   coordinates, as Plotly's axis ranges are), a double-click back to the full view clears it, and
//   a view opened with a zoom draws with it (zoomed());
// - a legend that grows the figure instead of squeezing the map: the horizontal legend under the
//   plot wraps into rows; the height they take beyond the margin is added to the figure's.

import { store } from './state/store.js';

const full = new WeakMap();    // div -> the figure's own [x0, x1, y0, y1] (before any zoom)
const BASE_PX = 460;  // css/style.css .plot height
const PLOT_PX = 320;  // the plot area in it (margins t 36, b 104: heatmap.js)

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

/**
 * After a draw: when the legend took height from the plot (Plotly pushes the bottom margin for it),
 * grow the div by what the plot lost, so the map keeps PLOT_PX; shrink it back when the legend shrinks.
 */
export async function fitLegend(div) {
  const fl = div._fullLayout;
  if (!fl || !fl._size) return;
  const deficit = PLOT_PX - fl._size.h;
  const height = Math.max(BASE_PX, Math.round(div.clientHeight + deficit));
  if (Math.abs(height - div.clientHeight) < 2) return;
  div.style.height = height > BASE_PX ? `${height}px` : '';
  await window.Plotly.Plots.resize(div);
}
