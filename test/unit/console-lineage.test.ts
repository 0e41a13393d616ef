/**
 * The snapshots page's tree (platform/console/lineage.ts) on a real registry: the lineage forest
 * with each blob's reference count, the bytes only a snapshot holds (what removing it and a GC
 * would free), and who uses each snapshot.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { randomFile, tempRegistry } from '../registry/helpers.ts';
import { flatten, lineageRows } from '../../platform/console/lineage.ts';

test('reference counts, own bytes and users, base image → golden → fork', async () => {
  const t = tempRegistry();
  try {
    const r = t.registry;
    const kernel = randomFile(t.dir, 'kernel', 4000);
    const base = await r.createSnapshot({
      name: 'base',
      kind: 'base-image',
      driver: 'firecracker',
      files: { kernel, rootfs: randomFile(t.dir, 'rootfs', 6000) },
    });
    const golden = await r.createSnapshot({
      kind: 'golden',
      driver: 'firecracker',
      parent: base.id,
      files: { kernel: { digest: base.files.kernel.digest }, memory: randomFile(t.dir, 'memory', 3000) },
    });
    const fork = await r.createSnapshot({ kind: 'fork', driver: 'firecracker', parent: golden.id, files: { memory: randomFile(t.dir, 'fork-memory', 1000) } });
    const tree = lineageRows(r.tree(), r.list(), r.catalogue.references(), new Map([[golden.id, ['hello v1']]]));
    assert.is(tree.length, 1);
    const [root] = tree;
    assert.is(root.id, base.id);
    assert.equal(
      root.files.map((f) => [f.role, f.refs]),
      [
        ['kernel', 2],
        ['rootfs', 1],
      ],
    );
    assert.is(root.ownBytes, 6000, 'the kernel is shared with the golden snapshot');
    const g = root.children[0];
    assert.is(g.id, golden.id);
    assert.equal(g.usedBy, ['hello v1']);
    assert.is(g.ownBytes, 3000);
    assert.is(g.children[0].id, fork.id);
    assert.is(g.children[0].ownBytes, 1000);
    assert.equal(
      flatten(tree).map((n) => n.kind),
      ['base-image', 'golden', 'fork'],
    );
  } finally {
    t.cleanup();
  }
});

test('a blob named twice by one snapshot counts one reference', async () => {
  const t = tempRegistry();
  try {
    const file = randomFile(t.dir, 'same', 500);
    const s = await t.registry.createSnapshot({ kind: 'manual', driver: 'process', files: { a: file, b: file } });
    const [node] = lineageRows(t.registry.tree(), t.registry.list(), t.registry.catalogue.references());
    assert.equal(
      node.files.map((f) => f.refs),
      [1, 1],
    );
    assert.is(node.ownBytes, 500, 'one blob, counted once');
    assert.is(node.id, s.id);
  } finally {
    t.cleanup();
  }
});

test.run();
