/**
 * The web console (docs/CONSOLE.md), mounted by platform/api/app.ts:
 *
 *   POST /v1/console/login-links   admin token only (the /v1 guard): a one-time link, ~60 s
 *   GET  /console/login?t=…        spends the link, sets the session cookie, redirects to /console/
 *   GET  /console/…                pages; /console/api/… the JSON and log stream the pages poll
 *   POST /console/…                changes (rollback, logout): session and its CSRF token
 *
 * The console works on the daemon's services in-process, as the REST routes do, so a session
 * never needs, holds or sees an API token.
 */
import { Hono, type Context } from 'hono';
import { deleteCookie, getCookie, setCookie } from 'hono/cookie';
import type { FunctionService } from '../functions/service.ts';
import type { LogSink } from '../functions/logs.ts';
import type { Logger } from '../log.ts';
import type { PlatformMetrics } from '../metrics.ts';
import { assertFunctionName } from '../functions/names.ts';
import { functionRoutes } from '../api/routes/functions.ts';
import { readText } from '../api/body.ts';
import { problemFor, toProblem } from '../api/problem.ts';
import { BadRequest, NotFound } from '../errors.ts';
import { ConsoleCsrfInvalid, ConsoleSessionRequired } from './errors.ts';
import { ConsoleSessions, LINK_TTL_MS, type ConsoleSession } from './sessions.ts';
import { ConsoleStats } from './stats.ts';
import { ASSET_TYPES, loadAssets } from './assets.ts';
import { FunctionPage, FunctionsPage, MessagePage, RollbackPage, type FunctionRow } from './pages.tsx';

export const SESSION_COOKIE = 'ignition_console';
const FORM_LIMIT = 16 * 1024;

export interface ConsoleDeps {
  functions: FunctionService;
  logs: LogSink;
  logger: Logger;
  metrics?: PlatformMetrics;
  sessions: ConsoleSessions;
}

type Env = { Variables: { requestId: string; session: ConsoleSession; sessionId: string; form: URLSearchParams } };

/** `/v1/console`: behind the /v1 admin guard, so invoke tokens are refused (403) before this runs. */
export function consoleApiRoutes(sessions: ConsoleSessions): Hono {
  const app = new Hono();
  app.post('/login-links', (c) => {
    const { token, expiresAt } = sessions.issueLink();
    const url = `${new URL(c.req.url).origin}/console/login?t=${encodeURIComponent(token)}`;
    return c.json({ url, expiresAt: new Date(expiresAt).toISOString(), ttlSeconds: LINK_TTL_MS / 1000 }, 201);
  });
  return app;
}

/** Whether the browser reached us over TLS: directly, or through a proxy that says so. */
function overTls(c: Context): boolean {
  // Trusting the header can only add `Secure`, which a plain-HTTP browser then withholds: a forged
  // header breaks the forger's own login and weakens nothing.
  return new URL(c.req.url).protocol === 'https:' || c.req.header('x-forwarded-proto')?.split(',')[0].trim() === 'https';
}

