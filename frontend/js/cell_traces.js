// cell_traces.js: the layers heatmap.js draws over grid cells: the hatch of near-floor cells and
// one symbol trace per kind of cell without a plain result (queued, running, diverged, ...).
// Positions are the axes' gridScale positions (sx, sy: axes.gridScale of the slice's x and y).

import { FLOOR_MARK, MARKS, floorLabel } from './categories.js';

// Most cells marked with a symbol: beyond this the status layer's colours alone tell them apart.
export const MAX_MARKS = 2500;

/**
 * The near-floor cells of a grid slice as one hatched line trace on the axes' scales (an
 * outline and three diagonals per cell, so the hatch scales with the cell), with a legend entry.
 */
export function floorTrace(slice, opts, sx, sy) {
  if (!slice.near_floor) return [];
  const x = [];
  const y = [];
  const cells = [];
  const w = 0.84;  // of each half-cell: the hatch keeps clear of the cell's edges
  const side = (sc, k) => [sc.centers[k] - w * (sc.centers[k] - sc.edges[k]), sc.centers[k] + w * (sc.edges[k + 1] - sc.centers[k])];
  slice.near_floor.forEach((row, i) => row.forEach((near, j) => {
    if (!near) return;
    cells.push([i, j]);
    const [x0, x1] = side(sx, j);
    const [y0, y1] = side(sy, i);
    x.push(x0, x1, x1, x0, x0, null);
    y.push(y0, y0, y1, y1, y0, null);
    for (const c of [-1, 0, 1]) {  // three diagonals, as fractions of the cell
      const a = Math.max(0, -c) / 2;
      const b = Math.max(0, c) / 2;
      x.push(x0 + a * (x1 - x0), x1 - b * (x1 - x0), null);
      y.push(y0 + b * (y1 - y0), y1 - a * (y1 - y0), null);
    }
  }));
  if (!cells.length) return [];
  return [{
    type: 'scatter', mode: 'lines', name: opts.floorLabel || floorLabel(), x, y, hoverinfo: 'skip',
    line: { color: FLOOR_MARK.color, width: 1.5 }, showlegend: true, legendgroup: 'near-floor',
    meta: { role: 'near_floor', cells },
  }];
}

/** Symbol traces over the cells in `cells` ([{x, y, cat}]), one trace per mark kind. */
export function markTraces(cells, showlegend) {
  if (!cells.length || cells.length > MAX_MARKS) return [];
  const byCat = new Map();
  for (const c of cells) {
    if (!MARKS[c.cat]) continue;
    if (!byCat.has(c.cat)) byCat.set(c.cat, { x: [], y: [] });
    byCat.get(c.cat).x.push(c.x);
    byCat.get(c.cat).y.push(c.y);
  }
  return [...byCat.entries()].map(([cat, xy]) => ({
    type: 'scatter', mode: 'markers', name: MARKS[cat].label, x: xy.x, y: xy.y, hoverinfo: 'skip',
    marker: { symbol: MARKS[cat].symbol, color: MARKS[cat].color, size: 9, line: { width: 1.5, color: MARKS[cat].color } },
    showlegend, legendgroup: `mark-${cat}`, meta: { role: 'mark', cat },
  }));
}
