// api.js: the one place that talks to the REST API (/api/v1, same origin; docs/api.md).
// Every call returns parsed JSON or throws an ApiError carrying the HTTP status and FastAPI's
// `detail` (a string, or a list of {loc, msg} for 422). Every endpoint below exists on the server
// this page comes from: a failure is shown to the user as an error, never hidden.

export const BASE = '/api/v1';
const TOKEN_KEY = 'resphase.token';

export class ApiError extends Error {
  constructor(status, detail, path) {
    super(typeof detail === 'string' ? detail : `HTTP ${status} on ${path}`);
    this.status = status;
    this.detail = detail;
    this.path = path;
  }

  /** One readable line for any error shape (422 lists included). */
  text() {
    if (Array.isArray(this.detail)) return this.detail.map((d) => d.msg || JSON.stringify(d)).join('; ');
    return typeof this.detail === 'string' ? this.detail : this.message;
  }
}

export function setToken(token) {
  if (token) sessionStorage.setItem(TOKEN_KEY, token);
  else sessionStorage.removeItem(TOKEN_KEY);
}

/** Query string from an object: undefined/null/'' entries are left out, arrays joined by commas. */
export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params || {})) {
    if (v === undefined || v === null || v === '') continue;
    q.set(k, Array.isArray(v) ? v.join(',') : String(v));
  }
  const s = q.toString();
  return s ? `?${s}` : '';
}

async function request(method, path, body, signal, withTotal = false) {
  const headers = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (token && method !== 'GET') headers.Authorization = `Bearer ${token}`;
  const res = await fetch(BASE + path, {
    method, headers, signal, body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (res.status === 204) return null;
  const text = await res.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = text; }
  if (!res.ok) throw new ApiError(res.status, data && data.detail !== undefined ? data.detail : data, path);
  // a page of a list: its items and how many match in all (the X-Total-Count header)
  if (withTotal) return { items: data, total: Number(res.headers.get('X-Total-Count') || (data || []).length) };
  return data;
}

export const get = (path, params, signal) => request('GET', path + query(params), undefined, signal);
export const post = (path, body) => request('POST', path, body);
export const del = (path) => request('DELETE', path);
export const patch = (path, body) => request('PATCH', path, body);

// Named endpoints (paths from docs/api.md).
export const api = {
  meta: () => get('/meta'),
  health: () => get('/health'),
  sweeps: (limit = 50) => get('/sweeps', { limit }),
  sweep: (id) => get(`/sweeps/${id}`),
  // {items, total}: a page of sweeps matching {name, tag, owner}, with limit and offset
  sweepsPage: (params) => request('GET', `/sweeps${query(params)}`, undefined, undefined, true),
  annotate: (id, body) => patch(`/sweeps/${id}`, body),
  remove: (id) => del(`/sweeps/${id}`),
  validate: (spec) => post('/sweeps/validate', spec),
  create: (spec) => post('/sweeps', spec),
  cancel: (id) => post(`/sweeps/${id}/cancel`),
  retry: (id) => post(`/sweeps/${id}/retry`),
  phase: (id, params, signal) => get(`/sweeps/${id}/phase`, params, signal),
  cells: (id, params) => get(`/sweeps/${id}/cells`, params),
  point: (id) => get(`/points/${id}`),
  table: (id, params, signal) => get(`/sweeps/${id}/table`, params, signal),
  pointProgress: (id) => get(`/points/${id}/progress`),
  fit: (id, params) => get(`/sweeps/${id}/fit`, params),
  boundaries: (id, params) => get(`/sweeps/${id}/boundaries`, params),
  claims: (id) => get(`/sweeps/${id}/claims`),
  runControls: (id) => post(`/sweeps/${id}/claims/controls`),
  presets: () => get('/presets'),
  overlays: () => get('/theory/overlays'),
  evaluate: (params) => get('/theory/evaluate', params),
  exportUrl: (id, format) => `${BASE}/sweeps/${id}/export${query({ format })}`,
};
