/**
 * The web console (docs/CONSOLE.md), mounted by platform/api/app.ts:
 *
 *   POST /v1/console/login-links   admin token only (the /v1 guard): a one-time link, ~60 s
 *   GET  /console/login?t=…        spends the link, sets the session cookie, redirects to /console/
 *   GET  /console/…                pages; /console/api/… the JSON and log stream the pages poll
 *   POST /console/…                changes (rollback, alias weights, VM stop, GC, verify, logout):
 *                                  session and its CSRF token
 *
 * This module holds what every page shares (headers, errors, sign-in, the session and CSRF
 * checks); each capability's pages are in routes/<capability>.ts. The console works on the
 * daemon's services in-process, as the REST routes do, so a session never needs, holds or sees
 * an API token.
 */
import { Hono, type Context } from 'hono';
import { deleteCookie, getCookie, setCookie } from 'hono/cookie';
import { readText } from '../api/body.ts';
import { problemFor, toProblem } from '../api/problem.ts';
import { NotFound } from '../errors.ts';
import { ConsoleCsrfInvalid, ConsoleSessionRequired } from './errors.ts';
import { ConsoleSessions, LINK_TTL_MS } from './sessions.ts';
import { ConsoleStats } from './stats.ts';
import { ASSET_TYPES, loadAssets } from './assets.ts';
import { page, type ConsoleDeps, type ConsoleEnv } from './context.ts';
import { MessagePage } from './pages/layout.tsx';
import { registerFunctionRoutes } from './routes/functions.ts';
import { registerInvocationRoutes } from './routes/invocations.ts';
import { registerMachineRoutes } from './routes/machines.ts';
import { registerSnapshotRoutes } from './routes/snapshots.ts';

export type { ConsoleDeps, ConsoleSources } from './context.ts';

export const SESSION_COOKIE = 'ignition_console';
const FORM_LIMIT = 16 * 1024;

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

/** Where an error page sends its reader back to: the section the failed request belongs to. */
function backFor(path: string): [string, string] {
  const section = /^\/console\/(invocations|machines|snapshots)/.exec(path)?.[1];
  return section ? [`Back to ${section}`, `/console/${section}`] : ['Back to functions', '/console/'];
}

export function consoleRoutes(deps: ConsoleDeps): Hono<ConsoleEnv> {
  const { sessions } = deps;
  const stats = new ConsoleStats(deps.metrics);
  const assets = loadAssets();
  // basePath with the slash, so the functions page is /console/ (a sub-app mounted at /console
  // serves its '/' at /console only, and relative links need the slash).
  const app = new Hono<ConsoleEnv>().basePath('/console/');

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

  // Every failure leaves with its stable code: problem+json under /console/api, an HTML page
  // (same status, same code) everywhere else.
  app.onError((err, c) => {
    const { status, headers, body } = problemFor(err, c.req.path, c.get('requestId'), deps.logger, c.req.method);
    if (c.req.path.startsWith('/console/api/')) return new Response(body, { status, headers });
    const { problem } = toProblem(err, c.req.path);
    const session = c.get('session');
    const html = String(
      MessagePage({
        title: problem.title,
        detail: problem.detail ?? problem.title,
        code: problem.code,
        signedIn: !!session,
        csrf: session?.csrf,
        back: session ? backFor(c.req.path) : undefined,
      }),
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
        throw ConsoleCsrfInvalid("this change lacks the console session's CSRF token (or the page was older than the session): reload the page and try again");
      }
    }
    await next();
  });

  app.post('/logout', (c) => {
    sessions.end(c.get('sessionId'));
    deleteCookie(c, SESSION_COOKIE, { path: '/console', httpOnly: true, sameSite: 'Strict', secure: overTls(c) });
    return page(c, MessagePage({ title: 'Signed out', detail: 'Your console session has ended.' }));
  });

  registerFunctionRoutes(app, deps, stats);
  registerInvocationRoutes(app, deps);
  registerMachineRoutes(app, deps);
  registerSnapshotRoutes(app, deps);

  // An unknown console path is a page too, not the API's problem document.
  app.all('*', (c) => {
    throw NotFound(`no console page ${c.req.path}`);
  });

  return app;
}
