/**
 * Per-function CORS, answered by the platform.
 *
 * A function's `cors` setting names the origins a browser may call it from. Preflights (OPTIONS
 * with Origin and Access-Control-Request-Method) never reach the function: the platform answers
 * them, before invocation auth, since browsers send preflights without credentials. Actual
 * requests pass through to the function and get the platform's CORS headers on the way out
 * (replacing any the function set, so the setting is the single source of truth).
 *
 * Rules kept here: the allowed origin is echoed with `Vary: Origin` (never `*` when credentials
 * are allowed; the validator refuses that pair), the literal origin "null" is never matched
 * (sandboxed iframes and file:// pages send it), and a disallowed preflight gets a 204 without
 * any allow header, which the browser turns into a failed request.
 */
import type { IncomingHttpHeaders } from 'node:http';

export interface CorsSettings {
  /** Exact origins (`https://app.example.com`, `http://localhost:5173`) or `'*'` for any. */
  origins: string[] | '*';
  /** Methods allowed in preflights (default GET, HEAD, POST, PUT, PATCH, DELETE). */
  methods?: string[];
  /** Request headers allowed in preflights; when unset, the requested ones are allowed. */
  headers?: string[];
  /** Response headers a page may read beyond the CORS-safelisted ones. */
  exposeHeaders?: string[];
  /** How long a browser may cache a preflight answer. */
  maxAgeSeconds?: number;
  /** Allow cookies and Authorization on cross-origin requests (needs explicit origins). */
  credentials?: boolean;
}

export const DEFAULT_CORS_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'];

/** The request as the invoke route has it: a Web Request, or method plus Node-style headers. */
export type CorsRequest = Request | { method: string; headers: IncomingHttpHeaders | Record<string, string | string[] | undefined> | Headers };

function header(req: CorsRequest, name: string): string | undefined {
  const h = req.headers;
  if (h instanceof Headers) return h.get(name) ?? undefined;
  const v = (h as Record<string, string | string[] | undefined>)[name];
  return Array.isArray(v) ? v.join(', ') : v;
}

const list = (value: string | undefined) =>
  (value ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);

/** True for a CORS preflight: OPTIONS with both Origin and Access-Control-Request-Method. */
export function isPreflight(req: CorsRequest): boolean {
  return req.method.toUpperCase() === 'OPTIONS' && !!header(req, 'origin') && !!header(req, 'access-control-request-method');
}

function originAllowed(settings: CorsSettings, origin: string): boolean {
  if (origin === 'null') return false;
  if (settings.origins === '*') return true;
  const o = origin.toLowerCase();
  return settings.origins.some((allowed) => allowed.toLowerCase() === o);
}

/**
 * CORS for one request to a function. With no setting: `{}` (no headers; OPTIONS goes to the
 * function like any method). For a preflight: the complete 204 Response to send instead of
 * invoking. Otherwise: headers to add to the function's response.
 */
export function corsFor(settings: CorsSettings | null | undefined, req: CorsRequest): Response | Record<string, string> {
  if (!settings) return {};
  const origin = header(req, 'origin');
  const wildcard = settings.origins === '*' && !settings.credentials;
  if (isPreflight(req)) return preflight(settings, req, origin!, wildcard);
  const out: Record<string, string> = {};
  if (!wildcard) out.vary = 'Origin';
  if (!origin || !originAllowed(settings, origin)) return out;
  out['access-control-allow-origin'] = wildcard ? '*' : origin;
  if (settings.credentials) out['access-control-allow-credentials'] = 'true';
  if (settings.exposeHeaders?.length) out['access-control-expose-headers'] = settings.exposeHeaders.join(', ');
  return out;
}

function preflight(settings: CorsSettings, req: CorsRequest, origin: string, wildcard: boolean): Response {
  const headers: Record<string, string> = { vary: 'Origin, Access-Control-Request-Method, Access-Control-Request-Headers', 'content-length': '0' };
  const method = header(req, 'access-control-request-method')!.trim().toUpperCase();
  const methods = (settings.methods ?? DEFAULT_CORS_METHODS).map((m) => m.toUpperCase());
  const requested = list(header(req, 'access-control-request-headers')).map((h) => h.toLowerCase());
  const allowedHeaders = settings.headers?.map((h) => h.toLowerCase());
  const methodOk = methods.includes('*') || methods.includes(method);
  const headersOk = !allowedHeaders || allowedHeaders.includes('*') || requested.every((h) => allowedHeaders.includes(h));
  if (originAllowed(settings, origin) && methodOk && headersOk) {
    headers['access-control-allow-origin'] = wildcard ? '*' : origin;
    headers['access-control-allow-methods'] = methods.join(', ');
    const allowHeaders = settings.headers ? settings.headers.join(', ') : requested.join(', ');
    if (allowHeaders) headers['access-control-allow-headers'] = allowHeaders;
    if (settings.credentials) headers['access-control-allow-credentials'] = 'true';
    if (settings.maxAgeSeconds !== undefined) headers['access-control-max-age'] = String(settings.maxAgeSeconds);
  }
  return new Response(null, { status: 204, headers });
}

/**
 * Puts CORS headers onto a function's response headers (Node-style record, as the invoker returns
 * them): `access-control-*` from the function are dropped when the platform handles CORS, and
 * `Vary` is merged rather than replaced so the function's own Vary survives.
 */
export function applyCors(target: Record<string, string | string[]>, cors: Record<string, string>): Record<string, string | string[]> {
  if (Object.keys(cors).length === 0) return target;
  for (const key of Object.keys(target)) if (key.toLowerCase().startsWith('access-control-')) delete target[key];
  for (const [key, value] of Object.entries(cors)) {
    if (key !== 'vary') {
      target[key] = value;
      continue;
    }
    const existingKey = Object.keys(target).find((k) => k.toLowerCase() === 'vary');
    const existing = existingKey ? list([target[existingKey]].flat().join(',')) : [];
    if (existingKey) delete target[existingKey];
    const merged = [...existing];
    for (const v of list(value)) if (!merged.some((e) => e.toLowerCase() === v.toLowerCase())) merged.push(v);
    target.vary = merged.join(', ');
  }
  return target;
}
