/**
 * A walk over the whole API through a checked client (contract.ts): each capability's happy path
 * and its typical errors, so every documented operation answers at least once and every answer is
 * checked against the document. Capabilities the daemon does not serve yet are left out by the
 * caller. The assertions here are only what the walk needs to go on (ids, created resources);
 * the contract checks are in the client.
 */
import * as assert from 'uvu/assert';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { bundleFunction } from '../../platform/functions/bundle.ts';
import type { CheckedClient } from './contract.ts';

export interface WalkContext {
  api: CheckedClient;
  fixtures: string;
  /** A temp dir of the test, removed by it. */
  tmp: string;
  /** `host:port` of a real OCI registry, or null (push and pull then walk their error paths). */
  remote: string | null;
  /** Whether the daemon guards /v1 with tokens (admin.token exists). */
  auth: boolean;
}

export async function expectStatus(res: Response, status: number | number[], what: string): Promise<Response> {
  const ok = Array.isArray(status) ? status : [status];
  if (!ok.includes(res.status)) assert.unreachable(`${what}: expected ${ok.join(' or ')}, got ${res.status}: ${(await res.clone().text()).slice(0, 500)}`);
  return res;
}

async function body<T = any>(res: Response): Promise<T> {
  return (await res.json()) as T;
}

