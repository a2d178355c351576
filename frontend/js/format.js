// format.js: the `fixed` parameter, one axis value per held axis, as the URL and the API write
// it: {D: 16, M: 64} <-> 'D:16,M:64' (GET /sweeps/{id}/phase, /fit, /boundaries; ?fixed= and
// ?lfixed= of the page's own URL).

/** 'D:16,M:64' -> {D: 16, M: 64} (unparseable parts are dropped). */
export function parseFixed(text) {
  const out = {};
  for (const part of (text || '').split(',')) {
    const [axis, value] = part.split(':');
    if (axis && value !== undefined && value.trim() !== '' && Number.isFinite(Number(value))) {
      out[axis.trim()] = Number(value);
    }
  }
  return out;
}

/** {D: 16, M: 64} -> 'D:16,M:64' (insertion order; '' for none). */
export function formatFixed(fixed) {
  return Object.entries(fixed || {}).map(([a, v]) => `${a}:${v}`).join(',');
}
