/**
 * The console's function routes: the functions page, a function's page, rollback and alias
 * weights (each confirmed, then a form post with the CSRF token), and the data the script polls.
 * Changes go through the FunctionService methods the REST routes use, so the console refuses
 * what the API refuses, with the same codes.
 */
import { assertAliasName, assertFunctionName } from '../../functions/names.ts';
import { functionRoutes } from '../../api/routes/functions.ts';
import { parseLogLevel } from '../../functions/logs.ts';
import { BadRequest, IgnitionError } from '../../errors.ts';
import { csrfOf, originOf, page, type ConsoleApp, type ConsoleContext, type ConsoleDeps } from '../context.ts';
import { functionRow } from '../figures.ts';
import type { ConsoleStats } from '../stats.ts';
import { FunctionsPage } from '../pages/functions.tsx';
import { FunctionPage } from '../pages/function.tsx';
import { AliasConfirmPage, AliasEditPage, RollbackPage, type RouteInput } from '../pages/function-changes.tsx';
import { fnPath, span } from '../pages/format.ts';

/** Async invocations and log lines a function page shows at most. */
const JOBS_SHOWN = 20;
const LOGS_SHOWN = 100;

export function registerFunctionRoutes(app: ConsoleApp, deps: ConsoleDeps, stats: ConsoleStats): void {
  const { functions, logs } = deps;
  // The REST routes' own log follow, reached in-process: the same backlog-then-follow stream.
  const fnApi = functionRoutes(functions, logs);

  app.get('/', (c) => {
    const live = stats.live();
    const rows = functions.list().map((f) => functionRow(functions, stats, live, f.name, originOf(c)));
    return page(c, FunctionsPage({ csrf: csrfOf(c), functions: rows, windowSeconds: rows[0]?.window.seconds ?? 0 }));
  });

  app.get('/functions/:name', (c) => {
    const name = assertFunctionName(c.req.param('name'));
    const fn = functionRow(functions, stats, stats.live(), name, originOf(c));
    const invocation = c.req.query('invocation')?.trim() || undefined;
    const level = parseLogLevel(c.req.query('level'));
    const versions = functions.repo
      .listVersions(name)
      .map((v) => ({ id: v.id, seq: v.seq, digest: v.digest, createdAt: v.createdAt, settings: v.settings, envKeys: Object.keys(v.env) }));
    return page(
      c,
      FunctionPage({
        csrf: csrfOf(c),
        fn,
        versions,
        envKeys: functions.describe(name).envKeys,
        secrets: deps.secrets ? deps.secrets.list(name).map((s) => s.name) : null,
        crons: deps.async ? deps.async.listCrons(name) : null,
        jobs: deps.async ? deps.async.list(name, { limit: JOBS_SHOWN }) : null,
        logs: logs.query(name, { invocation, level, limit: LOGS_SHOWN }),
        invocation,
        level,
      }),
    );
  });

  app.get('/functions/:name/rollback', (c) => {
    const name = assertFunctionName(c.req.param('name'));
    const to = functions.resolveVersion(name, c.req.query('to') ?? '');
    const from = functions.describe(name).latest?.seq ?? null;
    return page(c, RollbackPage({ csrf: csrfOf(c), name, from, to: to.seq }));
  });

  app.post('/functions/:name/rollback', async (c) => {
    const name = assertFunctionName(c.req.param('name'));
    const to = c.get('form').get('to');
    if (!to) throw BadRequest('a rollback needs "to": the version to move latest to');
    await functions.rollback(name, to);
    return c.redirect(fnPath(name), 303);
  });

  // The function page's "New alias" form: to the alias's own page, with its name checked.
  app.get('/functions/:name/aliases', (c) => {
    const name = assertFunctionName(c.req.param('name'));
    functions.requireFunction(name);
    const alias = assertAliasName((c.req.query('alias') ?? '').trim());
    return c.redirect(`${fnPath(name)}/aliases/${encodeURIComponent(alias)}`, 303);
  });

  app.get('/functions/:name/aliases/:alias', (c) => aliasEdit(c, []));

  app.get('/functions/:name/aliases/:alias/confirm', (c) => {
    const { name, alias } = aliasParams(c);
    const inputs = routeInputs(c.req.queries('version') ?? [], c.req.queries('weight') ?? []);
    let versions;
    try {
      versions = functions.checkAlias(name, alias, toRoutes(inputs));
    } catch (err) {
      // A mistake in the form: the form again, with the service's own words and code.
      if (err instanceof IgnitionError && err.status < 500) return aliasEdit(c, inputs, err);
      throw err;
    }
    const current = functions.repo.getAlias(name, alias);
    const to = versions.map((v, i) => ({ version: v.id, seq: v.seq, weight: Number(inputs[i].weight) }));
    return page(c, AliasConfirmPage({ csrf: csrfOf(c), name, alias, from: current ? withSeq(current.routes) : null, to }));
  });

  app.post('/functions/:name/aliases/:alias', async (c) => {
    const { name, alias } = aliasParams(c);
    const text = c.get('form').get('routes') ?? '';
    // `v3:90,v2:10`, as the confirmation page wrote it; the service checks what it means.
    const routes = text
      .split(',')
      .filter(Boolean)
      .map((part) => {
        const at = part.lastIndexOf(':');
        return { version: at < 0 ? part : part.slice(0, at), weight: at < 0 ? NaN : Number(part.slice(at + 1)) };
      });
    if (routes.length === 0) throw BadRequest('an alias change needs "routes": versions and weights such as v3:90,v2:10');
    await functions.setAlias(name, alias, routes);
    return c.redirect(`${fnPath(name)}#aliases-title`, 303);
  });

  app.get('/api/functions', (c) => {
    const live = stats.live();
    const names = c.req.query('names')?.split(',').filter(Boolean);
    const list = (names ?? functions.list().map((f) => f.name)).map((n) => assertFunctionName(n));
    const rows = list.map((name) => ({ ...functionRow(functions, stats, live, name, originOf(c)), series: stats.series(name, live) }));
    return c.json({ at: new Date().toISOString(), window: span(rows[0]?.window.seconds ?? 0), functions: rows });
  });

  app.get('/api/functions/:name/logs', (c) => {
    const name = assertFunctionName(c.req.param('name'));
    functions.requireFunction(name);
    const qs = new URLSearchParams({ follow: '1', limit: String(LOGS_SHOWN) });
    for (const key of ['invocation', 'level', 'after']) {
      const value = c.req.query(key)?.trim();
      if (value) qs.set(key, value);
    }
    return fnApi.fetch(new Request(`http://console.local/${encodeURIComponent(name)}/logs?${qs}`, { signal: c.req.raw.signal }));
  });

  function aliasParams(c: ConsoleContext) {
    const name = assertFunctionName(c.req.param('name'));
    functions.requireFunction(name);
    return { name, alias: assertAliasName(c.req.param('alias') ?? '') };
  }

  function withSeq(routes: Array<{ version: string; weight: number }>) {
    return routes.map((r) => ({ ...r, seq: functions.repo.getVersion(r.version)?.seq }));
  }

  function aliasEdit(c: ConsoleContext, inputs: RouteInput[], error?: IgnitionError) {
    const { name, alias } = aliasParams(c);
    const current = functions.repo.getAlias(name, alias);
    const routes = inputs.length
      ? inputs
      : (current?.routes ?? []).map((r) => ({ version: `v${functions.repo.getVersion(r.version)?.seq ?? 0}`, weight: String(r.weight) }));
    if (routes.length === 0) {
      // A new alias starts where latest is.
      const latest = functions.describe(name).latest;
      if (latest) routes.push({ version: `v${latest.seq}`, weight: '100' });
    }
    return page(
      c,
      AliasEditPage({
        csrf: csrfOf(c),
        name,
        alias,
        exists: !!current,
        current: current ? withSeq(current.routes) : [],
        versions: functions.repo.listVersions(name).map((v) => v.seq),
        routes,
        error: error ? { detail: error.message, code: error.code } : undefined,
      }),
      error?.status ?? 200,
    );
  }
}

/** The form's version and weight fields, paired; a pair without a version is left out. */
function routeInputs(versions: string[], weights: string[]): RouteInput[] {
  return versions.map((version, i) => ({ version: version.trim(), weight: (weights[i] ?? '').trim() })).filter((r) => r.version !== '');
}

/** Weights as the service takes them; text that is no whole number is refused as the service refuses a bad weight. */
function toRoutes(inputs: RouteInput[]): Array<{ version: string; weight: number }> {
  return inputs.map((r) => {
    if (!/^\d{1,3}$/.test(r.weight)) throw BadRequest(`weight ${JSON.stringify(r.weight.slice(0, 16))} of ${r.version} must be a whole number from 0 to 100`);
    return { version: r.version, weight: Number(r.weight) };
  });
}
