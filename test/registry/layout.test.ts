import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync, readdirSync, rmSync, statSync, writeFileSync, existsSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { exportLayout, importLayout } from '../../platform/registry/oci/layout.ts';
import { SNAPSHOT_CONFIG } from '../../platform/registry/oci/media-types.ts';
import { closeIdleImportWorkers, importWorkerHooks, importWorkerStats } from '../../platform/registry/import-worker.ts';
import { mostlyZeroFile, randomFile, rejects, tempRegistry, type TempRegistry } from './helpers.ts';

let a: TempRegistry;
let b: TempRegistry;
test.before.each(() => {
  a = tempRegistry();
  b = tempRegistry();
});
test.after.each(() => {
  a.cleanup();
  b.cleanup();
});

async function golden(t: TempRegistry) {
  const base = await t.registry.createSnapshot({ name: 'base', kind: 'base-image', driver: 'process', files: { disk: randomFile(t.dir, 'disk', 20_000) } });
  return t.registry.createSnapshot({
    name: 'hello',
    tags: ['latest'],
    kind: 'golden',
    driver: 'process',
    parent: base.id,
    config: { memMiB: 4 },
    labels: { fn: 'hello' },
    files: {
      memory: mostlyZeroFile(t.dir, 'mem', 4 * 1024 * 1024, [8192]),
      state: randomFile(t.dir, 'state', 70_000),
      disk: { digest: base.files.disk.digest },
    },
  });
}

for (const format of ['dir', 'tar'] as const) {
  test(`export to a ${format} layout and import elsewhere gives the same snapshot and bytes`, async () => {
    const snap = await golden(a);
    const target = path.join(a.dir, format === 'dir' ? 'layout' : 'layout.tar');
    const res = await exportLayout(a.registry, 'hello', target);
    assert.is(res.format, format);
    if (format === 'dir') {
      const index = JSON.parse(readFileSync(path.join(target, 'index.json'), 'utf8'));
      assert.is(index.manifests[0].annotations['org.opencontainers.image.ref.name'], 'hello');
      const manifest = JSON.parse(readFileSync(path.join(target, 'blobs/sha256', res.manifestDigest.slice(7)), 'utf8'));
      assert.is(manifest.config.mediaType, SNAPSHOT_CONFIG);
      assert.is(manifest.layers.length, 3);
      assert.equal(JSON.parse(readFileSync(path.join(target, 'oci-layout'), 'utf8')), { imageLayoutVersion: '1.0.0' });
    } else {
      // The system tar reads our archive.
      const listing = execFileSync('tar', ['-tf', target], { encoding: 'utf8' });
      assert.match(listing, /index\.json/);
      assert.match(listing, new RegExp(res.manifestDigest.slice(7)));
      assert.equal(
        readdirSync(a.dir).filter((n) => n.endsWith('.part')),
        [],
      );
    }
    const [imported] = await importLayout(b.registry, target);
    assert.not.ok(imported.existed);
    const got = imported.snapshot;
    assert.is(got.id, snap.id);
    assert.is(got.name, 'hello');
    assert.is(got.parentId, snap.parentId, 'lineage travels even without the parent');
    assert.equal(got.files, snap.files);
    assert.equal(got.config, snap.config);
    assert.equal(got.labels, snap.labels);
    assert.is(got.createdAt, snap.createdAt);
    for (const [role, p] of Object.entries(b.registry.filePaths(got))) {
      assert.ok(readFileSync(p).equals(readFileSync(a.registry.filePaths(snap)[role])), role);
    }
    assert.ok(statSync(b.registry.filePaths(got).memory).blocks * 512 < 1024 * 1024, 'memory stays sparse after import');
    assert.equal(b.registry.tree()[0].orphan, true);
    // A second import is a no-op.
    const [again] = await importLayout(b.registry, target);
    assert.ok(again.existed);
    assert.ok((await b.registry.verify()).ok);
  });
}

