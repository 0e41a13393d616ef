/**
 * One Firecracker microVM as the platform sees it: the `Machine` of platform/vmm/port.ts.
 *
 * State machine (illegal calls get `fc_invalid_state` naming both states):
 *
 *     running ⇄ paused        pause()/resume(); snapshot() pauses and resumes around itself
 *     running|paused → stopping → stopped     stop(): graceful, then SIGTERM, then SIGKILL
 *     running|paused → failed                 the Firecracker process exited on its own
 *     any → destroyed workspace               destroy(): stop() then remove the files
 *
 * Two cleanup stacks came from boot/restore: `resources` (the process, the network slot),
 * released by stop(), and `files` (workspace, jail, disk clone, fork snapshot reference), removed
 * by destroy(). Operations are serialised per machine so a snapshot never races a pause.
 *
 * Incremental snapshots (a VM created with dirty page tracking): Firecracker's Diff holds only the
 * pages written since the last snapshot or restore, and a Diff written into an existing memory
 * file of the same size is merged into it in place. So the memory file this VM was restored from,
 * or its last snapshot's, is the base: cloned (a reflink where the filesystem can) to the new
 * memory path, then the Diff lands on it and the result is a complete memory file like a Full
 * one. The base is used only while it is provably the same file (device, inode, size, mtime as
 * recorded when it became the base); otherwise, and after any failed snapshot, the next one is Full.
 */
import { copyFileSync, mkdirSync, renameSync, rmSync, statSync } from 'node:fs';
import type net from 'node:net';
import path from 'node:path';
import { connectVsock } from '../../guest/vsock.ts';
import type { ExitInfo, Machine, MachineState, OutputLine, SnapshotFiles, StepTiming } from '../port.ts';
import type { CleanupStack } from './cleanup.ts';
import { cloneDisk, type CloneMethod } from './disk.ts';
import { FcInvalidState, FcSnapshotFailed } from './errors.ts';
import { FILES, type Layout } from './layout.ts';
import type { FirecrackerProcess } from './process.ts';
import { runSteps, type Step, type StepEvent } from './steps.ts';

/** File names of a snapshot written by `snapshot(dir)`. */
export const SNAPSHOT_FILES = { state: 'vmstate.snap', memory: 'memory.snap', disk: 'disk.ext4' } as const;

export interface MachineInit {
  id: string;
  layout: Layout;
  proc: FirecrackerProcess;
  resources: CleanupStack;
  files: CleanupStack;
  timings: StepTiming[];
  listeners: Set<(line: OutputLine) => void>;
  /** What the machine was created with (fork reuses it). */
  memoryMiB: number;
  vcpus: number;
  env: Record<string, string>;
  labels: Record<string, string>;
  network: boolean;
  /** What the spec asked for (fork clones inherit it) and whether the VM tracks dirty pages. */
  incrementalSnapshots?: boolean;
  trackDirtyPages: boolean;
  /** The memory file a restored VM was loaded from: the base of its first Diff. */
  memoryBase?: string;
  onStep?: (event: StepEvent & { vmId: string; flow: string }) => void;
  onGone?: (machine: FirecrackerMachine) => void;
}

/** A file as it was when it became a Diff's base: the same path must still be the same file. */
interface BaseFile {
  path: string;
  dev: number;
  ino: number;
  size: number;
  mtimeMs: number;
}

function identify(file: string): BaseFile | undefined {
  try {
    const st = statSync(file);
    return { path: file, dev: st.dev, ino: st.ino, size: st.size, mtimeMs: st.mtimeMs };
  } catch {
    return undefined;
  }
}

/** How the last snapshot was made: Full, or Diff onto a base copied by reflink or sparse copy. */
export type SnapshotKind = { type: 'Full' } | { type: 'Diff'; base: string; copy: CloneMethod };

export class FirecrackerMachine implements Machine {
  readonly driver = 'firecracker' as const;
  readonly id: string;
  readonly timings: StepTiming[];
  readonly exited: Promise<ExitInfo>;
  readonly init: MachineInit;
  #state: MachineState = 'running';
  #queue: Promise<unknown> = Promise.resolve();
  #stopping: Promise<void> | undefined;
  #destroying: Promise<void> | undefined;
  #base: BaseFile | undefined;
  #lastSnapshot: SnapshotKind | undefined;

