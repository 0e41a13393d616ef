/**
 * REST routes of async invocations and cron triggers, as one Hono sub-app mounted at `/v1`:
 *
 *   POST   /functions/:name/invocations     async → 202 {id, status, statusUrl}; else run now → 200
 *   GET    /functions/:name/invocations     recent invocations (?status=, ?limit=)
 *   GET    /functions/:name/dead-letters    dead async and cron invocations (?limit=)
 *   GET    /invocations/:id                 status, attempts, last error, result
 *   POST   /invocations/:id/retry           re-queue a dead invocation → 202
 *   POST   /functions/:name/crons           {schedule, path?, method?, body?} → 201
 *   GET    /functions/:name/crons
 *   GET    /crons/:id
 *   POST   /crons/:id/pause                 stop firing (idempotent) → 200 the trigger
 *   POST   /crons/:id/resume                fire again from the next slot after now → 200
 *   DELETE /crons/:id
 *
 * Handlers throw IgnitionErrors; the daemon's `onError` turns them into problem+json.
 */
import { Hono } from 'hono';
import { BadRequest } from '../errors.ts';
import { readJson } from '../api/body.ts';
import { assertFunctionName } from '../functions/names.ts';
import { parseCronRequest, parseInvocation } from './request.ts';
import type { JobStatus } from './schema.ts';
import type { AsyncService } from './service.ts';
import { encodeBody } from './views.ts';

const STATUSES: readonly JobStatus[] = ['queued', 'running', 'succeeded', 'failed', 'dead'];

function limitParam(value: string | undefined, fallback = 100): number {
  if (value === undefined || value === '') return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 1000) throw BadRequest(`"limit" must be a whole number from 1 to 1000, not ${JSON.stringify(value)}`);
  return n;
}

export function asyncRoutes(service: AsyncService) {
  const app = new Hono();
  // base64 inflates a body by a third; leave room for the JSON around it.
  const jsonLimit = Math.ceil(service.limits.maxBodyBytes * 1.4) + 64 * 1024;

  app.post('/functions/:name/invocations', async (c) => {
    const fn = assertFunctionName(c.req.param('name'));
    const req = parseInvocation(await readJson(c, jsonLimit), service.limits);
    if (req.async) {
      const { invocation, duplicate } = service.enqueue(fn, req);
      c.header('location', invocation.statusUrl);
      return c.json({ id: invocation.id, status: invocation.status, statusUrl: invocation.statusUrl, ...(duplicate ? { duplicate: true } : {}) }, 202);
    }
    const { invocation, response } = await service.invokeNow(fn, req);
    return c.json({
      id: invocation.id,
      status: invocation.status,
      response: { status: response.status, headers: response.headers, ...encodeBody(response.body) },
    });
  });

  app.get('/functions/:name/invocations', (c) => {
    const fn = assertFunctionName(c.req.param('name'));
    const status = c.req.query('status');
    if (status !== undefined && !STATUSES.includes(status as JobStatus))
      throw BadRequest(`"status" must be one of ${STATUSES.join(', ')}, not ${JSON.stringify(status)}`);
    return c.json({ invocations: service.list(fn, { status: status as JobStatus | undefined, limit: limitParam(c.req.query('limit')) }) });
  });

  app.get('/functions/:name/dead-letters', (c) => {
    const fn = assertFunctionName(c.req.param('name'));
    return c.json({ deadLetters: service.deadLetters(fn, limitParam(c.req.query('limit'))) });
  });

  app.get('/invocations/:id', (c) => c.json(service.get(c.req.param('id'))));

  app.post('/invocations/:id/retry', (c) => {
    const invocation = service.retry(c.req.param('id'));
    c.header('location', invocation.statusUrl);
    return c.json({ id: invocation.id, status: invocation.status, statusUrl: invocation.statusUrl }, 202);
  });

  app.post('/functions/:name/crons', async (c) => {
    const fn = assertFunctionName(c.req.param('name'));
    const req = parseCronRequest(await readJson(c), service.limits);
    const cron = service.addCron(fn, req);
    c.header('location', `/v1/crons/${encodeURIComponent(cron.id)}`);
    return c.json(cron, 201);
  });

  app.get('/functions/:name/crons', (c) => c.json({ crons: service.listCrons(assertFunctionName(c.req.param('name'))) }));

  app.get('/crons/:id', (c) => c.json(service.getCron(c.req.param('id'))));

  app.post('/crons/:id/pause', (c) => c.json(service.pauseCron(c.req.param('id'))));

  app.post('/crons/:id/resume', (c) => c.json(service.resumeCron(c.req.param('id'))));

  app.delete('/crons/:id', (c) => c.json({ removed: service.removeCron(c.req.param('id')).id }));

  return app;
}
