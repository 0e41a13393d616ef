/**
 * How the process driver confines a function: bubblewrap when it is installed, plainly otherwise
 * with a warning. docs/SECURITY.md has the threat model; this is what each bwrap argument is for.
 *
 * Inside the sandbox a function sees (and the agent serves it from):
 *   /usr, /bin, /lib…   the host's system, read-only
 *   /etc/{passwd,…}     the few files a program needs to resolve names and verify TLS, read-only;
 *                       in a network slot, /etc/resolv.conf is the slot's (writeResolvConf)
 *   /opt/ignition       the agent bundle (dist/), read-only
 *   /var/task           its own bundle, a private copy on the host, read-only (as on Lambda)
 *   /etc/ignition/extra-ca-certs.pem
 *                       with network and an operator's extra CAs only (the daemon's
 *                       IGNITION_FUNCTION_CA_CERTS or NODE_EXTRA_CA_CERTS), read-only, named by
 *                       NODE_EXTRA_CA_CERTS in the agent's environment
 *   /tmp                a tmpfs capped at `tmpMiB`, its only writable place (its pages count
 *                       against the sandbox's memory cgroup too), gone with the sandbox; the
 *                       root and /dev (bwrap's own tmpfs) are remounted read-only
 * and nothing else of the host: not the data directory, not other workspaces, not /home.
 *
 * Who it runs as: a user namespace of its own, uid/gid 65534 (nobody) inside, every capability
 * dropped, no_new_privs (bwrap sets it), no further user namespaces (--disable-userns), and a
 * seccomp filter (seccomp/). On the host the sandbox's uid is unprivileged: an uid of a dedicated
 * range when the daemon runs as root (the launcher drops to it before exec'ing bwrap, so bwrap
 * itself never holds root), the daemon's own uid when it runs as an ordinary user.
 *
 * bwrap runs as the sandbox's uid, so every path it binds must be reachable by that uid: the
 * driver keeps a copy of the agent in the workspaces directory, and a root daemon's data directory
 * lets others pass through (0711) without listing it (docs/SECURITY.md). The agent's socket is made
 * by the launcher and handed over as fd 3; the seccomp filter is read from a descriptor too.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, lstatSync, readlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { resolvConfText } from '../../network/dns.ts';

export type SandboxMode = 'bubblewrap' | 'none';

/** Where the function's bundle appears inside the sandbox. */
export const TASK_DIR = '/var/task';
/** Where the agent bundle (dist/) appears inside the sandbox. */
export const AGENT_DIR = '/opt/ignition';
/** Where Node's directory appears when it is not under /usr. */
const NODE_DIR = '/opt/node';
/** Where an operator's extra CA certificates appear inside a sandbox with network. */
export const SANDBOX_CA_CERTS = '/etc/ignition/extra-ca-certs.pem';
/** The identity inside the user namespace: nobody, which /etc/passwd names. */
export const SANDBOX_ID = 65534;

export interface SandboxSpec {
  network: boolean;
  /** Size of the sandbox's /tmp in MiB. */
  tmpMiB: number;
  /** The host's workspace: `<workspace>/fn` holds the bundle, `<workspace>/v.sock` the socket. */
  workspace: string;
  /** The agent bundle on the host, in a directory every sandbox uid can reach. */
  agentPath: string;
  nodeBinary: string;
  /** The compiled seccomp filter (seccomp/), when there is one. */
  seccomp: string | undefined;
  /** A PEM file of extra CAs, bound read-only at SANDBOX_CA_CERTS; a path every sandbox uid can reach. */
  caCerts?: string;
  /** A resolv.conf bound at /etc/resolv.conf instead of the host's (a sandbox in a network slot). */
  resolvConf?: string;
}

/** A command for the launcher: what to run and which descriptors it opens for it (fds 3, 4, …). */
export interface SandboxCommand {
  args: string[];
  fds: Array<{ listen: string } | { open: string }>;
  /** The agent's argv inside: node, its flags, the agent. */
  node: string;
  agent: string;
}

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

/** /bin, /lib…: merged-/usr systems have /bin -> usr/bin, recreated as links rather than bound twice. */
function rootLinks(): string[] {
  const args: string[] = [];
  for (const dir of ROOT_DIRS) {
    if (!existsSync(dir)) continue;
    if (lstatSync(dir).isSymbolicLink()) args.push('--symlink', readlinkSync(dir), dir);
    else args.push('--ro-bind', dir, dir);
  }
  return args;
}

