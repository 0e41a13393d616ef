/**
 * Builds the shipped files with esbuild:
 *   dist/ignition.mjs  the CLI and daemon (one file, so `ignition` starts fast; the daemon's modules
 *                      are split into chunks loaded only by `ignition daemon`)
 *   dist/agent.mjs     the guest agent with the function runtime
 *   dist/console/      the web console's browser script (uPlot bundled in) and stylesheet, served
 *                      by the daemon at /console/assets/ (no CDN: the console works offline)
 * Native and platform-specific packages (better-sqlite3, esbuild) stay external.
 */
import { build } from 'esbuild';
import { copyFileSync, renameSync, rmSync } from 'node:fs';
import { ensureSeccompFilter } from '../platform/vmm/process/seccomp/index.ts';

const common = {
  bundle: true,
  platform: 'node' as const,
  format: 'esm' as const,
  target: 'node20',
  sourcemap: 'linked' as const,
  logLevel: 'warning' as const,
  // ESM output still meets CommonJS dependencies that call require(); give them one.
  banner: { js: "import { createRequire as __ignitionRequire } from 'node:module'; const require = __ignitionRequire(import.meta.url);" },
};

// Build beside dist/ and swap it in, so processes started from dist/ meanwhile (tests, a running
// daemon spawning agents) never see a half-empty folder.
const out = `dist.tmp-${process.pid}`;
rmSync(out, { recursive: true, force: true });
await Promise.all([
  build({
    ...common,
    entryPoints: { ignition: 'platform/cli/main.ts' },
    outdir: out,
    outExtension: { '.js': '.mjs' },
    splitting: true,
    chunkNames: 'chunks/[name]-[hash]',
    external: ['better-sqlite3', 'esbuild'],
  }),
  build({ ...common, entryPoints: ['agent/main.ts'], outfile: `${out}/agent.mjs` }),
  build({
    entryPoints: ['platform/console/client/console.ts', 'platform/console/client/console.css'],
    bundle: true,
    platform: 'browser',
    format: 'esm',
    target: ['chrome111', 'firefox111', 'safari16'],
    minify: true,
    logLevel: 'warning',
    outdir: `${out}/console`,
    entryNames: '[name]',
  }),
]);
// The sandbox's seccomp filter, built in a cache so only a change to filter.c recompiles it; a host
// without cc or libseccomp-dev still builds, without it.
const seccomp = ensureSeccompFilter('node_modules/.cache/ignition-seccomp');
if ('path' in seccomp) copyFileSync(seccomp.path, `${out}/seccomp.bpf`);
else console.warn(`warning: no dist/seccomp.bpf: ${seccomp.reason} (to build it: ${seccomp.fix})`);
rmSync('dist', { recursive: true, force: true });
renameSync(out, 'dist');
