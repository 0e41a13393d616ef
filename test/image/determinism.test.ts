/**
 * Same inputs, same bytes: two builds in different work and output directories give the same
 * digest; changing one input (the epoch, the agent bundle) changes it.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { cmpSync } from './cmp.ts';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { buildBaseImage, type BuildBaseImageOptions } from '../../platform/image/index.ts';
import { needs, reportSkip } from '../support/needs.ts';
import { agentBundle, tempDir, TEST_SIZE_MIB } from './support.ts';

const skip = needs('mke2fs', 'debugfs');
reportSkip('test/image/determinism.test.ts', skip);
const t = skip ? test.skip : test;
const tmp = tempDir('image-determinism');
test.after(() => tmp.cleanup());

function build(name: string, extra: Partial<BuildBaseImageOptions> = {}) {
  return buildBaseImage({
    outFile: path.join(tmp.dir, name, 'base.ext4'),
    workDir: path.join(tmp.dir, `${name}-work`),
    agentBundle: agentBundle(),
    sizeMiB: TEST_SIZE_MIB,
    ...extra,
  });
}

t('two builds from the same inputs are byte-identical', async () => {
  const a = await build('a');
  const b = await build('b');
  assert.is(a.digest, b.digest);
  assert.is(a.uuid, b.uuid);
  assert.ok(cmpSync(a.path, b.path), 'files differ');
});

t('a different epoch or agent bundle gives a different image', async () => {
  const base = await build('base');
  const epoch = await build('epoch', { epoch: 1_700_000_000 });
  assert.is.not(epoch.digest, base.digest);
  const other = path.join(tmp.dir, 'other-agent.mjs');
  writeFileSync(other, 'console.log("ignition-agent ready (other)");\n');
  const agent = await build('agent', { agentBundle: other });
  assert.is.not(agent.digest, base.digest);
  assert.is.not(agent.uuid, base.uuid);
});

test.run();
