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
 * A machine booted with `priority: 'background'` runs its whole sandbox tree at a lower CPU
 * priority from the moment it is spawned until `setPriority('normal')` (priority.ts says how).
 */
import { linkSync, copyFileSync, mkdirSync, renameSync, rmSync, existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import type net from 'node:net';
import { Unsupported } from '../../errors.ts';
import type { Logger } from '../../log.ts';
import { silentLogger } from '../../log.ts';
import { connectVsock } from '../../guest/vsock.ts';
import { READY_LINE } from '../../../agent/protocol.ts';
import { MachineInvalidState, MachineNotRunning, MachineStartFailed } from '../errors.ts';
import type { BootSpec, DriverCapabilities, ExitInfo, Machine, MachineDriver, MachinePriority, MachineState, OutputLine, RestoreSpec, SnapshotFiles, StepTiming } from '../port.ts';
import { deepChildPids, deepMainThreadChildPids, readStat } from './procfs.ts';
import { StartPacer } from './pacer.ts';
import { BACKGROUND_NICE, findNewSession, lowerForExit, hasAutogroups, hostCanRaiseNice, niceOf, setAutogroupNice, setTreeNice } from './priority.ts';
import { bwrapArgs, findBwrap, type SandboxMode } from './sandbox.ts';
import { IdleGroup } from './idle-group.ts';
import { Spawner, type SpawnCommand, type SpawnedChild } from '../spawner.ts';
import { ProcessSpares, type SpareShape } from './spares.ts';
import { agentRequest } from '../agent-call.ts';
import { AgentPaths } from '../../../agent/protocol.ts';
import { yieldToEventLoop } from '../../yield.ts';
import { warmUpOrCold } from '../../guest/warm-up.ts';

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
  /** Invocations each spare's agent is warmed with before it is kept (platform/guest/warm-up.ts); default 0. */
  spareWarmUp?: number;
}

const OUTPUT_TAIL = 30;
/**
 * The longest a background machine may take to come up before it is raised to normal priority.
 * On a host with no spare CPU a background start would barely progress: the deploy must still
 * finish, and the start deadline must not be spent waiting for CPU.
 */
const BACKGROUND_START_MS = 10_000;

/** Which priority knobs apply on this host (see priority.ts). */
interface PriorityKnobs {
  /** Thread nice values: only where they can be raised back to 0. */
  threads: boolean;
  /** The autogroup of the sandbox's own session (the launcher makes one per sandbox; kernel with autogroups). */
  session: boolean;
  /** The daemon's own session id, to recognise the sandbox's new one. */
  hostSession: number;
  /** The cgroup for machines that serve nothing (idle-group.ts), where the host has one. */
  idle: IdleGroup | undefined;
}

export class ProcessDriver implements MachineDriver {
  readonly name = 'process' as const;
  readonly sandbox: SandboxMode;
  /** Why this sandbox mode was chosen, for /v1/info and doctor. */
  readonly sandboxReason: string;
  readonly capabilities: DriverCapabilities;
  private readonly machines = new Set<ProcessMachine>();
  private readonly logger: Logger;
  private readonly knobs: PriorityKnobs;
  /** The spare sandbox being started, if any (spares start one at a time). */
  private startingSpare: ProcessMachine | undefined;
  /** Stops the warm-up of the spare being warmed, if any. */
  private warmUpStop: { aborted: boolean } | undefined;
  /** Starts that found no spare ready (a spare started before the last one skips its warm-up). */
  private spareMisses = 0;
  private closing = false;
  /** Sandboxes are spawned by a launcher process (see spawner.ts). */
  private readonly spawner = new Spawner();
  /** Started agents with no function yet, adopted by starts (see spares.ts). */
  readonly spares: ProcessSpares<ProcessMachine> | undefined;

