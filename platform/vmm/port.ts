/**
 * The Machine port: what the platform needs from a virtual machine, whichever driver runs it.
 *
 * Two drivers implement it: `firecracker` (microVMs on KVM, real memory snapshots) and `process`
 * (the agent and runtime as sandboxed host processes, for hosts without KVM). Services above this
 * port never import a driver; they read `capabilities` and get a typed `unsupported` error from a
 * driver that cannot do something, rather than a fake.
 *
 * A machine always runs the guest agent, reachable through `connect(port)` with Firecracker's vsock
 * handshake (`CONNECT <port>\n` → `OK <n>\n`), on a Unix socket in the machine's workspace.
 */
import type net from 'node:net';

export type DriverName = 'process' | 'firecracker';

/** The guest port the agent listens on (vsock port inside a microVM, same number for processes). */
export const AGENT_PORT = 52;

export type MachineState = 'starting' | 'running' | 'paused' | 'stopping' | 'stopped' | 'failed';

/**
 * `normal`: the machine serves traffic. `background`: it does not yet (a deploy's build machine, a
 * new version's pre-warmed instances) and runs at a lower CPU priority so that it does not slow
 * down the daemon and the machines that do; it is raised to `normal` before it serves.
 */
export type MachinePriority = 'normal' | 'background';

export interface DriverCapabilities {
  /**
   * `memory`: snapshot captures guest memory and device state, restore resumes it.
   * `artifact`: the golden artifact is the function's files; restore is a fresh start from them.
   */
  snapshot: 'memory' | 'artifact';
  pause: boolean;
  /** Live fork of a running machine into N clones. */
  fork: boolean;
  exec: boolean;
  /** Isolation the driver gives a machine, in words for `/v1/info`. */
  isolation: string;
}

/** A file a snapshot consists of, by role (memory, state, disk, bundle, sourcemap…). */
export type SnapshotFiles = Record<string, string>;

export interface MachineResources {
  memoryMiB: number;
  vcpus: number;
}

export interface BootSpec extends MachineResources {
  /** Unique id, `vm_…`; also names log lines and the workspace. */
  id: string;
  /** A directory this machine owns; removed by `destroy()`. Sockets and clones live here. */
  workspace: string;
  /** Files of the base image (firecracker: kernel, rootfs) or nothing for the process driver. */
  image?: SnapshotFiles;
  /** The function bundle to load at start (path on the host), with its source map beside it. */
  bundle?: string;
  /** Environment handed to the function. */
  env: Record<string, string>;
  /** Whether the guest may reach the network. */
  network: boolean;
  /** Static labels for logs (function, version). */
  labels: Record<string, string>;
  /** CPU priority from the start (default `normal`); a driver without the notion ignores it. */
  priority?: MachinePriority;
  /**
   * This machine may be snapshotted more than once (the low-level `vm` surface does that; function
   * instances and build machines do not). A driver with incremental snapshots then tracks the
   * pages the guest writes, so each later snapshot writes only those. Off by default: tracking
   * costs the guest a little on every first write to a page.
   */
  incrementalSnapshots?: boolean;
  /**
   * Subscribed to guest output before the machine starts, so the first lines (the agent coming
   * up) are seen too; `onOutput` on the machine only sees lines from then on.
   */
  onOutput?: (line: OutputLine) => void;
}

export interface RestoreSpec extends BootSpec {
  /** The snapshot's files, by role, as paths in the registry (never modified by the driver). */
  snapshot: SnapshotFiles;
  /**
   * The files' digests by role (`sha256:<hex>`): a driver that hands a file to the guest checks
   * what it hands over against them, so a blob changed on disk is never run.
   */
  digests?: Record<string, string>;
}

export interface StepTiming {
  step: string;
  ms: number;
}

export interface ExitInfo {
  code: number | null;
  signal: string | null;
  /** The machine was ended for going past its memory limit (the limit, in MiB). */
  outOfMemory?: { limitMiB: number };
}

/** One line of guest output: agent/runtime console (structured) or raw process output. */
export interface OutputLine {
  stream: 'stdout' | 'stderr';
  line: string;
}

export interface Machine {
  readonly id: string;
  readonly driver: DriverName;
  readonly workspace: string;
  /** Host pid of the VMM or sandbox process, for reaping after a crash. */
  readonly pid: number | undefined;
  readonly state: MachineState;
  /** Named, timed steps of how this machine came up (boot or restore). */
  readonly timings: readonly StepTiming[];
  /** Resolves once the machine's process has ended, for whatever reason. */
  readonly exited: Promise<ExitInfo>;

  /** A raw stream to `port` in the guest, after the vsock handshake. */
  connect(port: number, options?: { timeoutMs?: number; signal?: AbortSignal }): Promise<net.Socket>;
  pause(): Promise<void>;
  resume(): Promise<void>;
  /** Writes a snapshot of a running machine into `dir` (paused and resumed around it). */
  snapshot(dir: string): Promise<SnapshotFiles>;
  /**
   * Tells the machine that the snapshot it took last now also lives, byte for byte, at `files`
   * (the registry's copy; the caller may then delete the directory it snapshotted into). A driver
   * with incremental snapshots builds the next one on that memory file. Optional.
   */
  rebase?(files: SnapshotFiles): void;
  /** Graceful stop, escalating to a kill after `graceMs`. Idempotent. */
  stop(options?: { graceMs?: number }): Promise<void>;
  /** Stops if needed and removes the workspace. Idempotent. */
  destroy(): Promise<void>;
  /** Subscribes to guest output lines; returns an unsubscribe function. */
  onOutput(listener: (line: OutputLine) => void): () => void;
  /**
   * Changes the machine's CPU priority (see MachinePriority). Optional: a driver that cannot leaves
   * it out and its machines always run at normal priority.
   */
  setPriority?(priority: MachinePriority): void;
}

/**
 * How a driver confines guests on this host, for /v1/info and doctor: each limit and layer in
 * force, and for each one that is not, what is missing and the fix.
 */
export interface IsolationReport {
  mode: string;
  reason: string;
  layers: Record<string, boolean>;
  limits: Record<string, boolean>;
  missing: Array<{ what: string; fix: string }>;
}

export interface MachineDriver {
  readonly name: DriverName;
  readonly capabilities: DriverCapabilities;
  /** Where the driver confines guests itself (the process driver's sandbox); a microVM driver has none to report. */
  readonly isolation?: IsolationReport;
  /** Boots a new machine from an image (and optionally a function bundle). */
  boot(spec: BootSpec): Promise<Machine>;
  /** Restores a machine from a snapshot's files. */
  restore(spec: RestoreSpec): Promise<Machine>;
  /**
   * Holds back the replacement of spare machines (process driver) until the returned release is
   * called, every hold counted: a deploy adopts a spare and its traffic moves onto the new version
   * next, and a replacement's start then would disturb the requests of both.
   */
  holdSpares?(): () => void;
  /**
   * Live fork of a running machine into `count` clones, the source running on. Present exactly
   * when `capabilities.fork` is true; callers check the method, never the driver's class.
   */
  fork?(source: Machine, options: { count: number }): Promise<{ clones: Machine[] }>;
  /** What the driver keeps besides machines, for /metrics: spares ready, by kind. */
  stats(): DriverStats;
  /** Stops every machine this driver started. */
  close(): Promise<void>;
}

export interface DriverStats {
  /** Spare machines ready, by kind (`process`; `plain`, `network`): empty without spares. */
  spares: Record<string, number>;
}
