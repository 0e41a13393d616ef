/**
 * The process driver: each machine is the guest agent (with the function runtime) running as a
 * sandboxed host process, listening on `<workspace>/v.sock` with Firecracker's vsock handshake, so
 * everything above the Machine port speaks to it exactly as to a microVM.
 *
 * Honest capabilities: there is no memory snapshot of a process, so the golden artifact is the
 * function's files and a "restore" is a fresh start from them (`snapshot: 'artifact'`); pause and
 * resume are SIGSTOP/SIGCONT; a live fork is unsupported.
 *
 * Start-up is a named, timed step list like the Firecracker driver's: workspace → link bundle →
 * spawn → agent ready (the agent's ready line on stdout, racing the process's exit under a
 * deadline; the agent prints it only after it listens and has loaded the function). Where a spare
 * sandbox fits (spares.ts), the start adopts it instead: spare (a rename) → link bundle → load
 * (`PUT /v1/function` to the running agent). Spares report their own start as flow `spare`.
 *
 * Sandboxes are spawned by a small launcher process (spawner.ts): a spawn blocks its caller until
 * the child has exec'd, and forks its caller's whole address space; neither may fall on the daemon.
 *
 * A machine booted with `priority: 'background'` gets only the CPU the serving machines leave
 * over, from the moment it is spawned until `setPriority('normal')` (cpu-policy.ts says how).
 */