  constructor(init: MachineInit) {
    this.init = init;
    if (init.trackDirtyPages && init.memoryBase) this.#base = identify(init.memoryBase);
    this.id = init.id;
    this.timings = init.timings;
    this.exited = init.proc.exited;
    void this.exited.then(() => {
      // An exit we did not ask for: the VM crashed (guest panic, VMM fault, killed from outside).
      if (this.#state !== 'stopping' && this.#state !== 'stopped') this.#state = 'failed';
      void init.resources.run();
    });
  }

  get workspace(): string {
    return this.init.layout.workspace;
  }

  get pid(): number | undefined {
    return this.init.proc.pid;
  }

  get state(): MachineState {
    return this.#state;
  }

  /** The Firecracker API client of this VM (for low-level callers and tests). */
  get api() {
    return this.init.proc.client;
  }

  /** How the last successful snapshot was made, if any. */
  get lastSnapshot(): SnapshotKind | undefined {
    return this.#lastSnapshot;
  }

  /** The base of the next Diff, if there is one and it is still the file it was. */
  #diffBase(): string | undefined {
    const b = this.#base;
    if (!this.init.trackDirtyPages || !b) return undefined;
    const now = identify(b.path);
    const same = now && now.dev === b.dev && now.ino === b.ino && now.size === b.size && now.mtimeMs === b.mtimeMs;
    return same ? b.path : undefined;
  }

  rebase(files: SnapshotFiles): void {
    if (!this.init.trackDirtyPages || !this.#base || !files.memory) return;
    const copy = identify(files.memory);
    // Only a copy of the same size can be the file just written; anything else keeps the old base.
    if (copy && copy.size === this.#base.size) this.#base = copy;
  }

  /** Host path of the vsock Unix socket. */
  get vsockPath(): string {
    return this.init.layout.vsock;
  }

  #serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(fn, fn);
    this.#queue = run.catch(() => undefined);
    return run;
  }

  #require(allowed: MachineState[], attempted: string): void {
    if (!allowed.includes(this.#state)) {
      throw FcInvalidState(`cannot ${attempted} VM ${this.id}: it is ${this.#state} (needs ${allowed.join(' or ')})`, {
        data: { vmId: this.id, state: this.#state, attempted },
      });
    }
  }

  connect(port: number, options: { timeoutMs?: number; signal?: AbortSignal } = {}): Promise<net.Socket> {
    this.#require(['running', 'paused'], 'connect to');
    return connectVsock(this.init.layout.vsock, port, options);
  }

  pause(): Promise<void> {
    return this.#serial(async () => {
      this.#require(['running', 'paused'], 'pause');
      await this.init.proc.client.pause();
      this.#state = 'paused';
    });
  }

