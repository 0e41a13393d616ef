/**
 * Contract-test support: comparing the routes a Hono app registers with the operations of the API
 * document, and a client that sends every request of a walk through `app.request()` and checks
 * each response against the document (documented status, content type, body schema, a request
 * id), collecting errors and the operations exercised instead of throwing, so one run reports
 * every fault at once.
 */
import type { Hono } from 'hono';
import { listOperations, matchOperation, validate } from '../../platform/api/openapi/validate.ts';
import { HTTP_METHODS, type MediaType, type OpenApiDocument, type OperationObject } from '../../platform/api/openapi/types.ts';

/** Hono's `:name`, `:name{regex}` and a trailing `/*` as OpenAPI `{name}` and `{path}`. */
export function honoToTemplate(path: string): string {
  let p = path.replace(/:([A-Za-z0-9_]+)(\{(?:[^{}]|\{[^}]*\})*\})?/g, '{$1}');
  if (p.endsWith('/*')) p = `${p.slice(0, -2)}/{path}`;
  return p;
}

/**
 * `METHOD template` of every endpoint the app serves. Middleware is left out: Hono lists
 * `app.use()` entries as `ALL` routes, told apart here by their handler taking `next`. An `ALL`
 * endpoint (invocation) stands for every method OpenAPI can describe.
 */
export function servedRoutes(app: Hono<any>): Set<string> {
  const out = new Set<string>();
  for (const r of app.routes) {
    if (r.method === 'ALL' && r.handler.length >= 2) continue;
    // The web console's pages and the data they poll are HTML for a browser session, not API
    // (docs/CONSOLE.md); its one API route, /v1/console/login-links, is documented.
    if (r.path === '/console' || r.path.startsWith('/console/')) continue;
    const template = honoToTemplate(r.path);
    const methods = r.method === 'ALL' ? HTTP_METHODS.map((m) => m.toUpperCase()) : [r.method.toUpperCase()];
    for (const m of methods) out.add(`${m} ${template}`);
  }
  return out;
}

export interface RouteDiff {
  /** Served by the app, absent from the document. */
  undocumented: string[];
  /** Documented and not served, including every route of a capability that serves none of them. */
  unserved: string[];
  /**
   * Capabilities (x-ignition-capability) that serve none of their operations and that the
   * caller said are off in this daemon's configuration, with their operations.
   */
  pending: Record<string, string[]>;
}

/**
 * Capabilities a daemon serves only in some configurations, with why. Only these may serve
 * nothing: a documented capability that the composition root forgot to mount is a route the
 * document promises and the daemon does not serve, so it fails like any other.
 */
export const OFF_BY_CONFIGURATION: Record<string, string> = {
  network: 'served only while host networking is on (the Firecracker driver, IGNITION_NETWORK=auto)',
};

/** `off`: the capabilities this daemon's configuration turns off (pass `{}` when all are on). */
export function diffRoutes(doc: OpenApiDocument, app: Hono<any>, off: Record<string, string> = OFF_BY_CONFIGURATION): RouteDiff {
  const served = servedRoutes(app);
  const documented = new Map(listOperations(doc).map((o) => [`${o.method.toUpperCase()} ${o.template}`, o.operation]));
  const undocumented = [...served].filter((r) => !documented.has(r)).sort();
  const byCapability = new Map<string, string[]>();
  for (const [route, op] of documented) {
    const cap = op['x-ignition-capability'];
    if (cap) byCapability.set(cap, [...(byCapability.get(cap) ?? []), route]);
  }
  const pending: Record<string, string[]> = {};
  for (const [cap, routes] of byCapability) if (cap in off && !routes.some((r) => served.has(r))) pending[cap] = routes;
  const skipped = new Set(Object.values(pending).flat());
  const unserved = [...documented.keys()].filter((r) => !served.has(r) && !skipped.has(r)).sort();
  return { undocumented, unserved, pending };
}

export interface ContractError {
  request: string;
  message: string;
}

export interface CheckedClient {
  /** Like `app.request(path, init)`; adds the admin token unless `auth: false`. */
  request(path: string, init?: RequestInit & { auth?: boolean; json?: unknown }): Promise<Response>;
  errors: ContractError[];
  /** operationId → how many responses were checked. */
  exercised: Map<string, number>;
}

const essence = (contentType: string | null) => (contentType ?? '').split(';')[0].trim().toLowerCase();
const isJson = (type: string) => type === 'application/json' || type.endsWith('+json');

function mediaFor(content: Record<string, MediaType>, type: string): MediaType | undefined {
  return content[type] ?? content[`${type.split('/')[0]}/*`] ?? content['*/*'];
}

