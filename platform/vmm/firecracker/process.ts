/**
 * The Firecracker process of one VM: spawn, readiness, output capture and stop.
 *
 * Spawned by the launcher (../spawner.ts) in a session and process group of its own, with cwd =
 * the VM's working directory (relative drive and vsock paths), inside the VM's network slot when
 * it has one (netns.ts), after removing stale
 * sockets (Firecracker fails to bind over a leftover one and never unlinks its own). Readiness is
 * proven: the API socket exists AND a real `GET /` answers, raced against the process exiting,
 * under a deadline. Log and metrics files are per VM, created by Firecracker at start-up
 * (docs/FIRECRACKER-DRIVER.md, "Log and metrics files"), and stdout/stderr (the guest serial
 * console) is captured per VM too. Stop is
 * graceful first (`SendCtrlAltDel`: Firecracker exits when the guest resets), then SIGTERM, then
 * SIGKILL, each against a deadline; it is idempotent and ignores callers' cancellation, so a VM is
 * never left half-stopped.
 */
import { accessSync, constants, createWriteStream, existsSync, rmSync, type WriteStream } from 'node:fs';
import path from 'node:path';
import type { ExitInfo, OutputLine } from '../port.ts';
import { FirecrackerClient } from './api/client.ts';
import type { LogLevel } from './api/types.ts';
import { FcBinaryMissing, FcProcessExited, FcStartTimeout } from './errors.ts';
import type { JailerOptions } from './jailer.ts';
import { checkNetns, findNsenter, vmmCommand } from './netns.ts';
import { FILES, type Layout } from './layout.ts';
import type { SpawnedChild, Spawner } from '../spawner.ts';

export interface LaunchOptions {
  binary: string;
  vmId: string;
  layout: Layout;
  jailer?: JailerOptions;
  /** Network namespace to run in (a clone slot's `/run/netns/<name>`): `nsenter --net`, or the jailer's `--netns`. */
  netns?: string;
  logLevel?: LogLevel;
  /** Extra environment for the VMM process. */
  env?: Record<string, string>;
  apiTimeoutMs: number;
  onOutput?: (line: OutputLine) => void;
}

function checkExecutable(file: string, what: string): void {
  try {
    accessSync(file, constants.X_OK);
  } catch (err) {
    throw FcBinaryMissing(`${what} ${file} is missing or not executable (${(err as NodeJS.ErrnoException).code})`, {
      data: { path: file },
      cause: err,
    });
  }
}

/** A running (or exited) Firecracker process. */
export class FirecrackerProcess {
  readonly pid: number;
  #client: FirecrackerClient;
  readonly exited: Promise<ExitInfo>;
  #child: SpawnedChild;
  #exit: ExitInfo | undefined;
  #stopping: Promise<void> | undefined;
  #stderrTail: string[] = [];
  #console: WriteStream;

