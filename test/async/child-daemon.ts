/**
 * A stand-in daemon for test/async/restart.test.ts, run as its own process so the test can SIGKILL
 * it: opens the async service on the database file given as argv[2], accepts argv[4] async
 * invocations through the real routes (each answered 202 only after its commit), prints their ids
 * as one JSON line, and works them off against the HTTP "function" at argv[3], two at a time.
 */
import { Hono } from 'hono';
import { openDatabase } from '../../platform/store/db.ts';
import { onError } from '../../platform/api/problem.ts';
import { silentLogger } from '../../platform/log.ts';
import { AsyncService, asyncMigrations, asyncRoutes } from '../../platform/async/index.ts';
import { httpInvoke } from './support.ts';

const [file, url, count] = process.argv.slice(2);
const store = openDatabase(file, asyncMigrations);
const service = AsyncService.open({ store, invoke: httpInvoke(url), exists: () => true, concurrency: 2, perFunctionConcurrency: 2 });
const app = new Hono();
app.route('/v1', asyncRoutes(service));
app.onError(onError(silentLogger));

const ids: string[] = [];
for (let i = 0; i < Number(count); i++) {
  const res = await app.request('/v1/functions/hello/invocations', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ async: true, path: `/job/${i}` }),
  });
  if (res.status !== 202) throw new Error(`enqueue answered ${res.status}: ${await res.text()}`);
  ids.push(((await res.json()) as { id: string }).id);
}
process.stdout.write(JSON.stringify({ ids }) + '\n');
// Keep running until killed; the worker's timers are unref'd.
setInterval(() => {}, 1 << 30);
