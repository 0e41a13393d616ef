/** benchRegistry on tiny sizes: the shape of its report and the disk facts it measures (no timings asserted). */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readdirSync, rmSync } from 'node:fs';
import { benchRegistry } from '../../scripts/bench/measure/registry.ts';
import { tempDir } from './helpers.ts';

test('benchRegistry reports rates and fork disk use, and cleans up after itself', async () => {
  const dir = tempDir();
  try {
    const r = await benchRegistry({ tmpDir: dir, sizesMiB: [2], rounds: 2, forkCounts: [1, 3], forkMemoryMiB: 4, forkTouchedMiB: 1, forkDirtyPages: 4 });
    assert.ok(r.sha256MiBPerSecond > 0);
    assert.is(r.imports.length, 1);
    assert.ok(r.imports[0].mibPerSecond > 0);
    assert.is(r.imports[0].importSeconds.length, 2, 'one import per round');
    assert.is(r.imports[0].copySeconds.length, 2, 'one plain copy per round');
    assert.ok(r.imports[0].copyMiBPerSecond > 0 && r.imports[0].ofCopy > 0 && r.imports[0].ofCopyPooled > 0);
    assert.equal(
      r.forks.runs.map((x) => x.forks),
      [1, 3],
    );
    for (const run of r.forks.runs) {
      assert.is(run.sharedDiskBytes, 0, 'forks that share the golden files cost no blob space');
      assert.ok(run.dirtyDiskBytes > 0);
      assert.ok(run.dirtyDiskBytes < run.dirtyLogicalBytes, 'holes are kept');
    }
    assert.is(r.remote, undefined);
    assert.equal(readdirSync(dir), []);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