/**
 * Writes the resolv.conf of a sandbox in a network slot into its workspace (readable by its uid,
 * like the bundle beside it) and returns its path: the slot's name servers (platform/network/dns.ts).
 */
export function writeResolvConf(workspace: string, servers: readonly string[]): string {
  const file = path.join(workspace, 'resolv.conf');
  writeFileSync(file, resolvConfText(servers));
  // Whatever the daemon's umask: the sandbox's uid reads it.
  chmodSync(file, 0o644);
  return file;
}

/** bwrap's arguments (before `--`), the descriptors the launcher opens for them, and the agent's paths inside. */
export function sandboxCommand(spec: SandboxSpec): SandboxCommand {
  const fds: SandboxCommand['fds'] = [{ listen: path.join(spec.workspace, 'v.sock') }];
  const fd = (entry: SandboxCommand['fds'][number]) => String(3 + fds.push(entry) - 1);
  const args = ['--ro-bind', '/usr', '/usr', ...rootLinks()];
  for (const f of ETC_FILES) {
    if (f === '/etc/resolv.conf' && spec.resolvConf) args.push('--ro-bind', spec.resolvConf, f);
    else if (existsSync(f)) args.push('--ro-bind', f, f);
  }
  if (spec.caCerts) args.push('--ro-bind', spec.caCerts, SANDBOX_CA_CERTS);
  let node = spec.nodeBinary;
  if (!node.startsWith('/usr/')) {
    args.push('--ro-bind', path.dirname(node), NODE_DIR);
    node = path.join(NODE_DIR, path.basename(node));
  }
  args.push(
    '--dev',
    '/dev',
    '--proc',
    '/proc',
    '--size',
    String(spec.tmpMiB * 1024 * 1024),
    '--tmpfs',
    '/tmp',
    '--ro-bind',
    path.dirname(spec.agentPath),
    AGENT_DIR,
    '--ro-bind',
    path.join(spec.workspace, 'fn'),
    TASK_DIR,
    '--unshare-user',
    '--uid',
    String(SANDBOX_ID),
    '--gid',
    String(SANDBOX_ID),
    '--disable-userns',
    '--unshare-pid',
    '--unshare-ipc',
    '--unshare-uts',
    '--unshare-cgroup-try',
    '--cap-drop',
    'ALL',
    '--die-with-parent',
    // No --new-session: the launcher starts bwrap as a session of its own (setsid before the exec,
    // the same protection against input pushed into a terminal), so that it can set the session's
    // scheduling group before the sandbox runs (spawner.ts).
    '--chdir',
    TASK_DIR,
    // Last, once every mount point exists: bwrap's own tmpfs root and /dev would otherwise be
    // writable by the sandbox, uncapped (/dev/shm included).
    '--remount-ro',
    '/dev',
    '--remount-ro',
    '/',
  );
  if (spec.seccomp) args.push('--seccomp', fd({ open: spec.seccomp }));
  if (!spec.network) args.push('--unshare-net');
  return { args, fds, node, agent: path.join(AGENT_DIR, path.basename(spec.agentPath)) };
}

/**
 * Whether bwrap can make a user namespace as `uid` here (unprivileged user namespaces may be
 * disabled: a sysctl, or an AppArmor policy on Ubuntu) and that uid can reach Node (not under a
 * home directory only its owner may enter). Runs one sandbox with `node -e 0`, about 50 ms.
 */
export function probeSandbox(bwrap: string, nodeBinary: string, ids: { uid?: number; gid?: number }): string | null {
  const nodeDir = path.dirname(nodeBinary);
  const bindNode = nodeDir.startsWith('/usr/') ? [] : ['--ro-bind', nodeDir, nodeDir];
  try {
    execFileSync(
      bwrap,
      [
        '--ro-bind',
        '/usr',
        '/usr',
        ...rootLinks(),
        ...bindNode,
        '--proc',
        '/proc',
        '--dev',
        '/dev',
        '--unshare-user',
        '--unshare-pid',
        '--disable-userns',
        '--cap-drop',
        'ALL',
        '--',
        nodeBinary,
        '-e',
        '0',
      ],
      {
        stdio: ['ignore', 'ignore', 'pipe'],
        uid: ids.uid,
        gid: ids.gid,
        timeout: 10_000,
      },
    );
    return null;
  } catch (err) {
    const stderr = (err as { stderr?: Buffer }).stderr?.toString().trim();
    return stderr || (err as Error).message;
  }
}
