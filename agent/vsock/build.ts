/**
 * Builds the AF_VSOCK addon (agent/vsock/src/vsock.c → agent/vsock/build/Release/vsock.node).
 *
 * Hosts never need the addon, so `npm install` does not build it; the image builder calls
 * `ensureVsockAddon()` and copies the result into the guest. The build uses the node-gyp that npm
 * bundles (no dependency to add) with `--nodedir` pointing at the headers installed beside the
 * running Node, so nothing is downloaded. Where node-gyp cannot run (no Python, say) it falls
 * back to one `cc -shared` call: an N-API addon in C needs only `node_api.h`, no libraries.
 *
 * Run by hand: `node --import tsx agent/vsock/build.ts [--force] [--cc]`.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, renameSync, rmdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { VsockBuildFailed } from './errors.ts';

/**
 * The folder holding the addon's sources (`src/vsock.c`, `binding.gyp`). Run from source that is
 * this module's own folder; bundled into the CLI (`dist/ignition.mjs`, `dist/chunks/`) it is
 * `agent/vsock/` of the package the bundle sits in, which package.json's "files" ships beside
 * dist/. The lookup walks up from `from` so both cases, and an installed package, find it.
 */
export function vsockSourceDir(from: string = path.dirname(fileURLToPath(import.meta.url))): string {
  const holds = (dir: string) => existsSync(path.join(dir, 'src', 'vsock.c')) && existsSync(path.join(dir, 'binding.gyp'));
  if (holds(from)) return from;
  for (let dir = from; ; dir = path.dirname(dir)) {
    const candidate = path.join(dir, 'agent', 'vsock');
    if (holds(candidate)) return candidate;
    if (path.dirname(dir) === dir) {
      throw VsockBuildFailed(
        `cannot find the addon's sources (agent/vsock/src/vsock.c and binding.gyp) in or above ${from}; reinstall Ignition from its repository`,
        {
          data: { from },
        },
      );
    }
  }
}

/** Where a successful build leaves the addon (`build/Release/vsock.node` beside its sources). */
export function addonOutput(sourceDir: string = vsockSourceDir()): string {
  return path.join(sourceDir, 'build', 'Release', 'vsock.node');
}

export interface BuildOptions {
  /** Rebuild even when the output is newer than the sources. */
  force?: boolean;
  /** Skip node-gyp and compile with `cc` directly. */
  method?: 'node-gyp' | 'cc';
  /** Node whose headers and npm are used (default: the running one). */
  nodeExecPath?: string;
}

/** `<prefix>/include/node` of a Node installation, when it holds node_api.h. */
export function nodeHeadersDir(nodeExecPath = process.execPath): string | null {
  const prefix = path.dirname(path.dirname(nodeExecPath));
  const dir = path.join(prefix, 'include', 'node');
  return existsSync(path.join(dir, 'node_api.h')) ? dir : null;
}

/** npm's bundled node-gyp entry point, when this Node ships npm. */
export function bundledNodeGyp(nodeExecPath = process.execPath): string | null {
  const fromEnv = process.env.npm_config_node_gyp;
  if (fromEnv && existsSync(fromEnv)) return fromEnv;
  const prefix = path.dirname(path.dirname(nodeExecPath));
  const p = path.join(prefix, 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js');
  return existsSync(p) ? p : null;
}

function upToDate(dir: string): boolean {
  const output = addonOutput(dir);
  if (!existsSync(output)) return false;
  const built = statSync(output).mtimeMs;
  return [path.join(dir, 'src', 'vsock.c'), path.join(dir, 'binding.gyp')].every((s) => statSync(s).mtimeMs <= built);
}

function run(dir: string, cmd: string, args: string[]): void {
  try {
    execFileSync(cmd, args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    const e = err as { stderr?: Buffer; stdout?: Buffer; message: string };
    const tail = `${e.stdout?.toString() ?? ''}${e.stderr?.toString() ?? ''}`.trim().split('\n').slice(-15).join('\n');
    throw VsockBuildFailed(`\`${cmd} ${args.join(' ')}\` failed in ${dir}:\n${tail || e.message}`, { cause: err });
  }
}

function buildWithCc(dir: string, headers: string): void {
  const output = addonOutput(dir);
  const tmp = `${output}.${process.pid}.tmp`;
  mkdirSync(path.dirname(output), { recursive: true });
  run(dir, process.env.CC ?? 'cc', [
    '-shared',
    '-fPIC',
    '-O2',
    '-Wall',
    '-DNAPI_VERSION=8',
    '-DNODE_GYP_MODULE_NAME=vsock',
    `-I${headers}`,
    'src/vsock.c',
    '-o',
    tmp,
  ]);
  renameSync(tmp, output);
}

/** Serialises concurrent builds (parallel test files) with a lock directory. */
async function withLock<T>(dir: string, fn: () => T): Promise<T> {
  const lock = path.join(dir, 'build.lock');
  const deadline = Date.now() + 120_000;
  for (;;) {
    try {
      mkdirSync(lock);
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      // A lock older than two minutes belongs to a build that died; take it over.
      if (Date.now() - statSync(lock).mtimeMs > 120_000 || Date.now() > deadline) break;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  try {
    return fn();
  } finally {
    try {
      rmdirSync(lock);
    } catch {
      /* already gone */
    }
  }
}

/**
 * Builds the addon unless it is up to date; returns its path. Throws `vsock_build_failed` with the
 * compiler's last lines, or naming the missing headers / compiler.
 */
export async function ensureVsockAddon(options: BuildOptions = {}): Promise<string> {
  const nodeExecPath = options.nodeExecPath ?? process.execPath;
  const dir = vsockSourceDir();
  const output = addonOutput(dir);
  return withLock(dir, () => {
    if (!options.force && upToDate(dir)) return output;
    const headers = nodeHeadersDir(nodeExecPath);
    const gyp = bundledNodeGyp(nodeExecPath);
    const method = options.method ?? (gyp ? 'node-gyp' : 'cc');
    if (method === 'node-gyp' && gyp) {
      // --nodedir keeps node-gyp offline; without local headers it downloads them from nodejs.org.
      const args = [gyp, 'rebuild', '--loglevel=warn', ...(headers ? [`--nodedir=${path.dirname(path.dirname(headers))}`] : [])];
      try {
        run(dir, nodeExecPath, args);
        return output;
      } catch (err) {
        if (!headers) throw err;
        // node-gyp needs Python; the direct compile below does not.
      }
    }
    if (!headers) {
      throw VsockBuildFailed(
        `no Node headers beside ${nodeExecPath} (looked for include/node/node_api.h) and node-gyp could not fetch them; ` +
          'install the headers of this Node (Debian: apt-get install -y libnode-dev) or run on a host with internet',
      );
    }
    buildWithCc(dir, headers);
    return output;
  });
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  ensureVsockAddon({ force: args.includes('--force'), method: args.includes('--cc') ? 'cc' : undefined }).then(
    (out) => console.log(out),
    (err) => {
      console.error(err.message);
      process.exitCode = 1;
    },
  );
}
