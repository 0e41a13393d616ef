/**
 * Push and pull against a real registry (Debian's docker-registry, distribution v2.8), directly
 * and through a fault-injecting proxy: chunked and monolithic uploads, skipping, cross-repository
 * mount, resume after 401/404/500 halfway, digest mismatch on pull, Basic and Bearer auth.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { needs, reportSkip } from '../support/needs.ts';
import { mostlyZeroFile, randomFile, rejects, tempRegistry, type TempRegistry } from './helpers.ts';
import { startDistribution, startProxy, type RunningRegistry } from './distribution.ts';

const skip = needs('docker-registry');
reportSkip('test/registry/push-pull.test.ts', skip);
const it = skip ? test.skip : test;

let remote: RunningRegistry;
let a: TempRegistry;
let b: TempRegistry;
test.before(async () => {
  if (!skip) remote = await startDistribution();
});
test.after(async () => {
  await remote?.stop();
});
test.before.each(() => {
  a = tempRegistry();
  b = tempRegistry();
});
test.after.each(() => {
  a.cleanup();
  b.cleanup();
});

const MiB = 1024 * 1024;
async function golden(t: TempRegistry, name = 'hello') {
  return t.registry.createSnapshot({
    name,
    kind: 'golden',
    driver: 'process',
    config: { memMiB: 8 },
    labels: { fn: name },
    files: {
      memory: mostlyZeroFile(t.dir, `${name}-mem`, 8 * MiB, [0, 3 * MiB]),
      state: randomFile(t.dir, `${name}-state`, 3 * MiB + 5),
      bundle: randomFile(t.dir, `${name}-bundle`, 4000),
    },
  });
}
function sameFiles(x: TempRegistry, y: TempRegistry, id: string) {
  const px = x.registry.filePaths(id);
  const py = y.registry.filePaths(id);
  for (const role of Object.keys(px)) assert.ok(readFileSync(px[role]).equals(readFileSync(py[role])), role);
}

it('push (chunked and monolithic) then pull into another host: same snapshot, same bytes, progress in bytes', async () => {
  const snap = await golden(a);
  const ref = `${remote.host}/ignition/hello:v1`;
  const seen: number[] = [];
  const pushed = await a.registry.push('hello', ref, { chunkSize: MiB, onProgress: (p) => seen.push(p.bytes) });
  assert.is(pushed.uploaded, 4);
  assert.is(pushed.skipped, 0);
  assert.ok(seen.length > 3);
  assert.ok(
    seen.every((v, i) => i === 0 || v >= seen[i - 1]),
    'progress never goes back',
  );
  assert.is(seen[seen.length - 1], pushed.bytesSent, 'the last progress report covers every byte sent');
  assert.ok(pushed.bytesSent > snap.size, 'layers plus the config blob');
  let last = 0;
  const pulled = await b.registry.pull(ref, { onProgress: (p) => (last = p.bytes) });
  assert.is(last, snap.size);
  assert.is(pulled.snapshot.id, snap.id);
  assert.equal(pulled.snapshot.files, snap.files);
  assert.is(pulled.manifestDigest, pushed.manifestDigest);
  sameFiles(a, b, snap.id);
  // Pull by digest works too and is a no-op now.
  const again = await b.registry.pull(`${remote.host}/ignition/hello@${pushed.manifestDigest}`);
  assert.ok(again.existed);
  // A second push skips every blob.
  const second = await a.registry.push('hello', ref);
  assert.is(second.uploaded, 0);
  assert.is(second.skipped, 4);
  assert.is(second.bytesSent, 0);
});

it('a push to another repository mounts blobs across repositories instead of uploading', async () => {
  await golden(a);
  await a.registry.push('hello', `${remote.host}/ignition/one:v1`);
  const proxy = await startProxy(remote.port);
  try {
    const r = await a.registry.push('hello', `${proxy.host}/ignition/two:v1`, { mountFrom: 'ignition/one' });
    assert.is(r.mounted, 4);
    assert.is(r.bytesSent, 0);
    assert.ok(proxy.log.some((l) => l.method === 'POST' && l.path.includes('mount=') && l.status === 201));
    assert.not.ok(proxy.log.some((l) => l.method === 'PATCH' || (l.method === 'PUT' && l.path.includes('/blobs/'))));
  } finally {
    await proxy.close();
  }
  await b.registry.pull(`${remote.host}/ignition/two:v1`);
});

for (const [status, method, where] of [
  [500, 'PATCH', /\/blobs\/uploads\//],
  [404, 'PUT', /\/blobs\/uploads\//],
  [401, 'HEAD', /\/blobs\//],
] as const) {
  it(`a ${status} on a ${method} halfway through a push fails clearly; the retry resumes`, async () => {
    const snap = await golden(a, `f${status}`);
    const proxy = await startProxy(remote.port);
    const ref = `${proxy.host}/ignition/fault${status}:v1`;
    proxy.faults.push({ method, path: where, nth: 2, status });
    try {
      const e = await rejects(
        () => a.registry.push(snap.id, ref, { chunkSize: MiB }),
        status === 401 ? 'registry_remote_unauthorized' : 'registry_remote_error',
      );
      assert.match(e.message, new RegExp(String(status)));
      // The tag does not exist: the manifest goes last.
      await rejects(() => b.registry.pull(ref), 'registry_remote_error');
      const retry = await a.registry.push(snap.id, ref, { chunkSize: MiB });
      assert.ok(retry.skipped >= 1, `the retry skipped ${retry.skipped} blob(s) already there`);
      assert.ok(retry.bytesSent < snap.size);
      await b.registry.pull(ref);
      sameFiles(a, b, snap.id);
    } finally {
      await proxy.close();
    }
  });
}

it('a corrupted blob on pull is refused (digest mismatch), nothing half-visible; the retry resumes', async () => {
  const snap = await golden(a);
  await a.registry.push('hello', `${remote.host}/ignition/corrupt:v1`);
  const proxy = await startProxy(remote.port);
  const ref = `${proxy.host}/ignition/corrupt:v1`;
  proxy.faults.push({ method: 'GET', path: new RegExp(`/blobs/${snap.files.state.digest}`), corruptBody: true });
  try {
    await rejects(() => b.registry.pull(ref), 'registry_digest_mismatch');
    assert.equal(b.registry.list(), []);
    assert.equal(readdirSync(path.join(b.dir, 'registry', 'tmp')), []);
    const before = proxy.log.length;
    const r = await b.registry.pull(ref);
    assert.ok(r.skipped >= 1, 'layers fetched by the failed pull are not fetched again');
    const fetched = proxy.log.slice(before).filter((l) => l.method === 'GET' && l.path.includes('/blobs/'));
    assert.ok(fetched.length < 4);
    sameFiles(a, b, snap.id);
  } finally {
    await proxy.close();
  }
});

it('a manifest whose blob the registry lacks: pull fails with 404 and leaves nothing', async () => {
  const snap = await golden(a);
  await a.registry.push('hello', `${remote.host}/ignition/missing:v1`);
  const proxy = await startProxy(remote.port);
  proxy.faults.push({ method: 'GET', path: new RegExp(`/blobs/${snap.files.bundle.digest}`), status: 404 });
  try {
    const e = await rejects(() => b.registry.pull(`${proxy.host}/ignition/missing:v1`), 'registry_remote_error');
    assert.match(e.message, /404/);
    assert.equal(b.registry.list(), []);
  } finally {
    await proxy.close();
  }
});

for (const kind of ['basic', 'bearer'] as const) {
  it(`${kind} auth: refused without credentials, works with them`, async () => {
    await golden(a);
    const proxy = await startProxy(remote.port, { auth: { kind, username: 'ci', password: 's3cret' } });
    const ref = `${proxy.host}/ignition/auth-${kind}:v1`;
    try {
      await rejects(() => a.registry.push('hello', ref), 'registry_remote_unauthorized');
      await rejects(() => a.registry.push('hello', ref, { auth: { username: 'ci', password: 'wrong' } }), 'registry_remote_unauthorized');
      const auth = { username: 'ci', password: 's3cret' };
      await a.registry.push('hello', ref, { auth, chunkSize: MiB });
      await b.registry.pull(ref, { auth });
      if (kind === 'bearer') assert.ok(proxy.tokensIssued >= 2);
    } finally {
      await proxy.close();
    }
  });
}

it('refs with bad hosts, .., uppercase, NUL are refused before any network traffic', async () => {
  await golden(a);
  for (const bad of [
    'hello',
    'noport/repo:tag',
    `${remote.host}/../etc:v1`,
    `${remote.host}/Upper:v1`,
    `${remote.host}/a//b:v1`,
    `${remote.host}/ok:bad/tag`,
    `${remote.host}/ok\0:v1`,
    `${remote.host}/ok:v1@sha256:zz`,
  ]) {
    await rejects(() => a.registry.push('hello', bad), bad.includes('sha256:zz') ? 'registry_invalid_digest' : 'registry_invalid_name');
  }
  await rejects(() => a.registry.pull('http://registry.example.com/x:y'), 'registry_insecure_refused');
});

test.run();
