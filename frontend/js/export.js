// export.js: figure downloads (SVG and PNG through Plotly.downloadImage) and CSV of the data
// behind a figure (built in the page from the slice it drew); the whole sweep's CSV is the API's
// GET /sweeps/{id}/export?format=csv (a plain link in the sweep header).

import { h, saveBlob } from './dom.js';

const csvCell = (v) => {
  if (v === null || v === undefined) return '';
  const s = String(v);
  return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
};

export function toCsv(header, rows) {
  return [header, ...rows].map((r) => r.map(csvCell).join(',')).join('\n') + '\n';
}

/** CSV of the drawn phase view: one row per cell with its raw axes, plotted coordinates and value. */
export function sliceCsv(drawn, view) {
  const rows = [];
  const header = ['point_id', 'alpha', 'D', 'L', 'M', `x:${view.x}`, `y:${view.y}`, view.metric, 'stderr', 'n', 'status', 'regime'];
  const { plan, slices } = drawn;
  const floored = slices.some(({ slice }) => slice.floor);
  if (floored) header.push('noise_floor', 'near_floor');
  for (const { combo, slice } of slices) {
    slice.y.forEach((yv, i) => slice.x.forEach((xv, j) => {
      const p = { ...plan.fixed, ...combo, [plan.sx]: xv, [plan.sy]: yv };
      const fx = derived(view.x, p);
      const fy = derived(view.y, p);
      rows.push([slice.point_id[i][j], p.alpha, p.D, p.L, p.M, fx, fy, slice.z[i][j], slice.stderr[i][j],
        slice.n[i][j], slice.status[i][j], slice.regime[i][j],
        ...(floored ? [slice.floor ? slice.floor[i][j] : null, slice.near_floor ? slice.near_floor[i][j] : null] : [])]);
    }));
  }
  return toCsv(header, rows);
}

function derived(id, p) {
  switch (id) {
    case 'L*M': return p.L * p.M;
    case 'alpha/sqrt(D)': return p.alpha / Math.sqrt(p.D);
    case 'sqrt(D/(L*M))': return Math.sqrt(p.D / (p.L * p.M));
    default: return p[id];
  }
}

/** Download the figure in `div` as svg or png, at its on-screen size (png at 2x for print). */
export function downloadFigure(div, format, filename) {
  if (!div || !div.data) return Promise.resolve();
  const { width, height } = div.getBoundingClientRect();
  return window.Plotly.downloadImage(div, {
    format, filename, width: Math.round(width) || 800, height: Math.round(height) || 500, scale: format === 'png' ? 2 : 1,
  });
}

/**
 * Buttons SVG / PNG / CSV in the figure bar of `divId` (the element with data-figure=divId).
 * nameFn() gives the file name without extension; csvFn() gives [filename, text] or null.
 */
export function attachFigureActions(divId, nameFn, csvFn) {
  const bar = document.querySelector(`[data-figure="${divId}"]`);
  if (!bar) return;
  const div = document.getElementById(divId);
  const button = (label, testid, fn) => h('button', { type: 'button', class: 'small', text: label,
    title: `Download ${label}`, 'aria-label': `download ${divId} as ${label}`, dataset: { testid }, onclick: fn });
  bar.replaceChildren(
    button('SVG', `${divId}-svg`, () => downloadFigure(div, 'svg', nameFn())),
    button('PNG', `${divId}-png`, () => downloadFigure(div, 'png', nameFn())),
  );
  if (csvFn) {
    bar.append(button('CSV', `${divId}-csv`, () => {
      const out = csvFn();
      if (out) saveBlob(new Blob([out[1]], { type: 'text/csv' }), out[0]);
    }));
  }
}