test('one layout directory holds several snapshots; import picks by ref name', async () => {
  await golden(a);
  const target = path.join(a.dir, 'layout');
  await exportLayout(a.registry, 'base', target);
  await exportLayout(a.registry, 'hello', target);
  await exportLayout(a.registry, 'hello', target);
  const index = JSON.parse(readFileSync(path.join(target, 'index.json'), 'utf8'));
  assert.is(index.manifests.length, 2);
  const only = await importLayout(b.registry, target, { refName: 'base' });
  assert.equal(
    only.map((m) => m.snapshot.name),
    ['base'],
  );
  const all = await importLayout(b.registry, target);
  assert.equal(
    all.map((m) => m.existed),
    [true, false],
  );
});

test('a layout missing a blob, or with a corrupted one, is refused and leaves nothing', async () => {
  const snap = await golden(a);
  const target = path.join(a.dir, 'layout');
  await exportLayout(a.registry, 'hello', target);
  const statePath = path.join(target, 'blobs/sha256', snap.files.state.digest.slice(7));
  const saved = readFileSync(statePath);
  rmSync(statePath);
  const e = await rejects(() => importLayout(b.registry, target), 'registry_invalid_layout');
  assert.match(e.message, new RegExp(snap.files.state.digest));
  writeFileSync(statePath, Buffer.concat([saved.subarray(0, 100), Buffer.from('garbage')]));
  await rejects(() => importLayout(b.registry, target), 'registry_digest_mismatch');
  assert.equal(b.registry.list(), []);
  assert.equal(readdirSync(path.join(b.dir, 'registry', 'tmp')), []);
  b.registry.gc();
  assert.equal([...b.registry.blobs.list()], []);
});

test('a directory layout with a large memory file: imported on the worker, sparse, checked against its digest', async () => {
  const size = 24 * 1024 * 1024;
  const snap = await a.registry.createSnapshot({
    name: 'big',
    kind: 'golden',
    driver: 'process',
    files: { memory: mostlyZeroFile(a.dir, 'mem', size, [0, 17 * 1024 * 1024 + 3]), state: randomFile(a.dir, 'state', 1000) },
  });
  const target = path.join(a.dir, 'layout');
  await exportLayout(a.registry, 'big', target);
  let jobs = 0;
  importWorkerHooks.onJob = () => jobs++;
  try {
    const [imported] = await importLayout(b.registry, target);
    assert.is(jobs, 1, 'the memory file went to the import worker');
    const p = b.registry.filePaths(imported.snapshot).memory;
    assert.ok(readFileSync(p).equals(readFileSync(a.registry.filePaths(snap).memory)));
    assert.ok(statSync(p).blocks * 512 < 1024 * 1024, 'memory stays sparse');
    // A corrupted large blob is refused on the worker path too.
    const memPath = path.join(target, 'blobs/sha256', snap.files.memory.digest.slice(7));
    const bytes = readFileSync(memPath);
    bytes[5] ^= 1;
    rmSync(memPath);
    writeFileSync(memPath, bytes);
    const c = tempRegistry();
    try {
      await rejects(() => importLayout(c.registry, target), 'registry_digest_mismatch');
      assert.equal(readdirSync(path.join(c.dir, 'registry', 'tmp')), []);
      assert.is(importWorkerStats().busy, 0);
    } finally {
      c.cleanup();
    }
  } finally {
    importWorkerHooks.onJob = undefined;
  }
});

test('a tar that is truncated or not a tar is refused with a clear error', async () => {
  await golden(a);
  const target = path.join(a.dir, 'l.tar');
  await exportLayout(a.registry, 'hello', target);
  const bytes = readFileSync(target);
  writeFileSync(target, bytes.subarray(0, Math.floor(bytes.length / 2)));
  await rejects(() => importLayout(b.registry, target));
  writeFileSync(target, 'definitely not a tar archive'.repeat(40));
  await rejects(() => importLayout(b.registry, target), 'registry_invalid_layout');
  assert.equal(b.registry.list(), []);
  assert.not.ok(existsSync(path.join(b.dir, 'registry', 'tmp', 'x')));
});

test.after(() => closeIdleImportWorkers());
test.run();
