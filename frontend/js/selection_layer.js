// selection_layer.js: the trace that rings the selected points' cells on the phase figures
// (state/selection.js), for a raw grid slice (cells at axes.gridScale centers, as heatmap.js
// places them) or for derived cells (their derived coordinates, as scatterFigure places them).

import { gridScale } from './axes.js';
import { selection } from './state/selection.js';

const RING = { symbol: 'square-open', size: 16, color: '#e8590c', line: { width: 3, color: '#e8590c' } };

/** [] when nothing of the view is selected, else one scatter trace with meta.role 'selection'. */
export function selectionTraces(ctx) {
  if (!selection.ids.size) return [];
  const x = [];
  const y = [];
  const ids = [];
  if (ctx.kind === 'grid') {
    const { slice } = ctx;
    const sx = gridScale(slice.x);
    const sy = gridScale(slice.y);
    slice.point_id.forEach((row, i) => row.forEach((id, j) => {
      if (id !== null && selection.ids.has(id)) {
        x.push(sx.centers[j]);
        y.push(sy.centers[i]);
        ids.push(id);
      }
    }));
  } else {
    for (const c of ctx.cells) {
      if (c.point_id !== null && selection.ids.has(c.point_id)) {
        x.push(c.xv);
        y.push(c.yv);
        ids.push(c.point_id);
      }
    }
  }
  if (!ids.length) return [];
  return [{
    type: 'scatter', mode: 'markers', name: 'selected in the table', x, y, hoverinfo: 'skip', marker: RING,
    showlegend: true, meta: { role: 'selection', ids },
  }];
}
