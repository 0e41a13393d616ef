/**
 * TokenStore and the first admin token, on a real SQLite file and real files in a temp data dir:
 * tokens are stored only as hashes, verify follows revocation at once, the admin.token file is
 * 0600 and reused only while its token is live.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync, statSync, writeFileSync, chmodSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { TokenStore, hashToken, looksLikeToken } from '../../platform/auth/tokens.ts';
import { ensureAdminToken } from '../../platform/auth/bootstrap.ts';
import { AuthInvalidRequest, AuthTokenNotFound } from '../../platform/auth/errors.ts';
import { tempData, type TempData } from './support.ts';

let t: TempData;
test.before.each(() => {
  t = tempData();
});
test.after.each(() => t.cleanup());

test('create returns a prefixed 32-byte token once and stores only its SHA-256', () => {
  const tokens = new TokenStore(t.store);
  const { id, token, record } = tokens.create({ name: 'ci', scope: 'admin' });
  assert.match(id, /^tok_[0-9a-z]{20}$/);
  assert.ok(looksLikeToken(token), token);
  assert.is(Buffer.from(token.slice(4), 'base64url').length, 32);
  assert.equal(record, { id, name: 'ci', scope: 'admin', function: null, createdAt: record.createdAt, lastUsedAt: null, revokedAt: null });
  const row = t.store.sqlite.prepare('SELECT * FROM tokens WHERE id = ?').get(id) as Record<string, unknown>;
  assert.equal(row.hash, hashToken(token));
  for (const v of Object.values(row)) assert.not.ok(String(v).includes(token.slice(4)), 'no column holds the token');
  t.store.sqlite.pragma('wal_checkpoint(TRUNCATE)');
  assert.not.ok(readFileSync(t.dbFile).includes(Buffer.from(token.slice(4))), 'the database file never contains the token');
  assert.not.ok('token' in tokens.list()[0], 'list has no token');
});

test('two tokens differ; verify finds each, rejects unknown and malformed ones', () => {
  const tokens = new TokenStore(t.store);
  const a = tokens.create({ name: 'a' });
  const b = tokens.create({ name: 'b', scope: 'invoke', fn: 'hello' });
  assert.is.not(a.token, b.token);
  assert.is(tokens.verify(a.token)?.id, a.id);
  assert.equal(tokens.verify(b.token), { ...b.record, lastUsedAt: tokens.verify(b.token)!.lastUsedAt });
  assert.is(tokens.verify(b.token)?.function, 'hello');
  // Same shape, different bytes: unknown.
  const flipped = a.token.slice(0, -1) + (a.token.endsWith('A') ? 'B' : 'A');
  assert.is(tokens.verify(flipped), null);
  for (const bad of ['', 'ign_', 'Bearer ' + a.token, a.token + 'x', a.token.slice(4), ' ' + a.token]) assert.is(tokens.verify(bad), null, JSON.stringify(bad));
});

test('revokeFunction revokes the live invoke tokens of one function, cached or not', () => {
  const tokens = new TokenStore(t.store);
  const a = tokens.create({ scope: 'invoke', fn: 'gone' });
  const b = tokens.create({ scope: 'invoke', fn: 'gone' });
  const earlier = tokens.create({ scope: 'invoke', fn: 'gone' });
  const keep = tokens.create({ scope: 'invoke', fn: 'stays' });
  const all = tokens.create({ scope: 'invoke' });
  const admin = tokens.create({ scope: 'admin' });
  const first = tokens.revoke(earlier.id).revokedAt;
  assert.ok(tokens.verify(a.token), 'cached before the revocation');
  assert.is(tokens.revokeFunction('gone'), 2, 'the already revoked one is not counted');
  assert.is(tokens.verify(a.token), null);
  assert.is(tokens.verify(b.token), null);
  assert.is(tokens.get(earlier.id)?.revokedAt, first, 'an earlier revocation keeps its time');
  for (const live of [keep, all, admin]) assert.ok(tokens.verify(live.token), live.record.name);
  assert.is(tokens.revokeFunction('gone'), 0);
  assert.is(new TokenStore(t.reopen()).verify(b.token), null, 'survives a reopen');
});

test('revoke bites at once even when the token was cached, and survives a reopen', () => {
  const tokens = new TokenStore(t.store);
  const { id, token } = tokens.create();
  assert.ok(tokens.verify(token));
  assert.ok(tokens.verify(token), 'second verify served from the cache');
  const revoked = tokens.revoke(id);
  assert.type(revoked.revokedAt, 'number');
  assert.is(tokens.verify(token), null);
  assert.is(tokens.revoke(id).revokedAt, revoked.revokedAt, 'revoke is idempotent');
  const again = new TokenStore(t.reopen());
  assert.is(again.verify(token), null);
  assert.is(again.list()[0].revokedAt, revoked.revokedAt);
  try {
    again.revoke('tok_nope');
    assert.unreachable();
  } catch (err) {
    assert.ok(AuthTokenNotFound.is(err));
  }
});

test('a revocation made through another store is seen once the cache entry expires', () => {
  let now = 1_000_000;
  const daemon = new TokenStore(t.store, { now: () => now, cacheTtlMs: 1000 });
  const other = new TokenStore(t.store);
  const { id, token } = daemon.create();
  assert.ok(daemon.verify(token));
  other.revoke(id);
  assert.ok(daemon.verify(token), 'still cached');
  now += 1001;
  assert.is(daemon.verify(token), null);
});

test('last use is recorded, at most once per interval', () => {
  let now = 5_000_000;
  const tokens = new TokenStore(t.store, { now: () => now, touchIntervalMs: 60_000 });
  const { id, token } = tokens.create();
  tokens.verify(token);
  assert.is(tokens.get(id)?.lastUsedAt, 5_000_000);
  now += 10;
  tokens.verify(token);
  assert.is(tokens.get(id)?.lastUsedAt, 5_000_000, 'no write inside the interval');
  now += 60_000;
  tokens.verify(token);
  assert.is(tokens.get(id)?.lastUsedAt, 5_060_010);
});

test('bad token requests are 400 auth_invalid_request', () => {
  const tokens = new TokenStore(t.store);
  const cases: Array<[Parameters<TokenStore['create']>[0], RegExp]> = [
    [{ scope: 'root' as never }, /scope must be "admin" or "invoke"/],
    [{ name: '' }, /token name/],
    [{ name: ' padded' }, /token name/],
    [{ name: 'x'.repeat(65) }, /token name/],
    [{ name: 'tab\there' }, /token name/],
    [{ scope: 'admin', fn: 'hello' }, /only invoke tokens/],
    [{ scope: 'invoke', fn: 'Bad_Name' }, /function name/],
  ];
  for (const [input, re] of cases) {
    try {
      tokens.create(input);
      assert.unreachable(JSON.stringify(input));
    } catch (err) {
      assert.ok(AuthInvalidRequest.is(err), String(err));
      assert.match((err as Error).message, re);
    }
  }
  assert.is(tokens.list().length, 0);
});

test('ensureAdminToken: created 0600 on first start, reused later, replaced when revoked or damaged', () => {
  const dataDir = path.join(t.dir, 'data');
  mkdirSync(dataDir, { mode: 0o755 });
  chmodSync(dataDir, 0o755);
  const tokens = new TokenStore(t.store);
  const first = ensureAdminToken(dataDir, tokens);
  assert.ok(first.created);
  assert.is(first.path, path.join(dataDir, 'admin.token'));
  assert.is(statSync(first.path).mode & 0o777, 0o600);
  assert.is(statSync(dataDir).mode & 0o777, 0o755, 'the data directory keeps its mode');
  const token = readFileSync(first.path, 'utf8').trim();
  assert.is(tokens.verify(token)?.id, first.id);
  assert.is(tokens.verify(token)?.scope, 'admin');

  const second = ensureAdminToken(dataDir, new TokenStore(t.reopen()));
  assert.equal({ id: second.id, created: second.created }, { id: first.id, created: false });
  assert.is(readFileSync(first.path, 'utf8').trim(), token);

  const tokens2 = new TokenStore(t.store);
  tokens2.revoke(first.id);
  const third = ensureAdminToken(dataDir, tokens2);
  assert.ok(third.created);
  assert.is.not(third.id, first.id);
  const token3 = readFileSync(first.path, 'utf8').trim();
  assert.ok(tokens2.verify(token3));
  assert.is(statSync(first.path).mode & 0o777, 0o600);

  writeFileSync(first.path, 'garbage\n');
  chmodSync(first.path, 0o644);
  const fourth = ensureAdminToken(dataDir, tokens2);
  assert.ok(fourth.created);
  assert.is(statSync(first.path).mode & 0o777, 0o600);
  assert.ok(tokens2.verify(readFileSync(first.path, 'utf8').trim()));
});

test('ensureAdminToken replaces a file holding an invoke token, and creates a missing data dir', () => {
  const tokens = new TokenStore(t.store);
  const dataDir = path.join(t.dir, 'fresh', 'nested');
  const invoke = tokens.create({ scope: 'invoke' });
  mkdirSync(dataDir, { recursive: true });
  writeFileSync(path.join(dataDir, 'admin.token'), invoke.token, { mode: 0o600 });
  const res = ensureAdminToken(dataDir, tokens);
  assert.ok(res.created);
  assert.is(tokens.verify(readFileSync(res.path, 'utf8').trim())?.scope, 'admin');
  const other = ensureAdminToken(path.join(t.dir, 'new-dir'), tokens);
  assert.ok(other.created);
});

test.run();
