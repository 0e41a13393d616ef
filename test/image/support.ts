/**
 * Shared by the image tests: which agent bundle to put in the image (the real dist/agent.mjs when
 * `npm run build` has run, else a small stand-in that prints the same ready line, reported on
 * stdout so a log says which one was tested), temp dirs, and file digests.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = fileURLToPath(new URL('../../', import.meta.url));

/** dist/agent.mjs if built, else the fixture; logs which. */
export function agentBundle(): string {
  const real = path.join(repo, 'dist', 'agent.mjs');
  if (existsSync(real)) return real;
  console.log('NOTE image tests use test/image/fixtures/agent.mjs: dist/agent.mjs is not built (npm run build)');
  return path.join(repo, 'test', 'image', 'fixtures', 'agent.mjs');
}

export function tempDir(prefix: string): { dir: string; cleanup(): void } {
  const dir = mkdtempSync(path.join(os.tmpdir(), `ignition-${prefix}-`));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export function sha256(file: string): string {
  return createHash('sha256').update(readFileSync(file)).digest('hex');
}

/** Content budget of the base image: Node (~95 MiB) + libraries + agent + addon + init. */
export const CONTENT_BUDGET_MIB = 160;
/** The filesystem size the tests build (sparse). */
export const TEST_SIZE_MIB = 256;
