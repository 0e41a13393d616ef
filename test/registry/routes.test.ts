/**
 * The registry's REST routes through `app.request()`, with the real registry on a temp SQLite
 * file and the platform's problem+json edge in front, as the daemon mounts it.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Hono } from 'hono';
import path from 'node:path';
import { readFileSync } from 'node:fs';
import { problemResponse, toProblem } from '../../platform/api/problem.ts';
import { registryRoutes } from '../../platform/registry/routes.ts';
import { randomFile, tempRegistry, type TempRegistry } from './helpers.ts';

let t: TempRegistry;
let app: Hono;
test.before.each(() => {
  t = tempRegistry();
  app = new Hono();
  app.route('/v1/snapshots', registryRoutes(t.registry));
  app.onError((err, c) => problemResponse(toProblem(err, c.req.path).problem));
});
test.after.each(() => t.cleanup());

const json = (body: unknown) => ({ method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

async function seed() {
  const f = randomFile(t.dir, 'f', 10_000);
  const base = await t.registry.createSnapshot({ name: 'base', kind: 'base-image', driver: 'process', files: { disk: f } });
  const golden = await t.registry.createSnapshot({
    name: 'hello',
    kind: 'golden',
    driver: 'process',
    parent: 'base',
    labels: { fn: 'hello' },
    files: { memory: randomFile(t.dir, 'm', 20_000), disk: { digest: base.files.disk.digest } },
  });
  return { base, golden };
}

test('list, filter, get, tree', async () => {
  const { base, golden } = await seed();
  const list = await (await app.request('/v1/snapshots')).json();
  assert.equal(
    list.snapshots.map((s: { id: string }) => s.id),
    [base.id, golden.id],
  );
  const goldens = await (await app.request('/v1/snapshots?kind=golden&label=fn=hello')).json();
  assert.equal(
    goldens.snapshots.map((s: { id: string }) => s.id),
    [golden.id],
  );
  const one = await (await app.request('/v1/snapshots/base')).json();
  assert.equal(one.children, [golden.id]);
  const tree = await (await app.request('/v1/snapshots/tree')).json();
  assert.is(tree.tree[0].children[0].id, golden.id);
  const text = await (await app.request('/v1/snapshots/tree?format=text')).text();
  assert.match(text, /└─ snap_[0-9a-f]+ hello/);
});

test('errors are problem+json with registry codes', async () => {
  await seed();
  const missing = await app.request('/v1/snapshots/nope');
  assert.is(missing.status, 404);
  assert.is(missing.headers.get('content-type'), 'application/problem+json');
  assert.is((await missing.json()).code, 'registry_snapshot_not_found');
  const refused = await app.request('/v1/snapshots/base', { method: 'DELETE' });
  assert.is(refused.status, 409);
  assert.is((await refused.json()).code, 'registry_has_children');
  const badKind = await app.request('/v1/snapshots?kind=weird');
  assert.is((await badKind.json()).code, 'registry_bad_request');
  const badRef = await app.request('/v1/snapshots/hello/push', json({ ref: 'x/../y' }));
  assert.is((await badRef.json()).code, 'registry_invalid_name');
});

test('delete with force, then gc frees the blobs; verify reports ok', async () => {
  const { golden } = await seed();
  const del = await app.request('/v1/snapshots/base?force=true', { method: 'DELETE' });
  assert.is(del.status, 200);
  const dry = await (await app.request('/v1/snapshots/gc', json({ dryRun: true }))).json();
  assert.is(dry.removed.length, 0, 'the disk blob is still used by hello');
  await app.request(`/v1/snapshots/${golden.id}`, { method: 'DELETE' });
  const gc = await (await app.request('/v1/snapshots/gc', json({}))).json();
  assert.is(gc.removed.length, 2);
  const verify = await (await app.request('/v1/snapshots/verify', { method: 'POST' })).json();
  assert.ok(verify.ok);
});

test('tags: add and remove', async () => {
  const { golden } = await seed();
  const tagged = await (await app.request('/v1/snapshots/hello/tags', json({ tag: 'latest' }))).json();
  assert.equal(tagged.tags, ['latest']);
  assert.is((await (await app.request('/v1/snapshots/latest')).json()).id, golden.id);
  const bad = await app.request('/v1/snapshots/hello/tags', json({ tag: '../x' }));
  assert.is((await bad.json()).code, 'registry_invalid_name');
  const untagged = await (await app.request('/v1/snapshots/hello/tags/latest', { method: 'DELETE' })).json();
  assert.equal(untagged.tags, []);
});

test('layout by path and over the connection (tar download, tar upload) round-trip', async () => {
  const { golden } = await seed();
  const dir = path.join(t.dir, 'out');
  const exp = await app.request('/v1/snapshots/hello/export', json({ path: dir }));
  assert.is(exp.status, 201);
  const tarRes = await app.request('/v1/snapshots/hello/layout.tar');
  assert.is(tarRes.headers.get('content-type'), 'application/x-tar');
  const tar = Buffer.from(await tarRes.arrayBuffer());
  assert.is(tar.length, Number(tarRes.headers.get('content-length')));

  const other = tempRegistry();
  try {
    const app2 = new Hono();
    app2.route('/v1/snapshots', registryRoutes(other.registry));
    app2.onError((err, c) => problemResponse(toProblem(err, c.req.path).problem));
    const up = await app2.request('/v1/snapshots/import', { method: 'POST', headers: { 'content-type': 'application/x-tar' }, body: tar });
    assert.is(up.status, 201);
    const [imported] = (await up.json()).imported;
    assert.is(imported.snapshot.id, golden.id);
    assert.ok(readFileSync(other.registry.filePaths(golden.id).memory).equals(readFileSync(t.registry.filePaths(golden.id).memory)));
    const byPath = await (await app2.request('/v1/snapshots/import', json({ path: dir }))).json();
    assert.ok(byPath.imported[0].existed);
    const junk = await app2.request('/v1/snapshots/import', {
      method: 'POST',
      headers: { 'content-type': 'application/x-tar' },
      body: 'not a tar'.repeat(100),
    });
    assert.is((await junk.json()).code, 'registry_invalid_layout');
  } finally {
    other.cleanup();
  }
});

test.run();
