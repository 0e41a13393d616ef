import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { BlobStore } from '../../platform/registry/blob-store.ts';
import { mostlyZeroFile, randomFile, tempDir } from './helpers.ts';

const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

let dir: string;
let store: BlobStore;
test.before.each(() => {
  dir = tempDir();
  store = new BlobStore(path.join(dir, 'blobs'));
});
test.after.each(() => rmSync(dir, { recursive: true, force: true }));

test('importBuffer stores content under its sha256, read-only, in the sharded layout', async () => {
  const buf = Buffer.from('hello ignition');
  const info = await store.importBuffer(buf);
  assert.is(info.digest, sha(buf));
  assert.is(info.size, buf.length);
  const p = store.path(info.digest);
  assert.is(p, path.join(dir, 'blobs', 'sha256', info.digest.slice(7, 9), info.digest.slice(7)));
  assert.equal(readFileSync(p), buf);
  assert.is(statSync(p).mode & 0o777, 0o444);
  assert.ok(store.has(info.digest));
  assert.is(store.stat(info.digest)?.size, buf.length);
});

test('importFile and importStream agree, and identical content is stored once', async () => {
  const src = randomFile(dir, 'a.bin', 3 * 1024 * 1024 + 17);
  const a = await store.importFile(src);
  const b = await store.importStream(Readable.from(chunked(readFileSync(src), 7919)));
  assert.equal(a, b);
  assert.equal([...store.list()], [a.digest]);
  assert.equal(readdirSync(path.join(dir, 'blobs', 'tmp')), [], 'no temp left after a deduplicated import');
});

test('empty content is a valid blob', async () => {
  const info = await store.importBuffer(Buffer.alloc(0));
  assert.is(info.digest, 'sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
  assert.is(info.size, 0);
});

test('a mostly-zero 128 MiB file stays mostly holes and reads back identical', async () => {
  const size = 128 * 1024 * 1024;
  const src = mostlyZeroFile(dir, 'mem', size, [0, 5 * 1024 * 1024 + 123, size - 64 * 1024]);
  const info = await store.importFile(src);
  const st = statSync(store.path(info.digest));
  assert.is(st.size, size);
  assert.ok(st.blocks * 512 < 2 * 1024 * 1024, `allocated ${st.blocks * 512} bytes for 192 KiB of data`);
  assert.is(info.digest, sha(readFileSync(src)));
  assert.ok(readFileSync(store.path(info.digest)).equals(readFileSync(src)));
});

test('zero runs at odd offsets across chunk edges are preserved exactly', async () => {
  const buf = Buffer.alloc(50_000);
  for (const [s, e] of [
    [1, 3],
    [4095, 4097],
    [9000, 13000],
    [49_990, 50_000],
  ])
    buf.fill(0xab, s, e);
  const info = await store.importStream(Readable.from(chunked(buf, 3001)));
  assert.ok(readFileSync(store.path(info.digest)).equals(buf));
});

test('expectedDigest mismatch publishes nothing and leaves no temp', async () => {
  const other = sha(Buffer.from('other'));
  try {
    await store.importBuffer(Buffer.from('this'), { expectedDigest: other as `sha256:${string}` });
    assert.unreachable();
  } catch (err) {
    assert.is((err as { code: string }).code, 'registry_digest_mismatch');
  }
  assert.equal([...store.list()], []);
  assert.equal(readdirSync(path.join(dir, 'blobs', 'tmp')), []);
});

test('a failing source leaves no temp and no blob', async () => {
  async function* broken() {
    yield Buffer.alloc(1024, 1);
    throw new Error('source died');
  }
  try {
    await store.importStream(broken());
    assert.unreachable();
  } catch (err) {
    assert.match((err as Error).message, /source died/);
  }
  assert.equal([...store.list()], []);
  assert.equal(readdirSync(path.join(dir, 'blobs', 'tmp')), []);
});

test('a truncated blob of the wrong size is replaced by a fresh import', async () => {
  const buf = Buffer.alloc(10_000, 7);
  const { digest } = await store.importBuffer(buf);
  const p = store.path(digest);
  rmSync(p);
  writeFileSync(p, buf.subarray(0, 100));
  await store.importBuffer(buf);
  assert.ok(readFileSync(p).equals(buf));
});

test('malformed digests are refused before touching the filesystem', () => {
  for (const bad of [
    'sha256:../../etc/passwd',
    'sha256:' + 'A'.repeat(64),
    'md5:' + 'a'.repeat(64),
    'sha256:' + 'a'.repeat(63),
    `sha256:${'a'.repeat(63)}\0`,
    '',
  ]) {
    assert.throws(
      () => store.path(bad),
      (e: { code: string }) => e.code === 'registry_invalid_digest',
      bad,
    );
    assert.throws(
      () => store.has(bad),
      (e: { code: string }) => e.code === 'registry_invalid_digest',
      bad,
    );
  }
});

test('delete removes a blob; sweepTemps removes temps of dead processes only', async () => {
  const { digest } = await store.importBuffer(Buffer.from('x'));
  assert.ok(store.delete(digest));
  assert.not.ok(store.has(digest));
  assert.not.ok(store.delete(digest));
  const tmp = path.join(dir, 'blobs', 'tmp');
  writeFileSync(path.join(tmp, '999999999.deadbeef.part'), 'x');
  writeFileSync(path.join(tmp, `${process.ppid}.cafe.part`), 'y');
  assert.is(store.sweepTemps(), 1);
  assert.ok(existsSync(path.join(tmp, `${process.ppid}.cafe.part`)), 'a live process keeps its temp');
});

function* chunked(buf: Buffer, size: number): Generator<Buffer> {
  for (let i = 0; i < buf.length; i += size) yield buf.subarray(i, i + size);
}

test.run();