  constructor(private readonly options: ProcessDriverOptions) {
    this.logger = options.logger ?? silentLogger;
    const bwrap = findBwrap();
    if (options.sandbox === 'none') {
      this.sandbox = 'none';
      this.sandboxReason = 'sandbox disabled by configuration';
    } else if (bwrap) {
      this.sandbox = 'bubblewrap';
      this.sandboxReason = `bubblewrap found at ${bwrap}`;
    } else if (options.sandbox === 'bubblewrap') {
      throw Unsupported('sandbox "bubblewrap" is configured but bwrap is not installed (apt-get install -y bubblewrap)', { phase: 'config' });
    } else {
      this.sandbox = 'none';
      this.sandboxReason = 'bubblewrap is not installed; functions run as plain processes (apt-get install -y bubblewrap)';
      this.logger.warn('process driver without a sandbox: functions run as plain host processes', { fix: 'apt-get install -y bubblewrap' });
    }
    this.capabilities = {
      snapshot: 'artifact',
      pause: true,
      fork: false,
      exec: true,
      isolation: this.sandbox === 'bubblewrap' ? 'bubblewrap (namespaces, read-only system, no network unless granted)' : 'none (plain process)',
    };
    this.knobs = {
      threads: hostCanRaiseNice(),
      session: this.sandbox === 'bubblewrap' && hasAutogroups(),
      hostSession: readStat(process.pid)?.session ?? -1,
      idle: undefined,
    };
    const idle = IdleGroup.open();
    if (idle instanceof IdleGroup) this.knobs.idle = idle;
    else this.logger.debug('no idle cgroup for background machines', { reason: idle.reason });
    if ((options.spares ?? 0) > 0 && options.workspacesDir) {
      this.spares = new ProcessSpares(
        {
          count: options.spares!,
          dir: options.workspacesDir,
          shape: options.spareShape ?? { memoryMiB: 128, network: false },
          logger: this.logger,
          // A start missed: the spare on its way is wanted now, not as background work, and
          // starts come faster than spares (fresh isolation, a burst), so its warm-up is waste.
          onMiss: () => {
            this.spareMisses++;
            this.startingSpare?.setPriority('normal');
            if (this.warmUpStop) this.warmUpStop.aborted = true;
          },
        },
        (id, workspace, shape) => this.startSpare(id, workspace, shape),
      );
      this.spares.fill();
    }
  }

  /** The cgroup background machines run in, where the host has one (idle-group.ts). */
  get idleGroup(): IdleGroup | undefined {
    return this.knobs.idle;
  }

  boot(spec: BootSpec): Promise<Machine> {
    return this.start('boot', spec, spec.bundle);
  }

  restore(spec: RestoreSpec): Promise<Machine> {
    return this.start('restore', spec, spec.snapshot.bundle ?? spec.bundle, spec.snapshot.sourcemap);
  }

  holdSpares(): () => void {
    return this.spares?.hold() ?? (() => undefined);
  }

