/**
 * The console's static files (dist/console/: the client script with uPlot bundled in, and the
 * stylesheet), built by scripts/build.ts and shipped in the package, so the console needs no
 * CDN and works offline.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ASSET_TYPES: Record<string, string> = {
  'console.js': 'text/javascript; charset=utf-8',
  'console.css': 'text/css; charset=utf-8',
};

/** dist/console wherever this module was bundled (dist/, dist/chunks/) or run from (platform/console/). */
export function locateAssets(): string | undefined {
  const here = path.dirname(fileURLToPath(import.meta.url));
  for (const dir of [path.join(here, 'console'), path.join(here, '..', 'console'), path.join(here, '..', '..', 'dist', 'console')]) {
    if (existsSync(path.join(dir, 'console.js'))) return dir;
  }
  return undefined;
}

/** Reads the files once: they change only with a new build, which means a new daemon. */
export function loadAssets(): Map<string, Buffer> {
  const dir = locateAssets();
  const out = new Map<string, Buffer>();
  if (!dir) return out;
  for (const name of Object.keys(ASSET_TYPES)) {
    const file = path.join(dir, name);
    if (existsSync(file)) out.set(name, readFileSync(file));
  }
  return out;
}
