import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { chmodSync, rmSync, truncateSync, openSync, readSync, writeSync, closeSync } from 'node:fs';
import { randomFile, tempRegistry, type TempRegistry } from './helpers.ts';

let t: TempRegistry;
test.before.each(() => {
  t = tempRegistry();
});
test.after.each(() => t.cleanup());

test('verify reports corrupt, truncated and missing blobs and the snapshots they break', async () => {
  const a = await t.registry.createSnapshot({ name: 'a', kind: 'golden', driver: 'process', files: { memory: randomFile(t.dir, 'a', 40_000) } });
  const b = await t.registry.createSnapshot({ name: 'b', kind: 'golden', driver: 'process', files: { memory: randomFile(t.dir, 'b', 40_000) } });
  const c = await t.registry.createSnapshot({ name: 'c', kind: 'golden', driver: 'process', files: { memory: randomFile(t.dir, 'c', 40_000) } });
  const d = await t.registry.createSnapshot({ name: 'd', kind: 'golden', driver: 'process', files: { memory: randomFile(t.dir, 'd', 40_000) } });
  assert.ok((await t.registry.verify()).ok);

  // Flip one byte in a's blob, truncate b's, delete c's; d stays intact.
  const pa = t.registry.blobs.path(a.files.memory.digest);
  chmodSync(pa, 0o644);
  // Invert the byte rather than write a fixed value: random content holds any fixed value at
  // that offset one time in 256, and then nothing would change (this flaked once in CI).
  const fd = openSync(pa, 'r+');
  const byte = Buffer.alloc(1);
  readSync(fd, byte, 0, 1, 1234);
  byte[0] = byte[0]! ^ 0xff;
  writeSync(fd, byte, 0, 1, 1234);
  closeSync(fd);
  const pb = t.registry.blobs.path(b.files.memory.digest);
  chmodSync(pb, 0o644);
  truncateSync(pb, 1000);
  rmSync(t.registry.blobs.path(c.files.memory.digest));

  const report = await t.registry.verify();
  assert.not.ok(report.ok);
  assert.equal(report.corrupt.map((p) => p.digest).sort(), [a.files.memory.digest, b.files.memory.digest].sort());
  assert.equal(
    report.missing.map((p) => p.digest),
    [c.files.memory.digest],
  );
  assert.equal(report.broken, [a.id, b.id, c.id].sort());
  assert.not.ok(report.broken.includes(d.id));
  assert.is(report.corrupt.find((p) => p.digest === b.files.memory.digest)?.size, 1000);
});

test.run();
