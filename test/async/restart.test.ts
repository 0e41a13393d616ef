/**
 * The fault the issue names: the daemon killed with async work queued. A child process accepts
 * eight invocations (202 each), runs three to completion, and is SIGKILLed while two more are in
 * the middle of their attempt. A new service on the same SQLite file must finish all eight: the
 * three finished ones are not run again, the three never started run once, and the two that were
 * cut off run a second time. That second run is the at-least-once guarantee, made visible.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ServerResponse } from 'node:http';
import { openDatabase } from '../../platform/store/db.ts';
import { AsyncService } from '../../platform/async/service.ts';
import { asyncMigrations } from '../../platform/async/schema.ts';
import { functionServer, httpInvoke, tempDir, waitFor } from './support.ts';

const here = path.dirname(fileURLToPath(import.meta.url));

test('SIGKILL with work queued and running: every job finishes, none is lost, only the cut-off ones run twice', async () => {
  const tmp = tempDir();
  const held: ServerResponse[] = [];
  let answered = 0;
  const fn = await functionServer((s, res) => {
    // The first three attempts are answered; the next ones hang until the daemon is killed.
    if (answered < 3) {
      answered++;
      res.end(`done ${s.path}`);
    } else held.push(res);
  });
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(here, 'child-daemon.ts'), tmp.file, fn.url, '8'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (err += d));
  const exited = new Promise<NodeJS.Signals | null>((r) => child.once('exit', (_code, signal) => r(signal)));
  try {
    const ids = await waitFor(
      () => (out.includes('\n') ? (JSON.parse(out.split('\n')[0]) as { ids: string[] }).ids : null),
      `the child to accept its invocations (stderr: ${err})`,
    );
    assert.is(ids.length, 8);
    // Two attempts in flight at once (the child's concurrency), after three completed.
    await waitFor(() => held.length === 2, 'two attempts to be in flight');
    child.kill('SIGKILL');
    assert.is(await exited, 'SIGKILL');
    for (const r of held) r.destroy();

    // What the killed daemon left behind, read from the file before anyone recovers it.
    let store = openDatabase(tmp.file, asyncMigrations);
    const before = new Map(
      store.sqlite
        .prepare('SELECT id, status FROM async_jobs')
        .all()
        .map((r: any) => [r.id as string, r.status as string]),
    );
    store.close();
    assert.equal([...before.keys()].sort(), [...ids].sort(), 'every accepted invocation was committed');
    const byStatus = (s: string) => ids.filter((id) => before.get(id) === s);
    assert.is(byStatus('succeeded').length, 3);
    assert.is(byStatus('running').length, 2);
    assert.is(byStatus('queued').length, 3);

    fn.handler = (s, res) => res.end(`done ${s.path}`);
    store = openDatabase(tmp.file, asyncMigrations);
    const service = AsyncService.open({ store, invoke: httpInvoke(fn.url), exists: () => true });
    try {
      await waitFor(() => ids.every((id) => service.get(id).status === 'succeeded'), 'every invocation to succeed after the restart');
      for (const id of byStatus('succeeded')) {
        assert.is(fn.callsOf(id), 1, `${id} finished before the kill and must not run again`);
        assert.is(service.get(id).attempts, 1);
      }
      for (const id of byStatus('queued')) {
        assert.is(fn.callsOf(id), 1, `${id} never started before the kill and runs once`);
        assert.is(service.get(id).attempts, 1);
      }
      for (const id of byStatus('running')) {
        assert.is(fn.callsOf(id), 2, `${id} was cut off mid-attempt and runs again (at-least-once)`);
        const inv = service.get(id);
        assert.is(inv.attempts, 2, 'the interrupted attempt counts');
        assert.is(inv.lastError, null);
      }
      for (const id of ids) assert.match(service.get(id).result!.body!, /^done \/job\/\d$/);
    } finally {
      await service.close(1000);
      store.close();
    }
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await fn.close();
    tmp.cleanup();
  }
});

test.run();
