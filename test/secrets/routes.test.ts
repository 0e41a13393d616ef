/**
 * /v1/secrets through `app.request()` behind the real adminAuth guard and the daemon's error edge,
 * with a logger that keeps every line: the value goes in and never comes out, whether in a
 * response, a problem document or a log line, including when the body is malformed, too large,
 * or a stored ciphertext turns out to be corrupt.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { TokenStore } from '../../platform/auth/tokens.ts';
import { adminAuth } from '../../platform/auth/middleware.ts';
import { SecretStore } from '../../platform/secrets/store.ts';
import { secretRoutes } from '../../platform/secrets/routes.ts';
import { captureLogger, edgeApp, tempData, type TempData } from '../auth/support.ts';

const VALUE = 'hunter2-s3cr3t-value-9f8e7d';
let t: TempData;
let secrets: SecretStore;
let app: ReturnType<typeof edgeApp>;
let lines: string[];
let changed: string[];
let admin: string;
const functions = new Set(['api', 'web']);

test.before.each(() => {
  t = tempData('ignition-secret-routes-');
  secrets = SecretStore.open(t.store, t.dir);
  const tokens = new TokenStore(t.store);
  admin = tokens.create().token;
  const cap = captureLogger();
  lines = cap.lines;
  changed = [];
  app = edgeApp(cap.logger);
  app.use('/v1/*', adminAuth(tokens));
  app.route('/v1/secrets', secretRoutes(secrets, { exists: (fn) => functions.has(fn), onChange: (fn) => changed.push(fn) }));
});
test.after.each(() => {
  assert.not.ok(
    lines.some((l) => l.includes(VALUE)),
    `a log line carries the value:\n${lines.join('')}`,
  );
  t.cleanup();
});

const call = (method: string, path: string, body?: string, token = admin) =>
  app.request(path, { method, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body });
const put = (fn: string, name: string, value: unknown) => call('PUT', `/v1/secrets/${fn}/${encodeURIComponent(name)}`, JSON.stringify({ value }));

async function noValue(res: Response): Promise<Record<string, any>> {
  const text = await res.text();
  assert.not.ok(text.includes(VALUE), `response carries the value: ${text}`);
  return JSON.parse(text);
}

test('set → 201, replace → 200, list names only, delete; onChange follows every write', async () => {
  const res = await put('api', 'STRIPE_KEY', VALUE);
  assert.is(res.status, 201);
  const body = await noValue(res);
  assert.equal({ function: body.function, name: body.name, created: body.created }, { function: 'api', name: 'STRIPE_KEY', created: true });
  const again = await put('api', 'STRIPE_KEY', VALUE);
  assert.is(again.status, 200);
  assert.is((await noValue(again)).created, false);
  const list = await noValue(await call('GET', '/v1/secrets/api'));
  assert.equal(
    list.secrets.map((s: { name: string }) => s.name),
    ['STRIPE_KEY'],
  );
  assert.equal(Object.keys(list.secrets[0]).sort(), ['createdAt', 'name', 'updatedAt']);
  assert.equal(secrets.resolve('api'), { STRIPE_KEY: VALUE });
  const del = await call('DELETE', '/v1/secrets/api/STRIPE_KEY');
  assert.equal(await del.json(), { function: 'api', removed: 'STRIPE_KEY' });
  assert.equal(changed, ['api', 'api', 'api']);
  const gone = await call('DELETE', '/v1/secrets/api/STRIPE_KEY');
  assert.is(gone.status, 404);
  assert.is((await gone.json()).code, 'secret_not_found');
});

test('unknown and invalid functions, odd names: typed 4xx, nothing stored, nothing changed', async () => {
  const unknown = await put('nope', 'A', VALUE);
  assert.is(unknown.status, 404);
  assert.is((await noValue(unknown)).code, 'function_not_found');
  assert.is((await call('GET', '/v1/secrets/nope')).status, 404);
  const badFn = await call('GET', '/v1/secrets/Bad_Fn');
  assert.is((await badFn.json()).code, 'invalid_name');
  for (const name of ['MY-KEY', '1A', 'A B', 'Ü', 'x'.repeat(129)]) {
    const res = await put('api', name, VALUE);
    assert.is(res.status, 400, name);
    const p = await noValue(res);
    assert.is(p.code, 'secret_invalid_name');
    assert.match(p.detail, /letters, digits and "_"/);
  }
  assert.equal(secrets.list('api'), []);
  assert.equal(changed, []);
});

test('bad bodies and values: the problem never quotes the value', async () => {
  const notJson = await call('PUT', '/v1/secrets/api/A', `{"value": ${VALUE}}`);
  assert.is(notJson.status, 400);
  const p1 = await noValue(notJson);
  assert.is(p1.code, 'bad_request');
  assert.match(p1.detail, /not valid JSON/);
  const noKey = await call('PUT', '/v1/secrets/api/A', JSON.stringify({ secret: VALUE }));
  assert.match((await noValue(noKey)).detail, /\{"value": "\.\.\."\}/);
  const big = await put('api', 'BIG', VALUE + 'x'.repeat(64 * 1024));
  assert.is(big.status, 413);
  assert.is((await noValue(big)).code, 'secret_too_large');
  const huge = await call('PUT', '/v1/secrets/api/HUGE', JSON.stringify({ value: VALUE + '\u0001'.repeat(100_000) }));
  assert.is(huge.status, 413);
  await noValue(huge);
  const nul = await put('api', 'NUL', VALUE + '\0');
  assert.is((await noValue(nul)).code, 'secret_invalid_value');
  const num = await put('api', 'NUM', 12345);
  assert.is((await noValue(num)).code, 'secret_invalid_value');
  assert.equal(secrets.list('api'), []);
});

test('a corrupt secret surfaces as secret_corrupt naming it; the logged 500 carries names only', async () => {
  await put('api', 'STRIPE_KEY', VALUE);
  t.store.sqlite.prepare("UPDATE secrets SET ciphertext = randomblob(length(ciphertext)) WHERE name = 'STRIPE_KEY'").run();
  const res = await call('POST', '/v1/secrets/_rotate-key');
  assert.is(res.status, 500);
  const p = await noValue(res);
  assert.is(p.code, 'secret_corrupt');
  assert.match(p.detail, /secret STRIPE_KEY of function "api"/);
  assert.ok(
    lines.some((l) => l.includes('secret_corrupt')),
    'the failure is logged',
  );
});

test('rotate-key through the API; secrets still resolve', async () => {
  await put('api', 'A', VALUE);
  await put('web', 'B', 'two');
  const before = secrets.keyId;
  const res = await call('POST', '/v1/secrets/_rotate-key');
  assert.is(res.status, 200);
  const body = await res.json();
  assert.is(body.rotated, 2);
  assert.is.not(body.keyId, before);
  assert.equal(secrets.resolve('api'), { A: VALUE });
});

test('the routes are behind the admin guard', async () => {
  const res = await app.request('/v1/secrets/api');
  assert.is(res.status, 401);
  const put2 = await app.request('/v1/secrets/api/A', { method: 'PUT', body: JSON.stringify({ value: VALUE }) });
  assert.is(put2.status, 401);
  assert.equal(secrets.list('api'), []);
});

test.run();
