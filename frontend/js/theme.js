// theme.js: the figures' colours follow the page's (light or dark, from prefers-color-scheme via
// the CSS variables of css/style.css). Figures are built with light colours; themed(layout) swaps
// the paper, plot background, ink and grid colours for the current scheme's just before drawing,
// so one place decides (heatmap.draw calls it for every figure of the page).

const LIGHT_BG = new Set(['#fff', '#ffffff']);
const BLANK_BG = '#eceff3';  // heatmap.js: the plot behind blank (missing) cells

/** The scheme's figure colours: {paper, plot, blank, ink, grid, halo}, read from the CSS variables. */
export function plotColors() {
  const css = getComputedStyle(document.documentElement);
  const v = (name, fallback) => css.getPropertyValue(name).trim() || fallback;
  return {
    paper: v('--plot-paper', '#ffffff'), plot: v('--plot-bg', '#ffffff'), blank: v('--plot-blank', BLANK_BG),
    ink: v('--ink', '#1f2933'), grid: v('--plot-grid', '#eef1f4'), halo: v('--plot-halo', 'rgba(255,255,255,0.85)'),
  };
}

/** The layout with the scheme's colours (a copy; axes keep their other settings). */
export function themed(layout) {
  const c = plotColors();
  const out = { ...layout, paper_bgcolor: c.paper, font: { ...(layout.font || {}), color: c.ink } };
  const bg = layout.plot_bgcolor;
  out.plot_bgcolor = bg === BLANK_BG ? c.blank : !bg || LIGHT_BG.has(bg) ? c.plot : bg;
  for (const key of Object.keys(layout)) {
    if (/^[xy]axis\d*$/.test(key)) out[key] = { ...layout[key], gridcolor: c.grid, zerolinecolor: c.grid };
  }
  return out;
}
