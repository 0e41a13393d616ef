/**
 * /v1/tokens through `app.request()` behind the real adminAuth guard, as the daemon mounts it:
 * the token appears once, in the 201; listing never shows tokens or hashes; a revoked token stops
 * working on the next request.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { TokenStore } from '../../platform/auth/tokens.ts';
import { adminAuth } from '../../platform/auth/middleware.ts';
import { authRoutes } from '../../platform/auth/routes.ts';
import { captureLogger, edgeApp, tempData, type TempData } from './support.ts';

let t: TempData;
let tokens: TokenStore;
let app: ReturnType<typeof edgeApp>;
let admin: string;
test.before.each(() => {
  t = tempData();
  tokens = new TokenStore(t.store);
  app = edgeApp(captureLogger().logger);
  app.use('/v1/*', adminAuth(tokens));
  app.route('/v1/tokens', authRoutes(tokens));
  admin = tokens.create({ name: 'bootstrap admin' }).token;
});
test.after.each(() => t.cleanup());

const call = (method: string, path: string, body?: unknown, token = admin) =>
  app.request(path, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });

test('create → 201 with the token once; list shows records only; revoke ends it', async () => {
  const res = await call('POST', '/v1/tokens', { name: 'deploy bot', scope: 'invoke', function: 'hello' });
  assert.is(res.status, 201);
  const created = await res.json();
  assert.match(created.id, /^tok_/);
  assert.match(created.token, /^ign_[A-Za-z0-9_-]{43}$/);
  assert.equal(
    { name: created.name, scope: created.scope, function: created.function, revokedAt: created.revokedAt },
    { name: 'deploy bot', scope: 'invoke', function: 'hello', revokedAt: null },
  );

  const list = await (await call('GET', '/v1/tokens')).json();
  assert.equal(
    list.tokens.map((x: { name: string }) => x.name),
    ['bootstrap admin', 'deploy bot'],
  );
  const text = JSON.stringify(list);
  assert.not.ok(text.includes(created.token) || text.includes(admin) || /"(token|hash)"/.test(text), text);

  const adminToken = await (await call('POST', '/v1/tokens', {})).json();
  assert.is(adminToken.scope, 'admin');
  assert.is((await call('GET', '/v1/tokens', undefined, adminToken.token)).status, 200);
  const revoked = await call('DELETE', `/v1/tokens/${adminToken.id}`);
  assert.is(revoked.status, 200);
  assert.type((await revoked.json()).revoked.revokedAt, 'number');
  assert.is((await call('GET', '/v1/tokens', undefined, adminToken.token)).status, 401);
});

test('the token holder cannot see a token again, and bad requests are typed', async () => {
  const bad = await call('POST', '/v1/tokens', { scope: 'superuser' });
  assert.is(bad.status, 400);
  assert.is((await bad.json()).code, 'auth_invalid_request');
  const notString = await call('POST', '/v1/tokens', { name: 42 });
  assert.is((await notString.json()).code, 'auth_invalid_request');
  const adminFn = await call('POST', '/v1/tokens', { function: 'hello' });
  assert.match((await adminFn.json()).detail, /only invoke tokens/);
  const missing = await call('DELETE', '/v1/tokens/tok_nope');
  assert.is(missing.status, 404);
  assert.is((await missing.json()).code, 'auth_token_not_found');
  const notJson = await app.request('/v1/tokens', {
    method: 'POST',
    headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
    body: '{',
  });
  assert.is(notJson.status, 400);
});

test('an invoke token cannot mint tokens', async () => {
  const inv = tokens.create({ scope: 'invoke' }).token;
  const res = await call('POST', '/v1/tokens', { name: 'escalate' }, inv);
  assert.is(res.status, 403);
  assert.is(tokens.list().length, 2);
});

test.run();
