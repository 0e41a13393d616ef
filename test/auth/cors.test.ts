/**
 * Per-function CORS: the validator's messages, preflights answered by the platform (allowed and
 * refused), actual requests with and without credentials, `Vary: Origin`, and merging onto a
 * function's own headers.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { applyCors, corsFor, isPreflight, type CorsSettings } from '../../platform/auth/cors.ts';
import { checkAuthMode, checkCors, validateCors } from '../../platform/auth/settings.ts';
import { ConfigInvalid } from '../../platform/config/schema.ts';

const APP = 'https://app.example.com';
const preflight = (origin: string, method = 'PUT', headers?: string) =>
  new Request('http://localhost/fn/hello/x', {
    method: 'OPTIONS',
    headers: { origin, 'access-control-request-method': method, ...(headers ? { 'access-control-request-headers': headers } : {}) },
  });

test('validateCors accepts good settings and null', () => {
  assert.is(validateCors(null, 'x'), null);
  assert.is(validateCors(undefined, 'x'), null);
  const good: CorsSettings = {
    origins: [APP, 'http://localhost:5173', 'http://[::1]:8080'],
    methods: ['GET', 'POST'],
    headers: ['Content-Type', 'X-Api-Version'],
    exposeHeaders: ['X-Request-Id'],
    maxAgeSeconds: 600,
    credentials: true,
  };
  assert.equal(validateCors(good, 'x'), good);
  assert.equal(validateCors({ origins: '*', headers: ['*'] }, 'x'), { origins: '*', headers: ['*'] });
});

test('validateCors names every problem, refuses a wildcard with credentials', () => {
  const cases: Array<[unknown, RegExp[]]> = [
    ['*', [/must be null or an object/]],
    [{}, [/origins must be "\*" or a non-empty array/]],
    [{ origins: [] }, [/origins must be/]],
    [{ origins: ['https://app.example.com/'] }, [/origins\[0\] "https:\/\/app.example.com\/" is not an origin/]],
    [{ origins: ['null'] }, [/origins\[0\] "null"/]],
    [{ origins: ['app.example.com', 'ftp://x'] }, [/origins\[0\]/, /origins\[1\]/]],
    [{ origins: '*', credentials: true }, [/origins cannot be "\*" when credentials is true/]],
    [{ origins: [APP], credentials: true, headers: ['*'] }, [/headers cannot contain "\*" when credentials/]],
    [{ origins: [APP], methods: ['GET POST'] }, [/methods\[0\] "GET POST" is not an HTTP method/]],
    [{ origins: [APP], headers: ['bad header'] }, [/headers\[0\]/]],
    [{ origins: [APP], maxAgeSeconds: -1 }, [/maxAgeSeconds must be an integer from 0 to 86400/]],
    [{ origins: [APP], credentials: 'yes' }, [/credentials must be true or false/]],
    [{ origins: [APP], origin: APP }, [/origin is not a known CORS setting/]],
  ];
  for (const [value, res] of cases) {
    try {
      validateCors(value, 'functions/hello/package.json');
      assert.unreachable(JSON.stringify(value));
    } catch (err) {
      assert.ok(ConfigInvalid.is(err), String(err));
      const msg = (err as Error).message;
      assert.match(msg, /^function settings \(functions\/hello\/package.json\): cors /);
      for (const re of res) assert.match(msg, re);
    }
  }
  assert.is(checkCors(null), null);
  assert.match(checkCors({ origins: [] })!, /^is invalid: origins must be/);
  assert.is(checkAuthMode('token'), null);
  assert.is(checkAuthMode('none'), null);
  assert.match(checkAuthMode('bearer')!, /must be "none" or "token"/);
});

test('no cors setting: no headers, OPTIONS is not intercepted', () => {
  assert.equal(corsFor(null, preflight(APP)), {});
  assert.equal(corsFor(undefined, new Request('http://x/', { headers: { origin: APP } })), {});
});

test('an allowed preflight is answered by the platform with 204 and the allow headers', async () => {
  const settings: CorsSettings = { origins: [APP], methods: ['GET', 'PUT'], headers: ['Content-Type', 'Authorization'], maxAgeSeconds: 600, credentials: true };
  const req = preflight(APP, 'put', 'content-type, authorization');
  assert.ok(isPreflight(req));
  const res = corsFor(settings, req);
  assert.instance(res, Response);
  const r = res as Response;
  assert.is(r.status, 204);
  assert.is(await r.text(), '');
  assert.is(r.headers.get('access-control-allow-origin'), APP);
  assert.is(r.headers.get('access-control-allow-methods'), 'GET, PUT');
  assert.is(r.headers.get('access-control-allow-headers'), 'Content-Type, Authorization');
  assert.is(r.headers.get('access-control-allow-credentials'), 'true');
  assert.is(r.headers.get('access-control-max-age'), '600');
  assert.match(r.headers.get('vary')!, /Origin/);
});

test('origins match without regard to case; unset headers echo what was requested', () => {
  const r = corsFor({ origins: [APP] }, preflight('HTTPS://APP.example.com', 'DELETE', 'X-Custom')) as Response;
  assert.is(r.headers.get('access-control-allow-origin'), 'HTTPS://APP.example.com');
  assert.is(r.headers.get('access-control-allow-headers'), 'x-custom');
  assert.is(r.headers.get('access-control-allow-methods'), 'GET, HEAD, POST, PUT, PATCH, DELETE');
  assert.is(r.headers.get('access-control-allow-credentials'), null);
});

test('refused preflights (origin, method, header, "null") get 204 without any allow header', () => {
  const settings: CorsSettings = { origins: [APP], methods: ['GET'], headers: ['content-type'] };
  for (const req of [preflight('https://evil.example'), preflight(APP, 'DELETE'), preflight(APP, 'GET', 'x-other'), preflight('null', 'GET')]) {
    const r = corsFor(settings, req) as Response;
    assert.is(r.status, 204);
    for (const h of ['access-control-allow-origin', 'access-control-allow-methods', 'access-control-allow-headers']) assert.is(r.headers.get(h), null);
    assert.match(r.headers.get('vary')!, /Origin/);
  }
  const anyOrigin = corsFor({ origins: '*' }, preflight('null', 'GET')) as Response;
  assert.is(anyOrigin.headers.get('access-control-allow-origin'), null, '"null" is never matched, not even by "*"');
});

test('OPTIONS without Access-Control-Request-Method is not a preflight: it goes to the function', () => {
  const req = new Request('http://x/', { method: 'OPTIONS', headers: { origin: APP } });
  assert.not.ok(isPreflight(req));
  assert.equal(corsFor({ origins: [APP] }, req), { vary: 'Origin', 'access-control-allow-origin': APP });
});

test('actual requests: echo with Vary, wildcard without, nothing for strangers', () => {
  const node = (origin?: string) => ({ method: 'POST', headers: origin ? { origin } : {} });
  assert.equal(corsFor({ origins: [APP], credentials: true, exposeHeaders: ['X-Request-Id'] }, node(APP)), {
    vary: 'Origin',
    'access-control-allow-origin': APP,
    'access-control-allow-credentials': 'true',
    'access-control-expose-headers': 'X-Request-Id',
  });
  assert.equal(corsFor({ origins: '*' }, node(APP)), { 'access-control-allow-origin': '*' });
  assert.equal(corsFor({ origins: [APP] }, node('https://evil.example')), { vary: 'Origin' });
  assert.equal(corsFor({ origins: [APP] }, node()), { vary: 'Origin' }, 'no Origin: not CORS, but caches must still key on it');
  const h = new Headers({ origin: APP });
  assert.equal(corsFor({ origins: [APP] }, { method: 'GET', headers: h }), { vary: 'Origin', 'access-control-allow-origin': APP });
});

test("applyCors replaces the function's CORS headers and merges Vary", () => {
  const fnHeaders: Record<string, string | string[]> = { 'content-type': 'text/plain', 'Access-Control-Allow-Origin': '*', vary: 'Accept-Encoding' };
  const out = applyCors(fnHeaders, { vary: 'Origin', 'access-control-allow-origin': APP });
  assert.equal(out, { 'content-type': 'text/plain', vary: 'Accept-Encoding, Origin', 'access-control-allow-origin': APP });
  assert.equal(applyCors({ Vary: 'origin' }, { vary: 'Origin' }), { vary: 'origin' });
  const untouched = { 'access-control-allow-origin': 'https://fn.example' };
  assert.equal(applyCors(untouched, {}), untouched, 'no cors setting: the function owns its headers');
});

test.run();
