/**
 * The process driver hands a function a private, read-only copy of its bundle and checks it
 * against the registry's digest before the agent loads it: a blob changed on disk is never run,
 * and nothing the function does to its copy reaches the registry or another machine.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createHash } from 'node:crypto';
import { statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { ProcessDriver } from '../../platform/vmm/process/driver.ts';
import { IgnitionError } from '../../platform/errors.ts';
import { ROOT } from '../support/daemon.ts';
import { tempDir } from '../support/tmp.ts';

const dir = tempDir('pbundle-');
const blob = path.join(dir, 'blob');
writeFileSync(blob, 'export default { fetch: () => new Response("registry code") };\n');
const digest = `sha256:${createHash('sha256').update('export default { fetch: () => new Response("registry code") };\n').digest('hex')}`;
const driver = new ProcessDriver({ agentPath: path.join(ROOT, 'dist', 'agent.mjs'), sandbox: 'auto' });
const spec = (id: string) => ({
  id,
  workspace: path.join(dir, id),
  memoryMiB: 128,
  vcpus: 1,
  env: {},
  network: false,
  labels: {},
  snapshot: { bundle: blob },
  digests: { bundle: digest },
});

test('a restore runs a private read-only copy of the blob, never the blob itself', async () => {
  const m = await driver.restore(spec('vm_copy'));
  try {
    const copy = statSync(path.join(dir, 'vm_copy', 'fn', 'function.mjs'));
    const original = statSync(blob);
    assert.is.not(copy.ino, original.ino, 'not a hard link to the blob');
    assert.is(copy.mode & 0o777, 0o444, 'read-only');
    assert.is(original.nlink, 1, 'the blob has no other name in a workspace');
  } finally {
    await m.destroy();
  }
});

test('a blob changed on disk fails the restore with registry_digest_mismatch', async () => {
  writeFileSync(blob, 'export default { fetch: () => new Response("attacker code") };\n');
  try {
    await driver.restore(spec('vm_tampered'));
    assert.unreachable('the restore must fail');
  } catch (err) {
    assert.instance(err, IgnitionError);
    assert.is((err as IgnitionError).code, 'registry_digest_mismatch');
  }
});

test.after(async () => {
  await driver.close();
});

test.run();
