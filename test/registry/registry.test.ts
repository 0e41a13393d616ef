import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { mostlyZeroFile, randomFile, rejects, tempRegistry, type TempRegistry } from './helpers.ts';

let t: TempRegistry;
test.before.each(() => {
  t = tempRegistry();
});
test.after.each(() => t.cleanup());

test('createSnapshot imports files, records them, and filePaths point at identical read-only content', async () => {
  const mem = mostlyZeroFile(t.dir, 'mem', 8 * 1024 * 1024, [4096]);
  const state = randomFile(t.dir, 'state', 3000);
  let progress = 0;
  const snap = await t.registry.createSnapshot({
    name: 'hello',
    kind: 'golden',
    driver: 'process',
    config: { memMiB: 8 },
    labels: { fn: 'hello' },
    files: { memory: mem, state },
    onProgress: (p) => (progress = p.bytes),
  });
  assert.is(progress, 8 * 1024 * 1024 + 3000);
  assert.is(snap.size, 8 * 1024 * 1024 + 3000);
  const paths = t.registry.filePaths(snap);
  assert.ok(readFileSync(paths.memory).equals(readFileSync(mem)));
  assert.ok(readFileSync(paths.state).equals(readFileSync(state)));
  assert.equal(t.registry.filePaths('hello'), paths);
});

test('forks adopt existing blobs by digest and share them', async () => {
  const mem = randomFile(t.dir, 'mem', 100_000);
  const golden = await t.registry.createSnapshot({ name: 'g', kind: 'golden', driver: 'process', files: { memory: mem } });
  const fork = await t.registry.createSnapshot({ kind: 'fork', driver: 'process', parent: 'g', files: { memory: { digest: golden.files.memory.digest } } });
  assert.is(fork.parentId, golden.id);
  assert.equal(fork.files, golden.files);
  assert.is([...t.registry.blobs.list()].length, 1);
  assert.equal(
    t.registry.children('g').map((s) => s.id),
    [fork.id],
  );
});

test('bad input is refused before any import: unknown parent, missing blob, taken name, bad role', async () => {
  const mem = randomFile(t.dir, 'mem', 1000);
  await rejects(() => t.registry.createSnapshot({ kind: 'fork', driver: 'process', parent: 'nope', files: { memory: mem } }), 'registry_snapshot_not_found');
  assert.equal([...t.registry.blobs.list()], [], 'refused before importing');
  await rejects(
    () => t.registry.createSnapshot({ kind: 'fork', driver: 'process', files: { memory: { digest: `sha256:${'a'.repeat(64)}` } } }),
    'registry_blob_not_found',
  );
  await t.registry.createSnapshot({ name: 'x', kind: 'manual', driver: 'process', files: { memory: mem } });
  await rejects(() => t.registry.createSnapshot({ name: 'x', kind: 'manual', driver: 'process', files: { memory: mem } }), 'registry_conflict');
  await rejects(() => t.registry.createSnapshot({ kind: 'manual', driver: 'process', files: { '../x': mem } }), 'registry_invalid_name');
  await rejects(() => t.registry.createSnapshot({ kind: 'manual', driver: 'process', files: { memory: path.join(t.dir, 'absent') } }), 'registry_io_error');
  assert.is(t.registry.list().length, 1);
});

test('pins are released after createSnapshot, even when it fails', async () => {
  const mem = randomFile(t.dir, 'mem', 1000);
  await t.registry.createSnapshot({ kind: 'manual', driver: 'process', files: { memory: mem } });
  await rejects(() => t.registry.createSnapshot({ kind: 'manual', driver: 'process', files: { memory: mem, state: { digest: `sha256:${'b'.repeat(64)}` } } }));
  assert.is(t.store.sqlite.prepare('SELECT count(*) FROM registry_pins').pluck().get(), 0);
  assert.equal(readdirSync(path.join(t.dir, 'registry', 'tmp')), []);
});

test('the registry survives a reopen with everything in place', async () => {
  const mem = randomFile(t.dir, 'mem', 5000);
  const snap = await t.registry.createSnapshot({ name: 'persist', tags: ['latest'], kind: 'golden', driver: 'firecracker', files: { memory: mem } });
  const again = t.reopen();
  assert.equal(again.get('latest'), snap);
  assert.ok(readFileSync(again.filePaths(snap).memory).equals(readFileSync(mem)));
});

test.run();
