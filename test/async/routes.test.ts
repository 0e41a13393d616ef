/**
 * The REST routes through `app.request()`, mounted under /v1 beside the daemon's real onError, with
 * a real service, SQLite file and HTTP "function": status codes, problem documents for bad input
 * and unknown resources, synchronous invocations, dead letters and cron triggers.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Hono } from 'hono';
import { openDatabase } from '../../platform/store/db.ts';
import { onError } from '../../platform/api/problem.ts';
import { silentLogger } from '../../platform/log.ts';
import { AsyncService } from '../../platform/async/service.ts';
import { asyncRoutes } from '../../platform/async/routes.ts';
import { asyncMigrations } from '../../platform/async/schema.ts';
import { FunctionTimeout } from '../../platform/functions/errors.ts';
import { FAST_BACKOFF, functionServer, httpInvoke, tempDir, waitFor } from './support.ts';

const tmp = tempDir();
const store = openDatabase(tmp.file, asyncMigrations);
const fn = await functionServer();
const invokeHttp = httpInvoke(fn.url);
const service = AsyncService.open({
  store,
  exists: (n) => n === 'hello' || n === 'slow',
  backoff: FAST_BACKOFF,
  maxBodyBytes: 1024,
  invoke: (job) =>
    job.fn === 'slow'
      ? Promise.reject(FunctionTimeout(`function slow did not finish within its timeout of 5 ms`, { data: { timeoutMs: 5 } }))
      : invokeHttp(job),
});
const app = new Hono();
app.route('/v1', asyncRoutes(service));
app.onError(onError(silentLogger));

async function call(method: string, path: string, body?: unknown) {
  const res = await app.request(path, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, type: res.headers.get('content-type') ?? '', location: res.headers.get('location'), body: text ? JSON.parse(text) : null };
}

test('async: 202 with id and status URL, then the status shows the result', async () => {
  fn.handler = (s, res) =>
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ path: s.path, body: s.body.toString(), ct: s.headers['content-type'] }));
  const r = await call('POST', '/v1/functions/hello/invocations', { async: true, path: '/users?id=7', headers: { 'Content-Type': 'text/plain' }, body: 'hi' });
  assert.is(r.status, 202);
  assert.is(r.body.status, 'queued');
  assert.match(r.body.id, /^inv_/);
  assert.is(r.body.statusUrl, `/v1/invocations/${r.body.id}`);
  assert.is(r.location, r.body.statusUrl);
  const done = await waitFor(async () => {
    const s = await call('GET', r.body.statusUrl);
    return s.body.status === 'succeeded' && s;
  }, 'the invocation to succeed');
  assert.is(done.status, 200);
  assert.equal(done.body.request, { method: 'POST', path: '/users?id=7' });
  assert.equal(JSON.parse(done.body.result.body), { path: '/users?id=7', body: 'hi', ct: 'text/plain' });
  assert.is(done.body.attempts, 1);
  const listed = await call('GET', '/v1/functions/hello/invocations?status=succeeded');
  assert.ok(listed.body.invocations.some((i: { id: string }) => i.id === r.body.id));
});

test('bodyBase64 carries bytes; GET without a body is the default method', async () => {
  fn.handler = (s, res) => res.end(`${s.method} ${s.body.toString('hex')}`);
  const a = await call('POST', '/v1/functions/hello/invocations', { bodyBase64: Buffer.from([1, 2, 255]).toString('base64') });
  assert.is(a.status, 200);
  assert.is(a.body.response.body, 'POST 0102ff');
  const b = await call('POST', '/v1/functions/hello/invocations', {});
  assert.is(b.body.response.body, 'GET ');
});

test('sync: 200 with the whole response; the invocation is recorded', async () => {
  fn.handler = (_s, res) => res.writeHead(418, { 'x-kind': 'teapot' }).end('short and stout');
  const r = await call('POST', '/v1/functions/hello/invocations', { method: 'put', path: '/t', body: 'x' });
  assert.is(r.status, 200);
  assert.is(r.body.status, 'dead');
  assert.is(r.body.response.status, 418);
  assert.is(r.body.response.headers['x-kind'], 'teapot');
  assert.is(r.body.response.body, 'short and stout');
  const s = await call('GET', `/v1/invocations/${r.body.id}`);
  assert.is(s.body.kind, 'sync');
  assert.equal(s.body.request, { method: 'PUT', path: '/t' });
  // Synchronous failures had a caller to tell; they stay out of the dead-letter list.
  const dl = await call('GET', '/v1/functions/hello/dead-letters');
  assert.not.ok(dl.body.deadLetters.some((d: { id: string }) => d.id === r.body.id));
});

test('sync: a platform failure is its problem document, carrying the invocation id', async () => {
  const r = await call('POST', '/v1/functions/slow/invocations', { body: 'x' });
  assert.is(r.status, 504);
  assert.is(r.type, 'application/problem+json');
  assert.is(r.body.code, 'function_timeout');
  assert.is(r.body.timeoutMs, 5);
  const s = await call('GET', `/v1/invocations/${r.body.invocation}`);
  assert.is(s.body.status, 'dead');
  assert.is(s.body.lastError.code, 'function_timeout');
});

test('dead letters and retry over the API', async () => {
  const r = await call('POST', '/v1/functions/slow/invocations', { async: true, maxAttempts: 2 });
  assert.is(r.status, 202);
  const dead = await waitFor(async () => {
    const s = await call('GET', r.body.statusUrl);
    return s.body.status === 'dead' && s.body;
  }, 'the invocation to die');
  assert.is(dead.attempts, 2);
  const dl = await call('GET', '/v1/functions/slow/dead-letters?limit=10');
  assert.equal(
    dl.body.deadLetters.map((d: { id: string }) => d.id),
    [r.body.id],
  );
  const again = await call('POST', `/v1/invocations/${r.body.id}/retry`);
  assert.is(again.status, 202);
  assert.is(again.body.status, 'queued');
  await waitFor(async () => (await call('GET', r.body.statusUrl)).body.status === 'dead', 'the retried invocation to die again');
  fn.handler = (_s, res) => res.end('ok');
  const notDead = await call('POST', '/v1/functions/hello/invocations', { async: true });
  await waitFor(async () => (await call('GET', notDead.body.statusUrl)).body.status === 'succeeded', 'a good invocation');
  const conflict = await call('POST', `/v1/invocations/${notDead.body.id}/retry`);
  assert.is(conflict.status, 409);
  assert.is(conflict.body.code, 'invocation_not_retryable');
});

test('duplicate idempotency keys answer with the first invocation', async () => {
  const a = await call('POST', '/v1/functions/hello/invocations', { async: true, idempotencyKey: 'k-1' });
  const b = await call('POST', '/v1/functions/hello/invocations', { async: true, idempotencyKey: 'k-1' });
  assert.is(b.status, 202);
  assert.is(b.body.id, a.body.id);
  assert.is(b.body.duplicate, true);
});

/** [what, method, path, body, status, code, fragment of the detail] */
const bad: Array<[string, string, string, unknown, number, string, string]> = [
  ['unknown function', 'POST', '/v1/functions/ghost/invocations', { async: true }, 404, 'function_not_found', 'ghost'],
  ['bad function name', 'POST', '/v1/functions/Bad_Name/invocations', { async: true }, 400, 'invalid_name', 'lowercase'],
  ['not JSON', 'POST', '/v1/functions/hello/invocations', '{nope', 400, 'bad_request', 'not valid JSON'],
  ['async not boolean', 'POST', '/v1/functions/hello/invocations', { async: 'yes' }, 400, 'bad_request', '"async"'],
  ['bad method', 'POST', '/v1/functions/hello/invocations', { method: 'GE T' }, 400, 'bad_request', '"method"'],
  ['relative path', 'POST', '/v1/functions/hello/invocations', { path: 'users' }, 400, 'bad_request', '"path"'],
  ['header with newline', 'POST', '/v1/functions/hello/invocations', { headers: { a: 'x\r\ny: z' } }, 400, 'bad_request', 'line break'],
  ['body and bodyBase64', 'POST', '/v1/functions/hello/invocations', { body: 'a', bodyBase64: 'YQ==' }, 400, 'bad_request', 'not both'],
  ['bad base64', 'POST', '/v1/functions/hello/invocations', { bodyBase64: '***' }, 400, 'bad_request', 'base64'],
  ['body not a string', 'POST', '/v1/functions/hello/invocations', { body: { a: 1 } }, 400, 'bad_request', '"body" must be a string'],
  ['maxAttempts 0', 'POST', '/v1/functions/hello/invocations', { async: true, maxAttempts: 0 }, 400, 'bad_request', '"maxAttempts"'],
  ['maxAttempts too many', 'POST', '/v1/functions/hello/invocations', { async: true, maxAttempts: 1000 }, 400, 'bad_request', 'from 1 to 25'],
  ['body too large', 'POST', '/v1/functions/hello/invocations', { async: true, body: 'x'.repeat(2000) }, 413, 'payload_too_large', 'limit is 1024'],
  ['unknown invocation', 'GET', '/v1/invocations/inv_missing', undefined, 404, 'invocation_not_found', 'inv_missing'],
  ['retry unknown invocation', 'POST', '/v1/invocations/inv_missing/retry', undefined, 404, 'invocation_not_found', 'inv_missing'],
  ['bad status filter', 'GET', '/v1/functions/hello/invocations?status=done', undefined, 400, 'bad_request', '"status"'],
  ['bad limit', 'GET', '/v1/functions/hello/dead-letters?limit=0', undefined, 400, 'bad_request', '"limit"'],
  ['dead letters of unknown function', 'GET', '/v1/functions/ghost/dead-letters', undefined, 404, 'function_not_found', 'ghost'],
  ['cron without schedule', 'POST', '/v1/functions/hello/crons', { path: '/x' }, 400, 'bad_request', '"schedule"'],
  ['cron that does not parse', 'POST', '/v1/functions/hello/crons', { schedule: '*/5 * * *' }, 400, 'cron_invalid', 'expected 5'],
  ['cron with a bad hour', 'POST', '/v1/functions/hello/crons', { schedule: '0 25 * * *' }, 400, 'cron_invalid', 'hour field "25"'],
  ['cron for unknown function', 'POST', '/v1/functions/ghost/crons', { schedule: '* * * * *' }, 404, 'function_not_found', 'ghost'],
  ['unknown cron', 'DELETE', '/v1/crons/cron_missing', undefined, 404, 'cron_not_found', 'cron_missing'],
  ['pause unknown cron', 'POST', '/v1/crons/cron_missing/pause', undefined, 404, 'cron_not_found', 'cron_missing'],
  ['resume unknown cron', 'POST', '/v1/crons/cron_missing/resume', undefined, 404, 'cron_not_found', 'cron_missing'],
];

