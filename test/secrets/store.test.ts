/**
 * SecretStore on a real SQLite file and a real key file: round trips, names and sizes, what the
 * database holds (ciphertext only, a fresh nonce per write), tamper detection that names the
 * secret but never the value, and key rotation including the crash points of a rotation.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { SecretStore } from '../../platform/secrets/store.ts';
import { keyId, seal } from '../../platform/secrets/crypto.ts';
import { SecretCorrupt, SecretInvalidName, SecretInvalidValue, SecretNotFound, SecretTooLarge } from '../../platform/secrets/errors.ts';
import { tempData, type TempData } from '../auth/support.ts';

const VALUE = 'sk_live_correct-horse-battery-staple-42';
let t: TempData;
let secrets: SecretStore;
test.before.each(() => {
  t = tempData('ignition-secrets-');
  secrets = SecretStore.open(t.store, t.dir);
});
test.after.each(() => t.cleanup());

function throws(fn: () => unknown, factory: { is(e: unknown): boolean }, re?: RegExp): Error {
  try {
    fn();
  } catch (err) {
    assert.ok(factory.is(err), String(err));
    if (re) assert.match((err as Error).message, re);
    return err as Error;
  }
  throw new Error('expected an error');
}

test('set, list, resolve, replace, remove, removeFunction', () => {
  const first = secrets.set('api', 'STRIPE_KEY', VALUE);
  assert.ok(first.created);
  secrets.set('api', 'DB_URL', 'postgres://u:p@db/app');
  secrets.set('other', 'STRIPE_KEY', 'different');
  assert.equal(
    secrets.list('api').map((s) => s.name),
    ['DB_URL', 'STRIPE_KEY'],
  );
  assert.not.ok(JSON.stringify(secrets.list('api')).includes(VALUE), 'list never has values');
  assert.equal(secrets.resolve('api'), { DB_URL: 'postgres://u:p@db/app', STRIPE_KEY: VALUE });
  const again = secrets.set('api', 'STRIPE_KEY', 'rotated');
  assert.not.ok(again.created);
  assert.is(again.createdAt, first.createdAt, 'created time kept on replace');
  assert.is(secrets.resolve('api').STRIPE_KEY, 'rotated');
  secrets.remove('api', 'DB_URL');
  throws(() => secrets.remove('api', 'DB_URL'), SecretNotFound, /function "api" has no secret named DB_URL/);
  assert.equal(secrets.resolve('api'), { STRIPE_KEY: 'rotated' });
  assert.is(secrets.removeFunction('api'), 1);
  assert.equal(secrets.resolve('api'), {});
  assert.equal(secrets.resolve('other'), { STRIPE_KEY: 'different' });
  assert.equal(secrets.list('nobody'), []);
});

test('values: unicode, empty and 64 KiB round-trip; larger, NUL and non-strings are refused without the value', () => {
  const big = 'é'.repeat(32 * 1024); // 64 KiB of UTF-8 exactly
  for (const v of ['', 'ünïcødé ✓ 🔑', big, 'line1\nline2']) {
    secrets.set('api', 'V', v);
    assert.is(secrets.resolve('api').V, v);
  }
  const tooBig = VALUE + 'x'.repeat(64 * 1024);
  const e1 = throws(() => secrets.set('api', 'BIG', tooBig), SecretTooLarge, /secret BIG is 65575 bytes; the limit is 65536/);
  const e2 = throws(() => secrets.set('api', 'NUL', VALUE + '\0'), SecretInvalidValue, /NUL byte/);
  throws(() => secrets.set('api', 'NUM', 42 as never), SecretInvalidValue, /must be a string/);
  for (const e of [e1, e2]) assert.not.ok(JSON.stringify({ m: e.message, d: (e as { data?: unknown }).data }).includes(VALUE));
});

test('odd secret names are refused with a clear message that does not echo the name', () => {
  for (const name of ['A', '_', 'a1', 'STRIPE_KEY', 'x'.repeat(128), '_private']) secrets.set('api', name, 'v');
  const cases: Array<[string, RegExp]> = [
    ['', /non-empty string/],
    ['1ABC', /has "1" at position 1/],
    ['MY-KEY', /has "-" at position 3/],
    ['MY KEY', /has U\+0020 at position 3/],
    ['KEY=1', /has "=" at position 4/],
    ['ÜBER', /has U\+00DC at position 1/],
    ['A\0B', /has U\+0000 at position 2/],
    ['../etc', /has "\." at position 1/],
    ['x'.repeat(129), /is 129 characters long/],
  ];
  for (const [name, re] of cases) {
    const err = throws(() => secrets.set('api', name, 'v'), SecretInvalidName, re);
    assert.match(err.message, /letters, digits and "_"/);
    if (name.length > 1) assert.not.ok(err.message.includes(name), `echoed ${JSON.stringify(name)}`);
    throws(() => secrets.remove('api', name), SecretInvalidName);
  }
  throws(() => secrets.set('Bad_Fn', 'A', 'v'), { is: (e: unknown) => (e as { code?: string }).code === 'invalid_name' });
});

test('the database holds ciphertext only, with a fresh nonce per write', () => {
  secrets.set('api', 'STRIPE_KEY', VALUE);
  const a = t.store.sqlite.prepare('SELECT * FROM secrets').get() as Record<string, Buffer | string | number>;
  secrets.set('api', 'STRIPE_KEY', VALUE);
  const b = t.store.sqlite.prepare('SELECT * FROM secrets').get() as Record<string, Buffer | string | number>;
  assert.is((a.nonce as Buffer).length, 12);
  assert.is((a.tag as Buffer).length, 16);
  assert.not.ok((a.nonce as Buffer).equals(b.nonce as Buffer), 'nonce reused');
  assert.not.ok((a.ciphertext as Buffer).equals(b.ciphertext as Buffer));
  assert.is(a.key_id, secrets.keyId);
  t.store.sqlite.pragma('wal_checkpoint(TRUNCATE)');
  const file = readFileSync(t.dbFile);
  assert.not.ok(file.includes(Buffer.from(VALUE)), 'plaintext in the database file');
  assert.not.ok(file.includes(Buffer.from('correct-horse')), 'partial plaintext in the database file');
});

test('tampering is detected and named: altered bytes, a row moved to another function or name', () => {
  secrets.set('api', 'STRIPE_KEY', VALUE);
  secrets.set('api', 'OTHER', 'x');
  const db = t.store.sqlite;
  const check = (re: RegExp) => {
    const err = throws(() => secrets.resolve('api'), SecretCorrupt, re);
    const shown = JSON.stringify({ message: err.message, data: (err as { data?: unknown }).data, stack: err.stack });
    assert.not.ok(shown.includes(VALUE), 'value in the error');
    return err;
  };
  const original = db.prepare("SELECT ciphertext, tag, nonce FROM secrets WHERE name = 'STRIPE_KEY'").get() as {
    ciphertext: Buffer;
    tag: Buffer;
    nonce: Buffer;
  };
  const restore = () =>
    db.prepare("UPDATE secrets SET ciphertext = ?, tag = ?, nonce = ? WHERE name = 'STRIPE_KEY'").run(original.ciphertext, original.tag, original.nonce);

  const flipped = Buffer.from(original.ciphertext);
  flipped[3] ^= 0x01;
  db.prepare("UPDATE secrets SET ciphertext = ? WHERE name = 'STRIPE_KEY'").run(flipped);
  const err = check(/secret STRIPE_KEY of function "api" cannot be decrypted: its ciphertext was altered or moved/);
  assert.equal((err as unknown as { data: unknown }).data, { function: 'api', secret: 'STRIPE_KEY' });
  restore();
  const tag = Buffer.from(original.tag);
  tag[0] ^= 0x80;
  db.prepare("UPDATE secrets SET tag = ? WHERE name = 'STRIPE_KEY'").run(tag);
  check(/STRIPE_KEY/);
  restore();
  db.prepare("UPDATE secrets SET nonce = ? WHERE name = 'STRIPE_KEY'").run(randomBytes(12));
  check(/STRIPE_KEY/);
  restore();
  db.prepare("UPDATE secrets SET tag = ? WHERE name = 'STRIPE_KEY'").run(original.tag.subarray(0, 8));
  check(/STRIPE_KEY/);
  restore();
  assert.is(secrets.resolve('api').STRIPE_KEY, VALUE);

  // Copy api's ciphertext onto another function: the AAD binds it to (api, STRIPE_KEY).
  db.prepare(
    "INSERT INTO secrets SELECT 'thief', name, nonce, ciphertext, tag, key_id, created_at, updated_at FROM secrets WHERE function = 'api' AND name = 'STRIPE_KEY'",
  ).run();
  throws(() => secrets.resolve('thief'), SecretCorrupt, /secret STRIPE_KEY of function "thief"/);
  // Rename it within the function.
  db.prepare("UPDATE secrets SET name = 'RENAMED' WHERE function = 'api' AND name = 'STRIPE_KEY'").run();
  check(/secret RENAMED of function "api"/);
});

test('a different key is named as such; reopening with the same key works', () => {
  secrets.set('api', 'STRIPE_KEY', VALUE);
  assert.equal(SecretStore.open(t.reopen(), t.dir).resolve('api'), { STRIPE_KEY: VALUE });
  const foreign = new SecretStore(t.store, randomBytes(32));
  throws(() => foreign.resolve('api'), SecretCorrupt, new RegExp(`sealed with key ${secrets.keyId} but secrets.key is key ${foreign.keyId}`));
});

test('rotateKey re-seals every secret under a new key file, still 0600', () => {
  secrets.set('api', 'A', 'one');
  secrets.set('web', 'B', VALUE);
  const before = secrets.keyId;
  const oldKey = readFileSync(path.join(t.dir, 'secrets.key'));
  const res = secrets.rotateKey();
  assert.is(res.rotated, 2);
  assert.is.not(res.keyId, before);
  assert.is(secrets.keyId, res.keyId);
  const newKey = readFileSync(path.join(t.dir, 'secrets.key'));
  assert.not.ok(newKey.equals(oldKey));
  assert.is(keyId(newKey), res.keyId);
  assert.not.ok(existsSync(path.join(t.dir, 'secrets.key.next')));
  assert.equal(secrets.resolve('web'), { B: VALUE });
  assert.equal(SecretStore.open(t.reopen(), t.dir).resolve('api'), { A: 'one' });
  throws(() => new SecretStore(t.store, oldKey).resolve('api'), SecretCorrupt, /sealed with key/);
});

test('rotation refuses to start on a corrupt secret and leaves everything as it was', () => {
  secrets.set('api', 'A', 'one');
  secrets.set('api', 'B', 'two');
  t.store.sqlite.prepare("UPDATE secrets SET tag = zeroblob(16) WHERE name = 'B'").run();
  const before = secrets.keyId;
  throws(() => secrets.rotateKey(), SecretCorrupt, /secret B of function "api"/);
  assert.is(secrets.keyId, before);
  assert.not.ok(existsSync(path.join(t.dir, 'secrets.key.next')));
  assert.equal(new Set(t.store.sqlite.prepare('SELECT key_id FROM secrets').pluck().all() as string[]), new Set([before]));
});

test('a crash during rotation is settled at the next open, both before and after the commit', () => {
  secrets.set('api', 'A', 'one');
  const keyFile = path.join(t.dir, 'secrets.key');
  const nextFile = path.join(t.dir, 'secrets.key.next');
  const oldKey = readFileSync(keyFile);

  // Crash before the commit: the pending key exists but no row uses it → dropped.
  writeFileSync(nextFile, randomBytes(32), { mode: 0o600 });
  let reopened = SecretStore.open(t.reopen(), t.dir);
  assert.not.ok(existsSync(nextFile));
  assert.ok(readFileSync(keyFile).equals(oldKey));
  assert.equal(reopened.resolve('api'), { A: 'one' });

  // Crash after the commit, before the rename: rows use the pending key → it becomes the key.
  const next = randomBytes(32);
  writeFileSync(nextFile, next, { mode: 0o600 });
  const sealed = seal(next, 'api', 'A', 'one');
  t.store.sqlite
    .prepare("UPDATE secrets SET nonce = ?, ciphertext = ?, tag = ?, key_id = ? WHERE name = 'A'")
    .run(sealed.nonce, sealed.ciphertext, sealed.tag, keyId(next));
  reopened = SecretStore.open(t.reopen(), t.dir);
  assert.not.ok(existsSync(nextFile));
  assert.ok(readFileSync(keyFile).equals(next));
  assert.equal(reopened.resolve('api'), { A: 'one' });
});

test.run();
