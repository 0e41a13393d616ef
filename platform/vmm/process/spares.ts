/**
 * Spare sandboxes: agents started ahead of demand with no function loaded, so that a start (a
 * deploy's build machine, a pool's instance, a cold start from zero) adopts one and only loads the
 * bundle into it. A sandbox and a Node start cost far more than a load of a small bundle into a
 * running agent (the `cold` benchmark measures a start both ways). It is the process
 * driver's counterpart of Firecracker's spare VMMs (platform/vmm/firecracker/spares.ts).
 *
 * A spare is started like any background machine (cpu-policy.ts), in `<workspaces>/.pspare-<id>`, and adopted by renaming that directory to the
 * machine's workspace: the directory's inode, and with it the sandbox's bind mount, the agent's
 * socket and the process's working directory, stay the same. A spare that a crashed daemon left
 * is swept by the machine reaper like any unrecorded workspace (its processes are found by
 * working directory).
 *
 * Spares are made for one shape, the function defaults' memory (the agent's heap limit) and no
 * network (bwrap's --unshare-net): a start with another shape starts cold. A replacement starts
 * one at a time after each adoption; after a failed start the next waits, doubling from 1 s to
 * 30 s, so a host that cannot start agents is not kept busy trying.
 */
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import type { Logger } from '../../log.ts';

/** The shape of the sandboxes kept spare. */
export interface SpareShape {
  memoryMiB: number;
  network: boolean;
}

/** What the pool needs of a machine it keeps: whether it still runs, and how to end it. */
export interface SpareMachine {
  state: string;
  destroy(): Promise<void>;
}

export interface ProcessSpareOptions {
  /** Spares kept ready. */
  count: number;
  /** Where spare directories live: the workspaces directory (the adoption renames within it). */
  dir: string;
  shape: SpareShape;
  logger: Logger;
  /** First wait after a failed start (default 1 s, doubling to 30 s). */
  retryMs?: number;
  /**
   * Called when a start found no spare ready while one was starting. Spares start as background
   * work, which suits a replacement after a deploy; but a start that missed means starts come
   * faster than spares (fresh isolation, a scale-up), and the one starting is wanted now.
   */
  onMiss?: () => void;
}

export const SPARE_PREFIX = '.pspare-';
const MAX_RETRY_MS = 30_000;

export class ProcessSpares<M extends SpareMachine> {
  readonly #ready: M[] = [];
  #starting: Promise<void> | undefined;
  #closed = false;
  #failures = 0;
  #retryTimer: NodeJS.Timeout | undefined;
  #holds = 0;

  constructor(
    private readonly o: ProcessSpareOptions,
    /** Starts a machine with no function in `workspace`, at background priority. */
    private readonly startOne: (id: string, workspace: string, shape: SpareShape) => Promise<M>,
  ) {}

  /** Spares ready now. */
  get size(): number {
    return this.#ready.length;
  }

  /** Whether a start of this shape can adopt a spare. */
  fits(shape: SpareShape): boolean {
    return shape.memoryMiB === this.o.shape.memoryMiB && shape.network === this.o.shape.network;
  }

  /** A ready spare for `shape` (it is no longer the pool's), or undefined; a replacement follows. */
  take(shape: SpareShape): M | undefined {
    if (this.#closed || !this.fits(shape)) return undefined;
    let spare: M | undefined;
    while ((spare = this.#ready.shift()) && spare.state !== 'running') void spare.destroy();
    if (!spare && this.#starting) this.o.onMiss?.();
    this.fill();
    return spare;
  }

  /**
   * No replacement starts until the returned release is called (every hold counted; releasing
   * twice is harmless). A start may still adopt a ready spare.
   */
  hold(): () => void {
    this.#holds++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.#holds--;
      this.fill();
    };
  }

  /** Starts spares (one at a time) until `count` are ready, unless held. */
  fill(): void {
    if (this.#closed || this.#holds > 0 || this.#starting || this.#retryTimer || this.#ready.length >= this.o.count) return;
    const id = `spare_${randomBytes(6).toString('hex')}`;
    const workspace = path.join(this.o.dir, `${SPARE_PREFIX}${id}`);
    this.#starting = this.startOne(id, workspace, this.o.shape).then(
      (machine) => {
        this.#starting = undefined;
        this.#failures = 0;
        if (this.#closed) return machine.destroy();
        this.#ready.push(machine);
        this.fill();
      },
      (err: Error) => {
        this.#starting = undefined;
        if (this.#closed) return;
        const waitMs = Math.min(MAX_RETRY_MS, (this.o.retryMs ?? 1000) * 2 ** this.#failures++);
        this.o.logger.warn('could not start a spare sandbox; retrying', { err: err.message, retryInMs: waitMs });
        this.#retryTimer = setTimeout(() => {
          this.#retryTimer = undefined;
          this.fill();
        }, waitMs);
        this.#retryTimer.unref();
      },
    );
  }

  /** Resolves when no spare is starting (tests, benchmarks). */
  async settled(): Promise<void> {
    while (this.#starting) await this.#starting;
  }

  /** Stops refilling and ends every spare, ready or starting. */
  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#retryTimer);
    await this.#starting?.catch(() => undefined);
    await Promise.all(this.#ready.splice(0).map((m) => m.destroy()));
  }
}
