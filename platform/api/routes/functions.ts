/** `/v1/functions`: deploy, list, inspect, remove, versions, logs and instances of functions. */
import { Hono } from 'hono';
import { streamSSE } from 'hono/streaming';
import type { FunctionService } from '../../functions/service.ts';
import { levelsFrom, parseLogLevel, type LogSink } from '../../functions/logs.ts';
import { assertFunctionName } from '../../functions/names.ts';
import { readJson } from '../body.ts';
import { BadRequest } from '../../errors.ts';
import type { DeployInput } from '../../functions/service.ts';

const DEPLOY_LIMIT = 64 * 1024 * 1024;

export function functionRoutes(service: FunctionService, logs: LogSink) {
  const app = new Hono();

  app.get('/', (c) => c.json({ functions: service.list() }));

  app.get('/:name', (c) => c.json(service.describe(assertFunctionName(c.req.param('name')))));

  app.post('/:name/deployments', async (c) => {
    const name = assertFunctionName(c.req.param('name'));
    const body = await readJson<Partial<DeployInput>>(c, DEPLOY_LIMIT);
    const result = await service.deploy({ ...body, name });
    const origin = new URL(c.req.url).origin;
    return c.json(
      {
        function: result.function,
        version: { id: result.version.id, seq: result.version.seq, digest: result.version.digest, snapshot: result.version.snapshotId },
        created: result.created,
        changes: result.changes,
        url: `${origin}/fn/${result.function}/`,
        timings: result.timings,
      },
      result.created ? 201 : 200,
    );
  });

  app.delete('/:name', async (c) => c.json(await service.remove(c.req.param('name'))));

  app.get('/:name/versions', (c) => {
    const name = assertFunctionName(c.req.param('name'));
    service.requireFunction(name);
    return c.json({
      versions: service.repo.listVersions(name).map((v) => ({
        id: v.id,
        seq: v.seq,
        digest: v.digest,
        snapshot: v.snapshotId,
        createdAt: new Date(v.createdAt).toISOString(),
        settings: v.settings,
        envKeys: Object.keys(v.env),
      })),
    });
  });

  app.get('/:name/aliases', (c) => c.json({ aliases: service.describe(assertFunctionName(c.req.param('name'))).aliases }));

  app.put('/:name/aliases/:alias', async (c) => {
    const body = await readJson<{ routes?: Array<{ version: string | number; weight: number }> }>(c);
    if (!Array.isArray(body.routes)) throw BadRequest('"routes" must be a list of { version, weight }');
    return c.json(await service.setAlias(assertFunctionName(c.req.param('name')), c.req.param('alias'), body.routes));
  });

  app.delete('/:name/aliases/:alias', async (c) => c.json(await service.removeAlias(assertFunctionName(c.req.param('name')), c.req.param('alias'))));

  app.post('/:name/rollback', async (c) => {
    const body = await readJson<{ to?: string | number }>(c);
    return c.json(await service.rollback(assertFunctionName(c.req.param('name')), body.to));
  });

  app.get('/:name/instances', (c) => {
    const name = assertFunctionName(c.req.param('name'));
    service.requireFunction(name);
    return c.json({
      instances: service.instances(name).map((i) => ({
        id: i.id,
        version: i.version.id,
        pid: i.machine.pid,
        state: i.machine.state,
        inflight: i.inflight,
        served: i.served,
        lastUsed: new Date(i.lastUsed).toISOString(),
        timings: i.timings,
      })),
    });
  });

  app.get('/:name/logs', (c) => {
    const name = assertFunctionName(c.req.param('name'));
    service.requireFunction(name);
    const invocation = c.req.query('invocation') || undefined;
    const level = parseLogLevel(c.req.query('level'));
    const limit = Math.min(Number(c.req.query('limit') ?? 100) || 100, 10_000);
    const after = Number(c.req.query('after') ?? 0) || undefined;
    if (c.req.query('follow') === '1') {
      const levels = level && level !== 'debug' ? new Set<string>(levelsFrom(level)) : undefined;
      return streamSSE(c, async (stream) => {
        // Read the backlog, then subscribe, in the same tick (no await between): the query stores
        // every line that arrived so far, and followers get only lines stored later, so no line
        // is lost between the two, and none is sent twice.
        const backlog = logs.query(name, { invocation, limit, after, level });
        const pending: unknown[] = [];
        let wake: (() => void) | undefined;
        const off = logs.follow((e) => {
          if (e.fn !== name || (invocation && e.invocation !== invocation) || (levels && !levels.has(e.level))) return;
          pending.push(e);
          wake?.();
        });
        let open = true;
        const end = () => {
          open = false;
          wake?.();
        };
        stream.onAbort(end);
        // A follower of a function that is removed has nothing more to wait for: the stream ends,
        // and the client can tell why by looking the function up.
        const offRemoved = service.removed((fn) => fn === name && end());
        try {
          for (const e of backlog) await stream.writeSSE({ data: JSON.stringify(e) });
          while (open) {
            while (open && pending.length) await stream.writeSSE({ data: JSON.stringify(pending.shift()) });
            if (!open) break;
            await new Promise<void>((resolve) => (wake = resolve));
            wake = undefined;
          }
        } finally {
          off();
          offRemoved();
        }
      });
    }
    return c.json({ logs: logs.query(name, { invocation, limit, after, level }) });
  });

  return app;
}
