/**
 * Choosing the machine driver: `auto` picks firecracker when /dev/kvm is usable and the binary and
 * guest assets exist, the process driver otherwise; the reason is kept for /v1/info and `doctor`.
 * IGNITION_FIRECRACKER_SKIP_KVM_CHECK=1 skips the KVM check so the driver can run against a
 * Firecracker-compatible emulator (the fake in test/fakes/firecracker).
 */
import { accessSync, constants, existsSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { ConfigInvalid, type IgnitionConfig } from '../config/schema.ts';
import type { Logger } from '../log.ts';
import { DriverUnavailable } from './errors.ts';
import type { MachineDriver } from './port.ts';
import { ProcessDriver } from './process/driver.ts';
import { FirecrackerDriver, type NetworkProvider } from './firecracker/index.ts';

export interface DriverChoice {
  driver: MachineDriver;
  reason: string;
}

export interface HostCheck {
  name: string;
  ok: boolean;
  detail: string;
  fix?: string;
}

function resolveBinary(bin: string): string | null {
  if (bin.includes('/')) return existsSync(bin) ? path.resolve(bin) : null;
  try {
    return execFileSync('sh', ['-c', `command -v ${JSON.stringify(bin)}`], { encoding: 'utf8' }).trim() || null;
  } catch {
    return null;
  }
}

/** What the Firecracker driver needs from this host, each with the command that fixes it. */
export function firecrackerChecks(config: IgnitionConfig, env: NodeJS.ProcessEnv = process.env): HostCheck[] {
  const skipKvm = env.IGNITION_FIRECRACKER_SKIP_KVM_CHECK === '1';
  let kvm: HostCheck;
  if (skipKvm) kvm = { name: 'kvm', ok: true, detail: 'check skipped (IGNITION_FIRECRACKER_SKIP_KVM_CHECK=1)' };
  else {
    try {
      accessSync('/dev/kvm', constants.R_OK | constants.W_OK);
      kvm = { name: 'kvm', ok: true, detail: '/dev/kvm is usable' };
    } catch {
      kvm = {
        name: 'kvm',
        ok: false,
        detail: '/dev/kvm is missing or not accessible',
        fix: 'enable KVM (on a cloud VM: nested virtualisation) and run as a user in the kvm group',
      };
    }
  }
  const bin = resolveBinary(config.firecracker.binary);
  return [
    kvm,
    bin
      ? { name: 'firecracker', ok: true, detail: bin }
      : {
          name: 'firecracker',
          ok: false,
          detail: `binary "${config.firecracker.binary}" not found`,
          fix: 'scripts/fetch-assets.sh (or set firecracker.binary / IGNITION_FIRECRACKER_BIN)',
        },
    existsSync(config.firecracker.kernel)
      ? { name: 'kernel', ok: true, detail: config.firecracker.kernel }
      : { name: 'kernel', ok: false, detail: `guest kernel ${config.firecracker.kernel} not found`, fix: 'scripts/fetch-assets.sh' },
    existsSync(config.firecracker.rootfs)
      ? { name: 'rootfs', ok: true, detail: config.firecracker.rootfs }
      : { name: 'rootfs', ok: false, detail: `base image ${config.firecracker.rootfs} not found`, fix: 'ignition image build' },
  ];
}

/**
 * The PEM file of CAs that functions with network trust besides Node's own:
 * IGNITION_FUNCTION_CA_CERTS, else the daemon's own NODE_EXTRA_CA_CERTS, so that a function
 * trusts what the host's Node trusts. A file named by IGNITION_FUNCTION_CA_CERTS that cannot be
 * read stops the daemon; an unreadable inherited one is skipped with a warning, as Node itself
 * skips it. Only the process driver passes it on; a microVM trusts what its image holds.
 */
export function functionCaCerts(env: NodeJS.ProcessEnv, logger: Logger): string | undefined {
  const explicit = env.IGNITION_FUNCTION_CA_CERTS?.trim();
  const file = explicit || env.NODE_EXTRA_CA_CERTS?.trim();
  if (!file) return undefined;
  try {
    accessSync(file, constants.R_OK);
    return path.resolve(file);
  } catch (cause) {
    const detail = `${file} cannot be read (${(cause as NodeJS.ErrnoException).code ?? (cause as Error).message})`;
    if (explicit) throw ConfigInvalid(`IGNITION_FUNCTION_CA_CERTS: ${detail}`, { cause });
    logger.warn('NODE_EXTRA_CA_CERTS is not passed to functions', { reason: detail });
    return undefined;
  }
}

export function selectDriver(
  config: IgnitionConfig,
  opts: {
    agentPath: string;
    workspacesDir: string;
    logger: Logger;
    network?: NetworkProvider;
    /** Whether host networking is on (it opens after the driver is made): the process driver's slots. */
    networkOn?: () => boolean;
    /** Why host networking, asked for by name, is not on; null otherwise (ProcessNetwork.refusal). */
    networkRefusal?: () => string | null;
    /** Every named step of every boot, restore and (Firecracker) snapshot: the daemon's /metrics. */
    onStep?: (e: { vmId: string; flow: string; step: string; ms: number; ok: boolean }) => void;
  },
): DriverChoice {
  const stepLogger = opts.logger.child({ driver: 'firecracker' });
  const makeProcess = (reason: string): DriverChoice => {
    const driver = new ProcessDriver({
      agentPath: opts.agentPath,
      sandbox: config.sandbox,
      logger: opts.logger,
      onStep: opts.onStep,
      spares: config.processSpares,
      workspacesDir: opts.workspacesDir,
      spareShape: { memoryMiB: config.functions.memoryMiB, network: false },
      // Written by the build beside the agent (scripts/build.ts, process/seccomp/).
      seccompFilter: path.join(path.dirname(opts.agentPath), 'seccomp.bpf'),
      caCerts: functionCaCerts(process.env, opts.logger),
      // With host networking on, a function with network runs in a slot of its own (NETWORKING.md).
      network:
        opts.network && opts.networkOn ? { available: opts.networkOn, attach: (vmId) => opts.network!.attach(vmId), refusal: opts.networkRefusal } : undefined,
    });
    return { driver, reason: `${reason}; sandbox: ${driver.sandboxReason}` };
  };
  const makeFirecracker = (reason: string): DriverChoice => ({
    driver: new FirecrackerDriver({
      binary: resolveBinary(config.firecracker.binary) ?? config.firecracker.binary,
      kernel: config.firecracker.kernel,
      rootfs: config.firecracker.rootfs,
      bootArgs: config.firecracker.bootArgs,
      jailer: config.firecracker.jailer,
      startTimeoutMs: config.firecracker.startTimeoutMs,
      workspacesDir: opts.workspacesDir,
      spares: config.firecracker.spares ?? 2,
      networkSpares: config.firecracker.networkSpares ?? 2,
      diffSnapshots: config.firecracker.diffSnapshots,
      log: (event, fields) => stepLogger.warn(event, fields),
      network: opts.network,
      // Every boot/restore/snapshot step, named and timed, in the logs (restores also reach /metrics).
      onStep: (e) => {
        stepLogger.debug('vm step', { vm: e.vmId, flow: e.flow, step: e.step, ms: e.ms, ok: e.ok });
        opts.onStep?.(e);
      },
    }),
    reason,
  });
  if (config.driver === 'process') return makeProcess('driver "process" configured');
  const checks = firecrackerChecks(config);
  const missing = checks.filter((c) => !c.ok);
  if (config.driver === 'firecracker') {
    if (missing.length) {
      throw DriverUnavailable(`driver "firecracker" is configured but ${missing.map((m) => `${m.detail} (fix: ${m.fix})`).join('; ')}`, { data: { checks } });
    }
    return makeFirecracker('driver "firecracker" configured');
  }
  if (!missing.length) return makeFirecracker('auto: KVM, the firecracker binary and the guest assets are present');
  return makeProcess(`auto: ${missing.map((m) => m.detail).join('; ')}`);
}
