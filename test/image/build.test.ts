/**
 * Builds the base image here and inspects it without mounting: e2fsck finds it clean; debugfs
 * finds init, Node, its libraries, the agent bundle and the addon with the right modes and owners;
 * the content fits the budget; the reported digest is the file's; and (as root) Node runs in a
 * chroot of the unpacked tree and loads the vsock addon against the image's own libc.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { buildBaseImage, findTool, IMAGE_ADDON, IMAGE_AGENT, IMAGE_INIT, IMAGE_NODE, type BaseImage } from '../../platform/image/index.ts';
import { checkImage, statInImage, unpackImage } from '../../platform/image/inspect.ts';
import { sharedLibraries } from '../../platform/image/ldd.ts';
import { needs, reportSkip } from '../support/needs.ts';
import { agentBundle, CONTENT_BUDGET_MIB, sha256, tempDir, TEST_SIZE_MIB } from './support.ts';

const skip = needs('mke2fs', 'debugfs');
const skipRoot = skip ?? needs('root');
reportSkip('test/image/build.test.ts', skip);
reportSkip('test/image/build.test.ts (chroot)', skipRoot);

const tmp = tempDir('image-build');
const agent = agentBundle();
let image: BaseImage;

test.before(async () => {
  if (skip) return;
  image = await buildBaseImage({
    outFile: path.join(tmp.dir, 'out', 'base.ext4'),
    agentBundle: agent,
    workDir: path.join(tmp.dir, 'work'),
    sizeMiB: TEST_SIZE_MIB,
  });
});
test.after(() => tmp.cleanup());

const t = skip ? test.skip : test;

t('e2fsck -fn finds the filesystem clean', async () => {
  const out = await checkImage(image.path);
  assert.match(out, /Pass 5/);
  assert.not.match(out, /Fix\?|UNEXPECTED|corrupt/i);
});

t('the reported digest and sizes are the file’s', () => {
  assert.is(image.digest, `sha256:${sha256(image.path)}`);
  assert.is(image.sizeBytes, TEST_SIZE_MIB * 2 ** 20);
  assert.is(statSync(image.path).size, image.sizeBytes);
  assert.ok(image.contentBytes < CONTENT_BUDGET_MIB * 2 ** 20, `content ${image.contentBytes} B over budget`);
  assert.is(image.nodeVersion, process.versions.node);
});

t('/sbin/init is a root-owned executable regular file', async () => {
  const init = await statInImage(image.path, IMAGE_INIT);
  assert.ok(init, 'init missing');
  assert.is(init!.type, 'regular');
  assert.is(init!.mode, 0o755);
  assert.is(init!.uid, 0);
  assert.is(init!.gid, 0);
});

t('Node, every library it loads, the agent bundle and the addon are in place', async () => {
  const node = await statInImage(image.path, IMAGE_NODE);
  assert.is(node?.mode, 0o755);
  assert.is(node?.size, statSync(process.execPath).size);
  for (const lib of await sharedLibraries(process.execPath)) {
    assert.ok(await statInImage(image.path, lib), `${lib} missing`);
  }
  // The function runtime is bundled into agent.mjs (scripts/build.ts), so this one file is both.
  const bundle = await statInImage(image.path, IMAGE_AGENT);
  assert.is(bundle?.size, statSync(agent).size);
  assert.is((await statInImage(image.path, IMAGE_ADDON))?.type, 'regular');
  assert.ok(await statInImage(image.path, '/etc/ignition-release'));
  assert.is((await statInImage(image.path, '/tmp'))?.mode, 0o1777);
  assert.is((await statInImage(image.path, '/usr/sbin/ip'))?.mode, 0o755);
  assert.is(await statInImage(image.path, '/bin/sh'), null);
});

t('the build leaves nothing behind but the image', () => {
  assert.equal(readdirSync(path.join(tmp.dir, 'out')), ['base.ext4']);
  assert.equal(readdirSync(path.join(tmp.dir, 'work')), []);
});

(skipRoot ? test.skip : test)('Node runs in a chroot of the unpacked image and loads the vsock addon', async () => {
  const tree = path.join(tmp.dir, 'tree');
  await unpackImage(image.path, tree);
  const script = `const a = require(${JSON.stringify(IMAGE_ADDON)}); console.log(JSON.stringify({ v: process.version, cid: typeof a.localCid() }))`;
  const out = execFileSync(findTool('chroot') ?? 'chroot', [tree, IMAGE_NODE, '-e', script], { encoding: 'utf8', env: { PATH: '/usr/local/bin' } });
  assert.equal(JSON.parse(out), { v: process.version, cid: 'number' });
  // The agent re-addresses the network with `ip`; it must run against the image's libraries.
  const ip = execFileSync(findTool('chroot') ?? 'chroot', [tree, '/usr/sbin/ip', '-V'], { encoding: 'utf8', env: {} });
  assert.match(ip, 'iproute2');
});

test.run();
