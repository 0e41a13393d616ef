/**
 * The worker path of `importFile` (platform/registry/import-worker.ts): the same blob as the
 * one-pass loop, holes kept, and every failure mid-import (the worker dying, the source shrinking,
 * a digest mismatch) typed, with no temp file and no busy worker left behind.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createHash, randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, rmSync, statSync, truncateSync, unlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { BlobStore } from '../../platform/registry/blob-store.ts';
import { closeIdleImportWorkers, importWorkerHooks, importWorkerStats } from '../../platform/registry/import-worker.ts';
import { mostlyZeroFile, randomFile, rejects, tempDir } from './helpers.ts';

const MiB = 1024 * 1024;
const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

let dir: string;
let store: BlobStore;
const temps = () => readdirSync(path.join(dir, 'blobs', 'tmp'));
test.before.each(() => {
  dir = tempDir();
  store = new BlobStore(path.join(dir, 'blobs'));
});
test.after.each(() => {
  importWorkerHooks.onJob = undefined;
  rmSync(dir, { recursive: true, force: true });
});

test('the worker and the one-pass loop store the same blob, holes and odd edges included', async () => {
  // Zero runs across 4 KiB blocks and 256 KiB chunks, data at odd offsets, a size that is no multiple of either.
  const size = 5 * MiB + 4097;
  const src = mostlyZeroFile(dir, 'mem', size, [0, 256 * 1024 - 3, MiB + 4095, 3 * MiB + 1], 8 * 1024 + 5);
  const buf = readFileSync(src);
  let progress = 0;
  const viaWorker = await store.importFile(src, { worker: true, onBytes: (n) => (progress += n) });
  assert.is(progress, size, 'progress adds up to the size');
  const other = new BlobStore(path.join(dir, 'other'));
  const inThread = await other.importFile(src, { worker: false });
  assert.equal(viaWorker, inThread);
  assert.is(viaWorker.digest, sha(buf));
  assert.ok(readFileSync(store.path(viaWorker.digest)).equals(buf));
  const st = statSync(store.path(viaWorker.digest));
  assert.is(st.mode & 0o777, 0o444);
  assert.ok(st.blocks * 512 <= 64 * 1024, `allocated ${st.blocks * 512} bytes for 4 runs of 8 KiB`);
  assert.equal(importWorkerStats().busy, 0);
});

test('large files take the worker by default; it is pooled and ends when asked', async () => {
  const src = randomFile(dir, 'big', 16 * MiB);
  let jobs = 0;
  importWorkerHooks.onJob = () => jobs++;
  const a = await store.importFile(src);
  await store.importFile(randomFile(dir, 'small', 64 * 1024));
  assert.is(jobs, 1, 'a 16 MiB file goes to the worker, a 64 KiB one does not');
  assert.is(a.digest, sha(readFileSync(src)));
  assert.equal(importWorkerStats(), { busy: 0, idle: 1 });
  await closeIdleImportWorkers();
  assert.equal(importWorkerStats(), { busy: 0, idle: 0 });
});

test('a worker that dies mid-import: registry_io_error, no temp, no worker left, the next import works', async () => {
  const src = randomFile(dir, 'big', 32 * MiB);
  importWorkerHooks.onJob = (worker) => void worker.terminate();
  const err = await rejects(() => store.importFile(src, { worker: true }), 'registry_io_error');
  assert.match(err.message, /import worker exited/);
  assert.equal(temps(), []);
  assert.equal([...store.list()], []);
  assert.is(importWorkerStats().busy, 0);
  importWorkerHooks.onJob = undefined;
  const ok = await store.importFile(src, { worker: true });
  assert.is(ok.digest, sha(readFileSync(src)));
});

test('a source that shrinks mid-import: registry_io_error, no temp, no worker left', async () => {
  const src = randomFile(dir, 'big', 8 * MiB);
  importWorkerHooks.onJob = () => truncateSync(src, MiB);
  const err = await rejects(() => store.importFile(src, { worker: true }), 'registry_io_error');
  assert.match(err.message, /shrank/);
  assert.equal(temps(), []);
  assert.equal([...store.list()], []);
  assert.equal(importWorkerStats().busy, 0);
});

test('a source unlinked mid-import is still imported whole from the open file', async () => {
  const src = randomFile(dir, 'big', 8 * MiB);
  const buf = readFileSync(src);
  importWorkerHooks.onJob = () => unlinkSync(src);
  const info = await store.importFile(src, { worker: true });
  assert.is(info.digest, sha(buf));
  assert.equal(temps(), []);
});

test('a source that is gone before the import: registry_io_error', async () => {
  await rejects(() => store.importFile(path.join(dir, 'nope'), { worker: true }), 'registry_io_error');
  assert.equal(temps(), []);
});

test('a progress callback that throws fails the import like any failure: typed, no temp, no worker left', async () => {
  const src = randomFile(dir, 'big', 16 * MiB);
  const err = await rejects(
    () =>
      store.importFile(src, {
        worker: true,
        onBytes: () => {
          throw new Error('progress broke');
        },
      }),
    'registry_io_error',
  );
  assert.match(err.message, /progress broke/);
  assert.equal(temps(), []);
  assert.is(importWorkerStats().busy, 0);
});

test('a digest mismatch on the worker path publishes nothing and leaves no temp', async () => {
  const src = path.join(dir, 'x');
  writeFileSync(src, randomBytes(2 * MiB));
  await rejects(() => store.importFile(src, { worker: true, expectedDigest: sha(Buffer.from('other')) as `sha256:${string}` }), 'registry_digest_mismatch');
  assert.equal([...store.list()], []);
  assert.equal(temps(), []);
  assert.is(importWorkerStats().busy, 0);
});

test.after(() => closeIdleImportWorkers());
test.run();
