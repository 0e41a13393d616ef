/** `/v1/vms`: run, list, inspect, logs, exec, pause, resume, snapshot, fork, kill, rm. */
import { Hono } from 'hono';
import { stream } from 'hono/streaming';
import { readJson } from '../api/body.ts';
import { BadRequest } from '../errors.ts';
import type { VmService, RunVmInput } from './service.ts';
import type { ExecRequest } from '../../agent/protocol.ts';

export function vmRoutes(vms: VmService) {
  const app = new Hono();
  app.get('/', (c) => c.json({ vms: vms.list() }));
  app.post('/', async (c) => c.json(await vms.run(await readJson<RunVmInput>(c)), 201));
  app.get('/:id', (c) => c.json(vms.describe(c.req.param('id'))));
  app.get('/:id/logs', (c) => c.json({ logs: vms.logs(c.req.param('id'), Number(c.req.query('limit') ?? 200) || 200) }));
  app.post('/:id/pause', async (c) => c.json(await vms.pause(c.req.param('id'))));
  app.post('/:id/resume', async (c) => c.json(await vms.resume(c.req.param('id'))));
  app.post('/:id/snapshot', async (c) => {
    const body = await readJson<{ name?: string }>(c);
    return c.json(await vms.snapshot(c.req.param('id'), body.name), 201);
  });
  app.post('/:id/fork', async (c) => {
    const body = await readJson<{ count?: number }>(c);
    return c.json({ clones: await vms.fork(c.req.param('id'), body.count ?? 1) }, 201);
  });
  app.post('/:id/kill', async (c) => c.json(await vms.kill(c.req.param('id'))));
  app.delete('/:id', async (c) => c.json(await vms.remove(c.req.param('id'))));
  app.post('/:id/exec', async (c) => {
    const req = await readJson<ExecRequest>(c);
    if (typeof req.cmd !== 'string' || !req.cmd) throw BadRequest('exec needs "cmd"');
    if (req.args !== undefined && (!Array.isArray(req.args) || req.args.some((a) => typeof a !== 'string')))
      throw BadRequest('"args" must be an array of strings');
    const events = vms.exec(c.req.param('id'), req, c.req.raw.signal);
    // Validate before streaming so a missing VM is a problem document, not a broken stream.
    const first = await events.next();
    c.header('content-type', 'application/x-ndjson');
    return stream(c, async (s) => {
      if (!first.done) await s.write(JSON.stringify(first.value) + '\n');
      for await (const e of events) await s.write(JSON.stringify(e) + '\n');
    });
  });
  return app;
}
