/**
 * `ignition doctor`: checks this host for each driver and says what is missing and the command
 * that fixes it. Runs locally (it inspects the machine, not the daemon). Exits non-zero when the
 * configured driver cannot run here.
 */
import { Option } from 'clipanion';
import { execFileSync } from 'node:child_process';
import { accessSync, constants, mkdirSync } from 'node:fs';
import { BaseCommand } from '../base.ts';
import { printJson } from '../output.ts';
import type { NetworkSettings } from '../../network/attach.ts';

/** `advice`: not in force, but the driver runs without it (a limit the host cannot give). */
type Check = { name: string; ok: boolean; detail: string; fix?: string; advice?: boolean };

function onPath(bin: string): string | null {
  try {
    return execFileSync('sh', ['-c', `command -v ${bin}`], { encoding: 'utf8' }).trim() || null;
  } catch {
    return null;
  }
}

export class DoctorCommand extends BaseCommand {
  static paths = [['doctor']];
  static usage = BaseCommand.Usage({ description: 'Check this host for the process and Firecracker drivers and say how to fix what is missing' });
  config = Option.String('--config');

  async run() {
    const { loadConfig } = await import('../../config/load.ts');
    const { firecrackerChecks } = await import('../../vmm/select.ts');
    const { reflinkWorks } = await import('../../vmm/firecracker/disk.ts');
    const { diffSnapshotsOn } = await import('../../vmm/firecracker/options.ts');
    const { config } = await loadConfig({ file: this.config });
    const major = Number(process.versions.node.split('.')[0]);
    const general: Check[] = [
      {
        name: 'node',
        ok: major === 20,
        detail: `Node ${process.versions.node}`,
        fix: major === 20 ? undefined : 'install Node 20 (the guest vsock addon is pinned to it)',
      },
      (() => {
        try {
          mkdirSync(config.dataDir, { recursive: true });
          accessSync(config.dataDir, constants.W_OK);
          return { name: 'data dir', ok: true, detail: `${config.dataDir} is writable` };
        } catch {
          return { name: 'data dir', ok: false, detail: `${config.dataDir} is not writable`, fix: `set IGNITION_DATA_DIR to a writable directory` };
        }
      })(),
    ];
    const bwrap = onPath('bwrap');
    const processChecks: Check[] = [
      bwrap
        ? { name: 'bubblewrap', ok: true, detail: bwrap }
        : {
            name: 'bubblewrap',
            ok: config.sandbox !== 'bubblewrap',
            detail: 'not installed: functions would run unsandboxed',
            fix: 'apt-get install -y bubblewrap',
          },
      ...(await sandboxChecks(bwrap)),
    ];
    const network = networkCheck(config.network.enabled ?? 'auto');
    const names = dnsCheck(config.network, await import('../../network/slot.ts'), await import('../../network/dns.ts'));
    // Where functions with network have a namespace of their own, the host's resolvers may not reach them.
    processChecks.push(network, ...(network.advice ? [] : [names]));
    const fc = firecrackerChecks(config);
    const net: Check[] = ['ip', 'nft'].map((b) => {
      const p = onPath(b);
      return p
        ? { name: b, ok: true, detail: p }
        : {
            name: b,
            ok: false,
            detail: 'not installed (needed for microVM networking)',
            fix: b === 'ip' ? 'apt-get install -y iproute2' : 'apt-get install -y nftables',
          };
    });
    // Advice, never blocking: without reflinks disk clones are sparse copies and `auto` leaves
    // incremental snapshots off (platform/vmm/firecracker/machine.ts).
    net.push(names);
    const reflinks = reflinkWorks(config.dataDir);
    const diff = config.firecracker.diffSnapshots ?? 'auto';
    const diffOn = diffSnapshotsOn(diff, reflinks);
    net.push({
      name: 'reflinks',
      ok: true,
      detail: reflinks
        ? `the data dir's filesystem clones files for free: disk clones are reflinks; incremental snapshots ${diffOn ? 'on' : 'off'} (${diff})`
        : `none in the data dir (XFS with reflink=1 or btrfs have them): disk clones are sparse copies; incremental snapshots ${diffOn ? 'on' : 'off'} (${diff})`,
    });
    const fcReady = fc.every((c) => c.ok);
    const driver = config.driver === 'auto' ? (fcReady ? 'firecracker' : 'process') : config.driver;
    const blocking = [...general, ...(driver === 'firecracker' ? [...fc, ...net] : processChecks)].filter((c) => !c.ok);
    const report = { driver, configured: config.driver, general, process: processChecks, firecracker: [...fc, ...net], ok: blocking.length === 0 };
    if (this.json) {
      printJson(report);
      return report.ok ? 0 : 1;
    }
    const out = this.context.stdout;
    const section = (title: string, checks: Check[]) => {
      out.write(`${title}\n`);
      for (const c of checks) {
        const mark = c.ok ? (c.advice ? 'NOTE' : 'ok ') : 'MISSING';
        out.write(`  ${mark} ${c.name.padEnd(12)} ${c.detail}${(!c.ok || c.advice) && c.fix ? `\n      fix: ${c.fix}` : ''}\n`);
      }
    };
    section('General', general);
    section('Process driver', processChecks);
    section('Firecracker driver', [...fc, ...net]);
    out.write(
      `\nDriver in use: ${driver}${config.driver === 'auto' ? ' (auto)' : ''}. ${report.ok ? 'Ready.' : `Not ready: ${blocking.map((b) => b.name).join(', ')}.`}\n`,
    );
    return report.ok ? 0 : 1;
  }
}

