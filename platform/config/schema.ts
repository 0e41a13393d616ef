/**
 * The configuration's shape, defaults and validation.
 *
 * `ignition.config.ts` exports `defineConfig({...})` with any subset of `IgnitionConfig`; the loader
 * merges it over `defaults`, applies environment overrides, and `validateConfig` checks every key,
 * naming it in the message (`config: functions.timeoutMs must be …`).
 */
import { defineError } from '../errors.ts';
import type { JailerOptions } from '../vmm/firecracker/jailer.ts';
import type { NetworkSettings } from '../network/attach.ts';
import { checkAuthMode, checkCors, type AuthMode } from '../auth/settings.ts';
import type { CorsSettings } from '../auth/cors.ts';

export const ConfigInvalid = defineError('config_invalid', 400, 'Invalid configuration', 'config');

export type Isolation = 'reuse' | 'fresh';

/** Per-function settings; the config's `functions` block holds the defaults. */
export interface FunctionSettings {
  /** Idle instances kept ready at all times (0 = scale to zero). */
  minWarm: number;
  maxInstances: number;
  /** Stop an idle instance above minWarm after this long. */
  idleTimeoutMs: number;
  /** Requests one instance serves at once. */
  concurrency: number;
  /** `fresh`: one instance per request, destroyed after it. */
  isolation: Isolation;
  /** Per-request deadline; past it the caller gets 504 `function_timeout`. */
  timeoutMs: number;
  memoryMiB: number;
  vcpus: number;
  /** Whether the function may reach the network. */
  network: boolean;
  /** Requests waiting for an instance at most; past it 429. */
  queueSize: number;
  maxBodyBytes: number;
  /** `token`: invocations need a Bearer token (admin, or invoke scope for this function). */
  auth: AuthMode;
  /** CORS policy answered by the platform (preflights never reach the function); null = none. */
  cors: CorsSettings | null;
}

export interface FirecrackerSettings {
  binary: string;
  kernel: string;
  rootfs: string;
  bootArgs?: string;
  /** How long a new VMM process may take to answer on its API socket (ms). */
  startTimeoutMs?: number;
  /**
   * Firecracker processes kept spawned and API-ready so a restore adopts one instead of starting
   * a process (platform/vmm/firecracker/spares.ts). Not used with the jailer. Default 2.
   */
  spares?: number;
  /**
   * Spares that also hold a network slot, for VMs with network; kept once such a VM has asked for
   * one (the slot's lease passes to the VM). Default 2.
   */
  networkSpares?: number;
  /**
   * Incremental (Diff) snapshots of `vm` machines: `auto` (default) where reflinks work in the
   * workspaces directory, `on`, or `off` (platform/vmm/firecracker/machine.ts).
   */
  diffSnapshots?: 'auto' | 'on' | 'off';
  /** Run each VMM under Firecracker's jailer (chroot, cgroups v2, dropped uid/gid). Off by default. */
  jailer?: Omit<JailerOptions, 'netns'>;
}

export interface IgnitionConfig {
  /** host:port the daemon listens on. */
  listen: string;
  dataDir: string;
  driver: 'auto' | 'process' | 'firecracker';
  logLevel: 'debug' | 'info' | 'warn' | 'error';
  /** Sandbox of the process driver: bubblewrap when available (`auto`), required, or none. */
  sandbox: 'auto' | 'bubblewrap' | 'none';
  /**
   * Process driver: sandboxes kept started with no function, adopted by the next start of a
   * machine with the function defaults' memory and no network (platform/vmm/process/spares.ts).
   */
  processSpares: number;
  /** Grace period for in-flight requests on shutdown. */
  shutdownGraceMs: number;
  /** Console lines kept per function. */
  logRetention: number;
  functions: FunctionSettings;
  firecracker: FirecrackerSettings;
  /** Host networking for microVMs (platform/network): subnets, pool size, default egress. */
  network: NetworkSettings;
}

export type UserConfig = {
  [K in keyof IgnitionConfig]?: IgnitionConfig[K] extends object ? Partial<IgnitionConfig[K]> : IgnitionConfig[K];
};

