/**
 * The bench helpers work: the image size is read from disk (sparse: allocated below apparent) and
 * the agent start-up timer sees the ready line of a real agent process (dist/agent.mjs when built,
 * else the fixture that prints the same line). Figures are printed, never asserted against a time.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import path from 'node:path';
import { measureAgentStartup, measureImageSize } from '../../scripts/bench/measure/image.ts';
import { buildBaseImage } from '../../platform/image/index.ts';
import { needs, reportSkip } from '../support/needs.ts';
import { agentBundle, tempDir } from './support.ts';

const skip = needs('mke2fs', 'debugfs');
reportSkip('test/image/bench.test.ts', skip);
const tmp = tempDir('image-bench');
test.after(() => tmp.cleanup());

(skip ? test.skip : test)('measureImageSize reports apparent and allocated bytes of a sparse image', async () => {
  const image = await buildBaseImage({ outFile: path.join(tmp.dir, 'base.ext4'), workDir: path.join(tmp.dir, 'w'), agentBundle: agentBundle(), sizeMiB: 256 });
  const size = measureImageSize(image.path);
  console.log(`bench: image ${size.apparentBytes} B apparent, ${size.allocatedBytes} B allocated`);
  assert.is(size.apparentBytes, 256 * 2 ** 20);
  assert.ok(size.allocatedBytes >= image.contentBytes * 0.9 && size.allocatedBytes < size.apparentBytes);
});

test('measureAgentStartup times a real agent process to its ready line', async () => {
  const r = await measureAgentStartup({ agentBundle: agentBundle(), runs: 2 });
  console.log(`bench: agent start-up to ready ${r.samplesMs.join(', ')} ms`);
  assert.is(r.samplesMs.length, 2);
  assert.ok(r.samplesMs.every((ms) => ms > 0));
  assert.ok(r.minMs <= r.medianMs && r.medianMs <= r.maxMs);
});

test('measureAgentStartup rejects when the agent dies before ready', async () => {
  const bad = path.join(tmp.dir, 'bad.mjs');
  (await import('node:fs')).writeFileSync(bad, 'process.exit(3)\n');
  const err = await measureAgentStartup({ agentBundle: bad, runs: 1 }).then(
    () => null,
    (e: Error) => e,
  );
  assert.match(err?.message ?? '', /exited \(3\) before ready/);
});

test.run();