for (const [what, method, path, body, status, code, fragment] of bad) {
  test(`problem: ${what}`, async () => {
    const r = await call(method, path, body);
    assert.is(r.status, status);
    assert.is(r.type, 'application/problem+json');
    assert.is(r.body.code, code);
    assert.ok(r.body.detail.includes(fragment), `detail "${r.body.detail}" should mention ${fragment}`);
  });
}

test('cron field errors name the field in the problem', async () => {
  const r = await call('POST', '/v1/functions/hello/crons', { schedule: '0 0 * * funday' });
  assert.is(r.body.field, 'day-of-week');
  assert.is(r.body.value, 'funday');
});

test('crons: create, list, get, delete', async () => {
  const created = await call('POST', '/v1/functions/hello/crons', { schedule: '*/5 * * * *', path: '/tick' });
  assert.is(created.status, 201);
  assert.match(created.body.id, /^cron_/);
  assert.is(created.location, `/v1/crons/${created.body.id}`);
  assert.is(created.body.schedule, '*/5 * * * *');
  assert.is(created.body.method, 'GET');
  assert.is(created.body.path, '/tick');
  assert.is(created.body.enabled, true);
  assert.is(created.body.lastFiredAt, null);
  assert.is(new Date(created.body.nextAt).getUTCMinutes() % 5, 0);
  const withBody = await call('POST', '/v1/functions/hello/crons', { schedule: '@daily', body: '{"report":true}' });
  assert.is(withBody.body.method, 'POST');
  const list = await call('GET', '/v1/functions/hello/crons');
  assert.equal(
    list.body.crons.map((c: { id: string }) => c.id),
    [created.body.id, withBody.body.id],
  );
  assert.is((await call('GET', `/v1/crons/${created.body.id}`)).body.schedule, '*/5 * * * *');
  const removed = await call('DELETE', `/v1/crons/${created.body.id}`);
  assert.equal(removed.body, { removed: created.body.id });
  assert.is((await call('DELETE', `/v1/crons/${created.body.id}`)).status, 404);
  assert.equal(
    (await call('GET', '/v1/functions/hello/crons')).body.crons.map((c: { id: string }) => c.id),
    [withBody.body.id],
  );
});

