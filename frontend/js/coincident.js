// coincident.js: cells of a derived view that land on the same drawn position (L*M = 1024 from
// (L, M) = (16, 64) and (64, 16)). They are merged into one drawn cell whose value is the mean of
// theirs and whose hover lists every member (so none hides under another); the click opens the
// first member. Returns {cells, merged} (merged: how many positions hold more than one cell).

const key = (c) => `${Number(c.xv).toPrecision(9)}|${Number(c.yv).toPrecision(9)}`;
const finite = (v) => typeof v === 'number' && Number.isFinite(v);

function mergeGroup(group) {
  const first = group[0];
  const values = group.map((c) => c.z).filter(finite);
  const notDone = group.find((c) => c.status !== 'done');
  const regimes = new Map();
  for (const c of group) if (c.regime) regimes.set(c.regime, (regimes.get(c.regime) || 0) + 1);
  const regime = [...regimes.entries()].sort((a, b) => b[1] - a[1])[0];
  return {
    ...first, params: { ...first.params }, members: group,
    z: values.length ? values.reduce((s, v) => s + v, 0) / values.length : null, stderr: null,
    n: group.reduce((s, c) => s + (c.n || 0), 0), status: values.length === group.length ? 'done' : (notDone || first).status,
    regime: regime ? regime[0] : null, near_floor: group.some((c) => c.near_floor),
  };
}

/** Merge the cells that share a drawn (xv, yv). */
export function mergeCoincident(cells) {
  const groups = new Map();
  for (const c of cells) {
    const k = key(c);
    if (!groups.has(k)) groups.set(k, []);
    groups.get(k).push(c);
  }
  let merged = 0;
  const out = [...groups.values()].map((g) => {
    if (g.length === 1) return g[0];
    merged += 1;
    return mergeGroup(g);
  });
  return { cells: out, merged };
}
