/**
 * The CLI commands as a user runs them, against the async routes served over real HTTP on an
 * ephemeral loopback port (IGNITION_HOST points the client at it), run in-process through
 * clipanion with their output captured.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Writable } from 'node:stream';
import type { AddressInfo } from 'node:net';
import { Hono } from 'hono';
import { serve } from '@hono/node-server';
import { Cli } from 'clipanion';
import { openDatabase } from '../../platform/store/db.ts';
import { onError } from '../../platform/api/problem.ts';
import { silentLogger } from '../../platform/log.ts';
import { AsyncService, asyncMigrations, asyncRoutes } from '../../platform/async/index.ts';
import { asyncCommands } from '../../platform/cli/commands/async.ts';
import { FAST_BACKOFF, functionServer, httpInvoke, tempDir, waitFor } from './support.ts';

const tmp = tempDir();
const store = openDatabase(tmp.file, asyncMigrations);
const fn = await functionServer((s, res) => (s.path === '/fail' ? res.writeHead(400).end('bad input') : res.end(`hello ${s.body.toString()}`)));
const service = AsyncService.open({ store, invoke: httpInvoke(fn.url), exists: (n) => n === 'hello', backoff: FAST_BACKOFF });
const app = new Hono();
app.route('/v1', asyncRoutes(service));
app.onError(onError(silentLogger));
const server = await new Promise<ReturnType<typeof serve>>((resolve) => {
  const s = serve({ fetch: app.fetch, hostname: '127.0.0.1', port: 0 }, () => resolve(s));
});
process.env.IGNITION_HOST = `127.0.0.1:${(server.address() as AddressInfo).port}`;

async function ignition(...args: string[]): Promise<{ code: number; stdout: string }> {
  const cli = new Cli({ binaryName: 'ignition' });
  for (const c of asyncCommands) cli.register(c);
  let stdout = '';
  const sink = new Writable({
    write(chunk, _enc, cb) {
      stdout += chunk;
      cb();
    },
  });
  // Errors go to the real stderr (BaseCommand's one place for them); keep the test log quiet.
  const write = process.stderr.write.bind(process.stderr);
  process.stderr.write = (() => true) as typeof process.stderr.write;
  try {
    const code = await cli.run(args, { stdout: sink });
    return { code, stdout };
  } finally {
    process.stderr.write = write;
  }
}

test('invoke-async prints the id; invocation shows the result', async () => {
  const r = await ignition('invoke-async', 'hello', '--path', '/x', '--data', 'ada', '-H', 'x-a: 1');
  assert.is(r.code, 0);
  const id = r.stdout.trim();
  assert.match(id, /^inv_[0-9a-z]+$/);
  await waitFor(() => service.get(id).status === 'succeeded', 'the invocation');
  const seen = fn.seen.find((s) => s.invocationId === id)!;
  assert.is(seen.method, 'POST');
  assert.is(seen.headers['x-a'], '1');
  const shown = await ignition('invocation', id);
  assert.is(shown.code, 0);
  assert.match(shown.stdout, /status:\s+succeeded/);
  assert.match(shown.stdout, /request:\s+POST \/x/);
  assert.match(shown.stdout, /hello ada/);
  const json = JSON.parse((await ignition('invocation', id, '--json')).stdout);
  assert.is(json.result.body, 'hello ada');
});

test('dead-letters lists a rejected invocation; retry re-queues it', async () => {
  const id = (await ignition('invoke-async', 'hello', '--path', '/fail')).stdout.trim();
  await waitFor(() => service.get(id).status === 'dead', 'the invocation to die');
  const dl = await ignition('dead-letters', 'hello');
  assert.is(dl.code, 0);
  assert.match(dl.stdout, /ID\s+KIND\s+REQUEST/);
  assert.ok(dl.stdout.includes(id));
  assert.ok(dl.stdout.includes('invocation_rejected'));
  const again = await ignition('retry', id);
  assert.is(again.code, 0);
  assert.is(again.stdout, `${id} queued\n`);
  assert.is((await ignition('retry', 'inv_missing')).code, 1);
});

test('cron add, ls, rm', async () => {
  const add = await ignition('cron', 'add', 'hello', '*/5 * * * *', '--path', '/tick', '--json');
  assert.is(add.code, 0);
  const cron = JSON.parse(add.stdout);
  assert.is(cron.schedule, '*/5 * * * *');
  assert.is(cron.path, '/tick');
  const ls = await ignition('cron', 'ls', 'hello');
  assert.ok(ls.stdout.includes(cron.id));
  assert.ok(ls.stdout.includes('GET /tick'));
  const rm = await ignition('cron', 'rm', cron.id);
  assert.is(rm.stdout, `Removed ${cron.id}\n`);
  assert.is((await ignition('cron', 'ls', 'hello')).stdout, 'No cron triggers for hello.\n');
  assert.is((await ignition('cron', 'add', 'hello', '61 * * * *')).code, 1);
  assert.is((await ignition('invoke-async', 'ghost')).code, 1);
  assert.is((await ignition('invoke-async', 'hello', '-H', 'no-colon')).code, 1);
});

test('cron pause and resume; ls shows the state', async () => {
  const cron = JSON.parse((await ignition('cron', 'add', 'hello', '@hourly', '--json')).stdout);
  const pause = await ignition('cron', 'pause', cron.id);
  assert.is(pause.code, 0);
  assert.is(pause.stdout, `Paused ${cron.id}\n`);
  const paused = (await ignition('cron', 'ls', 'hello')).stdout.split('\n');
  assert.match(paused[0], /\bSTATE\b/);
  const row = paused.find((l) => l.startsWith(cron.id))!;
  assert.match(row, /\bpaused\b/);
  assert.ok(row.trimEnd().endsWith('-'), 'a paused trigger shows no next run');
  const resume = await ignition('cron', 'resume', cron.id, '--json');
  assert.is(resume.code, 0);
  const resumed = JSON.parse(resume.stdout);
  assert.is(resumed.enabled, true);
  assert.match(resumed.nextAt, /:00:00\.000Z$/);
  assert.match(
    (await ignition('cron', 'ls', 'hello')).stdout.split('\n').find((l) => l.startsWith(cron.id))!,
    /\bactive\b/,
  );
  assert.is((await ignition('cron', 'pause', 'cron_missing')).code, 1);
  assert.is((await ignition('cron', 'resume', 'cron_missing')).code, 1);
  assert.is((await ignition('cron', 'rm', cron.id)).code, 0);
});

test.after(async () => {
  await new Promise<void>((r) => server.close(() => r()));
  await service.close(1000);
  store.close();
  await fn.close();
  tmp.cleanup();
});

test.run();