  constructor(
    child: SpawnedChild,
    private o: LaunchOptions,
  ) {
    this.#child = child;
    this.pid = child.pid!;
    this.#client = new FirecrackerClient({ socketPath: o.layout.apiSocket, timeoutMs: o.apiTimeoutMs });
    this.#console = createWriteStream(path.join(o.layout.workspace, FILES.console), { flags: 'a' });
    this.#console.on('error', () => undefined);
    // Spawn failures after the pid exists surface as 'error'; 'exit' still follows or the pid is dead.
    child.on('error', () => undefined);
    this.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        this.#exit = { code, signal };
        // The guest (fake) or anything else left in the group goes with the VMM.
        this.#signalGroup('SIGKILL');
        resolve(this.#exit);
      });
    });
    this.#pipe(child.stdout, 'stdout');
    this.#pipe(child.stderr, 'stderr');
  }

  get client(): FirecrackerClient {
    return this.#client;
  }

  /**
   * Hands a spare VMM to the VM that adopts it, after its workspace was renamed to `layout`'s. The
   * process keeps its sockets and files (its cwd and open files moved with the directory); the API
   * client dials the new path from now on. Direct layouts only.
   */
  relocate(layout: Layout, vmId: string, onOutput?: (line: OutputLine) => void): void {
    this.o = { ...this.o, layout, vmId, onOutput };
    // The keep-alive connection made by the readiness check stays open and usable.
    this.#client.transport.moveTo(layout.apiSocket);
  }

  get alive(): boolean {
    return this.#exit === undefined;
  }

  get exitInfo(): ExitInfo | undefined {
    return this.#exit;
  }

  /** The last lines Firecracker wrote to stdout/stderr, i.e. its errors and the guest console (for error messages). */
  get stderrTail(): string {
    return this.#stderrTail.join('\n');
  }

  #pipe(stream: NodeJS.ReadableStream | null, name: 'stdout' | 'stderr') {
    if (!stream) return;
    let rest = '';
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => {
      this.#console.write(chunk);
      const lines = (rest + chunk).split('\n');
      rest = lines.pop() ?? '';
      for (const line of lines) {
        this.#stderrTail.push(line);
        if (this.#stderrTail.length > 20) this.#stderrTail.shift();
        this.o.onOutput?.({ stream: name, line });
      }
    });
  }

  #signalGroup(signal: NodeJS.Signals): void {
    try {
      // Negative pid: the process group we created with `detached`, led by our child.
      process.kill(-this.pid, signal);
    } catch {
      // ESRCH: already gone.
    }
  }

  #exitedError(during: string) {
    const info = this.#exit!;
    const tail = this.stderrTail ? `: ${this.stderrTail.slice(-500)}` : '';
    return FcProcessExited(`Firecracker of ${this.o.vmId} exited during ${during} (code ${info.code}, signal ${info.signal})${tail}`, {
      data: { ...info, vmId: this.o.vmId },
    });
  }

  /** Resolves once the API socket exists and `GET /` answers; rejects on exit or after `deadlineMs`. */
  async waitReady(deadlineMs: number): Promise<void> {
    const deadline = Date.now() + deadlineMs;
    let lastError: unknown;
    for (let attempt = 0; ; attempt++) {
      if (!this.alive) throw this.#exitedError('start-up');
      const remaining = deadline - Date.now();
      if (remaining <= 0) {
        throw FcStartTimeout(`Firecracker of ${this.o.vmId} did not answer on ${this.o.layout.apiSocket} within ${deadlineMs} ms`, {
          data: { socket: this.o.layout.apiSocket, socketExists: existsSync(this.o.layout.apiSocket) },
          cause: lastError,
        });
      }
      if (existsSync(this.o.layout.apiSocket)) {
        try {
          await Promise.race([this.client.describeInstance({ timeoutMs: Math.min(this.o.apiTimeoutMs, remaining) }), this.exited]);
          if (this.alive) return;
          continue;
        } catch (err) {
          lastError = err;
        }
      }
      const wait = new Promise((r) => setTimeout(r, Math.min(2 + attempt * 2, 25)));
      await Promise.race([wait, this.exited]);
    }
  }

  /**
   * Stops the VMM: graceful (Ctrl+Alt+Del, when `graceful` and running) for up to `graceMs`, then
   * SIGTERM for up to `termMs`, then SIGKILL. Idempotent; every caller gets the same promise.
   */
  stop(options: { graceMs?: number; termMs?: number; graceful?: boolean } = {}): Promise<void> {
    this.#stopping ??= (async () => {
      const { graceMs = 2000, termMs = 1000, graceful = true } = options;
      if (this.alive && graceful && graceMs > 0) {
        try {
          await this.client.sendCtrlAltDel({ timeoutMs: Math.min(graceMs, this.o.apiTimeoutMs) });
          await this.#waitExit(graceMs);
        } catch {
          // Not booted, paused or not x86: fall through to signals.
        }
      }
      if (this.alive) {
        this.#signalGroup('SIGTERM');
        await this.#waitExit(termMs);
      }
      if (this.alive) {
        this.#signalGroup('SIGKILL');
        await this.exited;
      }
      await this.client.destroy();
      // Closed before stop() resolves: an open log fd keeps a removed workspace's filesystem busy.
      await new Promise<void>((resolve) => {
        if (this.#console.closed) return resolve();
        this.#console.once('close', () => resolve());
        this.#console.end();
      });
    })();
    return this.#stopping;
  }

  #waitExit(ms: number): Promise<void> {
    if (!this.alive) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      void this.exited.then(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }
}

/**
 * Spawns Firecracker (directly or through the jailer, inside `netns` when given: see netns.ts) for
 * one VM, from the launcher process (`spawner`), as the leader of a session and process group of
 * its own. Resolves once the process exists; does not wait for readiness.
 *
 * Not from the daemon: Node's spawn forks the whole daemon (the kernel copies its page tables with
 * its address space locked, so every thread of it that touches memory waits) and blocks its event
 * loop until the child's exec; a VMM spawn is the same fork as a sandbox's (spawner.ts says why
 * the launcher exists).
 */
export async function launchFirecracker(o: LaunchOptions, spawner: Spawner): Promise<FirecrackerProcess> {
  checkExecutable(o.binary, 'firecracker binary');
  if (o.jailer) checkExecutable(o.jailer.binary, 'jailer binary');
  const { layout } = o;
  // Firecracker never unlinks its sockets and fails to bind over a stale one.
  rmSync(layout.apiSocket, { force: true });
  rmSync(layout.vsock, { force: true });
  // Firecracker creates its log and metrics files itself, so none is made here; a jailed one
  // creates them as the jail's uid, in a root the jailer has handed to that uid.
  const fcArgs = ['--api-sock', layout.apiSockArg, '--log-path', FILES.log, '--level', o.logLevel ?? 'Info', '--metrics-path', FILES.metrics];
  if (o.netns) checkNetns(o.netns, o.vmId);
  const { file, args } = vmmCommand({ ...o, nsenter: o.netns && !o.jailer ? findNsenter() : undefined }, fcArgs);
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries({ ...process.env, ...o.env })) if (v !== undefined) env[k] = v;
  // A session of its own: its own process group too, which stop() and the exit handler signal.
  const child = spawner.spawn({ file, args, env, cwd: layout.root, session: true });
  // A start failure arrives as 'error' after `spawned`: listened for before anything awaits.
  let failure: Error | undefined;
  child.on('error', (err: Error) => (failure ??= err));
  await child.spawned;
  if (child.pid === undefined) {
    await new Promise((r) => setImmediate(r));
    throw FcBinaryMissing(`could not start ${file}${failure ? `: ${failure.message}` : ''}`, { data: { path: file } });
  }
  return new FirecrackerProcess(child, o);
}
