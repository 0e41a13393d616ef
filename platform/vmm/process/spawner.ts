/**
 * Starting sandbox processes off the daemon's main thread.
 *
 * Node's spawn() (libuv's uv_spawn) blocks its caller until the forked child has called execve:
 * libuv waits on a close-on-exec pipe to learn whether the exec failed. The child needs a CPU to
 * get there, so on a busy host the caller sleeps for tens to hundreds of milliseconds. Measured on
 * the daemon under steady load, each instance start (a deploy's build machine, a pool spare, every
 * request of a `fresh` function) stalled the event loop, and with it every request in flight, for
 * 15-170 ms. Here the blocking call runs on a worker thread instead: the worker spawns, the
 * children's output and exit come back as messages, and the main thread only ever waits on
 * promises.
 *
 * The worker lives as long as the spawner: bwrap's --die-with-parent is tied to the thread that
 * spawned it (PR_SET_PDEATHSIG follows the parent thread), so the worker must not come and go while
 * machines run. Signals need no worker: they go by pid (process.kill) from any thread.
 */
import { EventEmitter } from 'node:events';
import { PassThrough } from 'node:stream';
import { Worker } from 'node:worker_threads';

export interface SpawnCommand {
  file: string;
  args: string[];
  env: Record<string, string>;
  cwd: string;
}

/**
 * A child started by the spawner, shaped like the parts of ChildProcess the driver uses: `pid`
 * (once `spawned` resolved), `exitCode`/`signalCode`, `stdout`/`stderr` streams, and the `exit`
 * and `error` events.
 */
export class SpawnedChild extends EventEmitter {
  pid: number | undefined;
  exitCode: number | null = null;
  signalCode: NodeJS.Signals | null = null;
  readonly stdout = new PassThrough();
  readonly stderr = new PassThrough();
  /** Resolves once the process exists (its pid is known) or its start failed. */
  readonly spawned: Promise<void>;
  /** @internal */
  resolveSpawned!: () => void;
  /** @internal Exit and both streams' ends seen: no message for it can follow. */
  pending = 3;

  constructor() {
    super();
    this.spawned = new Promise((resolve) => (this.resolveSpawned = resolve));
  }
}

type FromWorker =
  | { id: number; type: 'spawned'; pid: number | undefined }
  | { id: number; type: 'data'; stream: 'stdout' | 'stderr'; chunk: string }
  | { id: number; type: 'end'; stream: 'stdout' | 'stderr' }
  | { id: number; type: 'exit'; code: number | null; signal: NodeJS.Signals | null }
  | { id: number; type: 'error'; message: string };

// Plain JavaScript evaluated in the worker (so it needs no file of its own in dist/).
const WORKER_SOURCE = `
const { spawn } = require('node:child_process');
const { parentPort } = require('node:worker_threads');
parentPort.on('message', (m) => {
  const post = (msg) => parentPort.postMessage({ id: m.id, ...msg });
  let child;
  try {
    child = spawn(m.file, m.args, { env: m.env, cwd: m.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    post({ type: 'spawned', pid: undefined });
    post({ type: 'error', message: String((err && err.message) || err) });
    return;
  }
  post({ type: 'spawned', pid: child.pid });
  for (const name of ['stdout', 'stderr']) {
    const stream = child[name];
    stream.setEncoding('utf8');
    stream.on('data', (chunk) => post({ type: 'data', stream: name, chunk }));
    stream.on('end', () => post({ type: 'end', stream: name }));
  }
  child.on('exit', (code, signal) => post({ type: 'exit', code, signal }));
  child.on('error', (err) => post({ type: 'error', message: err.message }));
});
`;

export class Spawner {
  private worker: Worker | undefined;
  private readonly children = new Map<number, SpawnedChild>();
  private nextId = 1;

  /** Starts `cmd` on the worker; the child's pid is known once `child.spawned` resolves. */
  spawn(cmd: SpawnCommand): SpawnedChild {
    const child = new SpawnedChild();
    const id = this.nextId++;
    this.children.set(id, child);
    this.ensureWorker().postMessage({ id, ...cmd });
    return child;
  }

  /** Stops the worker. Call only once every child it started has exited. */
  async close(): Promise<void> {
    const w = this.worker;
    this.worker = undefined;
    await w?.terminate();
  }

  private ensureWorker(): Worker {
    if (this.worker) return this.worker;
    const worker = new Worker(WORKER_SOURCE, { eval: true });
    // The daemon's lifetime is its own business; the worker never keeps it alive.
    worker.unref();
    worker.on('message', (m: FromWorker) => this.onMessage(m));
    const lost = (why: string) => {
      if (this.worker === worker) this.worker = undefined;
      // Its children can no longer be watched: report them gone and make sure they are.
      for (const [id, child] of this.children) {
        this.children.delete(id);
        child.resolveSpawned();
        if (child.pid) {
          try {
            process.kill(child.pid, 'SIGKILL');
          } catch {
            // already gone
          }
        }
        child.emit('error', new Error(`the process spawner stopped (${why})`));
      }
    };
    worker.on('error', (err) => lost(err.message));
    worker.on('exit', (code) => lost(`exit code ${code}`));
    this.worker = worker;
    return worker;
  }

  private onMessage(m: FromWorker) {
    const child = this.children.get(m.id);
    if (!child) return;
    switch (m.type) {
      case 'spawned':
        child.pid = m.pid;
        child.resolveSpawned();
        break;
      case 'data':
        child[m.stream].write(m.chunk);
        break;
      case 'end':
        child[m.stream].end();
        this.settle(m.id, child);
        break;
      case 'exit':
        child.exitCode = m.code;
        child.signalCode = m.signal;
        child.emit('exit', m.code, m.signal);
        this.settle(m.id, child);
        break;
      case 'error':
        // A child that never started sends nothing more.
        if (child.pid === undefined) this.children.delete(m.id);
        child.emit('error', new Error(m.message));
        break;
    }
  }

  /** Output may still arrive after the exit event: forget a child only after all three. */
  private settle(id: number, child: SpawnedChild) {
    if (--child.pending === 0) this.children.delete(id);
  }
}
