/**
 * The snapshot registry through the real CLI and daemon: golden snapshots of deployed functions
 * in `images --tree`, `inspect`, the guard that keeps a version's golden snapshot, gc, verify
 * (including a corrupted blob), export/import of an OCI layout tar, and push/pull against a real
 * OCI registry (Debian's docker-registry) started by the test.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, readdirSync, rmSync, statSync, writeFileSync, chmodSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { deploy, FIXTURES, startTestDaemon, type TestDaemon } from '../support/daemon.ts';
import { needs, reportSkip } from '../support/needs.ts';
import { startDistribution, type RunningRegistry } from '../registry/distribution.ts';

let d: TestDaemon;
const work = mkdtempSync(path.join(os.tmpdir(), 'ign-regcli-'));
let golden: string;

test.before(async () => {
  d = await startTestDaemon();
  await deploy(d, path.join(FIXTURES, 'counter'));
});
test.after(async () => {
  await d?.stop();
  rmSync(work, { recursive: true, force: true });
});

test('images lists the golden snapshot of a deployed function; inspect shows its files', async () => {
  const list = JSON.parse((await d.cli(['images', '--json'])).stdout) as Array<{ id: string; kind: string; driver: string }>;
  const g = list.find((s) => s.kind === 'golden');
  assert.ok(g, 'a golden snapshot exists');
  golden = g!.id;
  assert.is(g!.driver, 'process');
  const tree = await d.cli(['images', '--tree']);
  assert.is(tree.code, 0, tree.stderr);
  assert.match(tree.stdout, new RegExp(golden));
  const snap = JSON.parse((await d.cli(['inspect', golden])).stdout);
  assert.match(snap.files.bundle.digest, /^sha256:[0-9a-f]{64}$/);
  assert.ok(snap.files.sourcemap);
});

test('a golden snapshot in use cannot be removed', async () => {
  const r = await d.cli(['rmi', golden, '--force']);
  assert.is(r.code, 1);
  assert.match(r.stderr, /golden snapshot of counter v1.*\[conflict\]/);
});

test('export to a layout tar and import it back (same snapshot id: already present)', async () => {
  const tar = path.join(work, 'counter.tar');
  const e = await d.cli(['export', golden, tar]);
  assert.is(e.code, 0, e.stderr);
  assert.ok(statSync(tar).size > 1024);
  const i = await d.cli(['import', tar, '--json']);
  assert.is(i.code, 0, i.stderr);
  assert.is(JSON.parse(i.stdout).imported[0].snapshot.id, golden);
  assert.is(JSON.parse(i.stdout).imported[0].existed, true);
});

const skip = needs('docker-registry');
reportSkip('test/e2e/registry-cli.test.ts push/pull', skip);
let reg: RunningRegistry | undefined;
(skip ? test.skip : test)('push to a real OCI registry and pull into a second daemon', async () => {
  reg = await startDistribution();
  try {
    const ref = `127.0.0.1:${reg.port}/ignition/counter:v1`;
    const push = await d.cli(['push', golden, ref, '--json']);
    assert.is(push.code, 0, push.stderr);
    assert.match(JSON.parse(push.stdout).manifestDigest, /^sha256:/);
    const again = JSON.parse((await d.cli(['push', golden, ref, '--json'])).stdout);
    assert.is(again.uploaded, 0, 'a second push skips blobs the registry has');
    const d2 = await startTestDaemon();
    try {
      const pull = await d2.cli(['pull', ref, '--json']);
      assert.is(pull.code, 0, pull.stderr);
      assert.is(JSON.parse(pull.stdout).snapshot.id, golden);
      const bad = await d2.cli(['pull', `127.0.0.1:${reg.port}/ignition/none:v1`]);
      assert.is(bad.code, 1);
      assert.match(bad.stderr, /\[registry_/);
    } finally {
      await d2.stop();
    }
  } finally {
    await reg.stop();
  }
});

test('verify finds a corrupted blob and names the snapshot it breaks; gc frees unreferenced blobs', async () => {
  const ok = await d.cli(['verify']);
  assert.is(ok.code, 0, ok.stdout + ok.stderr);
  assert.match(ok.stdout, /All blobs intact/);
  // Corrupt the bundle blob on disk (blobs are read-only: make it writable first).
  const snap = JSON.parse((await d.cli(['inspect', golden])).stdout);
  const hex = snap.files.sourcemap.digest.slice('sha256:'.length);
  const blob = path.join(d.dataDir, 'registry', 'sha256', hex.slice(0, 2), hex);
  chmodSync(blob, 0o644);
  writeFileSync(blob, 'corrupted');
  const bad = await d.cli(['verify', '--json']);
  assert.is(bad.code, 1);
  const report = JSON.parse(bad.stdout);
  assert.is(report.corrupt[0].digest, snap.files.sourcemap.digest);
  assert.equal(report.broken, [golden]);
  const gc = await d.cli(['gc', '--json']);
  assert.is(gc.code, 0, gc.stderr);
  assert.type(JSON.parse(gc.stdout).kept, 'number');
  assert.ok(readdirSync(path.join(d.dataDir, 'registry', 'sha256')).length > 0, 'referenced blobs are kept');
});

test.run();
