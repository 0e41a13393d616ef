/**
 * Compiles the guest's PID 1 (./init/init.c) into a static binary.
 *
 * Why a static C program and not a shell script or a Node script: it must work before anything
 * else exists (no dynamic loader lookup, no /bin/sh in the image), start in microseconds (it sits
 * on the cold-boot path the snapshot hides but the bench measures), and never exit. This needs
 * gcc and glibc's static archive (Debian: gcc + libc6-dev), present on any machine that can build
 * the vsock addon. A prebuilt init can be passed instead (`initBinary`).
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ImageInputMissing, ImageToolMissing } from './errors.ts';
import { findTool, runTool } from './tools.ts';

/**
 * The init's source file, shipped in the package. Run from source it sits beside this module; the
 * bundled CLI (`dist/ignition.mjs`, `dist/chunks/`) finds `platform/image/init/init.c` of the
 * package it belongs to by walking up, since a bundle keeps no folder of its own sources.
 */
export function initSource(from: string = path.dirname(fileURLToPath(import.meta.url))): string {
  const beside = path.join(from, 'init', 'init.c');
  if (existsSync(beside)) return beside;
  for (let dir = from; ; dir = path.dirname(dir)) {
    const candidate = path.join(dir, 'platform', 'image', 'init', 'init.c');
    if (existsSync(candidate)) return candidate;
    if (path.dirname(dir) === dir) {
      throw ImageInputMissing(`cannot find the guest init's source (platform/image/init/init.c) in or above ${from}; reinstall Ignition from its repository`, {
        data: { from },
      });
    }
  }
}

/** Compiles init.c to `outFile` (static, stripped). Throws `image_tool_missing` without gcc/libc.a. */
export async function compileInit(outFile: string, searchPath?: string): Promise<string> {
  const cc = findTool('gcc', searchPath) ?? findTool('cc', searchPath);
  if (!cc) {
    throw ImageToolMissing('the image builder compiles /sbin/init with a C compiler, and none is on PATH; install one: apt-get install -y gcc libc6-dev', {
      data: { tool: 'gcc', package: 'gcc libc6-dev' },
    });
  }
  const source = initSource();
  try {
    await runTool(cc, ['-static', '-s', '-O2', '-Wall', '-o', outFile, source]);
  } catch (err) {
    if (/cannot find -lc|static/i.test((err as Error).message)) {
      throw ImageToolMissing(
        `${path.basename(cc)} cannot link /sbin/init statically (no libc.a); install glibc's static archive: apt-get install -y libc6-dev`,
        { data: { tool: 'libc.a', package: 'libc6-dev' }, cause: err },
      );
    }
    throw err;
  }
  if (!existsSync(outFile)) throw ImageToolMissing(`${cc} produced no ${outFile}`);
  return outFile;
}
