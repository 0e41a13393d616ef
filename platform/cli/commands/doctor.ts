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

type Check = { name: string; ok: boolean; detail: string; fix?: string };

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
      { name: 'node', ok: major === 20, detail: `Node ${process.versions.node}`, fix: major === 20 ? undefined : 'install Node 20 (the guest vsock addon is pinned to it)' },
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
      bwrap ? { name: 'bubblewrap', ok: true, detail: bwrap } : { name: 'bubblewrap', ok: config.sandbox !== 'bubblewrap', detail: 'not installed: functions would run unsandboxed', fix: 'apt-get install -y bubblewrap' },
    ];
    const fc = firecrackerChecks(config);
    const net: Check[] = ['ip', 'nft'].map((b) => {
      const p = onPath(b);
      return p ? { name: b, ok: true, detail: p } : { name: b, ok: false, detail: 'not installed (needed for microVM networking)', fix: b === 'ip' ? 'apt-get install -y iproute2' : 'apt-get install -y nftables' };
    });
    // Advice, never blocking: without reflinks disk clones are sparse copies and `auto` leaves
    // incremental snapshots off (platform/vmm/firecracker/machine.ts).
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
      for (const c of checks) out.write(`  ${c.ok ? 'ok ' : 'MISSING'.padEnd(3)} ${c.name.padEnd(12)} ${c.detail}${!c.ok && c.fix ? `\n      fix: ${c.fix}` : ''}\n`);
    };
    section('General', general);
    section('Process driver', processChecks);
    section('Firecracker driver', [...fc, ...net]);
    out.write(`\nDriver in use: ${driver}${config.driver === 'auto' ? ' (auto)' : ''}. ${report.ok ? 'Ready.' : `Not ready: ${blocking.map((b) => b.name).join(', ')}.`}\n`);
    return report.ok ? 0 : 1;
  }
}
