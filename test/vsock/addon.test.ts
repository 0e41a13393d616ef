/**
 * The AF_VSOCK addon's build and loader, and the Node-version pin. Runs on any Linux host with a C
 * compiler and Node's headers (no AF_VSOCK needed).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync } from 'node:fs';
import { ensureVsockAddon, nodeHeadersDir } from '../../agent/vsock/build.ts';
import {
  addonCandidates,
  BUILD_COMMAND,
  checkNodeVersion,
  loadVsockAddon,
  PINNED_NODE_MAJOR,
  VsockAddonMissing,
  VsockNodeUnsupported,
} from '../../agent/vsock/index.ts';
import { reportSkip } from '../support/needs.ts';

const noHeaders = nodeHeadersDir() ? null : 'needs the headers of this Node (include/node/node_api.h): apt-get install -y libnode-dev';
const skipBuild = noHeaders;
reportSkip('test/vsock/addon.test.ts', skipBuild);

test('a missing addon is a typed error naming the paths and the build command', () => {
  try {
    loadVsockAddon(['/nonexistent/ignition/vsock.node']);
    assert.unreachable('should have thrown');
  } catch (err) {
    assert.ok(VsockAddonMissing.is(err));
    assert.match((err as Error).message, '/nonexistent/ignition/vsock.node');
    assert.match((err as Error).message, BUILD_COMMAND);
  }
});

test('IGNITION_VSOCK_ADDON comes first, then the file beside the module, then node-gyp output', () => {
  const c = addonCandidates({ IGNITION_VSOCK_ADDON: '/opt/ignition/vsock.node' });
  assert.is(c[0], '/opt/ignition/vsock.node');
  assert.ok(c[1].endsWith('/agent/vsock/vsock.node'));
  assert.ok(c[2].endsWith('/agent/vsock/build/Release/vsock.node'));
});

test('the Node major is pinned: another major fails with a clear message', () => {
  checkNodeVersion(`${PINNED_NODE_MAJOR}.1.0`);
  try {
    checkNodeVersion(`${PINNED_NODE_MAJOR + 2}.0.0`);
    assert.unreachable('should have thrown');
  } catch (err) {
    assert.ok(VsockNodeUnsupported.is(err));
    assert.match((err as Error).message, `verified on Node ${PINNED_NODE_MAJOR}.x`);
  }
});

test('this test host runs the pinned Node', () => {
  assert.is(Number(process.versions.node.split('.')[0]), PINNED_NODE_MAJOR);
});

(skipBuild ? test.skip : test)('the addon builds with node-gyp and exports the documented functions', async () => {
  const out = await ensureVsockAddon();
  assert.ok(existsSync(out));
  const addon = loadVsockAddon([out]);
  for (const fn of ['listen', 'connect', 'localAddress', 'localCid', 'closeFd', 'setRealtime', 'addEntropy'] as const) {
    assert.type(addon[fn], 'function', fn);
  }
  assert.is(addon.VMADDR_CID_ANY, 0xffffffff);
  assert.type(addon.localCid(), 'number');
});

(skipBuild ? test.skip : test)('argument errors are TypeErrors, not crashes', async () => {
  const addon = loadVsockAddon([await ensureVsockAddon()]);
  assert.throws(() => addon.listen('52' as unknown as number, 1), /port must be an unsigned 32-bit integer/);
  assert.throws(() => addon.closeFd(undefined as unknown as number), /fd must be/);
});

// setRealtime and addEntropy change machine-wide state (the clock, the kernel RNG), so on a test
// host only their argument checks run; they are exercised inside guests by the agent's restore.
(skipBuild ? test.skip : test)('setRealtime and addEntropy reject bad arguments before any syscall', async () => {
  const addon = loadVsockAddon([await ensureVsockAddon()]);
  assert.throws(() => addon.setRealtime(-5), /non-negative number/);
  assert.throws(() => addon.setRealtime('now' as unknown as number), /non-negative number/);
  assert.throws(() => addon.addEntropy(Buffer.alloc(0)), /1\.\.4096 bytes/);
  assert.throws(() => addon.addEntropy(Buffer.alloc(5000)), /1\.\.4096 bytes/);
  assert.throws(() => addon.addEntropy('abc' as unknown as Buffer), /Buffer/);
});

test.run();