export async function walkPlatform({ api, auth }: WalkContext): Promise<void> {
  await expectStatus(await api.request('/healthz'), 200, 'health');
  await expectStatus(await api.request('/v1/info'), 200, 'info');
  const metrics = await expectStatus(await api.request('/metrics'), 200, 'metrics');
  assert.match(await metrics.text(), /# TYPE ignition_/);
  if (auth) {
    // No token, a malformed one and an unknown one: the same 401 each time.
    await expectStatus(await api.request('/v1/functions', { auth: false }), 401, 'no token');
    await expectStatus(await api.request('/v1/info', { auth: false, headers: { authorization: 'Bearer ign_not-a-real-token' } }), 401, 'unknown token');
  }
}

export async function walkOpenApi({ api }: WalkContext): Promise<void> {
  const doc = await body(await expectStatus(await api.request('/v1/openapi.json', { auth: false }), 200, 'openapi document'));
  assert.is(doc.openapi, '3.1.0');
}

/** Deploys echo twice (two versions), exercises versions, aliases, invocation, rollback, logs. */
export async function walkFunctions({ api, fixtures }: WalkContext): Promise<{ bundle: Awaited<ReturnType<typeof bundleFunction>> }> {
  const bundle = await bundleFunction(path.join(fixtures, 'echo'));
  const deploy = (code: string) =>
    api.request('/v1/functions/echo/deployments', { method: 'POST', json: { code, map: bundle.map, settings: bundle.settings } });
  const v1 = await body(await expectStatus(await deploy(bundle.code), 201, 'first deploy'));
  assert.is(v1.version.seq, 1);
  const same = await body(await expectStatus(await deploy(bundle.code), 200, 'same deploy again'));
  assert.is(same.created, false);
  await expectStatus(await deploy(`${bundle.code}\n// second version\n`), 201, 'second deploy');
  await expectStatus(await api.request('/v1/functions/echo/deployments', { method: 'POST', json: { map: 'no code' } }), 400, 'deploy without code');
  await expectStatus(
    await api.request('/v1/functions/echo/deployments', { method: 'POST', body: '{not json', headers: { 'content-type': 'application/json' } }),
    400,
    'deploy with bad JSON',
  );

  await expectStatus(await api.request('/v1/functions'), 200, 'list functions');
  await expectStatus(await api.request('/v1/functions/echo'), 200, 'get function');
  await expectStatus(await api.request('/v1/functions/nothing-here'), 404, 'missing function');
  await expectStatus(await api.request('/v1/functions/Bad_Name'), 400, 'bad function name');
  const versions = await body(await expectStatus(await api.request('/v1/functions/echo/versions'), 200, 'versions'));
  assert.is(versions.versions.length, 2);

  await expectStatus(
    await api.request('/v1/functions/echo/aliases/canary', {
      method: 'PUT',
      json: {
        routes: [
          { version: 1, weight: 90 },
          { version: 2, weight: 10 },
        ],
      },
    }),
    200,
    'split traffic',
  );
  await expectStatus(
    await api.request('/v1/functions/echo/aliases/canary', {
      method: 'PUT',
      json: {
        routes: [
          { version: 1, weight: 90 },
          { version: 2, weight: 20 },
        ],
      },
    }),
    400,
    'weights over 100',
  );
  await expectStatus(await api.request('/v1/functions/echo/aliases'), 200, 'aliases');

  // Every method, at the root and on a path, through `latest` and through an alias.
  for (const method of ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']) {
    const init = ['GET', 'HEAD', 'OPTIONS'].includes(method)
      ? { method }
      : { method, body: `payload for ${method}`, headers: { 'content-type': 'text/plain' } };
    await expectStatus(await api.request(`/fn/echo/some/path?q=${method}`, init), 200, `invoke ${method} on a path`);
    await expectStatus(await api.request('/fn/echo@canary', init), 200, `invoke ${method} at the root`);
  }
  await expectStatus(await api.request('/fn/nothing-here/'), 404, 'invoke a missing function');
  await expectStatus(await api.request('/fn/echo/', { method: 'POST', body: 'x'.repeat(4096) }), 413, 'body over maxBodyBytes');

  await expectStatus(await api.request('/v1/functions/echo/instances'), 200, 'instances');
  await expectStatus(await api.request('/v1/functions/echo/logs?limit=5'), 200, 'logs');
  await expectStatus(await api.request('/v1/functions/echo/logs?level=warn'), 200, 'logs at warn and above');
  await expectStatus(await api.request('/v1/functions/echo/logs?level=loud'), 400, 'logs at an unknown level');
  // A followed log is an event stream that stays open: read the first event, then leave.
  const follow = await expectStatus(await api.request('/v1/functions/echo/logs?follow=1'), 200, 'follow logs');
  const reader = follow.body!.getReader();
  await reader.read();
  await reader.cancel();

  await expectStatus(await api.request('/v1/functions/echo/rollback', { method: 'POST', json: {} }), 200, 'rollback');
  await expectStatus(await api.request('/v1/functions/echo/rollback', { method: 'POST', json: { to: 99 } }), 404, 'rollback to a missing version');
  await expectStatus(await api.request('/v1/functions/echo/aliases/canary', { method: 'DELETE' }), 200, 'remove alias');
  await expectStatus(await api.request('/v1/functions/echo/aliases/latest', { method: 'DELETE' }), 400, 'remove latest');
  return { bundle };
}

export async function walkSecrets({ api }: WalkContext): Promise<void> {
  await expectStatus(await api.request('/v1/secrets/echo/API_KEY', { method: 'PUT', json: { value: 's3cret' } }), 201, 'set secret');
  await expectStatus(await api.request('/v1/secrets/echo/API_KEY', { method: 'PUT', json: { value: 'rotated' } }), 200, 'replace secret');
  await expectStatus(await api.request('/v1/secrets/echo/bad-name!', { method: 'PUT', json: { value: 'x' } }), 400, 'odd secret name');
  await expectStatus(await api.request('/v1/secrets/nothing-here/X', { method: 'PUT', json: { value: 'x' } }), 404, 'secret of a missing function');
  const list = await body(await expectStatus(await api.request('/v1/secrets/echo'), 200, 'list secrets'));
  assert.not.match(JSON.stringify(list), /rotated/);
  await expectStatus(await api.request('/v1/secrets/_rotate-key', { method: 'POST' }), 200, 'rotate key');
  await expectStatus(await api.request('/v1/secrets/echo/API_KEY', { method: 'DELETE' }), 200, 'remove secret');
  await expectStatus(await api.request('/v1/secrets/echo/API_KEY', { method: 'DELETE' }), 404, 'remove it again');
}

/** Tokens, and a token-protected function: 401 without one, 403 with the wrong one, and the token never reaches the function. */
export async function walkTokens({ api, fixtures }: WalkContext): Promise<void> {
  const bundle = await bundleFunction(path.join(fixtures, 'echo'));
  const settings = { ...bundle.settings, auth: 'token' };
  await expectStatus(
    await api.request('/v1/functions/guarded/deployments', { method: 'POST', json: { code: bundle.code, settings } }),
    201,
    'deploy a guarded function',
  );
  const created = await body(
    await expectStatus(await api.request('/v1/tokens', { method: 'POST', json: { name: 'contract', scope: 'invoke', function: 'echo' } }), 201, 'create token'),
  );
  const guarded = await body(
    await expectStatus(
      await api.request('/v1/tokens', { method: 'POST', json: { scope: 'invoke', function: 'guarded' } }),
      201,
      'token for the guarded function',
    ),
  );
  await expectStatus(await api.request('/fn/guarded/', { auth: false }), 401, 'guarded function without a token');
  await expectStatus(
    await api.request('/fn/guarded/', { headers: { authorization: `Bearer ${created.token}` } }),
    403,
    'guarded function with a token for another',
  );
  const seen = await body(
    await expectStatus(await api.request('/fn/guarded/', { headers: { authorization: `Bearer ${guarded.token}` } }), 200, 'guarded function with its token'),
  );
  assert.not.ok('authorization' in seen.headers, 'the platform token must not reach the function');
  await expectStatus(await api.request('/v1/functions/guarded', { method: 'DELETE' }), 200, 'remove the guarded function');
  await expectStatus(await api.request('/v1/tokens', { method: 'POST', json: { scope: 'root' } }), 400, 'bad scope');
  await expectStatus(await api.request('/v1/tokens'), 200, 'list tokens');
  // An invoke token is valid but not for the admin API.
  await expectStatus(await api.request('/v1/functions', { headers: { authorization: `Bearer ${created.token}` } }), 403, 'invoke token on /v1');
  await expectStatus(await api.request('/v1/console/login-links', { method: 'POST' }), 201, 'console login link');
  await expectStatus(
    await api.request('/v1/console/login-links', { method: 'POST', headers: { authorization: `Bearer ${created.token}` } }),
    403,
    'console login link with an invoke token',
  );
  await expectStatus(await api.request(`/v1/tokens/${created.id}`, { method: 'DELETE' }), 200, 'revoke token');
  await expectStatus(await api.request('/v1/tokens/tok_missing', { method: 'DELETE' }), 404, 'revoke a missing token');
}

export async function walkAsync({ api }: WalkContext): Promise<void> {
  const queued = await body(
    await expectStatus(
      await api.request('/v1/functions/echo/invocations', { method: 'POST', json: { async: true, path: '/later', body: 'hi' } }),
      202,
      'queue',
    ),
  );
  await expectStatus(await api.request('/v1/functions/echo/invocations', { method: 'POST', json: { path: '/now' } }), 200, 'invoke now');
  await expectStatus(await api.request('/v1/functions/echo/invocations', { method: 'POST', json: { async: 'yes' } }), 400, 'bad async flag');
  await expectStatus(await api.request(`/v1/invocations/${queued.id}`), 200, 'invocation status');
  await expectStatus(await api.request('/v1/invocations/inv_missing'), 404, 'missing invocation');
  await expectStatus(await api.request('/v1/functions/echo/invocations?limit=10'), 200, 'list invocations');
  await expectStatus(await api.request('/v1/functions/echo/invocations?status=lost'), 400, 'bad status filter');
  await expectStatus(await api.request('/v1/functions/echo/dead-letters'), 200, 'dead letters');
  await expectStatus(await api.request(`/v1/invocations/${queued.id}/retry`, { method: 'POST' }), [404, 409], 'retry a live invocation');
  const cron = await body(
    await expectStatus(await api.request('/v1/functions/echo/crons', { method: 'POST', json: { schedule: '*/5 * * * *', path: '/tick' } }), 201, 'add cron'),
  );
  await expectStatus(await api.request('/v1/functions/echo/crons', { method: 'POST', json: { schedule: '61 * * * *' } }), 400, 'bad cron');
  await expectStatus(await api.request('/v1/functions/echo/crons'), 200, 'list crons');
  await expectStatus(await api.request(`/v1/crons/${cron.id}`), 200, 'get cron');
  await expectStatus(await api.request(`/v1/crons/${cron.id}/pause`, { method: 'POST' }), 200, 'pause cron');
  await expectStatus(await api.request('/v1/functions/echo/crons'), 200, 'list crons with a paused one');
  await expectStatus(await api.request(`/v1/crons/${cron.id}/resume`, { method: 'POST' }), 200, 'resume cron');
  await expectStatus(await api.request('/v1/crons/cron_missing/pause', { method: 'POST' }), 404, 'pause missing cron');
  await expectStatus(await api.request('/v1/crons/cron_missing/resume', { method: 'POST' }), 404, 'resume missing cron');
  await expectStatus(await api.request(`/v1/crons/${cron.id}`, { method: 'DELETE' }), 200, 'remove cron');
  await expectStatus(await api.request(`/v1/crons/${cron.id}`), 404, 'removed cron');
}

export async function walkVms({ api }: WalkContext): Promise<void> {
  await expectStatus(await api.request('/v1/vms', { method: 'POST', json: { name: 'box' } }), 201, 'run VM');
  await expectStatus(await api.request('/v1/vms', { method: 'POST', json: { name: 'box' } }), 409, 'same name again');
  await expectStatus(await api.request('/v1/vms'), 200, 'list VMs');
  await expectStatus(await api.request('/v1/vms/box'), 200, 'get VM');
  await expectStatus(await api.request('/v1/vms/nobox'), 404, 'missing VM');
  await expectStatus(await api.request('/v1/vms/box/logs'), 200, 'VM logs');
  const exec = await expectStatus(await api.request('/v1/vms/box/exec', { method: 'POST', json: { cmd: 'echo', args: ['hello'] } }), 200, 'exec');
  assert.match(await exec.text(), /"type":"exit"/);
  await expectStatus(await api.request('/v1/vms/box/exec', { method: 'POST', json: {} }), 400, 'exec without cmd');
  await expectStatus(await api.request('/v1/vms/box/pause', { method: 'POST' }), [200, 501], 'pause');
  await expectStatus(await api.request('/v1/vms/box/resume', { method: 'POST' }), [200, 409, 501], 'resume');
  // The process driver cannot snapshot or fork (501); Firecracker can (201).
  await expectStatus(await api.request('/v1/vms/box/snapshot', { method: 'POST', json: {} }), [201, 501], 'snapshot VM');
  await expectStatus(await api.request('/v1/vms/box/fork', { method: 'POST', json: { count: 1 } }), [201, 501], 'fork VM');
  await expectStatus(await api.request('/v1/vms/box/kill', { method: 'POST' }), 200, 'kill');
  await expectStatus(await api.request('/v1/vms/box/exec', { method: 'POST', json: { cmd: 'true' } }), [404, 409], 'exec in a stopped VM');
  await expectStatus(await api.request('/v1/vms/box', { method: 'DELETE' }), 200, 'remove VM');
}

/** Registry routes; needs a function deployed (its golden snapshot) and a base image (walkImages); removes the function at the end. */
export async function walkSnapshots({ api, tmp, remote }: WalkContext): Promise<void> {
  const list = await body(await expectStatus(await api.request('/v1/snapshots?kind=golden'), 200, 'list snapshots'));
  const golden = list.snapshots[0];
  assert.ok(golden, 'a deployed function has a golden snapshot');
  await expectStatus(await api.request('/v1/snapshots?kind=nonsense'), 400, 'bad kind');
  await expectStatus(await api.request('/v1/snapshots/tree'), 200, 'tree');
  await expectStatus(await api.request('/v1/snapshots/tree?format=text'), 200, 'tree as text');
  await expectStatus(await api.request('/v1/snapshots/gc', { method: 'POST', json: { dryRun: true } }), 200, 'gc dry run');
  await expectStatus(await api.request('/v1/snapshots/verify', { method: 'POST' }), 200, 'verify');
  await expectStatus(await api.request(`/v1/snapshots/${golden.id}`), 200, 'get snapshot');
  await expectStatus(await api.request('/v1/snapshots/snap_00000000000000000000'), 404, 'missing snapshot');
  // Tags on the base image walkImages added: the golden-snapshot guard refuses every DELETE under a
  // golden snapshot's path, its tags included.
  const images = await body(await expectStatus(await api.request('/v1/snapshots?kind=base-image'), 200, 'list base images'));
  const image = images.snapshots[0];
  assert.ok(image, 'walkImages ran first and added a base image');
  await expectStatus(await api.request(`/v1/snapshots/${image.id}/tags`, { method: 'POST', json: { tag: 'contract' } }), 200, 'tag');
  await expectStatus(await api.request(`/v1/snapshots/${golden.id}/tags`, { method: 'POST', json: {} }), 400, 'tag without tag');
  await expectStatus(await api.request(`/v1/snapshots/${image.id}/tags/contract`, { method: 'DELETE' }), 200, 'untag');
  await expectStatus(await api.request(`/v1/snapshots/${image.id}/tags/contract`, { method: 'DELETE' }), 400, 'untag again');
  const tar = await expectStatus(await api.request(`/v1/snapshots/${golden.id}/layout.tar`), 200, 'layout tar');
  const tarBytes = new Uint8Array(await tar.arrayBuffer());
  const layout = path.join(tmp, 'layout');
  await expectStatus(await api.request(`/v1/snapshots/${golden.id}/export`, { method: 'POST', json: { path: layout } }), 201, 'export');
  await expectStatus(await api.request(`/v1/snapshots/${golden.id}`, { method: 'DELETE' }), 409, 'delete a golden snapshot');

  if (remote) {
    await expectStatus(
      await api.request(`/v1/snapshots/${golden.id}/push`, { method: 'POST', json: { ref: `${remote}/contract/echo:v1`, insecure: true } }),
      200,
      'push',
    );
    await expectStatus(
      await api.request('/v1/snapshots/pull', { method: 'POST', json: { ref: `${remote}/contract/echo:v1`, insecure: true } }),
      [200, 201],
      'pull',
    );
  }
  // A registry nobody listens on: the remote error is a problem document too.
  await expectStatus(
    await api.request(`/v1/snapshots/${golden.id}/push`, { method: 'POST', json: { ref: '127.0.0.1:1/contract/echo:v1', insecure: true } }),
    502,
    'push to nowhere',
  );
  await expectStatus(
    await api.request('/v1/snapshots/pull', { method: 'POST', json: { ref: '127.0.0.1:1/contract/echo:v1', insecure: true } }),
    502,
    'pull from nowhere',
  );
  await expectStatus(await api.request('/v1/snapshots/pull', { method: 'POST', json: {} }), 400, 'pull without ref');

  // With the function gone its snapshots go too; the exported layout brings one back to delete.
  await expectStatus(await api.request('/v1/functions/echo', { method: 'DELETE' }), 200, 'remove function');
  await expectStatus(await api.request('/v1/functions/echo', { method: 'DELETE' }), 404, 'remove it again');
  const imported = await body(await expectStatus(await api.request('/v1/snapshots/import', { method: 'POST', json: { path: layout } }), 201, 'import by path'));
  await expectStatus(
    await api.request('/v1/snapshots/import', { method: 'POST', body: tarBytes, headers: { 'content-type': 'application/x-tar' } }),
    201,
    'import a tar body',
  );
  await expectStatus(
    await api.request('/v1/snapshots/import', { method: 'POST', json: { path: path.join(tmp, 'no-such-layout') } }),
    [400, 404, 422],
    'import from nowhere',
  );
  await expectStatus(await api.request(`/v1/snapshots/${imported.imported[0].snapshot.id}`, { method: 'DELETE' }), 200, 'delete snapshot');
}

export async function walkImages({ api, tmp }: WalkContext): Promise<void> {
  const rootfs = path.join(tmp, 'rootfs.ext4');
  writeFileSync(rootfs, Buffer.alloc(64 * 1024));
  await expectStatus(await api.request('/v1/images', { method: 'POST', json: { path: rootfs, name: 'contract-base' } }), 201, 'add image');
  await expectStatus(await api.request('/v1/images', { method: 'POST', json: { path: 'relative/path.ext4' } }), 400, 'image path not absolute');
  await expectStatus(await api.request('/v1/images'), 200, 'list images');
}

export async function walkNetwork({ api }: WalkContext): Promise<void> {
  await expectStatus(await api.request('/v1/network'), 200, 'network');
}

/** A temp dir under the OS's, for a walk's files. */
export function walkTmp(): string {
  return mkdtempSync(path.join(os.tmpdir(), 'ignition-contract-'));
}
