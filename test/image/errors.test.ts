/**
 * The builder's failures are typed and leave nothing half-written: a missing mke2fs or compiler,
 * a missing agent bundle, a size too small, and a tool that dies mid-write (a stand-in mke2fs
 * that writes half a file and exits 1) all leave the previous image untouched and no temp files.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { chmodSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import {
  buildBaseImage,
  findTool,
  ImageInputMissing,
  ImageInvalidOption,
  ImageTooSmall,
  ImageToolFailed,
  ImageToolMissing,
  type BuildBaseImageOptions,
} from '../../platform/image/index.ts';
import { needs, reportSkip } from '../support/needs.ts';
import { agentBundle, tempDir, TEST_SIZE_MIB } from './support.ts';

const skip = needs('mke2fs', 'debugfs');
reportSkip('test/image/errors.test.ts', skip);
const t = skip ? test.skip : test;
const tmp = tempDir('image-errors');
test.after(() => tmp.cleanup());

const outDir = path.join(tmp.dir, 'out');
const outFile = path.join(outDir, 'base.ext4');
const workDir = path.join(tmp.dir, 'work');

function options(extra: Partial<BuildBaseImageOptions> = {}): BuildBaseImageOptions {
  return { outFile, workDir, agentBundle: agentBundle(), sizeMiB: TEST_SIZE_MIB, ...extra };
}

/** Runs a failing build and checks the previous image survived and no scratch is left. */
async function expectFailure(opts: BuildBaseImageOptions, is: (err: unknown) => boolean, message: RegExp) {
  mkdirSync(outDir, { recursive: true });
  writeFileSync(outFile, 'previous image');
  const err = await buildBaseImage(opts).then(
    () => null,
    (e: unknown) => e,
  );
  assert.ok(err, 'the build should have failed');
  assert.ok(is(err), `unexpected error: ${(err as Error).stack}`);
  assert.match((err as Error).message, message);
  assert.is(readFileSync(outFile, 'utf8'), 'previous image');
  assert.equal(readdirSync(outDir), ['base.ext4']);
  assert.equal(
    readdirSync(workDir, { withFileTypes: true }).filter((e) => e.isDirectory()),
    [],
  );
}

/** A directory of symlinks to the real tools, minus `without`. */
function toolDir(name: string, tools: string[]): string {
  const dir = path.join(tmp.dir, name);
  mkdirSync(dir, { recursive: true });
  for (const tool of tools) {
    const real = findTool(tool);
    if (real) symlinkSync(real, path.join(dir, tool));
  }
  return dir;
}

t('no mke2fs: image_tool_missing naming the package', async () => {
  mkdirSync(workDir, { recursive: true });
  await expectFailure(options({ searchPath: toolDir('no-mke2fs', ['debugfs', 'gcc']) }), ImageToolMissing.is, /mke2fs.*apt-get install -y e2fsprogs/);
});

t('no C compiler for /sbin/init: image_tool_missing, scratch removed', async () => {
  await expectFailure(options({ searchPath: toolDir('no-gcc', ['mke2fs', 'debugfs']) }), ImageToolMissing.is, /gcc libc6-dev/);
});

t('no agent bundle: image_input_missing that says how to build it', async () => {
  await expectFailure(options({ agentBundle: path.join(tmp.dir, 'nope.mjs') }), ImageInputMissing.is, /npm run build/);
});

t('a size that cannot hold the contents: image_too_small with the minimum', async () => {
  await expectFailure(options({ sizeMiB: 64 }), ImageTooSmall.is, /use at least \d+/);
});

t('bad options are rejected before any work', async () => {
  await expectFailure(options({ sizeMiB: 1.5 }), ImageInvalidOption.is, /sizeMiB/);
  await expectFailure(options({ epoch: -1 }), ImageInvalidOption.is, /epoch/);
});

t('mke2fs dying mid-write leaves the previous image and no partial file', async () => {
  const dir = toolDir('broken-mke2fs', ['debugfs', 'gcc']);
  const fake = path.join(dir, 'mke2fs');
  // Writes to the output path it was given (the argument before the size), then fails.
  writeFileSync(fake, '#!/bin/sh\nfor a; do prev="$cur"; cur="$a"; done\nhead -c 4096 /dev/zero > "$prev"\necho "mke2fs: simulated failure" >&2\nexit 1\n');
  chmodSync(fake, 0o755);
  await expectFailure(options({ searchPath: dir }), ImageToolFailed.is, /simulated failure/);
});

test.run();