export const defaults: IgnitionConfig = {
  listen: '127.0.0.1:7777',
  dataDir: '.ignition',
  driver: 'auto',
  logLevel: 'info',
  sandbox: 'auto',
  processSpares: 1,
  shutdownGraceMs: 10_000,
  logRetention: 5000,
  functions: {
    minWarm: 1,
    maxInstances: 10,
    idleTimeoutMs: 300_000,
    concurrency: 32,
    isolation: 'reuse',
    timeoutMs: 30_000,
    memoryMiB: 128,
    vcpus: 1,
    network: false,
    queueSize: 100,
    maxBodyBytes: 6 * 1024 * 1024,
    auth: 'none',
    cors: null,
  },
  network: { enabled: 'auto', poolSize: 4 },
  firecracker: {
    binary: 'firecracker',
    kernel: '/var/lib/ignition/assets/vmlinux',
    rootfs: '/var/lib/ignition/assets/rootfs.ext4',
  },
};

type Check = (value: unknown) => string | null;
const int =
  (min: number, max = Number.MAX_SAFE_INTEGER): Check =>
  (v) =>
    Number.isInteger(v) && (v as number) >= min && (v as number) <= max ? null : `must be an integer from ${min} to ${max}`;
const oneOf =
  (...options: string[]): Check =>
  (v) =>
    options.includes(v as string) ? null : `must be one of ${options.map((o) => `"${o}"`).join(', ')}`;
const str: Check = (v) => (typeof v === 'string' && v.length > 0 ? null : 'must be a non-empty string');
const bool: Check = (v) => (typeof v === 'boolean' ? null : 'must be true or false');
const hostPort: Check = (v) =>
  typeof v === 'string' && /^[^\s:]+:\d{1,5}$/.test(v) && Number(v.split(':').pop()) < 65536 ? null : 'must be "host:port", e.g. "127.0.0.1:7777"';

export const functionChecks: Record<keyof FunctionSettings, Check> = {
  minWarm: int(0, 1000),
  maxInstances: int(1, 10_000),
  idleTimeoutMs: int(0),
  concurrency: int(1, 10_000),
  isolation: oneOf('reuse', 'fresh'),
  timeoutMs: int(1, 15 * 60_000),
  memoryMiB: int(16, 32_768),
  vcpus: int(1, 32),
  network: bool,
  queueSize: int(0, 100_000),
  maxBodyBytes: int(1, 1024 * 1024 * 1024),
  auth: checkAuthMode,
  cors: checkCors,
};

const topChecks: Partial<Record<keyof IgnitionConfig, Check>> = {
  listen: hostPort,
  dataDir: str,
  driver: oneOf('auto', 'process', 'firecracker'),
  logLevel: oneOf('debug', 'info', 'warn', 'error'),
  sandbox: oneOf('auto', 'bubblewrap', 'none'),
  processSpares: int(0, 64),
  shutdownGraceMs: int(0),
  logRetention: int(0),
};

const firecrackerChecks: Record<keyof FirecrackerSettings, Check> = {
  binary: str,
  kernel: str,
  rootfs: str,
  bootArgs: (v) => (v === undefined || typeof v === 'string' ? null : 'must be a string'),
  startTimeoutMs: (v) => (v === undefined || (Number.isInteger(v) && (v as number) > 0) ? null : 'must be a positive integer'),
  spares: (v) => (v === undefined ? null : int(0, 1024)(v)),
  networkSpares: (v) => (v === undefined ? null : int(0, 1024)(v)),
  diffSnapshots: (v) => (v === undefined || v === 'auto' || v === 'on' || v === 'off' ? null : 'must be "auto", "on" or "off"'),
  jailer: (v) => {
    if (v === undefined) return null;
    const j = v as Record<string, unknown>;
    if (typeof j !== 'object' || j === null) return 'must be an object { binary, uid, gid, chrootBaseDir?, cgroupVersion? }';
    if (typeof j.binary !== 'string' || !Number.isInteger(j.uid) || !Number.isInteger(j.gid)) return 'needs binary (string), uid and gid (integers)';
    if (j.cgroupVersion !== undefined && j.cgroupVersion !== 1 && j.cgroupVersion !== 2) return 'cgroupVersion must be 1 or 2';
    if (j.cgroups !== undefined && (!Array.isArray(j.cgroups) || !j.cgroups.every((c) => typeof c === 'string' && /^[a-z0-9_.]+=.+$/.test(c)))) {
      return 'cgroups must be a list of "<file>=<value>" strings';
    }
    if (j.newPidNs !== undefined && typeof j.newPidNs !== 'boolean') return 'newPidNs must be a boolean';
    return null;
  },
};

