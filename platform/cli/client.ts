/**
 * The typed client of the daemon's REST API, used by every CLI command (and usable by programs).
 * Errors come back as `ApiError` carrying the problem document's code, status and detail.
 * The daemon is found through IGNITION_HOST (default http://127.0.0.1:7777); the admin token through
 * platform/cli/credentials.ts.
 */
import { missingToken, readToken, type TokenLookup } from './credentials.ts';
import type { DeployChanges, DeployRequest } from '../functions/service.ts';
export interface ProblemBody {
  type?: string;
  title?: string;
  status: number;
  code: string;
  detail: string;
  phase?: string;
  [k: string]: unknown;
}

export class ApiError extends Error {
  constructor(readonly problem: ProblemBody) {
    super(problem.detail);
    this.name = 'ApiError';
  }
}

export const DEFAULT_HOST = 'http://127.0.0.1:7777';

export function daemonUrl(env: NodeJS.ProcessEnv = process.env): string {
  const host = env.IGNITION_HOST?.trim() || DEFAULT_HOST;
  return (/^https?:\/\//.test(host) ? host : `http://${host}`).replace(/\/+$/, '');
}

export type { DeployRequest } from '../functions/service.ts';

export interface DeployResponse {
  function: string;
  version: { id: string; seq: number; digest: string; snapshot: string };
  created: boolean;
  /** Against the version the deploy started from: env names added, changed, removed; settings changed. */
  changes: DeployChanges;
  url: string;
  timings: Array<{ step: string; ms: number }>;
}

export class IgnitionClient {
  #lookup: TokenLookup | undefined;

  constructor(
    readonly baseUrl: string = daemonUrl(),
    /** Bearer token for the admin API; by default looked up on first use (credentials.ts). */
    token?: string,
  ) {
    if (token !== undefined) this.#lookup = { token, file: null };
  }

  /** The admin token (IGNITION_TOKEN or the data dir's admin.token), looked up once, when first needed. */
  get token(): string | undefined {
    return (this.#lookup ??= readToken()).token;
  }

  /** Headers every request carries (authorization when a token is known). */
  headers(): Record<string, string> {
    return this.token ? { authorization: `Bearer ${this.token}` } : {};
  }

  async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const res = await this.raw(path, {
      method,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return parse<T>(res);
  }

  /**
   * A request whose response the caller reads itself (streams, tar files, invocations): the token
   * is added (unless `adminToken` is false) and a daemon that cannot be reached becomes
   * `daemon_unreachable`.
   */
  async raw(path: string, init: RequestInit = {}, options: { adminToken?: boolean } = {}): Promise<Response> {
    const auth = options.adminToken === false ? {} : this.headers();
    let res: Response;
    try {
      res = await fetch(this.baseUrl + path, { ...init, headers: { ...auth, ...(init.headers as Record<string, string> | undefined) } });
    } catch (err) {
      const cause = (err as { cause?: { code?: string } }).cause?.code ?? (err as Error).message;
      throw new ApiError({
        status: 0,
        code: 'daemon_unreachable',
        detail: `cannot reach the daemon at ${this.baseUrl} (${cause}); start it with "ignition daemon" or set IGNITION_HOST`,
      });
    }
    // An admin request refused while no token was found: say where the CLI looked.
    const lookup = this.#lookup;
    if (res.status === 401 && options.adminToken !== false && lookup && !lookup.token && lookup.file) {
      await res.body?.cancel();
      throw missingToken(lookup.file, lookup.named === true);
    }
    return res;
  }

  info() {
    return this.request<Record<string, any>>('GET', '/v1/info');
  }
  listFunctions() {
    return this.request<{ functions: any[] }>('GET', '/v1/functions');
  }
  getFunction(name: string) {
    return this.request<any>('GET', `/v1/functions/${encodeURIComponent(name)}`);
  }
  /** Deploys code, or with no `code` a configuration change of the deployed code (service.ts, DeployRequest). */
  deploy(name: string, req: DeployRequest) {
    return this.request<DeployResponse>('POST', `/v1/functions/${encodeURIComponent(name)}/deployments`, req);
  }
  removeFunction(name: string) {
    return this.request<{ removed: string; versions: number }>('DELETE', `/v1/functions/${encodeURIComponent(name)}`);
  }
  versions(name: string) {
    return this.request<{ versions: any[] }>('GET', `/v1/functions/${encodeURIComponent(name)}/versions`);
  }
  logs(name: string, q: { invocation?: string; level?: string; limit?: number; after?: number } = {}) {
    const qs = new URLSearchParams();
    if (q.invocation) qs.set('invocation', q.invocation);
    if (q.level) qs.set('level', q.level);
    if (q.limit) qs.set('limit', String(q.limit));
    if (q.after) qs.set('after', String(q.after));
    return this.request<{ logs: Array<{ id: number; time: number; level: string; invocation: string | null; message: string }> }>(
      'GET',
      `/v1/functions/${encodeURIComponent(name)}/logs?${qs}`,
    );
  }

  /**
   * Invokes a function; returns the raw Response (status, headers, streaming body). The admin
   * token is never sent: a request to /fn reaches the function's code, and only `token` (given by
   * the caller for a token-protected function) or an Authorization header in `headers` goes along.
   */
  invoke(
    name: string,
    opts: { path?: string; method?: string; headers?: Record<string, string>; body?: string | Uint8Array; token?: string },
  ): Promise<Response> {
    const p = opts.path ?? '/';
    return this.raw(
      `/fn/${encodeURIComponent(name)}${p.startsWith('/') ? p : `/${p}`}`,
      {
        method: opts.method ?? (opts.body === undefined ? 'GET' : 'POST'),
        headers: { ...(opts.token ? { authorization: `Bearer ${opts.token}` } : {}), ...opts.headers },
        body: opts.body as BodyInit | undefined,
      },
      { adminToken: false },
    );
  }
}

export async function parse<T>(res: Response): Promise<T> {
  const text = await res.text();
  if (res.ok) return (text ? JSON.parse(text) : {}) as T;
  throw new ApiError(problemFrom(res.status, text));
}

export function problemFrom(status: number, text: string): ProblemBody {
  try {
    const body = JSON.parse(text) as ProblemBody;
    if (body && typeof body.code === 'string') return { ...body, status };
  } catch {
    // not a problem document
  }
  return { status, code: `http_${status}`, detail: text.slice(0, 300) || `HTTP ${status}` };
}