  /**
   * A spare: an agent with no function, started at background priority and then warmed up (a few
   * thousand invocations of the agent's built-in function, platform/guest/warm-up.ts), so that
   * the instance it becomes does not spend its first seconds of traffic compiling. A warm-up that
   * fails leaves a cold spare, which is kept if its agent is back to no function. When starts
   * come faster than spares (a start found none ready: fresh isolation, a burst), the warm-up is
   * skipped or cut short: each spare is then wanted at once, and serves few requests.
   */
  private async startSpare(id: string, workspace: string, shape: SpareShape): Promise<ProcessMachine> {
    const spec: BootSpec = { id, workspace, env: {}, network: shape.network, memoryMiB: shape.memoryMiB, vcpus: 1, labels: { role: 'spare' }, priority: 'background' };
    const misses = this.spareMisses;
    const machine = (await this.launch('spare', spec, undefined)) as ProcessMachine;
    const requests = this.options.spareWarmUp ?? 0;
    // A start missed while this one was on its way: it is wanted now, cold.
    if (requests <= 0 || this.spareMisses !== misses || this.closing) {
      machine.endPacing();
      return machine;
    }
    const stop = { aborted: false };
    this.warmUpStop = stop;
    try {
      const r = await this.stepper(spec, 'spare', machine.timings)('warm-up', () => warmUpOrCold(machine, { requests, signal: stop }));
      if ('failed' in r) this.logger.warn('a spare sandbox could not be warmed up; keeping it cold', { vm: id, err: r.failed });
    } catch (err) {
      await machine.destroy();
      throw err;
    } finally {
      this.warmUpStop = undefined;
      machine.endPacing();
    }
    return machine;
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
  private async adopt(flow: 'boot' | 'restore', spec: BootSpec, machine: ProcessMachine, bundle: string | undefined, sourcemap?: string): Promise<Machine | undefined> {
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
        await step('link-bundle', () => linkBundle(spec.workspace, bundle, sourcemap));
        await step('load', () => machine.load(spec.env, this.options.startTimeoutMs ?? 30_000));
      }
    } catch (err) {
      await machine.destroy();
      throw err;
    }
    return machine;
  }

  /** A cold start: workspace, bundle, sandbox and agent. */
  private async launch(flow: 'boot' | 'restore' | 'spare', spec: BootSpec, bundle: string | undefined, sourcemap?: string): Promise<Machine> {
    const timings: StepTiming[] = [];
    const step = this.stepper(spec, flow, timings);
    await step('workspace', () => mkdirSync(path.join(spec.workspace, 'fn'), { recursive: true }));
    let fnPath: string | undefined;
    if (bundle) fnPath = await step('link-bundle', () => linkBundle(spec.workspace, bundle, sourcemap));
    const machine = new ProcessMachine(spec, timings, this.logger.child({ vm: spec.id, ...spec.labels }), this.knobs, this.spawner, this.sandbox === 'bubblewrap', () => this.machines.delete(machine));
    this.machines.add(machine);
    if (flow === 'spare') this.startingSpare = machine;
    try {
      const cmd = this.command(spec, fnPath);
      // Started at the lower priority from its first instruction, where it can be raised again.
      const niced = spec.priority === 'background' && this.knobs.threads;
      await step('spawn', () => machine.spawn(niced ? { ...cmd, nice: BACKGROUND_NICE } : cmd, spec.priority ?? 'normal'));
      // A spare to be warmed up stays paced through its warm-up (startSpare).
      const keepPacing = flow === 'spare' && (this.options.spareWarmUp ?? 0) > 0;
      await step('agent-ready', () => machine.waitReady(this.options.startTimeoutMs ?? 30_000, { keepPacing }));
    } catch (err) {
      await machine.destroy();
      throw err;
    } finally {
      if (this.startingSpare === machine) this.startingSpare = undefined;
    }
    return machine;
  }

  private command(spec: BootSpec, fnPath: string | undefined) {
    const node = this.options.nodeBinary ?? process.execPath;
    const agentArgs = [`--max-old-space-size=${Math.max(16, Math.floor(spec.memoryMiB * 0.75))}`, this.options.agentPath, '--uds', path.join(spec.workspace, 'v.sock')];
    // A clean environment: the host's variables (tokens, paths) never reach a function.
    const env: Record<string, string> = {
      PATH: '/usr/local/bin:/usr/bin:/bin',
      HOME: '/tmp',
      TMPDIR: '/tmp',
      LANG: 'C.UTF-8',
      IGNITION_WORK_DIR: path.join(spec.workspace, 'fn'),
    };
    if (fnPath) {
      env.IGNITION_BUNDLE = fnPath;
      env.IGNITION_FUNCTION_ENV = JSON.stringify(spec.env);
    }
    if (this.sandbox === 'bubblewrap') {
      const args = bwrapArgs({ workspace: spec.workspace, agentDir: path.dirname(this.options.agentPath), network: spec.network }, node);
      return { file: findBwrap()!, args: [...args, '--', node, ...agentArgs], env, session: true };
    }
    return { file: node, args: agentArgs, env };
  }

  async close(): Promise<void> {
    // A spare's warm-up would hold the close until it is done (spares.close awaits the start).
    this.closing = true;
    if (this.warmUpStop) this.warmUpStop.aborted = true;
    await this.spares?.close();
    await Promise.all([...this.machines].map((m) => m.destroy()));
    await this.spawner.close();
    this.knobs.idle?.close();
  }
}

/**
 * Puts the bundle (and its map) in the workspace as fn/function.mjs. Hard links keep the two side
 * by side under one name (the map is found relative to the bundle) without copying, and stay valid
 * inside the sandbox.
 */
function linkBundle(workspace: string, bundle: string, sourcemap: string | undefined): string {
  const target = path.join(workspace, 'fn', 'function.mjs');
  linkOrCopy(bundle, target);
  const map = sourcemap ?? (existsSync(`${bundle}.map`) ? `${bundle}.map` : undefined);
  if (map) linkOrCopy(map, `${target}.map`);
  return target;
}

