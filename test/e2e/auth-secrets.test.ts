/**
 * Auth, secrets and CORS through the real daemon: the admin API needs the token the daemon wrote
 * (0600) into its data dir; a missing, wrong or revoked token gets one identical 401; functions can
 * require tokens; secrets reach instances after restore (and running ones when changed), never the
 * snapshot; CORS preflights are answered by the platform.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { statSync, readFileSync, cpSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { request } from 'undici';
import { deploy, FIXTURES, sharedDaemon, type TestDaemon } from '../support/daemon.ts';
import { tempDir } from '../support/tmp.ts';

let d: TestDaemon;
sharedDaemon(test, ['echo'], (daemon) => (d = daemon));

test('the admin token file is private, and the API needs it', async () => {
  const st = statSync(path.join(d.dataDir, 'admin.token'));
  assert.is(st.mode & 0o777, 0o600);
  const bodies = new Set<string>();
  for (const headers of [{}, { authorization: 'Bearer ign_wrong' }, { authorization: 'Basic x' }]) {
    const r = await request(`${d.url}/v1/functions`, { headers });
    assert.is(r.statusCode, 401);
    assert.match(String(r.headers['www-authenticate']), /^Bearer/);
    const p = (await r.body.json()) as { code: string; detail: string };
    assert.is(p.code, 'unauthorized');
    bodies.add(p.detail);
  }
  assert.is(bodies.size, 1, 'the same detail whatever was wrong');
  const ok = await request(`${d.url}/v1/functions`, { headers: d.auth() });
  assert.is(ok.statusCode, 200);
  await ok.body.text();
  for (const open of ['/healthz', '/metrics', '/fn/echo/']) {
    const r = await request(`${d.url}${open}`);
    assert.is(r.statusCode, 200, open);
    await r.body.text();
  }
});

test('tokens: create, use, revoke', async () => {
  const created = JSON.parse((await d.cli(['token', 'create', '--name', 'ci', '--json'])).stdout);
  assert.match(created.token, /^ign_/);
  const use = await request(`${d.url}/v1/functions`, { headers: { authorization: `Bearer ${created.token}` } });
  assert.is(use.statusCode, 200);
  await use.body.text();
  const ls = await d.cli(['token', 'ls', '--json']);
  assert.not.match(ls.stdout, new RegExp(created.token), 'tokens are never listed');
  assert.is((await d.cli(['token', 'revoke', created.id])).code, 0);
  const after = await request(`${d.url}/v1/functions`, { headers: { authorization: `Bearer ${created.token}` } });
  assert.is(after.statusCode, 401);
  await after.body.text();
});

test('secrets reach instances after restore and when changed, never the deploy env', async () => {
  const set = await d.cli(['secret', 'set', 'echo', 'API_KEY', 's3cr3t-value']);
  assert.is(set.code, 0, set.stderr);
  let env: Record<string, string> = {};
  for (let i = 0; i < 50 && env.API_KEY !== 's3cr3t-value'; i++) {
    env = ((await (await request(`${d.url}/fn/echo/`)).body.json()) as { env: Record<string, string> }).env;
    if (env.API_KEY !== 's3cr3t-value') await new Promise((r) => setTimeout(r, 100));
  }
  assert.is(env.API_KEY, 's3cr3t-value', 'running instances got the secret');
  const ls = await d.cli(['secret', 'ls', 'echo', '--json']);
  assert.not.match(ls.stdout, /s3cr3t-value/, 'values are never listed');
  const db = readFileSync(path.join(d.dataDir, 'ignition.db'));
  assert.not.ok(db.includes(Buffer.from('s3cr3t-value')), 'encrypted at rest');
  assert.not.match(d.output(), /s3cr3t-value/, 'never logged');
  const odd = await d.cli(['secret', 'set', 'echo', 'BAD-NAME!', 'x']);
  assert.is(odd.code, 1);
  assert.match(odd.stderr, /\[secret_invalid_name\]/);
  const missingFn = await d.cli(['secret', 'set', 'nope', 'A', 'x']);
  assert.match(missingFn.stderr, /\[function_not_found\]/);
});

test('a token-protected function, with CORS answered by the platform', async () => {
  const dir = tempDir('ign-auth-');
  cpSync(path.join(FIXTURES, 'echo'), dir, { recursive: true });
  writeFileSync(path.join(dir, 'ignition.json'), JSON.stringify({ auth: 'token', cors: { origins: ['https://app.example'], credentials: true } }));
  await deploy(d, dir, ['--name', 'private']);
  const anon = await request(`${d.url}/fn/private/`);
  assert.is(anon.statusCode, 401);
  assert.is(((await anon.body.json()) as { code: string }).code, 'unauthorized');
  const inv = JSON.parse((await d.cli(['token', 'create', '--scope', 'invoke', '--function', 'private', '--json'])).stdout);
  const ok = await request(`${d.url}/fn/private/x`, { headers: { authorization: `Bearer ${inv.token}`, origin: 'https://app.example' } });
  assert.is(ok.statusCode, 200);
  assert.is(ok.headers['access-control-allow-origin'], 'https://app.example');
  const echo = (await ok.body.json()) as { headers: Record<string, string> };
  assert.is(echo.headers.authorization, undefined, 'the platform token never reaches the function');
  const other = await request(`${d.url}/v1/functions`, { headers: { authorization: `Bearer ${inv.token}` } });
  assert.is(other.statusCode, 403, 'an invoke token is not an admin token');
  await other.body.text();
  const pre = await request(`${d.url}/fn/private/x`, {
    method: 'OPTIONS',
    headers: { origin: 'https://app.example', 'access-control-request-method': 'POST' },
  });
  assert.is(pre.statusCode, 204);
  assert.is(pre.headers['access-control-allow-origin'], 'https://app.example');
  await pre.body.text();
});

test('an invoke token ends with its function: a later function of the same name refuses it', async () => {
  const dir = tempDir('ign-auth-');
  cpSync(path.join(FIXTURES, 'echo'), dir, { recursive: true });
  writeFileSync(path.join(dir, 'ignition.json'), JSON.stringify({ auth: 'token' }));
  await deploy(d, dir, ['--name', 'reborn']);
  const inv = JSON.parse((await d.cli(['token', 'create', '--scope', 'invoke', '--function', 'reborn', '--json'])).stdout) as { id: string; token: string };
  const call = () => request(`${d.url}/fn/reborn/`, { headers: { authorization: `Bearer ${inv.token}` } });
  const before = await call();
  assert.is(before.statusCode, 200);
  await before.body.text();
  const rm = await d.cli(['rm', 'reborn']);
  assert.is(rm.code, 0, rm.stderr);
  await deploy(d, dir, ['--name', 'reborn']);
  const after = await call();
  assert.is(after.statusCode, 401, 'the token of the removed function does not call its successor');
  assert.is(((await after.body.json()) as { code: string }).code, 'unauthorized');
  const listed = JSON.parse((await d.cli(['token', 'ls', '--json'])).stdout) as Array<{ id: string; revokedAt: number | null }>;
  assert.type(listed.find((r) => r.id === inv.id)?.revokedAt, 'number', 'token ls shows it revoked');
});

test.run();
