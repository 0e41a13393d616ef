/**
 * The API contract (docs/API.md): platform/api/openapi/document.ts must describe exactly the
 * routes the daemon serves, and every response of a walk over the whole API must match it.
 *
 * One in-process daemon (process driver, networking off) on a temp data dir; requests go through
 * `daemon.app.request()` via a checked client that validates every answer. A capability documented
 * with `x-ignition-capability` but not served at all is reported as pending (not yet mounted by
 * the composition root) rather than failed; once any of its routes is served, all must be.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '../../platform/config/load.ts';
import { startDaemon, type Daemon } from '../../platform/daemon.ts';
import { apiDocument } from '../../platform/api/openapi/document.ts';
import { listOperations } from '../../platform/api/openapi/validate.ts';
import { needs } from '../support/needs.ts';
import { startDistribution, type RunningRegistry } from '../registry/distribution.ts';
import { checkedClient, diffRoutes } from './contract.ts';
import {
  walkAsync,
  walkFunctions,
  walkImages,
  walkNetwork,
  walkOpenApi,
  walkPlatform,
  walkSecrets,
  walkSnapshots,
  walkTmp,
  walkTokens,
  walkVms,
  type WalkContext,
} from './walk.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
let dataDir: string;
let tmp: string;
let daemon: Daemon;
let remote: RunningRegistry | undefined;

test.before(async () => {
  dataDir = mkdtempSync(path.join(os.tmpdir(), 'ignition-openapi-'));
  tmp = walkTmp();
  const { config } = await loadConfig({
    cwd: dataDir,
    env: { IGNITION_DATA_DIR: dataDir, IGNITION_DRIVER: 'process', IGNITION_NETWORK: 'off', IGNITION_LOG_LEVEL: 'error' },
  });
  daemon = await startDaemon(config, { listen: false });
  const noRegistry = needs('docker-registry');
  if (noRegistry) console.log(`test/api/openapi.test.ts: push and pull walk only their error paths: ${noRegistry}`);
  else remote = await startDistribution();
});

test.after(async () => {
  await daemon?.close();
  await remote?.stop();
  rmSync(dataDir, { recursive: true, force: true });
  rmSync(tmp, { recursive: true, force: true });
});

function pendingNotice(pending: Record<string, string[]>): void {
  for (const [cap, routes] of Object.entries(pending)) {
    console.log(`test/api/openapi.test.ts: capability "${cap}" is documented but the daemon serves none of it yet (not mounted): ${routes.join(', ')}`);
  }
}

test('every served route is documented, and every documented operation is served', () => {
  const diff = diffRoutes(apiDocument, daemon.app);
  pendingNotice(diff.pending);
  const lines = [
    ...diff.undocumented.map((r) => `  served but not in platform/api/openapi/document.ts: ${r}`),
    ...diff.unserved.map((r) => `  documented but not served by the daemon: ${r}`),
  ];
  assert.ok(lines.length === 0, `the API document and the daemon's routes differ:\n${lines.join('\n')}`);
});

test('operation ids are unique and every operation has a summary and a documented success', () => {
  const ids = new Set<string>();
  for (const { method, template, operation } of listOperations(apiDocument)) {
    assert.not.ok(ids.has(operation.operationId), `duplicate operationId ${operation.operationId}`);
    ids.add(operation.operationId);
    assert.ok(operation.summary, `${method.toUpperCase()} ${template} has no summary`);
    const statuses = Object.keys(operation.responses);
    assert.ok(
      statuses.some((s) => s.startsWith('2') || s === 'default'),
      `${operation.operationId} documents no success`,
    );
    for (const param of (template.match(/\{[^}]+\}/g) ?? []).map((p) => p.slice(1, -1))) {
      assert.ok(
        operation.parameters?.some((p) => p.in === 'path' && p.name === param),
        `${operation.operationId} does not describe path parameter {${param}}`,
      );
    }
  }
});

test('a walk over the API exercises every operation, and every response matches the document', async () => {
  const tokenFile = path.join(dataDir, 'admin.token');
  const auth = existsSync(tokenFile);
  const api = checkedClient(daemon.app, apiDocument, () => (auth ? readFileSync(tokenFile, 'utf8').trim() : null));
  const diff = diffRoutes(apiDocument, daemon.app);
  const pendingCaps = new Set(Object.keys(diff.pending));
  const ctx: WalkContext = { api, fixtures: path.join(ROOT, 'test', 'fixtures', 'functions'), tmp, remote: remote ? `127.0.0.1:${remote.port}` : null, auth };

  await walkPlatform(ctx);
  if (!pendingCaps.has('openapi')) await walkOpenApi(ctx);
  await walkFunctions(ctx);
  if (!pendingCaps.has('secrets')) await walkSecrets(ctx);
  if (!pendingCaps.has('auth')) await walkTokens(ctx);
  if (!pendingCaps.has('async')) await walkAsync(ctx);
  await walkVms(ctx);
  await walkImages(ctx);
  await walkNetwork(ctx);
  await walkSnapshots(ctx); // last: it removes the function

  const pendingOps = new Set(Object.values(diff.pending).flat());
  const expected = listOperations(apiDocument).filter((o) => !pendingOps.has(`${o.method.toUpperCase()} ${o.template}`));
  const missed = expected.filter((o) => !api.exercised.has(o.operation.operationId));
  const checked = [...api.exercised.values()].reduce((a, b) => a + b, 0);
  console.log(
    `test/api/openapi.test.ts: ${expected.length - missed.length}/${expected.length} operations exercised (${listOperations(apiDocument).length} documented, ${pendingOps.size} pending), ${checked} responses checked`,
  );

  assert.ok(api.errors.length === 0, `responses that break the API document:\n${api.errors.map((e) => `  ${e.request}: ${e.message}`).join('\n')}`);
  assert.ok(
    missed.length === 0,
    `operations the walk never exercised:\n${missed.map((o) => `  ${o.operation.operationId} (${o.method.toUpperCase()} ${o.template})`).join('\n')}`,
  );
});

test.run();
