/**
 * Fresh isolation on the Firecracker driver, against the fake Firecracker (a real HTTP server on
 * the API socket that answers as Firecracker does, with the real agent behind its vsock socket):
 * the pool's flow is the driver's, so every request gets a microVM restored from the version's
 * golden snapshot (snapshot/load with the golden memory file from the registry), used once and
 * destroyed. IGNITION_FC_TRACE records the API calls that crossed the socket. docs/ISOLATION.md.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { request } from 'undici';
import { deploy, FIXTURES, startTestDaemon, type TestDaemon } from '../support/daemon.ts';
import { fakeFirecrackerEnv } from '../support/fake-firecracker.ts';

const assets = mkdtempSync(path.join(os.tmpdir(), 'ign-fc-fresh-'));
const trace = path.join(assets, 'trace.jsonl');
let d: TestDaemon;

test.before(async () => {
  d = await startTestDaemon({ env: fakeFirecrackerEnv(assets, trace) });
});
test.after(async () => {
  await d?.stop();
  rmSync(assets, { recursive: true, force: true });
});

test('fresh isolation on firecracker: a restore from the golden snapshot per request', async () => {
  await deploy(d, path.join(FIXTURES, 'fresh-counter'));
  const calls = () =>
    readFileSync(trace, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { path: string; body: { mem_backend?: { backend_path: string } } });
  const golden = calls().find((c) => c.path === '/snapshot/create');
  assert.ok(golden, 'the deploy took a golden snapshot');
  for (let i = 0; i < 3; i++) {
    const res = await request(`${d.url}/fn/fresh-counter/`, { headersTimeout: 120_000, bodyTimeout: 120_000 });
    assert.is(res.statusCode, 200);
    // A restored guest resumes the snapshot's memory, module state included: the count starts
    // from the snapshot's for every microVM, and a reused one would have counted on.
    const body = (await res.body.json()) as { count: number };
    assert.is(body.count, 1, 'each microVM serves exactly one request');
  }
  const loads = calls().filter((c) => c.path === '/snapshot/load');
  assert.ok(loads.length >= 3, `a restore per request (${loads.length} snapshot/load calls)`);
  const memory = new Set(loads.map((l) => l.body.mem_backend?.backend_path));
  assert.is(memory.size, 1, 'every restore maps the same golden memory file');
  assert.match([...memory][0] ?? '', /registry\/sha256\//);
});

test.run();