function linkOrCopy(src: string, dst: string) {
  rmSync(dst, { force: true });
  try {
    linkSync(src, dst);
  } catch {
    copyFileSync(src, dst);
  }
}

class ProcessMachine implements Machine {
  readonly driver = 'process' as const;
  id: string;
  /** On the host; an adopted spare's directory is renamed to it. */
  workspace: string;
  /**
   * The workspace as a sandboxed agent sees it: bwrap's bind keeps the path it was started with.
   * Unset without a sandbox, where the agent sees the host's path (`workspace`).
   */
  private readonly boundWorkspace: string | undefined;
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
  /** Paces a background start while the host is busy (pacer.ts); gone once ready. */
  private pacer: StartPacer | undefined;

  constructor(
    spec: BootSpec,
    public timings: StepTiming[],
    private logger: Logger,
    private readonly knobs: PriorityKnobs,
    private readonly spawner: Spawner,
    sandboxed: boolean,
    private readonly onGone: () => void,
  ) {
    this.id = spec.id;
    this.workspace = spec.workspace;
    this.boundWorkspace = sandboxed ? spec.workspace : undefined;
    if (spec.onOutput) this.listeners.add(spec.onOutput);
  }

  /** A spare becomes the machine `spec` names (its directory already renamed to spec.workspace). */
  adopt(spec: BootSpec, timings: StepTiming[], logger: Logger) {
    this.id = spec.id;
    this.workspace = spec.workspace;
    this.timings = timings;
    this.logger = logger;
    if (spec.onOutput) this.listeners.add(spec.onOutput);
  }