function checkBlock(prefix: string, value: Record<string, unknown>, checks: Record<string, Check>, problems: string[]) {
  for (const key of Object.keys(value)) {
    const check = checks[key];
    if (!check) {
      problems.push(`${prefix}${key} is not a known setting`);
      continue;
    }
    const msg = check(value[key]);
    if (msg) problems.push(`${prefix}${key} ${msg} (got ${JSON.stringify(value[key])})`);
  }
}

/** Throws `config_invalid` listing every bad key; returns the config typed. */
export function validateConfig(config: Record<string, unknown>, source: string): IgnitionConfig {
  const problems: string[] = [];
  const { functions, firecracker, network, ...top } = config;
  // The network block is validated by the network capability itself when it opens.
  if (network !== undefined && (typeof network !== 'object' || network === null)) problems.push('network must be an object');
  checkBlock('', top, topChecks as Record<string, Check>, problems);
  if (functions !== undefined) {
    if (typeof functions !== 'object' || functions === null) problems.push('functions must be an object');
    else {
      checkBlock('functions.', functions as Record<string, unknown>, functionChecks, problems);
      const f = { ...defaults.functions, ...(functions as Partial<FunctionSettings>) };
      const bad = crossCheck(f);
      if (bad && !problems.length) problems.push(`functions.${bad}`);
    }
  }
  if (firecracker !== undefined) {
    if (typeof firecracker !== 'object' || firecracker === null) problems.push('firecracker must be an object');
    else checkBlock('firecracker.', firecracker as Record<string, unknown>, firecrackerChecks, problems);
  }
  if (problems.length) {
    throw ConfigInvalid(`config (${source}): ${problems.join('; ')}`, { data: { problems } });
  }
  return config as unknown as IgnitionConfig;
}

/**
 * Settings that are valid one by one but not together: a pool cannot keep more idle instances
 * than it may have at all. Null when the settings fit; the problem otherwise.
 */
function crossCheck(settings: Partial<FunctionSettings>): string | null {
  const { minWarm, maxInstances } = settings;
  if (typeof minWarm === 'number' && typeof maxInstances === 'number' && minWarm > maxInstances) {
    return `minWarm (${minWarm}) must not exceed maxInstances (${maxInstances})`;
  }
  return null;
}

/**
 * Validates a partial function settings object (package.json `ignition` key, ignition.json, deploy
 * flags, a deploy request). A null value is allowed: it returns that setting to the daemon's
 * default (a redeploy otherwise keeps what the previous version stated; service.ts).
 */
export function validateFunctionSettings(value: Record<string, unknown>, source: string): StatedSettings {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw ConfigInvalid(`function settings (${source}) must be an object`, { data: { problems: ['settings must be an object'] } });
  }
  const problems: string[] = [];
  const stated = Object.fromEntries(Object.entries(value).filter(([, v]) => v !== null));
  checkBlock('', stated, functionChecks, problems);
  for (const key of Object.keys(value)) if (value[key] === null && !(key in functionChecks)) problems.push(`${key} is not a known setting`);
  const bad = problems.length ? null : crossCheck(stated as Partial<FunctionSettings>);
  if (bad) problems.push(bad);
  if (problems.length) throw ConfigInvalid(`function settings (${source}): ${problems.join('; ')}`, { data: { problems } });
  return value as StatedSettings;
}

/** Checks the settings a version ends up with (defaults, kept and stated ones merged). */
export function checkEffectiveSettings(settings: FunctionSettings, source: string): FunctionSettings {
  const bad = crossCheck(settings);
  if (bad) throw ConfigInvalid(`function settings (${source}): ${bad}`, { data: { problems: [bad] } });
  return settings;
}

/** Settings as a deploy states them: each one given, null (back to the default) or left out (kept). */
export type StatedSettings = { [K in keyof FunctionSettings]?: FunctionSettings[K] | null };
