/**
 * The daemon's HTTP surface, assembled from one sub-app per resource. Every response carries an
 * `x-request-id`; every error leaves through `onError` as problem+json.
 *
 *   /healthz, /v1/info          liveness and what runs (driver, why, capabilities)
 *   /v1/functions               deploy, list, inspect, remove, versions, logs, instances
 *   /console, /v1/console       the web console and its login links (platform/console/)
 *   /fn/<name>[@alias]/<path>   invoke (served by `requestListener` straight from Node; the
 *                               Hono route is for in-process `app.request()` callers)
 *   plus whatever capability routes the composition root mounts (snapshots, network, vms…)
 */
import { Hono, type MiddlewareHandler } from 'hono';
import type { RequestListener } from 'node:http';
import { getRequestListener } from '@hono/node-server';
import type { Logger } from '../log.ts';
import { NotFound } from '../errors.ts';
import type { FunctionService } from '../functions/service.ts';
import type { LogSink } from '../functions/logs.ts';
import { onError, problemResponse, toProblem } from './problem.ts';
import { functionRoutes } from './routes/functions.ts';
import { invokeRoutes } from './routes/invoke.ts';
import { invocationGateway, requestIdFrom } from './invocation.ts';
import { withInvocations } from './invoke-listener.ts';
import type { Serve } from './front-door.ts';
import type { PlatformMetrics } from '../metrics.ts';
import { adminAuth, type TokenStore } from '../auth/index.ts';
import { consoleApiRoutes, consoleRoutes, type ConsoleSources } from '../console/routes.ts';
import { ConsoleSessions } from '../console/sessions.ts';

export interface AppDeps {
  functions: FunctionService;
  logs: LogSink;
  logger: Logger;
  info: () => Record<string, unknown>;
  /** Extra sub-apps by mount path, e.g. { '/v1/snapshots': registryRoutes(registry) }. */
  mounts?: Record<string, Hono<any>>;
  /** Middleware by path pattern, run before the routes (e.g. guards across capabilities). */
  guards?: Record<string, MiddlewareHandler>;
  /** Whether the daemon is draining (health turns 503, new work is refused). */
  draining?: () => boolean;
  metrics?: PlatformMetrics;
  /** Admin tokens: when given, every /v1 route needs one, and functions may require tokens. */
  tokens?: TokenStore;
  /** What the web console shows besides functions (VMs, the registry, async jobs, secret names). */
  console?: ConsoleSources;
}

export function createApp(deps: AppDeps) {
  const app = new Hono<{ Variables: { requestId: string } }>();

  app.use('*', async (c, next) => {
    const id = requestIdFrom(c.req.header('x-request-id'));
    c.set('requestId', id);
    await next();
    c.res.headers.set('x-request-id', id);
  });

  app.get('/healthz', (c) => (deps.draining?.() ? c.json({ status: 'draining' }, 503) : c.json({ status: 'ok' })));
  // /healthz, /metrics and /fn stay public; everything under /v1 needs an admin token.
  if (deps.tokens) app.use('/v1/*', adminAuth(deps.tokens, { publicPaths: ['/v1/openapi.json'] }));
  app.get('/v1/info', (c) => c.json(deps.info()));
  if (deps.metrics) {
    const metrics = deps.metrics;
    app.get('/metrics', (c) => c.body(metrics.registry.render(), 200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' }));
  }
  app.route('/v1/functions', functionRoutes(deps.functions, deps.logs));
  for (const [path, guard] of Object.entries(deps.guards ?? {})) app.use(path, guard);
  for (const [path, sub] of Object.entries(deps.mounts ?? {})) app.route(path, sub);
  // The web console (docs/CONSOLE.md) signs in with a link only an admin token can mint, so it
  // exists only where /v1 has tokens.
  if (deps.tokens) {
    const sessions = new ConsoleSessions();
    app.route('/v1/console', consoleApiRoutes(sessions));
    app.get('/console', (c) => c.redirect('/console/', 301));
    app.route('/', consoleRoutes({ ...deps.console, functions: deps.functions, logs: deps.logs, logger: deps.logger, metrics: deps.metrics, sessions }));
  }
  app.route('/fn', invokeRoutes(deps.functions, deps.metrics, deps.tokens ? { tokens: deps.tokens } : undefined));

  app.notFound((c) => {
    const { problem } = toProblem(NotFound(`no route ${c.req.method} ${c.req.path}`), c.req.path);
    return problemResponse(problem, { 'x-request-id': c.get('requestId') ?? '' });
  });
  app.onError(onError(deps.logger));
  return app;
}

/**
 * The daemon's two ways in: `serve`, the invocation gateway, which the front door
 * (`front-door.ts`) calls for the invocations it reads itself, and `listener`, Node's request
 * listener for everything else: invocations go straight from Node's request to the same gateway
 * (`invoke-listener.ts`), every other request to `app`.
 */
export function entryPoints(app: Hono<any>, deps: Pick<AppDeps, 'functions' | 'metrics' | 'tokens' | 'logger'>): { serve: Serve; listener: RequestListener } {
  const serve = invocationGateway(deps.functions, deps.metrics, deps.tokens ? { tokens: deps.tokens } : undefined);
  return { serve, listener: withInvocations(serve, getRequestListener(app.fetch), deps.logger) };
}