export function consoleRoutes(deps: ConsoleDeps): Hono<Env> {
  const { functions, logs, sessions } = deps;
  const stats = new ConsoleStats(deps.metrics);
  const assets = loadAssets();
  // The REST routes' own log follow, reached in-process: the same backlog-then-follow stream.
  const fnApi = functionRoutes(functions, logs);
  // basePath with the slash, so the functions page is /console/ (a sub-app mounted at /console
  // serves its '/' at /console only, and relative links need the slash).
  const app = new Hono<Env>().basePath('/console/');

  app.use('*', async (c, next) => {
    await next();
    const h = c.res.headers;
    // Scripts and styles only from the daemon, no framing, and no Referer to other sites: a page
    // should not tell them where it was. (`no-referrer` would also make browsers send
    // `Origin: null` on the console's own form posts, which the CSRF check below refuses.)
    h.set(
      'content-security-policy',
      "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    );
    h.set('x-content-type-options', 'nosniff');
    h.set('referrer-policy', 'same-origin');
    h.set('x-frame-options', 'DENY');
    if (!h.has('cache-control')) h.set('cache-control', 'no-store');
  });

  app.onError((err, c) => {
    const { status, headers, body } = problemFor(err, c.req.path, c.get('requestId'), deps.logger, c.req.method);
    if (c.req.path.startsWith('/console/api/')) return new Response(body, { status, headers });
    const { problem } = toProblem(err, c.req.path);
    const session = c.get('session');
    const html = String(
      MessagePage({ title: problem.title, detail: problem.detail ?? problem.title, code: problem.code, signedIn: !!session, csrf: session?.csrf }),
    );
    return c.html(`<!doctype html>${html}`, status as 400);
  });

  app.get('/assets/:file', (c) => {
    const file = c.req.param('file');
    const body = assets.get(file);
    if (!body) throw NotFound(`no console asset "${file}" (is dist/console built? run "npm run build")`);
    return c.body(new Uint8Array(body), 200, { 'content-type': ASSET_TYPES[file], 'cache-control': 'no-cache' });
  });

  app.get('/login', (c) => {
    const { id } = sessions.redeem(c.req.query('t'));
    setCookie(c, SESSION_COOKIE, id, { httpOnly: true, sameSite: 'Strict', path: '/console', secure: overTls(c) });
    return c.redirect('/console/', 303);
  });

  // Everything below needs a live session; changes also need its CSRF token.
  app.use('*', async (c, next) => {
    const id = getCookie(c, SESSION_COOKIE);
    const session = sessions.get(id);
    if (!session || !id) throw ConsoleSessionRequired('this page needs a console session: sign in with the link "ignition console" opens');
    c.set('session', session);
    c.set('sessionId', id);
    if (c.req.method !== 'GET' && c.req.method !== 'HEAD') {
      // A second and third layer under SameSite=Strict: a browser names the request's origin,
      // and it must be ours.
      const origin = c.req.header('origin');
      const site = c.req.header('sec-fetch-site');
      if ((origin && origin !== new URL(c.req.url).origin) || (site && site !== 'same-origin')) {
        throw ConsoleCsrfInvalid('this change came from another site');
      }
      const type = c.req.header('content-type') ?? '';
      const form = type.startsWith('application/x-www-form-urlencoded') ? new URLSearchParams(await readText(c, FORM_LIMIT)) : new URLSearchParams();
      c.set('form', form);
      if (!ConsoleSessions.csrfMatches(session, c.req.header('x-csrf-token') ?? form.get('csrf') ?? undefined)) {
        throw ConsoleCsrfInvalid("this change lacks the console session's CSRF token: reload the page and try again");
      }
    }
    await next();
  });

  const origin = (c: Context) => new URL(c.req.url).origin;
  const row = (c: Context, name: string, live = stats.live()): FunctionRow => {
    const d = functions.describe(name);
    const t = stats.totals(name, live);
    return {
      name,
      latest: d.latest,
      aliases: d.aliases,
      instances: d.pools.reduce((n, p) => n + p.instances, 0),
      url: `${origin(c)}/fn/${name}/`,
      requests: t.requests,
      errors: t.errors,
    };
  };
  const html = (c: Context, node: unknown, status = 200) => c.html(`<!doctype html>${String(node)}`, status as 200);

  app.get('/', (c) => {
    const live = stats.live();
    const rows = functions.list().map((f) => row(c, f.name, live));
    return html(c, FunctionsPage({ csrf: c.get('session').csrf, functions: rows }));
  });

  app.get('/functions/:name', (c) => {
    const name = assertFunctionName(c.req.param('name'));
    const fn = row(c, name);
    const invocation = c.req.query('invocation')?.trim() || undefined;
    const versions = functions.repo
      .listVersions(name)
      .map((v) => ({ id: v.id, seq: v.seq, digest: v.digest, createdAt: v.createdAt, envKeys: Object.keys(v.env) }));
    const envKeys = functions.describe(name).envKeys;
    const lines = logs.query(name, { invocation, limit: 100 });
    return html(c, FunctionPage({ csrf: c.get('session').csrf, fn, versions, envKeys, logs: lines, invocation }));
  });

  app.get('/functions/:name/rollback', (c) => {
    const name = assertFunctionName(c.req.param('name'));
    const to = functions.resolveVersion(name, c.req.query('to') ?? '');
    const from = functions.describe(name).latest?.seq ?? null;
    return html(c, RollbackPage({ csrf: c.get('session').csrf, name, from, to: to.seq }));
  });

  app.post('/functions/:name/rollback', async (c) => {
    const name = assertFunctionName(c.req.param('name'));
    const to = c.get('form').get('to');
    if (!to) throw BadRequest('a rollback needs "to": the version to move latest to');
    await functions.rollback(name, to);
    return c.redirect(`/console/functions/${encodeURIComponent(name)}`, 303);
  });

  app.post('/logout', (c) => {
    sessions.end(c.get('sessionId'));
    deleteCookie(c, SESSION_COOKIE, { path: '/console', httpOnly: true, sameSite: 'Strict', secure: overTls(c) });
    return html(c, MessagePage({ title: 'Signed out', detail: 'Your console session has ended.' }));
  });

  app.get('/api/functions', (c) => {
    const live = stats.live();
    const names = c.req.query('names')?.split(',').filter(Boolean);
    const list = (names ?? functions.list().map((f) => f.name)).map((n) => assertFunctionName(n));
    return c.json({
      at: new Date().toISOString(),
      functions: list.map((name) => ({ ...row(c, name, live), series: stats.series(name, live) })),
    });
  });

  app.get('/api/functions/:name/logs', (c) => {
    const name = assertFunctionName(c.req.param('name'));
    functions.requireFunction(name);
    const qs = new URLSearchParams({ follow: '1', limit: '100' });
    const invocation = c.req.query('invocation')?.trim();
    if (invocation) qs.set('invocation', invocation);
    const after = c.req.query('after');
    if (after) qs.set('after', after);
    return fnApi.fetch(new Request(`http://console.local/${encodeURIComponent(name)}/logs?${qs}`, { signal: c.req.raw.signal }));
  });

  return app;
}