/**
 * The name servers functions with network resolve through, in a slot (platform/network/dns.ts):
 * `network.dns`, else the host's where a slot can reach them. Advice when there are none, or when
 * the network configuration is invalid (the daemon would then run without host networking).
 */
function dnsCheck(
  settings: NetworkSettings,
  { resolveNetworkConfig }: typeof import('../../network/slot.ts'),
  { HOST_RESOLV_FILES }: typeof import('../../network/dns.ts'),
): Check {
  let dns: string[];
  try {
    dns = resolveNetworkConfig(settings).dns;
  } catch (err) {
    return { name: 'dns', ok: true, advice: true, detail: (err as Error).message, fix: 'correct the network block of ignition.config.ts' };
  }
  if (dns.length > 0) return { name: 'dns', ok: true, detail: `functions with network resolve names through ${dns.join(', ')}` };
  return {
    name: 'dns',
    ok: true,
    advice: true,
    detail: `functions with network cannot resolve names: neither network.dns nor ${HOST_RESOLV_FILES.join(' nor ')} names a server outside the host's loopback`,
    fix: 'name one or two IPv4 name servers in network.dns (ignition.config.ts)',
  };
}

/**
 * Where a function with network runs on the process driver: in a network slot of its own when
 * host networking is on (root, ip, nft, nsenter and setpriv), else in the host's namespace, its
 * loopback services included (docs/SECURITY.md). Advice, not a blocker: functions without
 * network have a namespace of their own either way.
 */
function networkCheck(enabled: 'auto' | boolean): Check {
  const root = process.getuid?.() === 0;
  const tools = ['ip', 'nft', 'nsenter', 'setpriv'].filter((t) => !onPath(t));
  if (enabled === true && root && tools.length === 0)
    return { name: 'network', ok: true, detail: 'a function with network runs in a network slot of its own (host networking on)' };
  const why = enabled !== true ? 'host networking is off' : !root ? 'host networking needs root' : `missing ${tools.join(', ')}`;
  return {
    name: 'network',
    ok: true,
    advice: true,
    // Turned on by name and unable to open, the daemon refuses such a function rather than share.
    detail:
      enabled === true
        ? `a function with network does not start: host networking is on in the configuration and cannot open (${why})`
        : `a function with network shares the host's network namespace, its loopback services included (${why})`,
    fix:
      tools.length > 0
        ? 'apt-get install -y iproute2 nftables util-linux, then run the daemon as root with IGNITION_NETWORK=on'
        : root
          ? 'IGNITION_NETWORK=on'
          : 'run the daemon as root with IGNITION_NETWORK=on',
  };
}

