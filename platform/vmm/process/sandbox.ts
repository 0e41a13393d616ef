/**
 * How the process driver confines a function: bubblewrap when it is installed (no network unless
 * granted, a root made only of the system's read-only /usr and the machine's workspace, private
 * /tmp, /proc and /dev, new session, killed with its parent), plainly otherwise with a warning.
 *
 * The host's data directory, home directories and /etc are not visible inside; only the few /etc
 * files a program needs to resolve names and verify TLS are bound, read-only.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, lstatSync, readlinkSync } from 'node:fs';
import path from 'node:path';

export interface SandboxSpec {
  /** Directory the process may write (its workspace). */
  workspace: string;
  /** Read-only directory holding the agent bundle. */
  agentDir: string;
  network: boolean;
}

export type SandboxMode = 'bubblewrap' | 'none';

let bwrapPath: string | null | undefined;

/** The bwrap binary, or null when it is not installed (checked once). */
export function findBwrap(): string | null {
  if (bwrapPath !== undefined) return bwrapPath;
  try {
    bwrapPath = execFileSync('sh', ['-c', 'command -v bwrap'], { encoding: 'utf8' }).trim() || null;
  } catch {
    bwrapPath = null;
  }
  return bwrapPath;
}

const ETC_FILES = ['/etc/resolv.conf', '/etc/hosts', '/etc/nsswitch.conf', '/etc/localtime', '/etc/ssl', '/etc/ca-certificates', '/etc/passwd', '/etc/group'];
const ROOT_DIRS = ['/bin', '/sbin', '/lib', '/lib64', '/lib32'];

/** bwrap's arguments (before `--` and the command). Computed from the host's layout. */
export function bwrapArgs(spec: SandboxSpec, nodeBinary: string): string[] {
  const args = ['--ro-bind', '/usr', '/usr'];
  for (const dir of ROOT_DIRS) {
    if (!existsSync(dir)) continue;
    const st = lstatSync(dir);
    // Merged-/usr systems have /bin -> usr/bin: recreate the link, do not bind twice.
    if (st.isSymbolicLink()) args.push('--symlink', readlinkSync(dir), dir);
    else args.push('--ro-bind', dir, dir);
  }
  for (const f of ETC_FILES) if (existsSync(f)) args.push('--ro-bind', f, f);
  const nodeDir = path.dirname(nodeBinary);
  if (!nodeDir.startsWith('/usr/')) args.push('--ro-bind', nodeDir, nodeDir);
  // /dev, /proc and /tmp first: a later bind may live below /tmp (tests use temp dirs).
  args.push(
    '--dev', '/dev',
    '--proc', '/proc',
    '--tmpfs', '/tmp',
    '--ro-bind', spec.agentDir, spec.agentDir,
    '--bind', spec.workspace, spec.workspace,
    '--unshare-pid', '--unshare-ipc', '--unshare-uts', '--unshare-cgroup-try',
    '--die-with-parent',
    // No --new-session: the launcher starts bwrap as a session of its own (setsid before the exec,
    // the same protection against input pushed into the daemon's terminal), so that it can set the
    // session's scheduling group before the sandbox runs (spawner.ts).
    '--chdir', spec.workspace,
  );
  if (!spec.network) args.push('--unshare-net');
  return args;
}
