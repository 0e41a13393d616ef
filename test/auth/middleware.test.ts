/**
 * The /v1 guard and the invocation check through `app.request()`, with the real TokenStore on a
 * SQLite file and the daemon's problem+json edge: every 401 is the same document whatever went
 * wrong, carries WWW-Authenticate, and an invoke token on the admin API is a 403.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { TokenStore } from '../../platform/auth/tokens.ts';
import { adminAuth, bearerToken, invokeAuth } from '../../platform/auth/middleware.ts';
import { Forbidden, Unauthorized, UNAUTHORIZED_DETAIL } from '../../platform/auth/errors.ts';
import { captureLogger, edgeApp, tempData, type TempData } from './support.ts';

let t: TempData;
let tokens: TokenStore;
let lines: string[];
let app: ReturnType<typeof edgeApp>;
test.before.each(() => {
  t = tempData();
  tokens = new TokenStore(t.store);
  const cap = captureLogger();
  lines = cap.lines;
  app = edgeApp(cap.logger);
  app.use('/v1/*', adminAuth(tokens, { publicPaths: ['/v1/openapi.json'] }));
  app.get('/v1/things', (c) => c.json({ ok: true, by: (c.get('token' as never) as { id: string }).id }));
  app.get('/v1/openapi.json', (c) => c.json({ openapi: '3.1.0' }));
  app.get('/healthz', (c) => c.json({ status: 'ok' }));
});
test.after.each(() => t.cleanup());

const get = (path: string, authorization?: string) => app.request(path, { headers: authorization === undefined ? {} : { authorization } });

test('an admin token passes; the handler sees who it is', async () => {
  const { id, token } = tokens.create({ name: 'ci' });
  const res = await get('/v1/things', `Bearer ${token}`);
  assert.is(res.status, 200);
  assert.equal(await res.json(), { ok: true, by: id });
  assert.is((await get('/v1/things', `bearer   ${token}`)).status, 200, 'scheme is case-insensitive (RFC 9110)');
});

test('missing, malformed, wrong and revoked tokens all get the same 401, no detail leaked', async () => {
  const live = tokens.create();
  const revoked = tokens.create();
  tokens.revoke(revoked.id);
  const flipped = live.token.slice(0, -2) + (live.token.endsWith('AA') ? 'BB' : 'AA');
  const attempts: Array<[string, string | undefined]> = [
    ['missing', undefined],
    ['empty', ''],
    ['basic scheme', `Basic ${Buffer.from('admin:' + live.token).toString('base64')}`],
    ['no scheme', live.token],
    ['bearer without token', 'Bearer '],
    ['two tokens', `Bearer ${live.token} ${live.token}`],
    ['not our format', 'Bearer abc.def.ghi'],
    ['wrong token', `Bearer ${flipped}`],
    ['revoked token', `Bearer ${revoked.token}`],
  ];
  const bodies = new Set<string>();
  for (const [label, header] of attempts) {
    const res = await get('/v1/things', header);
    assert.is(res.status, 401, label);
    assert.is(res.headers.get('www-authenticate'), 'Bearer realm="ignition"', label);
    assert.is(res.headers.get('content-type'), 'application/problem+json', label);
    assert.is(res.headers.get('x-request-id'), 'req_test', label);
    const body = await res.json();
    assert.is(body.code, 'unauthorized', label);
    assert.is(body.detail, UNAUTHORIZED_DETAIL, label);
    const { instance, ...rest } = body;
    assert.is(instance, '/v1/things');
    bodies.add(JSON.stringify(rest));
    const text = JSON.stringify(body);
    for (const secret of [live.token, revoked.token, revoked.id, 'revoked', 'malformed', 'unknown', 'expired']) {
      assert.not.ok(text.includes(secret), `${label}: body mentions ${secret}`);
    }
  }
  assert.is(bodies.size, 1, 'every failure is indistinguishable');
  assert.is(lines.filter((l) => l.includes(live.token) || l.includes(revoked.token)).length, 0, 'tokens never logged');
});

test('an invoke token is refused on the admin API with 403 forbidden', async () => {
  const inv = tokens.create({ scope: 'invoke' });
  const res = await get('/v1/things', `Bearer ${inv.token}`);
  assert.is(res.status, 403);
  assert.is(res.headers.get('www-authenticate'), null);
  const body = await res.json();
  assert.is(body.code, 'forbidden');
  assert.match(body.detail, /admin token/);
  assert.not.ok(JSON.stringify(body).includes(inv.token));
});

test('public paths and routes outside /v1 need no token', async () => {
  assert.is((await get('/v1/openapi.json')).status, 200);
  assert.is((await get('/healthz')).status, 200);
  assert.is((await get('/v1/openapi.json/x')).status, 401, 'exact matches only');
});

test('bearerToken parses RFC 6750 credentials only', () => {
  assert.is(bearerToken('Bearer ign_abc'), 'ign_abc');
  assert.is(bearerToken('BEARER ign_abc '), 'ign_abc');
  assert.is(bearerToken('Bearer'), undefined);
  assert.is(bearerToken('Token ign_abc'), undefined);
  assert.is(bearerToken('Bearer a b'), undefined);
  assert.is(bearerToken(undefined), undefined);
});

test('invokeAuth: public by default; token mode takes admin tokens and invoke tokens that cover the function', () => {
  const check = invokeAuth(tokens);
  const admin = tokens.create();
  const all = tokens.create({ scope: 'invoke' });
  const hello = tokens.create({ scope: 'invoke', fn: 'hello' });
  const revoked = tokens.create({ scope: 'invoke', fn: 'hello' });
  tokens.revoke(revoked.id);

  assert.is(check('hello', {}, undefined), null);
  assert.is(check('hello', { auth: 'none' }, 'Bearer nonsense'), null, 'public functions ignore the header');

  const on = { auth: 'token' as const };
  assert.is(check('hello', on, `Bearer ${admin.token}`)?.id, admin.id);
  assert.is(check('hello', on, `Bearer ${all.token}`)?.id, all.id);
  assert.is(check('hello', on, `Bearer ${hello.token}`)?.id, hello.id);

  const expect = (fn: string, header: string | undefined, factory: typeof Unauthorized) => {
    try {
      check(fn, on, header);
      assert.unreachable(`${fn} ${header}`);
    } catch (err) {
      assert.ok(factory.is(err), `${fn}: ${err}`);
      if (factory === Unauthorized) assert.is((err as Error).message, UNAUTHORIZED_DETAIL);
    }
  };
  expect('hello', undefined, Unauthorized);
  expect('hello', 'Bearer ign_' + 'x'.repeat(43), Unauthorized);
  expect('hello', `Bearer ${revoked.token}`, Unauthorized);
  expect('other', `Bearer ${hello.token}`, Forbidden);
});

test.run();