  resume(): Promise<void> {
    return this.#serial(async () => {
      this.#require(['running', 'paused'], 'resume');
      await this.init.proc.client.resume();
      this.#state = 'running';
    });
  }

  /**
   * Snapshot into `dir`: pause (if running), create (Full, or a Diff onto a clone of the base:
   * see the top of this file), copy the disk while the guest is frozen (so disk and memory agree),
   * resume (if it was running). Returns absolute paths by role; the memory file is complete either way.
   */
  snapshot(dir: string): Promise<SnapshotFiles> {
    return this.#serial(async () => {
      this.#require(['running', 'paused'], 'snapshot');
      const wasRunning = this.#state === 'running';
      const { layout, proc } = this.init;
      const files: SnapshotFiles = {
        state: path.join(path.resolve(dir), SNAPSHOT_FILES.state),
        memory: path.join(path.resolve(dir), SNAPSHOT_FILES.memory),
        disk: path.join(path.resolve(dir), SNAPSHOT_FILES.disk),
      };
      // Under the jailer Firecracker can only write inside its root; files are moved out after.
      const inVm = layout.jailed ? { state: SNAPSHOT_FILES.state, memory: SNAPSHOT_FILES.memory } : { state: files.state, memory: files.memory };
      const base = this.#diffBase();
      let kind: SnapshotKind = { type: 'Full' };
      const steps: Step<null>[] = [
        { name: 'prepare', run: () => void mkdirSync(dir, { recursive: true }) },
        {
          name: 'pause',
          when: () => wasRunning,
          run: async () => {
            await proc.client.pause();
            this.#state = 'paused';
          },
        },
        {
          name: 'memory-base',
          when: () => base !== undefined,
          run: async () => {
            // Where Firecracker will write the memory file, seen from the host.
            const target = layout.jailed ? path.join(layout.root, SNAPSHOT_FILES.memory) : files.memory;
            rmSync(target, { force: true });
            kind = { type: 'Diff', base: base!, copy: await cloneDisk(base!, target) };
          },
        },
        {
          name: 'snapshot-create',
          run: () => proc.client.createSnapshot({ snapshot_path: inVm.state, mem_file_path: inVm.memory, snapshot_type: kind.type }, { timeoutMs: 120_000 }),
        },
        {
          name: 'collect',
          when: () => layout.jailed,
          run: () => {
            moveFile(path.join(layout.root, SNAPSHOT_FILES.state), files.state);
            moveFile(path.join(layout.root, SNAPSHOT_FILES.memory), files.memory);
          },
        },
        {
          name: 'disk-copy',
          run: async () => {
            rmSync(files.disk, { force: true });
            await cloneDisk(path.join(layout.root, FILES.rootfs), files.disk);
          },
        },
        {
          name: 'resume',
          when: () => wasRunning,
          run: async () => {
            await proc.client.resume();
            this.#state = 'running';
          },
        },
      ];
      const timings: StepTiming[] = [];
      try {
        await runSteps(steps, null, timings, FcSnapshotFailed, `snapshot of ${this.id}`, (e) => this.init.onStep?.({ ...e, vmId: this.id, flow: 'snapshot' }));
      } catch (err) {
        // What the dirty bitmap now holds is unknown: the next snapshot must be Full.
        this.#base = undefined;
        // Leave the source as we found it, and no half-written snapshot behind.
        if (wasRunning && this.#state === 'paused' && proc.alive) {
          await proc.client.resume().then(
            () => (this.#state = 'running'),
            () => undefined,
          );
        }
        for (const f of Object.values(files)) {
          try {
            rmSync(f, { force: true });
          } catch {
            // Not a file we wrote (a directory in the way): the step's error is what matters.
          }
        }
        throw err;
      }
      // Either type resets the dirty bitmap: the next Diff builds on this memory file.
      if (this.init.trackDirtyPages) this.#base = identify(files.memory);
      this.#lastSnapshot = kind;
      return files;
    });
  }

  stop(options: { graceMs?: number } = {}): Promise<void> {
    this.#stopping ??= (async () => {
      // A paused guest cannot handle Ctrl+Alt+Del; go straight to signals.
      const graceful = this.#state === 'running';
      if (this.#state !== 'failed') this.#state = 'stopping';
      await this.init.proc.stop({ graceMs: options.graceMs ?? 2000, graceful });
      await this.init.resources.run();
      rmSync(this.init.layout.apiSocket, { force: true });
      rmSync(this.init.layout.vsock, { force: true });
      if (this.#state !== 'failed') this.#state = 'stopped';
    })();
    return this.#stopping;
  }

  destroy(): Promise<void> {
    this.#destroying ??= (async () => {
      await this.stop({ graceMs: 0 });
      await this.init.files.run();
      this.init.onGone?.(this);
    })();
    return this.#destroying;
  }

  onOutput(listener: (line: OutputLine) => void): () => void {
    this.init.listeners.add(listener);
    return () => this.init.listeners.delete(listener);
  }
}

function moveFile(src: string, dst: string): void {
  try {
    renameSync(src, dst);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EXDEV') throw err;
    copyFileSync(src, dst);
    rmSync(src, { force: true });
  }
}