  /**
   * Loads fn/function.mjs of the workspace into the agent and runs its warmup(); a function that
   * fails to load or warm fails the start with the agent's code, as on a cold start.
   */
  async load(env: Record<string, string>, timeoutMs: number) {
    const file = path.join(this.boundWorkspace ?? this.workspace, 'fn', 'function.mjs');
    let res: { status: number; body: { code?: string; detail?: string } | undefined };
    try {
      res = await agentRequest(this, 'PUT', AgentPaths.function, { path: file, env, warmup: true }, timeoutMs);
    } catch (err) {
      throw MachineStartFailed(`machine ${this.id}: its agent did not take the function: ${(err as Error).message}`, { cause: err, data: { vm: this.id, output: this.tail.slice(-10) } });
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

  /**
   * `cmd.nice`: the spawner starts the command at that nice value; `cmd.session`: in a session of
   * its own, whose autogroup the spawner sets to the priority's value at once (spawner.ts).
   */
  async spawn(cmd: { file: string; args: string[]; env: Record<string, string>; nice?: number; session?: boolean }, priority: MachinePriority) {
    const niced = cmd.nice !== undefined && cmd.nice !== 0;
    const { session, ...rest } = cmd;
    const spawn: SpawnCommand = { ...rest, cwd: this.workspace };
    // The session's autogroup takes the priority's value only where autogroups exist.
    if (session) spawn.session = this.knobs.session ? { nice: niceOf(priority) } : {};
    if (priority === 'background' && this.knobs.idle) spawn.cgroup = this.knobs.idle.start;
    const child = this.spawner.spawn(spawn);
    this.child = child;
    this.exited = new Promise<ExitInfo>((resolve) => {
      child.on('exit', (code, signal) => {
        this.endPacing();
        if (this.state !== 'stopping' && this.state !== 'stopped') {
          this.logger.warn('machine exited', { code, signal });
          this.state = 'failed';
        } else this.state = 'stopped';
        resolve({ code, signal });
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
    if (!niced) {
      // Renice right after the spawn (not started at the value: the host could not raise it back):
      // best effort, see priority.ts.
      this.setPriority(priority);
    } else if (child.pid) {
      // Its threads and its session's autogroup started at the value already.
      this.priority = priority;
    }
    const pid = child.pid;
    if (priority === 'background' && pid) {
      this.pacer = new StartPacer(
        () => [pid, ...deepMainThreadChildPids(pid)],
        (pids, sig) => pids.forEach((p) => tryKill(p, sig)),
      );
      this.pacer.start();
    }
  }

  endPacing() {
    this.pacer?.stop();
    this.pacer = undefined;
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
    this.tail.push(line);
    if (this.tail.length > OUTPUT_TAIL) this.tail.shift();
    if (!this.readySeen && stream === 'stdout' && line.includes(READY_LINE)) {
      this.readySeen = true;
      this.readyResolve?.();
      this.readyResolve = undefined;
    }
    for (const l of this.listeners) l({ stream, line });
  }

  /**
   * `keepPacing`: a background start's pacing goes on past the ready line (a spare's warm-up is
   * part of its start); `endPacing()` ends it.
   */
  async waitReady(timeoutMs: number, opts: { keepPacing?: boolean } = {}) {
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
    if (outcome !== 'ready' || !opts.keepPacing) this.endPacing();
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
    const stderr = this.tail.filter((l) => !l.startsWith('{')).slice(-3).join(' | ');
    return stderr ? { code: 'process_output', message: stderr } : undefined;
  }

  connect(port: number, options?: { timeoutMs?: number; signal?: AbortSignal }): Promise<net.Socket> {
    if (this.state !== 'running') return Promise.reject(MachineNotRunning(`machine ${this.id} is ${this.state}`, { phase: 'connect' }));
    return connectVsock(path.join(this.workspace, 'v.sock'), port, options);
  }

  async pause() {
    if (this.state === 'paused') return;
    if (this.state !== 'running') throw MachineInvalidState(`cannot pause machine ${this.id}: it is ${this.state}`, { data: { state: this.state, attempted: 'pause' } });
    this.signal('SIGSTOP');
    this.state = 'paused';
  }

  async resume() {
    if (this.state === 'running') return;
    if (this.state !== 'paused') throw MachineInvalidState(`cannot resume machine ${this.id}: it is ${this.state}`, { data: { state: this.state, attempted: 'resume' } });
    this.signal('SIGCONT');
    this.state = 'running';
  }

  /**
   * Sets the CPU priority of the whole sandbox tree: the nice value of every thread (where the
   * host may raise it back) and of the sandbox session's autogroup (the session exists from the
   * spawn on: the launcher makes it before the exec).
   */
  setPriority(priority: MachinePriority) {
    const pid = this.child?.pid;
    if (priority === this.priority || !pid) return;
    this.priority = priority;
    if (priority === 'normal') this.endPacing();
    const nice = niceOf(priority);
    if (this.knobs.threads) setTreeNice(pid, nice);
    if (this.knobs.idle) {
      const tree = [pid, ...deepChildPids(pid)];
      if (priority === 'background') this.knobs.idle.enter(tree);
      else this.knobs.idle.leave(tree);
    }
    if (!this.knobs.session) return;
    const member = findNewSession(pid, this.knobs.hostSession);
    if (member === undefined || !setAutogroupNice(member, nice)) this.logger.debug('could not set the sandbox session\'s priority', { pid });
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
    if (!options.sparingSandbox || this.boundWorkspace === undefined) tryKill(pid, sig);
  }

  async stop(options: { graceMs?: number } = {}) {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) {
      this.state = this.state === 'failed' ? 'failed' : 'stopped';
      return;
    }
    const graceMs = options.graceMs ?? 2000;
    // A paced start may be stopped right now: it must be running to take SIGTERM.
    this.endPacing();
    // Not into the idle cgroup: with fresh isolation, exits starved there held instances back
    // (p50 351-504 ms without, 594-904 ms with, against 389-632 ms before it).
    if (child.pid) lowerForExit(child.pid, this.knobs);
    if (this.state === 'paused') this.signal('SIGCONT');
    this.state = 'stopping';
    // Signal what runs inside the sandbox, not bwrap itself: bwrap exits once its pid namespace's
    // init has, and the kernel ends the init only after every process of the namespace is gone.
    // So the exit seen here means the whole sandbox is gone. Signalled too, bwrap died at once and
    // left the rest to die on its own, which took up to a second on a busy host at EXIT_NICE, after
    // the daemon had already reported the machine stopped.
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
      // Off the event loop (libuv's thread pool): a workspace's removal took 2-28 ms measured
      // synchronously, right at a deploy's answer, when the old version drains under traffic.
      await rm(this.workspace, { recursive: true, force: true });
      this.onGone();
    })();
    return this.destroyed;
  }

  onOutput(listener: (line: OutputLine) => void) {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
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

