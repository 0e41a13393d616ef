import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Catalogue } from '../../platform/registry/catalogue.ts';
import { tempRegistry, type TempRegistry } from './helpers.ts';

const D1 = `sha256:${'1'.repeat(64)}` as const;
const D2 = `sha256:${'2'.repeat(64)}` as const;
const code = (c: string) => (e: { code?: string }) => e.code === c;

let t: TempRegistry;
let cat: Catalogue;
test.before.each(() => {
  t = tempRegistry();
  cat = t.registry.catalogue;
});
test.after.each(() => t.cleanup());

test('create then get by id, name and tag returns the whole snapshot', () => {
  const s = cat.create({
    name: 'hello',
    tags: ['latest', 'v1'],
    kind: 'golden',
    driver: 'process',
    config: { memMiB: 128, vcpus: 1 },
    labels: { 'ignition.dev/function': 'hello' },
    files: { memory: { digest: D1, size: 100 }, state: { digest: D2, size: 5 } },
  });
  assert.match(s.id, /^snap_[0-9a-f]{20}$/);
  assert.is(s.size, 105);
  assert.equal(s.tags, ['latest', 'v1']);
  assert.equal(s.config, { memMiB: 128, vcpus: 1 });
  assert.equal(cat.get('hello'), s);
  assert.equal(cat.get('v1'), s);
  assert.equal(cat.get(s.id), s);
  assert.equal(
    cat.list({ kind: 'golden' }).map((x) => x.id),
    [s.id],
  );
  assert.equal(cat.list({ kind: 'fork' }), []);
  assert.equal(cat.list({ label: 'ignition.dev/function=hello' }).length, 1);
  assert.equal(cat.list({ label: 'ignition.dev/function=bye' }).length, 0);
  assert.equal(cat.list({ label: 'ignition.dev/function' }).length, 1);
});

test('a failed create leaves nothing behind (name taken, bad role, bad digest)', () => {
  cat.create({ name: 'a', kind: 'manual', driver: 'process', files: { disk: { digest: D1, size: 1 } } });
  assert.throws(() => cat.create({ name: 'a', kind: 'manual', driver: 'process', files: { disk: { digest: D2, size: 1 } } }), code('registry_conflict'));
  assert.throws(() => cat.create({ kind: 'manual', driver: 'process', files: { 'Bad/Role': { digest: D2, size: 1 } } }), code('registry_invalid_name'));
  assert.throws(
    () => cat.create({ kind: 'manual', driver: 'process', files: { disk: { digest: 'sha256:zz' as never, size: 1 } } }),
    code('registry_invalid_digest'),
  );
  assert.throws(() => cat.create({ kind: 'weird' as never, driver: 'process', files: { disk: { digest: D2, size: 1 } } }), code('registry_bad_request'));
  assert.is(cat.list().length, 1);
  assert.equal([...cat.references().keys()], [D1]);
});

test('names and tags with .., /, NUL or a snap_ prefix are refused', () => {
  const f = { disk: { digest: D1, size: 1 } };
  for (const name of ['..', 'a..b', 'a/b', '/etc', 'a\0b', 'snap_x', '', '-a', 'x'.repeat(129)]) {
    assert.throws(() => cat.create({ name, kind: 'manual', driver: 'process', files: f }), code('registry_invalid_name'), JSON.stringify(name));
  }
  for (const tag of ['..', 'v/1', 'v\u00001']) {
    assert.throws(() => cat.create({ tags: [tag], kind: 'manual', driver: 'process', files: f }), code('registry_invalid_name'), JSON.stringify(tag));
  }
  assert.is(cat.list().length, 0);
});

test('lineage: children, refusal to remove a parent, forced removal leaves orphans', () => {
  const f = { disk: { digest: D1, size: 1 } };
  const base = cat.create({ name: 'base', kind: 'base-image', driver: 'process', files: f });
  const golden = cat.create({ name: 'golden', kind: 'golden', driver: 'process', parentId: base.id, files: f });
  const fork = cat.create({ kind: 'fork', driver: 'process', parentId: golden.id, files: f });
  assert.equal(
    cat.children(base.id).map((s) => s.id),
    [golden.id],
  );
  assert.throws(() => cat.remove('golden'), code('registry_has_children'));
  assert.ok(cat.find('golden'), 'refused removal keeps the snapshot');
  cat.remove('golden', { force: true });
  assert.is(cat.find('golden'), null);
  assert.is(cat.get(fork.id).parentId, golden.id);
  cat.remove(fork.id);
  assert.throws(() => cat.get(fork.id), code('registry_snapshot_not_found'));
});

test('tags move atomically between snapshots', () => {
  const f = { disk: { digest: D1, size: 1 } };
  const a = cat.create({ tags: ['latest'], kind: 'golden', driver: 'process', files: f });
  const b = cat.create({ kind: 'golden', driver: 'process', files: f });
  assert.throws(() => cat.create({ tags: ['latest'], kind: 'golden', driver: 'process', files: f }), code('registry_conflict'));
  cat.tag(b.id, 'latest');
  assert.is(cat.get('latest').id, b.id);
  assert.equal(cat.get(a.id).tags, []);
  assert.ok(cat.untag('latest'));
  assert.is(cat.find('latest'), null);
});

test('removing a snapshot cascades to its files and tags', () => {
  const s = cat.create({ tags: ['t'], kind: 'manual', driver: 'firecracker', files: { disk: { digest: D1, size: 1 } } });
  cat.remove(s.id);
  assert.not.ok(cat.isReferenced(D1));
  assert.is(cat.find('t'), null);
});

test.run();
