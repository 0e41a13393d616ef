/**
 * The external tools of image building, found on PATH (plus the sbin directories where Debian puts
 * e2fsprogs) and run with their output captured, so a failure becomes `image_tool_failed` with
 * the tool's own last lines and a missing tool `image_tool_missing` with the package to install.
 */
import { execFile } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import path from 'node:path';
import { ImageToolFailed, ImageToolMissing } from './errors.ts';

/** The Debian package that provides each tool, for the error message. */
export const TOOL_PACKAGES: Record<string, string> = {
  mke2fs: 'e2fsprogs',
  debugfs: 'e2fsprogs',
  e2fsck: 'e2fsprogs',
  gcc: 'gcc libc6-dev',
  cc: 'gcc libc6-dev',
  ldd: 'libc-bin',
  ip: 'iproute2',
  mmdebstrap: 'mmdebstrap',
  debootstrap: 'debootstrap',
};

const EXTRA_DIRS = ['/usr/local/sbin', '/usr/sbin', '/sbin'];

/**
 * Absolute path of `tool`, or null. By default $PATH plus the sbin directories (e2fsprogs lives
 * in /usr/sbin, often not on a user's PATH); an explicit `searchPath` is used exactly (tests).
 */
export function findTool(tool: string, searchPath?: string): string | null {
  const dirs = searchPath === undefined ? [...(process.env.PATH ?? '').split(':').filter(Boolean), ...EXTRA_DIRS] : searchPath.split(':').filter(Boolean);
  for (const dir of dirs) {
    const p = path.join(dir, tool);
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      /* next */
    }
  }
  return null;
}

/** Like findTool, but throws `image_tool_missing` naming the package. */
export function requireTool(tool: string, searchPath?: string): string {
  const found = findTool(tool, searchPath);
  if (!found) {
    const pkg = TOOL_PACKAGES[tool] ?? tool;
    throw ImageToolMissing(`the image builder needs \`${tool}\`, which is not on PATH; install it: apt-get install -y ${pkg}`, {
      data: { tool, package: pkg },
    });
  }
  return found;
}

export interface RunResult {
  stdout: string;
  stderr: string;
}

/** Runs a tool; rejects with `image_tool_failed` carrying its exit code and last output lines. */
export function runTool(file: string, args: string[], options: { env?: NodeJS.ProcessEnv; cwd?: string } = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    execFile(file, args, { env: options.env ?? process.env, cwd: options.cwd, maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      if (!err) return resolve({ stdout, stderr });
      const tail = `${stderr}${stdout}`.trim().split('\n').slice(-12).join('\n');
      reject(
        ImageToolFailed(`\`${path.basename(file)} ${args.join(' ')}\` failed: ${tail || err.message}`, {
          data: { tool: file, args, exitCode: (err as { code?: unknown }).code },
          cause: err,
        }),
      );
    });
  });
}