export function checkedClient(app: Hono<any>, doc: OpenApiDocument, token: () => string | null): CheckedClient {
  const errors: ContractError[] = [];
  const exercised = new Map<string, number>();

  async function request(path: string, init: RequestInit & { auth?: boolean; json?: unknown } = {}): Promise<Response> {
    const { auth = true, json, ...rest } = init;
    const method = (rest.method ?? 'GET').toUpperCase();
    const headers = new Headers(rest.headers);
    const t = token();
    if (auth && t && !headers.has('authorization')) headers.set('authorization', `Bearer ${t}`);
    let body = rest.body;
    if (json !== undefined) {
      body = JSON.stringify(json);
      headers.set('content-type', 'application/json');
    }
    const label = `${method} ${path}`;
    const fail = (message: string) => errors.push({ request: label, message });
    const res = await app.request(path, { ...rest, method, headers, body });
    const pathname = new URL(path, 'http://x').pathname;
    const match = matchOperation(doc, method, pathname);
    if (!match) {
      fail(`no documented operation answers ${method} ${pathname} (got ${res.status})`);
      return res;
    }
    const op = match.operation;
    exercised.set(op.operationId, (exercised.get(op.operationId) ?? 0) + 1);
    if (!res.headers.get('x-request-id')) fail(`${op.operationId}: response ${res.status} has no x-request-id header`);
    const documented = op.responses[String(res.status)] ?? op.responses.default;
    if (!documented) {
      fail(
        `${op.operationId}: status ${res.status} is not documented (documented: ${Object.keys(op.responses).join(', ')}); body: ${(await res.clone().text()).slice(0, 300)}`,
      );
      return res;
    }
    for (const [name, h] of Object.entries(documented.headers ?? {})) {
      const value = res.headers.get(name);
      if (value === null) {
        if (h.required) fail(`${op.operationId}: ${res.status} lacks the documented header ${name}`);
      } else {
        for (const e of validate(doc, h.schema, value, `header ${name}`)) fail(`${op.operationId}: ${e.path} ${e.message}`);
      }
    }
    if (res.status >= 200 && res.status < 300 && typeof body === 'string') checkRequest(op, headers.get('content-type'), body, fail);
    const noBody = method === 'HEAD' || res.status === 204 || res.status === 304;
    if (noBody || !documented.content) {
      if (!noBody && documented.content === undefined && res.body) fail(`${op.operationId}: ${res.status} documents no body but one came`);
      return res;
    }
    const type = essence(res.headers.get('content-type'));
    const media = mediaFor(documented.content, type);
    if (!media) {
      fail(`${op.operationId}: ${res.status} came as "${type}", documented: ${Object.keys(documented.content).join(', ')}`);
      return res;
    }
    const itemSchema = media['x-item-schema'];
    if (itemSchema)
      return streamChecked(
        res,
        type,
        (item, n) => report(validate(doc, itemSchema, item, `$item[${n}]`)),
        (m) => fail(`${op.operationId}: ${m}`),
      );
    if (!media.schema || !(isJson(type) || type.startsWith('text/'))) return res; // binary or pass-through
    const text = await res.text();
    let value: unknown = text;
    if (isJson(type)) {
      try {
        value = JSON.parse(text);
      } catch {
        fail(`${op.operationId}: ${res.status} ${type} body is not JSON: ${text.slice(0, 200)}`);
      }
    }
    report(validate(doc, media.schema, value));
    if (type === 'application/problem+json' && value && typeof value === 'object') {
      const p = value as { status?: unknown; requestId?: unknown };
      if (p.status !== res.status) fail(`${op.operationId}: problem status ${String(p.status)} differs from the HTTP status ${res.status}`);
      if (p.requestId !== undefined && p.requestId !== res.headers.get('x-request-id')) fail(`${op.operationId}: problem requestId differs from x-request-id`);
    }
    return new Response(text, { status: res.status, statusText: res.statusText, headers: res.headers });

    function report(found: Array<{ path: string; message: string }>) {
      for (const e of found) fail(`${op.operationId} ${res.status}: ${e.path} ${e.message}`);
    }
  }

  function checkRequest(op: OperationObject, contentType: string | null, body: string, fail: (m: string) => void) {
    const schema = op.requestBody?.content[essence(contentType)]?.schema;
    if (!schema || !isJson(essence(contentType))) return;
    try {
      for (const e of validate(doc, schema, JSON.parse(body), '$request'))
        fail(`${op.operationId}: accepted a request the document rejects: ${e.path} ${e.message}`);
    } catch {
      // Not JSON: the walk sent it on purpose and a 2xx is the handler's business, not the schema's.
    }
  }

  return { request, errors, exercised };
}

/**
 * Passes a streamed body through unchanged while checking each item as it goes by: one JSON
 * value per line (ndjson) or per `data:` line (Server-Sent Events). A stream the reader cancels
 * early (a followed log) is checked as far as it was read.
 */
function streamChecked(res: Response, type: string, check: (item: unknown, n: number) => void, fail: (m: string) => void): Response {
  if (!res.body) return res;
  const decoder = new TextDecoder();
  let pending = '';
  let n = 0;
  const line = (l: string) => {
    const text = type === 'text/event-stream' ? (l.startsWith('data:') ? l.slice(5).trim() : '') : l.trim();
    if (!text) return;
    try {
      check(JSON.parse(text), n++);
    } catch (err) {
      fail(`stream item ${n} is not JSON: ${text.slice(0, 200)} (${(err as Error).message})`);
    }
  };
  const tap = new TransformStream<Uint8Array, Uint8Array>({
    transform(chunk, controller) {
      pending += decoder.decode(chunk, { stream: true });
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      lines.forEach(line);
      controller.enqueue(chunk);
    },
    flush() {
      line(pending);
    },
  });
  return new Response(res.body.pipeThrough(tap), { status: res.status, statusText: res.statusText, headers: res.headers });
}