test('crons: pause and resume', async () => {
  const created = await call('POST', '/v1/functions/hello/crons', { schedule: '*/5 * * * *' });
  const paused = await call('POST', `/v1/crons/${created.body.id}/pause`);
  assert.is(paused.status, 200);
  assert.is(paused.body.id, created.body.id);
  assert.is(paused.body.enabled, false);
  assert.is(paused.body.nextAt, null);
  assert.equal((await call('POST', `/v1/crons/${created.body.id}/pause`)).body, paused.body, 'pausing again is a no-op');
  const listed = (await call('GET', '/v1/functions/hello/crons')).body.crons.find((c: { id: string }) => c.id === created.body.id);
  assert.is(listed.enabled, false);
  assert.is((await call('GET', `/v1/crons/${created.body.id}`)).body.enabled, false);
  const resumed = await call('POST', `/v1/crons/${created.body.id}/resume`);
  assert.is(resumed.status, 200);
  assert.is(resumed.body.enabled, true);
  assert.is(new Date(resumed.body.nextAt).getUTCMinutes() % 5, 0);
  assert.ok(Date.parse(resumed.body.nextAt) > Date.now() - 1000, 'the next run is after the resume');
  assert.is((await call('DELETE', `/v1/crons/${created.body.id}`)).status, 200);
});

test.after(async () => {
  await service.close(1000);
  store.close();
  await fn.close();
  tmp.cleanup();
});

test.run();
