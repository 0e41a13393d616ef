import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { randomFile, tempRegistry, type TempRegistry } from './helpers.ts';

let t: TempRegistry;
test.before.each(() => {
  t = tempRegistry();
});
test.after.each(() => t.cleanup());

test('gc frees only blobs no snapshot refers to', async () => {
  const shared = randomFile(t.dir, 'shared', 10_000);
  const own = randomFile(t.dir, 'own', 20_000);
  const a = await t.registry.createSnapshot({ name: 'a', kind: 'golden', driver: 'process', files: { memory: shared, state: own } });
  const b = await t.registry.createSnapshot({ name: 'b', kind: 'golden', driver: 'process', files: { memory: shared } });
  assert.equal(t.registry.gc().removed, []);
  t.registry.remove('a');
  const dry = t.registry.gc({ dryRun: true });
  assert.equal(dry.removed, [a.files.state.digest]);
  assert.ok(t.registry.blobs.has(a.files.state.digest), 'dry run deletes nothing');
  const report = t.registry.gc();
  assert.equal(report.removed, [a.files.state.digest]);
  assert.is(report.freedBytes, 20_000);
  assert.is(report.kept, 1);
  assert.ok(t.registry.blobs.has(b.files.memory.digest));
  assert.ok((await t.registry.verify()).ok);
});

test('the last GC and verification are kept for the console; a dry run is not a GC', async () => {
  assert.is(t.registry.lastGc, null);
  assert.is(t.registry.lastVerify, null);
  const a = await t.registry.createSnapshot({ name: 'a', kind: 'golden', driver: 'process', files: { memory: randomFile(t.dir, 'm', 1000) } });
  t.registry.remove('a');
  t.registry.gc({ dryRun: true });
  assert.is(t.registry.lastGc, null, 'a dry run frees nothing and is not remembered');
  const report = t.registry.gc();
  assert.equal(t.registry.lastGc?.report, report);
  assert.equal(report.removed, [a.files.memory.digest]);
  assert.ok(Date.parse(t.registry.lastGc!.at) <= Date.now());
  const v = await t.registry.verify();
  assert.equal(t.registry.lastVerify?.report, v);
});

test('a pinned blob survives gc until its lease is released', async () => {
  const lease = t.registry.pins.lease();
  const { digest } = await t.registry.blobs.importBuffer(Buffer.from('in flight'), { beforePublish: (d) => lease.pin(d) });
  const report = t.registry.gc();
  assert.equal(report.pinned, [digest]);
  assert.ok(t.registry.blobs.has(digest));
  lease.release();
  assert.equal(t.registry.gc().removed, [digest]);
});

test('gc running between two file imports of one snapshot keeps the first blob', async () => {
  const first = randomFile(t.dir, 'first', 50_000);
  const second = randomFile(t.dir, 'second', 3 * 1024 * 1024);
  let ran = false;
  const snap = await t.registry.createSnapshot({
    kind: 'manual',
    driver: 'process',
    files: { memory: first, state: second },
    onProgress: (p) => {
      if (p.role === 'state' && !ran) {
        ran = true;
        const r = t.registry.gc();
        assert.is(r.removed.length, 0);
        assert.is(r.pinned.length, 1);
      }
    },
  });
  assert.ok(ran);
  const v = await t.registry.verify();
  assert.ok(v.ok, JSON.stringify(v));
  assert.ok(t.registry.blobs.has(snap.files.memory.digest));
});

test('lineage tree: base image → golden → forks, orphans at the root', async () => {
  const f = randomFile(t.dir, 'f', 100);
  const base = await t.registry.createSnapshot({ name: 'base', kind: 'base-image', driver: 'process', files: { disk: f } });
  const golden = await t.registry.createSnapshot({ name: 'golden', kind: 'golden', driver: 'process', parent: 'base', files: { disk: f } });
  const f1 = await t.registry.createSnapshot({ kind: 'fork', driver: 'process', parent: golden.id, files: { disk: f } });
  const f2 = await t.registry.createSnapshot({ kind: 'fork', driver: 'process', parent: golden.id, files: { disk: f } });
  let tree = t.registry.tree();
  assert.is(tree.length, 1);
  assert.is(tree[0].id, base.id);
  assert.equal(
    tree[0].children.map((c) => c.id),
    [golden.id],
  );
  assert.equal(tree[0].children[0].children.map((c) => c.id).sort(), [f1.id, f2.id].sort());
  t.registry.remove('golden', { force: true });
  tree = t.registry.tree();
  assert.is(tree.length, 3);
  assert.equal(
    tree
      .filter((n) => n.orphan)
      .map((n) => n.id)
      .sort(),
    [f1.id, f2.id].sort(),
  );
});

test.run();
