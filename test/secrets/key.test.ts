/**
 * The secrets key file on a real filesystem: created 32 bytes and 0600 in a data dir whose own
 * mode is left alone, reused on the next start, and refused with a clear message when it is
 * readable by others, the wrong size or not a file.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, readdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadOrCreateKey, readKeyFile, writeKeyExclusive } from '../../platform/secrets/key.ts';
import { SecretKeyInvalid } from '../../platform/secrets/errors.ts';

let dir: string;
test.before.each(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'ignition-key-'));
});
test.after.each(() => rmSync(dir, { recursive: true, force: true }));

function refused(fn: () => unknown, re: RegExp) {
  try {
    fn();
    assert.unreachable('accepted');
  } catch (err) {
    assert.ok(SecretKeyInvalid.is(err), String(err));
    assert.match((err as Error).message, re);
  }
}

test('first use creates 32 random bytes with mode 0600; later uses read the same key', () => {
  const dataDir = path.join(dir, 'data');
  mkdirSync(dataDir);
  chmodSync(dataDir, 0o750);
  const key = loadOrCreateKey(dataDir);
  const file = path.join(dataDir, 'secrets.key');
  assert.is(key.length, 32);
  assert.is(statSync(file).mode & 0o777, 0o600);
  assert.is(statSync(dataDir).mode & 0o777, 0o750, 'data dir mode untouched');
  assert.ok(loadOrCreateKey(dataDir).equals(key));
  assert.ok(readFileSync(file).equals(key));
  assert.equal(readdirSync(dataDir), ['secrets.key'], 'no temp files left behind');
  const other = path.join(dir, 'other');
  assert.not.ok(loadOrCreateKey(other).equals(key), 'each data dir gets its own key');
});

test('a key readable by group or others is refused with the chmod to run', () => {
  const key = loadOrCreateKey(dir);
  const file = path.join(dir, 'secrets.key');
  for (const mode of [0o644, 0o640, 0o604, 0o660]) {
    chmodSync(file, mode);
    refused(() => loadOrCreateKey(dir), new RegExp(`has mode 0${mode.toString(8)}.*chmod 600 ${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
  }
  chmodSync(file, 0o400);
  assert.ok(loadOrCreateKey(dir).equals(key), 'read-only for the owner is fine');
});

test('a key of the wrong size, a directory or an unreadable path is refused', () => {
  const file = path.join(dir, 'secrets.key');
  writeFileSync(file, Buffer.alloc(31), { mode: 0o600 });
  refused(() => loadOrCreateKey(dir), /is 31 bytes; it must be exactly 32/);
  writeFileSync(file, Buffer.alloc(64), { mode: 0o600 });
  refused(() => loadOrCreateKey(dir), /is 64 bytes/);
  rmSync(file);
  mkdirSync(file, { mode: 0o700 });
  refused(() => loadOrCreateKey(dir), /is not a regular file/);
  refused(() => readKeyFile(path.join(dir, 'missing.key')), /cannot read the secrets key/);
});

test('exclusive creation never replaces an existing key', () => {
  const file = path.join(dir, 'k');
  assert.ok(writeKeyExclusive(file, Buffer.alloc(32, 1)));
  assert.not.ok(writeKeyExclusive(file, Buffer.alloc(32, 2)));
  assert.ok(readFileSync(file).equals(Buffer.alloc(32, 1)));
  assert.equal(readdirSync(dir), ['k']);
});

test.run();