/**
 * The process driver's sandbox layers as this host would give them to a daemon started like this
 * command (same user): user namespaces, the seccomp filter, cgroup limits, rlimits. A missing
 * limit is advice, not a blocker: the driver runs and `ignition info` lists what is not in force.
 */
async function sandboxChecks(bwrap: string | null): Promise<Check[]> {
  const path = await import('node:path');
  const { existsSync } = await import('node:fs');
  const { fileURLToPath } = await import('node:url');
  const { probeSandbox } = await import('../../vmm/process/sandbox.ts');
  const { SandboxCgroups } = await import('../../vmm/process/cgroups.ts');
  const { SANDBOX_UID_BASE } = await import('../../vmm/process/uids.ts');
  const checks: Check[] = [];
  if (bwrap) {
    const uid = process.getuid?.() === 0 ? SANDBOX_UID_BASE : undefined;
    const probe = probeSandbox(bwrap, process.execPath, { uid, gid: uid });
    checks.push(
      probe
        ? {
            name: 'sandbox',
            ok: false,
            detail: `bubblewrap cannot start a sandbox: ${probe}`,
            fix: 'allow unprivileged user namespaces, and install Node where every user can reach it',
          }
        : {
            name: 'sandbox',
            ok: true,
            detail: `user namespace as an unprivileged uid (${uid === undefined ? 'this user' : 'one per sandbox'}), no capabilities`,
          },
    );
  }
  // Beside the bundled CLI in dist/, or in dist/ of a checkout when run from source.
  const here = path.dirname(fileURLToPath(import.meta.url));
  const filter = [path.join(here, 'seccomp.bpf'), path.join(here, '..', 'seccomp.bpf'), path.resolve(here, '../../../dist/seccomp.bpf')].find((f) =>
    existsSync(f),
  );
  checks.push(
    filter
      ? { name: 'seccomp', ok: true, detail: filter }
      : {
          name: 'seccomp',
          ok: true,
          advice: true,
          detail: 'no compiled filter: sandboxes would run without one',
          fix: 'apt-get install -y libseccomp-dev gcc && npm run build',
        },
  );
  if (existsSync('/sys/fs/cgroup/cgroup.controllers')) {
    checks.push({
      name: 'cgroups',
      ok: true,
      advice: true,
      detail:
        "cgroup v2: limits need the daemon's own cgroup delegated to it (a service with Delegate=yes, or root); `ignition info` shows what the running daemon has",
      fix: 'systemd-run --user --scope -p Delegate=yes ignition daemon (as an ordinary user)',
    });
  } else {
    const groups = SandboxCgroups.open();
    if (groups instanceof SandboxCgroups) {
      const s = groups.support;
      groups.close();
      checks.push({
        name: 'cgroups',
        ok: true,
        detail: `cgroup ${s.version}: memory${s.swap ? ' (no swap)' : ''}, pids, cpu weight${s.idle ? ', cpu.idle' : ''}`,
      });
    } else checks.push({ name: 'cgroups', ok: true, advice: true, detail: `no per-sandbox limits: ${groups.reason}`, fix: groups.fix });
  }
  const prlimit = onPath('prlimit');
  checks.push(
    prlimit
      ? { name: 'rlimits', ok: true, detail: `${prlimit} (open files${process.getuid?.() === 0 ? ', processes per sandbox uid' : ''})` }
      : { name: 'rlimits', ok: true, advice: true, detail: 'prlimit not found: no open-file limit', fix: 'apt-get install -y util-linux' },
  );
  return checks;
}
