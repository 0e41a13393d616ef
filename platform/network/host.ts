/**
 * Runs network scripts on the host, and reads what exists there.
 *
 * The only module that spawns processes for networking. A script (scripts.ts) runs in one `sh`
 * whose network namespace is "the host": the real one in production, or, when `hostNetns` is
 * given, a namespace that plays the host (tests and development), entered with `nsenter --net`
 * only — not `ip netns exec`, whose private mount namespace would hide the slot namespaces that
 * `ip netns add` bind-mounts under /run/netns.
 */
import { spawn } from 'node:child_process';
import { accessSync, constants, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { NetCommandFailed, NetNotPermitted, NetToolsMissing } from './errors.ts';

export const NETNS_DIR = '/run/netns';

export interface HostShellOptions {
  /** Run host-side commands inside this named network namespace instead of the real host's. */
  hostNetns?: string;
}

export interface RunOptions {
  /** Stderr lines that do not count as failure (teardown's "already gone"). */
  tolerate?: RegExp[];
}

/** Runs scripts; `exec` may be replaced in tests to inject a failure before the real thing. */
export interface HostShell {
  readonly hostNetns: string | undefined;
  run(label: string, script: string, opts?: RunOptions): Promise<{ stdout: string; stderr: string }>;
}

/** The real shell runner. */
export function createHostShell(opts: HostShellOptions = {}): HostShell {
  const argv = opts.hostNetns ? ['nsenter', `--net=${path.join(NETNS_DIR, opts.hostNetns)}`, 'sh', '-e', '-s'] : ['sh', '-e', '-s'];
  return {
    hostNetns: opts.hostNetns,
    run(label, script, runOpts = {}) {
      return new Promise((resolve, reject) => {
        const child = spawn(argv[0], argv.slice(1), { stdio: ['pipe', 'pipe', 'pipe'] });
        let stdout = '';
        let stderr = '';
        child.stdout.on('data', (d: Buffer) => (stdout += d));
        child.stderr.on('data', (d: Buffer) => (stderr += d));
        child.stdin.on('error', () => {}); // a shell that dies early closes its stdin; the exit code tells
        child.on('error', (cause) => reject(NetCommandFailed(`could not start the shell for "${label}".`, { cause, data: { label } })));
        child.on('close', (code, signal) => {
          if (code === 0) return resolve({ stdout, stderr });
          const lines = stderr.split('\n').filter((l) => l.trim() !== '');
          const tolerated = runOpts.tolerate;
          if (code === 1 && tolerated && lines.every((l) => tolerated.some((re) => re.test(l)))) return resolve({ stdout, stderr });
          reject(
            NetCommandFailed(
              `network step "${label}" failed: ${
                lines
                  .filter((l) => !l.startsWith('Command failed'))
                  .slice(-3)
                  .join('; ') || `exit ${code ?? signal}`
              }`,
              {
                data: { label, exitCode: code, signal, stderr: stderr.slice(-2000), script, hostNetns: opts.hostNetns ?? null },
              },
            ),
          );
        });
        child.stdin.end(script);
      });
    },
  };
}

function onPath(bin: string): boolean {
  for (const dir of (process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin').split(':')) {
    try {
      accessSync(path.join(dir || '.', bin), constants.X_OK);
      return true;
    } catch {
      /* next */
    }
  }
  return false;
}

/**
 * Checks, without spawning anything, that the tools exist and the process may use them. Throws
 * `net_tools_missing` (naming the packages to install) or `net_not_permitted`; the daemon then
 * runs without networking (the process driver does not need it).
 */
export function checkHostTools(): void {
  const need: Array<[string, string]> = [
    ['ip', 'iproute2'],
    ['nft', 'nftables'],
    ['nsenter', 'util-linux'],
    ['sh', 'dash'],
  ];
  const missing = need.filter(([bin]) => !onPath(bin));
  if (missing.length) {
    throw NetToolsMissing(
      `host networking needs ${missing.map(([b]) => b).join(', ')} on PATH: apt-get install -y ${[...new Set(missing.map(([, p]) => p))].join(' ')}.`,
      { data: { missing: missing.map(([b]) => b) } },
    );
  }
  // CAP_NET_ADMIN (12) for links and nft, CAP_SYS_ADMIN (21) for `ip netns add` (a bind mount).
  const capEff = /^CapEff:\s*([0-9a-f]+)$/m.exec(readFileSync('/proc/self/status', 'utf8'))?.[1];
  const caps = capEff ? BigInt(`0x${capEff}`) : 0n;
  const lacking = [
    ['CAP_NET_ADMIN', 12n],
    ['CAP_SYS_ADMIN', 21n],
  ].filter(([, bit]) => !(caps & (1n << (bit as bigint))));
  if (lacking.length) {
    throw NetNotPermitted(`host networking needs ${lacking.map(([n]) => n).join(' and ')}: run the daemon as root.`, {
      data: { lacking: lacking.map(([n]) => n) },
    });
  }
}

/** Names of the named network namespaces (a directory listing, no process). */
export function listNetns(): string[] {
  try {
    return readdirSync(NETNS_DIR);
  } catch {
    return [];
  }
}

/** Names of the links in the host namespace (one `ip -j link show`). */
export async function listHostLinks(shell: HostShell): Promise<string[]> {
  const { stdout } = await shell.run('list host links', 'ip -j link show\n');
  return (JSON.parse(stdout || '[]') as Array<{ ifname: string }>).map((l) => l.ifname);
}
