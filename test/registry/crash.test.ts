/**
 * Faults of the import path: a process killed mid-import, and a full disk. Neither may leave a
 * half-visible snapshot, a temp file after the next open, or a lost blob.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, rmSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { needs, reportSkip } from '../support/needs.ts';
import { BlobStore } from '../../platform/registry/blob-store.ts';
import { closeIdleImportWorkers, importWorkerStats } from '../../platform/registry/import-worker.ts';
import { randomFile, rejects, tempDir, tempRegistry } from './helpers.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
const child = path.join(here, 'fixtures', 'import-child.ts');

/** Polls `cond` every 20 ms until true or the deadline passes (readiness, not a timed assertion). */
async function until(cond: () => boolean, what: string, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`gave up waiting for ${what}`);
    await sleep(20);
  }
}

async function killMidImport(mode: 'first' | 'second' | 'worker') {
  const publishFirst = mode === 'second';
  const t = tempRegistry();
  t.store.close();
  // Own pipes, not inherited ones: the test runner waits for its pipes to close.
  const proc = spawn(process.execPath, ['--import', 'tsx', child, t.dir, mode], { stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise((r) => proc.once('exit', r));
  let out = '';
  let err = '';
  proc.stdout.on('data', (c) => (out += c));
  proc.stderr.on('data', (c) => (err += c));
  const tmp = path.join(t.dir, 'registry', 'tmp');
  try {
    await until(() => out.includes('stalled') || proc.exitCode !== null, 'the child to stall mid-import');
    assert.ok(out.includes('stalled'), `the child exited early: ${err}`);
    proc.kill('SIGKILL');
    await exited;
  } finally {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
  }
  assert.ok(readdirSync(tmp).length > 0, 'the killed import left its temp file behind');
  const registry = t.reopen();
  assert.equal(readdirSync(tmp), [], 'the next open sweeps the temp');
  assert.equal(registry.list(), [], 'no half-visible snapshot');
  assert.is(t.store.sqlite.prepare('SELECT count(*) FROM registry_pins').pluck().get(), 0, 'stale pins cleared');
  const gc = registry.gc();
  assert.is(gc.removed.length, publishFirst ? 1 : 0);
  assert.equal([...registry.blobs.list()], []);
  t.cleanup();
}

test('a process killed while importing its only file leaves nothing after reopen', () => killMidImport('first'));
test('a process killed after publishing one file of two: no snapshot, the orphan blob freed by gc', () => killMidImport('second'));
test('a process killed while its import worker copies a large file leaves nothing after reopen', () => killMidImport('worker'));

const rootSkip = needs('root');
reportSkip('test/registry/crash.test.ts (disk full)', rootSkip);
async function diskFull(worker: boolean) {
  const dir = tempDir();
  const mnt = path.join(dir, 'small');
  mkdirSync(mnt);
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=4m', 'tmpfs', mnt]);
  try {
    const t = tempRegistry(dir);
    const store = new BlobStore(mnt);
    const kept = await store.importBuffer(randomBytes(1024 * 1024));
    await rejects(() => store.importFile(randomFile(dir, 'big', 8 * 1024 * 1024), { worker }), 'registry_disk_full');
    assert.equal(readdirSync(path.join(mnt, 'tmp')), []);
    assert.equal([...store.list()], [kept.digest]);
    assert.is(importWorkerStats().busy, 0, 'no worker left running');
    // Space is back once the failed temp is gone: a small import still works.
    await store.importBuffer(randomBytes(512 * 1024));
    t.store.close();
  } finally {
    execFileSync('umount', [mnt]);
    rmSync(dir, { recursive: true, force: true });
  }
}
(rootSkip ? test.skip : test)('disk full during an import: registry_disk_full, no temp, existing blobs intact', () => diskFull(false));
(rootSkip ? test.skip : test)('disk full during an import on the worker: the same, and the worker is gone', () => diskFull(true));

test.after(() => closeIdleImportWorkers());
test.run();