import { constants as fsConstants, copyFileSync, chmodSync, mkdirSync, renameSync, rmSync, existsSync, readFileSync, statSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import type net from 'node:net';
import { Unsupported } from '../../errors.ts';
import type { Logger } from '../../log.ts';
import { silentLogger } from '../../log.ts';
import { connectVsock } from '../../guest/vsock.ts';
import { READY_LINE } from '../../../agent/protocol.ts';
import { MachineInvalidState, MachineNotRunning, MachineStartFailed } from '../errors.ts';
import type {
  BootSpec,
  DriverCapabilities,
  DriverStats,
  IsolationReport,
  ExitInfo,
  Machine,
  MachineDriver,
  MachinePriority,
  MachineState,
  OutputLine,
  RestoreSpec,
  SnapshotFiles,
  StepTiming,
} from '../port.ts';
import { deepChildPids } from './procfs.ts';
import { cpuPolicyFor, type CpuPolicy } from './cpu-policy.ts';
import { findBwrap, probeSandbox, SANDBOX_CA_CERTS, sandboxCommand, TASK_DIR, writeResolvConf, type SandboxMode } from './sandbox.ts';
import { SandboxCgroups, type SandboxCgroup } from './cgroups.ts';
import { SandboxUids } from './uids.ts';
import { findTool } from '../../image/tools.ts';
import { RegistryDigestMismatch } from '../../registry/errors.ts';
import { Spawner, type SpawnCommand, type SpawnedChild } from '../spawner.ts';
import { ProcessSpares, type SpareShape } from './spares.ts';
import { agentRequest } from '../agent-call.ts';
import { AgentPaths } from '../../../agent/protocol.ts';
import { yieldToEventLoop } from '../../yield.ts';

export interface ProcessDriverOptions {
  /** Path of dist/agent.mjs. */
  agentPath: string;
  sandbox: 'auto' | 'bubblewrap' | 'none';
  nodeBinary?: string;
  /** How long an agent may take to report ready (includes loading and warming the function). */
  startTimeoutMs?: number;
  logger?: Logger;
  /** Called after every named step of a boot or restore, for logs and metrics. */
  onStep?: (e: { vmId: string; flow: string; step: string; ms: number; ok: boolean }) => void;
  /**
   * Sandboxes kept started with no function (spares.ts), in `workspacesDir`, for starts of
   * `spareShape`. 0 or no directory: every start is cold.
   */
  spares?: number;
  workspacesDir?: string;
  spareShape?: SpareShape;
  /** The compiled seccomp filter (dist/seccomp.bpf); none: sandboxes run without one, and info says so. */
  seccompFilter?: string;
  /** Per-sandbox limits besides memory (which is each machine's `memoryMiB`); defaults in SANDBOX_LIMITS. */
  limits?: Partial<typeof SANDBOX_LIMITS>;
  /**
   * A PEM file of CAs that functions with network trust besides Node's own: their agent starts
   * with NODE_EXTRA_CA_CERTS naming it (inside a sandbox, a read-only copy at SANDBOX_CA_CERTS).
   * select.ts takes it from IGNITION_FUNCTION_CA_CERTS or the daemon's own NODE_EXTRA_CA_CERTS.
   */
  caCerts?: string;
  /**
   * Host networking (platform/network), where the daemon has it: a machine with network then runs
   * in a network namespace of its own (a slot: a veth to the host, NAT to the outside, no way to
   * the host's own addresses or to other slots). Without it, a machine with network shares the
   * host's network namespace, and the isolation report says so.
   */
  network?: ProcessNetwork;
}

/** What the driver needs of host networking: whether it is on, and a lease's namespace and release. */
export interface ProcessNetwork {
  /** Host networking is on (it opens after the driver is made, and may be off). */
  available(): boolean;
  attach(vmId: string): Promise<SlotLease>;
  /**
   * Host networking was asked for by name (`network.enabled: true`, IGNITION_NETWORK=on) and is
   * not on: why, and then a machine with network does not start rather than share the host's
   * namespace. Null when it was not asked for, or is on.
   */
  refusal?(): string | null;
}

/** A slot as the driver uses it: its namespace, the name servers its functions resolve through, its release. */
export interface SlotLease {
  netns?: string;
  guest?: { dns?: readonly string[] };
  release(): void | Promise<void>;
}

/**
 * What every sandbox may use besides its memory. Node itself runs about a dozen threads, and
 * threads count as processes for pids.max and RLIMIT_NPROC: 128 leaves room for worker threads
 * and a few child processes. /tmp's pages are charged to the memory cgroup as well, so its size
 * only keeps one function's scratch files from taking all of its memory by surprise.
 */
export const SANDBOX_LIMITS = { pids: 128, openFiles: 4096, tmpMiB: 64, cpuWeight: 100 };

const OUTPUT_TAIL = 30;
/**
 * The longest a background machine may take to come up before it is raised to normal priority.
 * On a host with no spare CPU a background start would barely progress: the deploy must still
 * finish, and the start deadline must not be spent waiting for CPU.
 */
const BACKGROUND_START_MS = 10_000;

export class ProcessDriver implements MachineDriver {
  readonly name = 'process' as const;
  readonly sandbox: SandboxMode;
  /** Why this sandbox mode was chosen, for /v1/info and doctor. */
  readonly sandboxReason: string;
  /** Which layers and limits hold, without the network's (see `isolation`). */
  private readonly report: IsolationReport;
  /** One cgroup per sandbox, where the host lets the daemon make them. */
  private readonly cgroups: SandboxCgroups | undefined;
  /** Host uids for sandboxes: a root daemon never runs one as root. */
  private readonly uids: SandboxUids | undefined;
  private readonly limits: typeof SANDBOX_LIMITS;
  /** The agent the sandboxes run: a copy every sandbox uid can reach (agentCopy). */
  private readonly agentPath: string;
  /** The extra CAs for functions with network, where sandboxes can read them (beside the agent's copy). */
  private readonly caCerts: string | undefined;
  private readonly prlimit: string | null;
  /** nsenter and setpriv, for machines with network in a slot (see `command`); null without `network`. */
  private readonly netTools: { nsenter: string; setpriv: string } | null;
  readonly capabilities: DriverCapabilities;
  private readonly machines = new Set<ProcessMachine>();
  private readonly logger: Logger;
  /** How background sandboxes give way to serving ones (cpu-policy.ts). */
  readonly cpuPolicy: CpuPolicy;
  /** The spare sandbox being started, if any (spares start one at a time). */
  private startingSpare: ProcessMachine | undefined;
  /** Sandboxes are spawned by a launcher process (see spawner.ts). */
  private readonly spawner = new Spawner();
  /** Started agents with no function yet, adopted by starts (see spares.ts). */
  readonly spares: ProcessSpares<ProcessMachine> | undefined;

  constructor(private readonly options: ProcessDriverOptions) {
    this.logger = options.logger ?? silentLogger;
    this.limits = { ...SANDBOX_LIMITS, ...options.limits };
    const missing: IsolationReport['missing'] = [];
    // A root daemon runs each sandbox as an unprivileged uid of its own (uids.ts).
    this.uids = process.getuid?.() === 0 ? new SandboxUids() : undefined;
    const bwrap = findBwrap();
    let mode: SandboxMode = 'none';
    let reason: string;
    if (options.sandbox === 'none') reason = 'sandbox disabled by configuration';
    else if (!bwrap) {
      reason = 'bubblewrap is not installed; functions run as plain processes';
      missing.push({ what: 'sandbox', fix: 'apt-get install -y bubblewrap' });
    } else {
      const probe = probeSandbox(bwrap, options.nodeBinary ?? process.execPath, this.uids?.probeIds() ?? {});
      if (probe) {
        reason = `bubblewrap cannot start a sandbox here (${probe}); functions run as plain processes`;
        missing.push({
          what: 'sandbox',
          fix: "allow unprivileged user namespaces (sysctl user.max_user_namespaces, kernel.unprivileged_userns_clone=1, or AppArmor's userns restriction on Ubuntu), and install Node where every user can reach it (not under a private home directory)",
        });
      } else {
        mode = 'bubblewrap';
        reason = `bubblewrap found at ${bwrap}`;
      }
    }
    if (mode === 'none' && options.sandbox === 'bubblewrap') throw Unsupported(`sandbox "bubblewrap" is configured but ${reason}`, { phase: 'config' });
    if (mode === 'none' && options.sandbox !== 'none')
      this.logger.warn('process driver without a sandbox: functions run as plain host processes', { reason, fix: missing[0]?.fix });
    this.sandbox = mode;
    if (mode === 'bubblewrap' && this.uids && options.workspacesDir) this.passThrough(options.workspacesDir);
    this.agentPath = mode === 'bubblewrap' && options.workspacesDir ? agentCopy(options.agentPath, options.workspacesDir) : options.agentPath;
    // bwrap binds as the sandbox's uid, which may not reach the operator's file (under /root, say):
    // the copy sits beside the agent's, which every sandbox uid reaches, and goes with it.
    this.caCerts =
      options.caCerts && this.agentPath !== options.agentPath
        ? readOnlyCopy(options.caCerts, path.join(path.dirname(this.agentPath), 'extra-ca-certs.pem'))
        : options.caCerts;
    const seccomp = mode === 'bubblewrap' && options.seccompFilter !== undefined && existsSync(options.seccompFilter);
    if (mode === 'bubblewrap' && !seccomp) {
      missing.push({ what: 'seccomp filter', fix: 'apt-get install -y libseccomp-dev gcc && npm run build' });
      this.logger.warn('no seccomp filter: sandboxes run without one', { fix: missing.at(-1)!.fix });
    }
    const cgroups = SandboxCgroups.open();
    if (cgroups instanceof SandboxCgroups) this.cgroups = cgroups;
    else {
      missing.push({ what: 'cgroup limits (memory, processes, CPU weight)', fix: cgroups.fix });
      this.logger.warn('no cgroup for sandboxes: memory, process and CPU limits are not in force', { reason: cgroups.reason, fix: cgroups.fix });
    }
    if (this.cgroups && !this.cgroups.support.idle)
      missing.push({ what: 'idle CPU priority for background sandboxes (cgroup cpu.idle)', fix: 'Linux 5.15 or later' });
    this.prlimit = findTool('prlimit');
    if (!this.prlimit) missing.push({ what: 'open file and process rlimits', fix: 'apt-get install -y util-linux' });
    const nsenter = options.network ? findTool('nsenter') : null;
    const setpriv = options.network ? findTool('setpriv') : null;
    this.netTools = nsenter && setpriv ? { nsenter, setpriv } : null;
    const support = this.cgroups?.support;
    this.report = {
      mode,
      reason,
      layers: {
        // A root daemon gives each sandbox an unprivileged host uid; an ordinary user's daemon, its own.
        unprivilegedUid: mode === 'bubblewrap',
        uidPerSandbox: mode === 'bubblewrap' && !!this.uids,
        userNamespace: mode === 'bubblewrap',
        noCapabilities: mode === 'bubblewrap',
        seccomp,
        readOnlyCode: true,
        cgroup: !!this.cgroups,
      },
      limits: {
        memory: !!support?.memory,
        swap: !!support?.swap,
        pids: !!support?.pids,
        cpuWeight: !!support?.cpu,
        tmp: mode === 'bubblewrap',
        openFiles: !!this.prlimit,
        // RLIMIT_NPROC counts every process of a host uid: only with a uid per sandbox.
        processes: !!this.prlimit && !!this.uids && mode === 'bubblewrap',
        // Sandboxes that serve nothing yet only get spare CPU (cpu-policy.ts).
        idleBackground: !!support?.idle,
      },
      missing,
    };
    this.sandboxReason = reason;
    this.capabilities = {
      snapshot: 'artifact',
      pause: true,
      fork: false,
      exec: true,
      isolation:
        mode === 'bubblewrap'
          ? `bubblewrap (user namespace as an unprivileged uid, no capabilities${seccomp ? ', seccomp' : ''}, read-only system and code, no network unless granted${this.cgroups ? `, cgroup ${support!.version} limits` : ''})`
          : 'none (plain process)',
    };
    this.cpuPolicy = cpuPolicyFor(support);
    if ((options.spares ?? 0) > 0 && options.workspacesDir) {
      this.spares = new ProcessSpares(
        {
          count: options.spares!,
          dir: options.workspacesDir,
          shape: options.spareShape ?? { memoryMiB: 128, network: false },
          logger: this.logger,
          // A start missed: the spare on its way is wanted now, not as background work.
          onMiss: () => this.startingSpare?.setPriority('normal'),
        },
        (id, workspace, shape) => this.startSpare(id, workspace, shape),
      );
      this.spares.fill();
    }
  }

  boot(spec: BootSpec): Promise<Machine> {
    return this.start('boot', spec, spec.bundle);
  }

  restore(spec: RestoreSpec): Promise<Machine> {
    return this.start('restore', spec, spec.snapshot.bundle ?? spec.bundle, spec.snapshot.sourcemap);
  }

  stats(): DriverStats {
    return { spares: this.spares ? { process: this.spares.size } : {} };
  }

  holdSpares(): () => void {
    return this.spares?.hold() ?? (() => undefined);
  }

  /**
   * Which layers and limits hold here and what is missing (/v1/info, doctor). Whether functions
   * with network get a namespace of their own is known only once host networking has opened.
   */
  get isolation(): IsolationReport {
    const own = this.ownNetwork();
    const report = { ...this.report, layers: { ...this.report.layers, ownNetworkNamespace: own } };
    if (!own && this.report.mode === 'bubblewrap')
      report.missing = [
        ...this.report.missing,
        {
          what: 'a network namespace of its own for each function with network (such a function shares the host’s, its loopback services included)',
          fix:
            this.options.network && !this.netTools
              ? 'apt-get install -y util-linux (nsenter, setpriv)'
              : 'run the daemon as root with host networking on (IGNITION_NETWORK=on; ip, nft and nsenter installed): see docs/SECURITY.md',
        },
      ];
    return report;
  }

  /** Whether a machine with network starts in a network slot of its own. */
  private ownNetwork(): boolean {
    return this.netTools !== null && this.options.network!.available();
  }

  /**
   * Fails closed: where the operator turned host networking on by name and it did not open (or
   * nsenter and setpriv are missing), a machine with network does not start in the host's
   * namespace instead.
   */
  private refuseHostNetwork(vmId: string): void {
    const why = this.options.network?.refusal?.();
    if (!why) return;
    const cause = this.netTools === null ? 'nsenter and setpriv are missing (apt-get install -y util-linux)' : why;
    throw MachineStartFailed(
      `machine ${vmId} has network, and host networking is on in the configuration but not available (${cause}): it would share the host's network namespace, so it does not start`,
      { data: { vm: vmId } },
    );
  }

  /** A spare: an agent with no function, started at background priority. */
  private startSpare(id: string, workspace: string, shape: SpareShape): Promise<ProcessMachine> {
    const spec: BootSpec = {
      id,
      workspace,
      env: {},
      network: shape.network,
      memoryMiB: shape.memoryMiB,
      vcpus: 1,
      labels: { role: 'spare' },
      priority: 'background',
    };
    return this.launch('spare', spec, undefined);
  }

  /** A start: a spare adopted when one fits, else a cold launch. */
  private async start(flow: 'boot' | 'restore', spec: BootSpec, bundle: string | undefined, sourcemap?: string): Promise<Machine> {
    const spare = this.spares?.take({ memoryMiB: spec.memoryMiB, network: spec.network });
    if (spare) {
      const adopted = await this.adopt(flow, spec, spare, bundle, sourcemap);
      if (adopted) return adopted;
    }
    return this.launch(flow, spec, bundle, sourcemap);
  }

  /** Runs one named, timed start step, reported to `onStep`; the event loop is served first. */
  private stepper(spec: BootSpec, flow: string, timings: StepTiming[]) {
    return async <T>(name: string, fn: () => T | Promise<T>): Promise<T> => {
      // Requests in flight go first: see yield.ts.
      await yieldToEventLoop();
      const t = performance.now();
      let ok = false;
      try {
        const value = await fn();
        ok = true;
        return value;
      } finally {
        const ms = performance.now() - t;
        timings.push({ step: name, ms });
        this.options.onStep?.({ vmId: spec.id, flow, step: name, ms, ok });
      }
    };
  }

  /**
   * Makes a spare the machine `spec` asks for: its directory becomes the workspace (a rename: the
   * sandbox's bind mount and the agent's socket follow the directory), it takes the start's
   * priority, and the agent loads the bundle (and runs warmup()). Undefined when the spare could
   * not be adopted (it is destroyed; the caller starts cold); a bundle that fails to load fails
   * the start as it would on a cold start.
   */
  private async adopt(
    flow: 'boot' | 'restore',
    spec: BootSpec,
    machine: ProcessMachine,
    bundle: string | undefined,
    sourcemap?: string,
  ): Promise<Machine | undefined> {
    const timings: StepTiming[] = [];
    const step = this.stepper(spec, flow, timings);
    try {
      await step('spare', () => {
        mkdirSync(path.dirname(spec.workspace), { recursive: true });
        renameSync(machine.workspace, spec.workspace);
      });
    } catch (err) {
      this.logger.warn('could not adopt a spare sandbox; starting cold', { vm: spec.id, err: (err as Error).message });
      await machine.destroy();
      return undefined;
    }
    machine.adopt(spec, timings, this.logger.child({ vm: spec.id, ...spec.labels }));
    try {
      machine.setPriority(spec.priority ?? 'normal');
      if (bundle) {
        await step('install-bundle', () => installBundle(spec.workspace, bundle, sourcemap, bundleDigest(spec)));
        await step('load', () => machine.load(spec.env, this.options.startTimeoutMs ?? 30_000));
      }
    } catch (err) {
      await machine.destroy();
      throw err;
    }
    return machine;
  }

  private readonly passable = new Set<string>();
  /**
   * bwrap runs as the sandbox's uid and must reach the workspace to bind it: the workspaces
   * directory and the one above it (the data directory), where the daemon owns them, let others
   * pass through (o+x) without listing them (no o+r). Nothing above them is changed: a data
   * directory inside a private home fails its starts, with bwrap's message naming the path. Files inside stay 0600 and the workspaces hold nothing secret.
   */
  private passThrough(dir: string) {
    if (this.passable.has(dir)) return;
    this.passable.add(dir);
    for (const d of [dir, path.dirname(dir)]) {
      try {
        const st = statSync(d);
        if (st.uid === process.getuid?.() && (st.mode & 0o001) === 0) chmodSync(d, (st.mode & 0o7777) | 0o001);
      } catch {
        // made below by the start, or not ours to change
      }
    }
  }

  /** A cold start: workspace, bundle, sandbox and agent. */
  private async launch(flow: 'boot' | 'restore' | 'spare', spec: BootSpec, bundle: string | undefined, sourcemap?: string): Promise<ProcessMachine> {
    const timings: StepTiming[] = [];
    const step = this.stepper(spec, flow, timings);
    await step('workspace', () => {
      makeWorkspace(spec.workspace, this.sandbox === 'none');
      if (this.uids && this.sandbox === 'bubblewrap') this.passThrough(path.dirname(spec.workspace));
    });
    let fnPath: string | undefined;
    if (bundle) fnPath = await step('install-bundle', () => installBundle(spec.workspace, bundle, sourcemap, bundleDigest(spec)));
    const uid = this.sandbox === 'bubblewrap' ? this.uids?.take() : undefined;
    let lease: SlotLease | undefined;
    const machine = new ProcessMachine(
      spec,
      timings,
      this.logger.child({ vm: spec.id, ...spec.labels }),
      this.cpuPolicy,
      this.spawner,
      this.sandbox === 'bubblewrap',
      async () => {
        this.machines.delete(machine);
        if (uid !== undefined) this.uids?.release(uid);
        // After the sandbox's exit: nothing is left in the slot when it goes back.
        await Promise.resolve(lease?.release()).catch((err) =>
          this.logger.warn('could not release a network slot', { vm: spec.id, err: (err as Error).message }),
        );
      },
    );
    this.machines.add(machine);
    if (flow === 'spare') this.startingSpare = machine;
    try {
      if (this.cgroups) machine.cgroup = this.cgroups.create(spec.id, { memoryMiB: spec.memoryMiB, pids: this.limits.pids, cpuWeight: this.limits.cpuWeight });
      if (spec.network && this.ownNetwork()) lease = await step('network', () => this.options.network!.attach(spec.id));
      else if (spec.network) this.refuseHostNetwork(spec.id);
      const cmd = this.command(spec, fnPath, uid, lease);
      await step('spawn', () => machine.spawn(cmd, spec.priority ?? 'normal'));
      await step('agent-ready', () => machine.waitReady(this.options.startTimeoutMs ?? 30_000));
    } catch (err) {
      await machine.destroy();
      throw err;
    } finally {
      if (this.startingSpare === machine) this.startingSpare = undefined;
    }
    return machine;
  }

  /**
   * The sandbox's command line: prlimit (open files; processes where each sandbox has a uid of
   * its own) around bwrap around the agent, or the agent alone without a sandbox. Both serve the
   * socket the launcher makes at `<workspace>/v.sock` (fd 3). The launcher starts it as `uid`.
   *
   * In a network slot (`netns`), the command starts as root instead: `nsenter --net` joins the
   * slot's namespace, which takes a privilege the sandbox's uid has not, then `setpriv` becomes
   * `uid` (no supplementary groups; a root to non-root switch drops every capability) and execs
   * the rest. Both exec in place, so the machine's pid is still bwrap's.
   */
  private command(spec: BootSpec, fnPath: string | undefined, uid: number | undefined, slot?: SlotLease) {
    const netns = slot?.netns;
    const heap = `--max-old-space-size=${Math.max(16, Math.floor(spec.memoryMiB * 0.75))}`;
    const sandboxed = this.sandbox === 'bubblewrap';
    // A clean environment: the host's variables (tokens, paths) never reach a function.
    const env: Record<string, string> = {
      PATH: '/usr/local/bin:/usr/bin:/bin',
      HOME: '/tmp',
      TMPDIR: '/tmp',
      LANG: 'C.UTF-8',
      IGNITION_WORK_DIR: sandboxed ? '/tmp/.ignition' : path.join(spec.workspace, 'work'),
    };
    // Only where the function can reach a TLS peer; Node reads the file as the agent starts.
    const caCerts = spec.network ? this.caCerts : undefined;
    if (caCerts) env.NODE_EXTRA_CA_CERTS = sandboxed ? SANDBOX_CA_CERTS : caCerts;
    if (fnPath) {
      env.IGNITION_BUNDLE = sandboxed ? path.join(TASK_DIR, path.basename(fnPath)) : fnPath;
      env.IGNITION_FUNCTION_ENV = JSON.stringify(spec.env);
    }
    const node = this.options.nodeBinary ?? process.execPath;
    let file: string;
    let args: string[];
    let fds: Array<{ listen: string } | { open: string }>;
    if (sandboxed) {
      const sb = sandboxCommand({
        network: spec.network,
        tmpMiB: this.limits.tmpMiB,
        workspace: spec.workspace,
        agentPath: this.agentPath,
        nodeBinary: node,
        seccomp: this.report.layers.seccomp ? this.options.seccompFilter : undefined,
        caCerts,
        // In a slot the host's resolvers may be out of reach (its loopback): the slot's own list.
        resolvConf: netns !== undefined ? writeResolvConf(spec.workspace, slot?.guest?.dns ?? []) : undefined,
      });
      file = findBwrap()!;
      args = [...sb.args, '--', sb.node, heap, sb.agent, '--listen-fd', '3'];
      fds = sb.fds;
    } else {
      file = node;
      args = [heap, this.options.agentPath, '--listen-fd', '3'];
      fds = [{ listen: path.join(spec.workspace, 'v.sock') }];
    }
    if (this.prlimit) {
      const limits = [`--nofile=${this.limits.openFiles}:${this.limits.openFiles}`];
      if (this.report.limits.processes) limits.push(`--nproc=${this.limits.pids}:${this.limits.pids}`);
      args = [...limits, '--', file, ...args];
      file = this.prlimit;
    }
    if (netns !== undefined && this.netTools) {
      const become = uid === undefined ? [] : [this.netTools.setpriv, `--reuid=${uid}`, `--regid=${uid}`, '--clear-groups', '--'];
      args = [`--net=${netns}`, '--', ...become, file, ...args];
      file = this.netTools.nsenter;
      return { file, args, env, fds, session: sandboxed, uid: undefined, gid: undefined };
    }
    return { file, args, env, fds, session: sandboxed, uid, gid: uid };
  }

  async close(): Promise<void> {
    await this.spares?.close();
    await Promise.all([...this.machines].map((m) => m.destroy()));
    await this.spawner.close();
    this.cgroups?.close();
    if (this.agentPath !== this.options.agentPath) rmSync(path.dirname(this.agentPath), { recursive: true, force: true });
  }
}

/**
 * A machine's workspace: `fn/` for its bundle (bound read-only into the sandbox), the agent's
 * socket beside it (made by the launcher), and without a sandbox a `work/` directory for the
 * agent's uploads. Nothing in it is writable by a sandbox's uid.
 */
function makeWorkspace(workspace: string, plain: boolean) {
  mkdirSync(path.join(workspace, 'fn'), { recursive: true, mode: 0o755 });
  if (plain) mkdirSync(path.join(workspace, 'work'), { recursive: true });
}

/**
 * A copy of the agent (and its map) in `<workspaces>/.agent/`, which the sandboxes bind: bwrap
 * runs as the sandbox's uid and must reach what it binds, and the checkout may be in a private
 * home directory. It is small (tens of KB) and written once per driver.
 */
export const AGENT_COPY_DIR = '.agent';
function agentCopy(agentPath: string, workspacesDir: string): string {
  const dir = path.join(workspacesDir, AGENT_COPY_DIR);
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  chmodSync(dir, 0o755);
  const target = path.join(dir, path.basename(agentPath));
  // Replaced by rename: sandboxes of another driver on this directory may be starting from it.
  for (const [src, dst] of [
    [agentPath, target],
    [`${agentPath}.map`, `${target}.map`],
  ]) {
    if (existsSync(src)) readOnlyCopy(src, dst);
  }
  return target;
}

/**
 * Copies `src` to `dst` as a file everyone may read and nobody write. Replaced by rename:
 * sandboxes of another driver on this directory may be starting from it.
 */
function readOnlyCopy(src: string, dst: string): string {
  const tmp = `${dst}.${process.pid}.tmp`;
  copyFileSync(src, tmp);
  chmodSync(tmp, 0o444);
  renameSync(tmp, dst);
  return dst;
}

/** The bundle's expected digest, when the start names one (a restore from the registry). */
function bundleDigest(spec: BootSpec): string | undefined {
  return (spec as RestoreSpec).digests?.bundle;
}

/**
 * Puts a private, read-only copy of the bundle (and its map) in the workspace as
 * fn/function.mjs, and checks the copy against the registry's digest. A copy, never a hard link
 * to the registry's blob: a link is the blob itself, and a function that could change it would
 * change what every function with the same code runs. On a filesystem with reflinks the copy
 * shares the blocks until written; bundles are small either way.
 */
function installBundle(workspace: string, bundle: string, sourcemap: string | undefined, digest: string | undefined): string {
  const target = path.join(workspace, 'fn', 'function.mjs');
  privateCopy(bundle, target);
  if (digest) {
    const actual = `sha256:${createHash('sha256').update(readFileSync(target)).digest('hex')}`;
    if (actual !== digest) {
      rmSync(target, { force: true });
      throw RegistryDigestMismatch(
        `the bundle in the registry does not match its digest ${digest} (it is ${actual}): it was changed on disk; run ignition verify`,
        { phase: 'restore', data: { expected: digest, actual } },
      );
    }
  }
  const map = sourcemap ?? (existsSync(`${bundle}.map`) ? `${bundle}.map` : undefined);
  if (map) privateCopy(map, `${target}.map`);
  return target;
}

function privateCopy(src: string, dst: string) {
  rmSync(dst, { force: true });
  copyFileSync(src, dst, fsConstants.COPYFILE_FICLONE);
  chmodSync(dst, 0o444);
}

class ProcessMachine implements Machine {
  readonly driver = 'process' as const;
  id: string;
  /** On the host; an adopted spare's directory is renamed to it. */
  workspace: string;
  /** Under bwrap: the agent sees its bundle at TASK_DIR, not at the host's path. */
  private readonly sandboxed: boolean;
  state: MachineState = 'starting';
  exited!: Promise<ExitInfo>;
  private child: SpawnedChild | undefined;
  private readonly listeners = new Set<(line: OutputLine) => void>();
  private readonly tail: string[] = [];
  private readyResolve: (() => void) | undefined;
  /** The ready line arrived (output comes from the spawner's thread, maybe before waitReady). */
  private readySeen = false;
  private destroyed: Promise<void> | undefined;
  private priority: MachinePriority = 'normal';
  /** The sandbox's own cgroup (cgroups.ts), where the host has them. */
  cgroup: SandboxCgroup | undefined;
  private memoryMiB: number;
  /** V8 reported its heap limit reached (it then aborts the process). */
  private heapExhausted = false;

  constructor(
    spec: BootSpec,
    public timings: StepTiming[],
    private logger: Logger,
    private readonly cpuPolicy: CpuPolicy,
    private readonly spawner: Spawner,
    sandboxed: boolean,
    private readonly onGone: () => void | Promise<void>,
  ) {
    this.id = spec.id;
    this.workspace = spec.workspace;
    this.sandboxed = sandboxed;
    this.memoryMiB = spec.memoryMiB;
    if (spec.onOutput) this.listeners.add(spec.onOutput);
  }

  /** A spare becomes the machine `spec` names (its directory already renamed to spec.workspace). */
  adopt(spec: BootSpec, timings: StepTiming[], logger: Logger) {
    this.id = spec.id;
    this.workspace = spec.workspace;
    this.timings = timings;
    this.logger = logger;
    if (spec.memoryMiB !== this.memoryMiB) this.cgroup?.setLimits({ memoryMiB: spec.memoryMiB });
    this.memoryMiB = spec.memoryMiB;
    if (spec.onOutput) this.listeners.add(spec.onOutput);
  }

  /**
   * Loads fn/function.mjs of the workspace into the agent and runs its warmup(); a function that
   * fails to load or warm fails the start with the agent's code, as on a cold start.
   */
  async load(env: Record<string, string>, timeoutMs: number) {
    const file = this.sandboxed ? path.join(TASK_DIR, 'function.mjs') : path.join(this.workspace, 'fn', 'function.mjs');
    let res: { status: number; body: { code?: string; detail?: string } | undefined };
    try {
      res = await agentRequest(this, 'PUT', AgentPaths.function, { path: file, env, warmup: true }, timeoutMs);
    } catch (err) {
      throw MachineStartFailed(`machine ${this.id}: its agent did not take the function: ${(err as Error).message}`, {
        cause: err,
        data: { vm: this.id, output: this.tail.slice(-10) },
      });
    }
    if (res.status === 200) return;
    const code = res.body?.code ?? 'function_load_failed';
    throw MachineStartFailed(`machine ${this.id} could not load its function: ${res.body?.detail ?? `agent answered ${res.status}`}`, {
      data: { vm: this.id, guestCode: code, output: this.tail.slice(-10) },
    });
  }

  get pid() {
    return this.child?.pid;
  }

  /** Spawns the sandbox in its own cgroup, at `priority` from its first instruction (cpu-policy.ts). */
  async spawn(cmd: Omit<SpawnCommand, 'cwd'>, priority: MachinePriority) {
    const spawn: SpawnCommand = { ...cmd, cwd: this.workspace };
    if (this.cgroup) {
      this.cpuPolicy.apply(this.cgroup, priority);
      spawn.cgroups = this.cgroup.spawn;
    }
    this.priority = priority;
    const child = this.spawner.spawn(spawn);
    this.child = child;
    this.exited = new Promise<ExitInfo>((resolve) => {
      child.on('exit', async (code, signal) => {
        // V8's heap-limit lines may still be on their way through the launcher.
        if (signal === 'SIGABRT' && !child.stderr.readableEnded) await onceOrAfter(child.stderr, 'end', 200);
        const info: ExitInfo = { code, signal };
        // The kernel's OOM killer (the cgroup's limit) or V8's heap limit ended it.
        if (this.heapExhausted || (this.cgroup?.oomKills() ?? 0) > 0) info.outOfMemory = { limitMiB: this.memoryMiB };
        if (this.state !== 'stopping' && this.state !== 'stopped') {
          this.logger.warn('machine exited', { code, signal, ...(info.outOfMemory ? { outOfMemory: true, limitMiB: this.memoryMiB } : {}) });
          this.state = 'failed';
        } else this.state = 'stopped';
        resolve(info);
      });
      child.on('error', (err) => {
        this.tail.push(`spawn failed: ${err.message}`);
        this.state = 'failed';
        resolve({ code: null, signal: null });
      });
    });
    this.pipe(child.stdout, 'stdout');
    this.pipe(child.stderr, 'stderr');
    await child.spawned;
  }

  private pipe(stream: NodeJS.ReadableStream, name: 'stdout' | 'stderr') {
    let partial = '';
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => {
      const lines = (partial + chunk).split('\n');
      partial = lines.pop()!;
      for (const line of lines) this.emitLine(name, line);
    });
    stream.on('end', () => {
      if (partial) this.emitLine(name, partial);
    });
  }

  private emitLine(stream: 'stdout' | 'stderr', line: string) {
    if (!line) return;
    // V8's last words before it aborts at its heap limit (the process exits by SIGABRT).
    if (stream === 'stderr' && !this.heapExhausted && /Reached heap limit|JavaScript heap out of memory/.test(line)) this.heapExhausted = true;
    this.tail.push(line);
    if (this.tail.length > OUTPUT_TAIL) this.tail.shift();
    if (!this.readySeen && stream === 'stdout' && line.includes(READY_LINE)) {
      this.readySeen = true;
      this.readyResolve?.();
      this.readyResolve = undefined;
    }
    for (const l of this.listeners) l({ stream, line });
  }

  async waitReady(timeoutMs: number) {
    let timer: NodeJS.Timeout | undefined;
    const ready = new Promise<'ready'>((resolve) => (this.readySeen ? resolve('ready') : (this.readyResolve = () => resolve('ready'))));
    const timeout = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), timeoutMs)));
    const raiseAfterMs = Math.min(BACKGROUND_START_MS, timeoutMs / 2);
    const starved =
      this.priority === 'background'
        ? setTimeout(() => {
            this.logger.info('background machine not ready yet; raising it to normal priority', { afterMs: raiseAfterMs });
            this.setPriority('normal');
          }, raiseAfterMs)
        : undefined;
    const outcome = await Promise.race([ready, timeout, this.exited.then(() => 'exited' as const)]);
    clearTimeout(timer);
    clearTimeout(starved);
    if (outcome === 'ready') {
      this.state = 'running';
      return;
    }
    // Give the pipes a moment to deliver the agent's last words (its reason for exiting).
    await new Promise((r) => setImmediate(r));
    const guestError = this.guestError();
    const why = outcome === 'timeout' ? `did not report ready within ${timeoutMs} ms` : 'exited before it was ready';
    throw MachineStartFailed(`machine ${this.id} ${why}${guestError ? `: ${guestError.message}` : ''}`, {
      data: { vm: this.id, output: this.tail.slice(-10), ...(guestError ? { guestCode: guestError.code } : {}) },
    });
  }

  /** The agent's structured error line, if it explained its exit (e.g. the function threw at import). */
  private guestError(): { code: string; message: string } | undefined {
    for (let i = this.tail.length - 1; i >= 0; i--) {
      const line = this.tail[i];
      if (!line.startsWith('{')) continue;
      try {
        const rec = JSON.parse(line) as { src?: string; code?: string; msg?: string };
        if (rec.src === 'agent' && rec.code) return { code: rec.code, message: rec.msg ?? '' };
      } catch {
        // not JSON after all
      }
    }
    const stderr = this.tail
      .filter((l) => !l.startsWith('{'))
      .slice(-3)
      .join(' | ');
    return stderr ? { code: 'process_output', message: stderr } : undefined;
  }

  connect(port: number, options?: { timeoutMs?: number; signal?: AbortSignal }): Promise<net.Socket> {
    if (this.state !== 'running') return Promise.reject(MachineNotRunning(`machine ${this.id} is ${this.state}`, { phase: 'connect' }));
    return connectVsock(path.join(this.workspace, 'v.sock'), port, options);
  }

  async pause() {
    if (this.state === 'paused') return;
    if (this.state !== 'running')
      throw MachineInvalidState(`cannot pause machine ${this.id}: it is ${this.state}`, { data: { state: this.state, attempted: 'pause' } });
    this.signal('SIGSTOP');
    this.state = 'paused';
  }

  async resume() {
    if (this.state === 'running') return;
    if (this.state !== 'paused')
      throw MachineInvalidState(`cannot resume machine ${this.id}: it is ${this.state}`, { data: { state: this.state, attempted: 'resume' } });
    this.signal('SIGCONT');
    this.state = 'running';
  }

  /** Sets the CPU priority of the whole sandbox (its cgroup: cpu-policy.ts). */
  setPriority(priority: MachinePriority) {
    if (priority === this.priority || !this.child?.pid) return;
    this.priority = priority;
    this.cpuPolicy.apply(this.cgroup, priority);
  }

  async snapshot(_dir: string): Promise<SnapshotFiles> {
    throw Unsupported('the process driver cannot snapshot a running process (no memory snapshot); use the firecracker driver', { phase: 'snapshot' });
  }

  /**
   * Signals the sandbox and every process inside it, deepest first: with bwrap's pid namespace the
   * agent is a grandchild, so signalling bwrap alone would neither pause nor stop it.
   */
  private signal(sig: NodeJS.Signals, options: { sparingSandbox?: boolean } = {}) {
    const pid = this.child?.pid;
    if (!pid) return;
    for (const p of deepChildPids(pid)) tryKill(p, sig);
    if (!options.sparingSandbox || !this.sandboxed) tryKill(pid, sig);
  }

  async stop(options: { graceMs?: number } = {}) {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) {
      this.state = this.state === 'failed' ? 'failed' : 'stopped';
      return;
    }
    const graceMs = options.graceMs ?? 2000;
    if (this.state === 'paused') this.signal('SIGCONT');
    this.state = 'stopping';
    // Signal what runs inside the sandbox, not bwrap itself: bwrap exits once its pid namespace's
    // init has, and the kernel ends the init only after every process of the namespace is gone.
    // So the exit seen here means the whole sandbox is gone. Signalled too, bwrap died at once and
    // left the rest to die on its own, which took up to a second on a busy host, after the daemon
    // had already reported the machine stopped.
    this.signal('SIGTERM', { sparingSandbox: true });
    if (await exitsWithin(this.exited, graceMs)) return;
    this.signal('SIGKILL', { sparingSandbox: true });
    if (await exitsWithin(this.exited, graceMs)) return;
    // bwrap itself does not exit: the last resort.
    this.signal('SIGKILL');
    await this.exited;
  }

  destroy(): Promise<void> {
    this.destroyed ??= (async () => {
      await this.stop({ graceMs: 500 });
      this.listeners.clear();
      // After the sandbox's exit; anything left in the group (a daemonised child) is killed.
      await this.cgroup?.remove().catch((err) => this.logger.warn("could not remove the sandbox's cgroup", { err: (err as Error).message }));
      // Off the event loop (libuv's thread pool): a workspace's removal comes right at a deploy's
      // answer, when the old version drains under traffic.
      await rm(this.workspace, { recursive: true, force: true });
      // The driver's bookkeeping, and the network slot's release: destroy returns once it is back.
      await this.onGone();
    })();
    return this.destroyed;
  }

  onOutput(listener: (line: OutputLine) => void) {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}

/** Resolves at the stream's `event` or after `ms`, whichever comes first. */
function onceOrAfter(stream: NodeJS.ReadableStream, event: string, ms: number): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    stream.once(event, done);
    function done() {
      clearTimeout(timer);
      stream.off(event, done);
      resolve();
    }
  });
}

/** Whether `exited` settles within `ms`. */
function exitsWithin(exited: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
  return Promise.race([exited.then(() => true), late]).finally(() => clearTimeout(timer));
}

function tryKill(pid: number, sig: NodeJS.Signals) {
  try {
    process.kill(pid, sig);
  } catch {
    // already gone
  }
}
