/**
 * Spare VMMs: Firecracker processes spawned ahead of demand, each in a workspace of its own with
 * its API proven ready, so a restore adopts one (a directory rename) instead of paying for a
 * process start and API readiness on its critical path. A load is only accepted by a fresh
 * process, which is exactly what a spare is: nothing has been configured on it.
 *
 * A spare can also hold a ready clone of a disk ("primed"): after a restore from a snapshot, new
 * spares are made with that snapshot's disk already cloned, so the next restore from it skips the
 * disk step too. A restore for another disk takes any spare and removes the primed clone first.
 *
 * Spares serve VMs run directly (no jailer: a jail's paths are tied to the VM id). A VM with
 * network needs its VMM inside its slot's namespace from the start, so it takes a network spare:
 * one started inside a slot leased to the spare, whose lease is handed to the VM on adoption
 * (one UPDATE; the slot and its addresses do not change). Network spares are started once a VM
 * with network has asked for one, so a host that runs none keeps no slots for them. Their
 * directories live beside the VMs' workspaces (the rename must not cross filesystems) as
 * `.spare-<id>`, with a `vmm.pid` file so that a daemon restarted after a crash ends the spare
 * processes of the previous run, checking first that the pid still runs in that directory.
 */
import { existsSync, mkdirSync, readFileSync, readdirSync, readlinkSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { cloneDisk } from './disk.ts';
import { directLayout, FILES, type Layout } from './layout.ts';
import { launchFirecracker, type FirecrackerProcess } from './process.ts';
import type { NetworkAttachment, NetworkProvider, ResolvedOptions } from './options.ts';
import type { OutputLine } from '../port.ts';

const PREFIX = '.spare-';
const PID_FILE = 'vmm.pid';

export interface SpareOptions {
  /** Spares kept ready. */
  count: number;
  /** Directory for spares; must be on the filesystem of the VMs' workspaces. */
  dir: string;
  /** Waits after a failed spare start before the next attempt (default 1 s, doubling to 30 s). */
  retryMs?: number;
  /** Spares started at once (default 2). */
  concurrency?: number;
  /** Network spares kept once a VM with network has asked for one (needs `network.transfer`). */
  networkCount?: number;
  network?: NetworkProvider;
  log?: (event: string, fields: Record<string, unknown>) => void;
}

interface Spare {
  id: string;
  dir: string;
  proc: FirecrackerProcess;
  /** The disk (source path) cloned into the spare as its rootfs, if primed. */
  disk?: string;
  /** A network spare's slot, leased to the spare's id until a VM adopts it. */
  net?: NetworkAttachment;
}

export interface Adopted {
  proc: FirecrackerProcess;
  layout: Layout;
  /** True when the spare already holds a clone of the disk asked for. */
  diskReady: boolean;
  /** A network spare's slot, now leased to the adopting VM. */
  net?: NetworkAttachment;
}

export class SparePool {
  #ready: Spare[] = [];
  #starting = new Map<Promise<void>, boolean>();
  /** Set once a VM with network asked for a spare: from then on network spares are kept too. */
  #wantNet = false;
  #closed = false;
  #primed: string | undefined;
  #failures = 0;
  #retryTimer: NodeJS.Timeout | undefined;
  /** Restores in flight: spares are replaced only when none is, so a refill never competes with them. */
  #restoring = 0;

  constructor(
    private readonly driver: ResolvedOptions,
    private readonly o: SpareOptions,
  ) {
    mkdirSync(o.dir, { recursive: true });
    reapSpares(o.dir);
    this.#fill();
  }

  /** Spares ready now. */
  get size(): number {
    return this.#ready.length;
  }

  /** Resolves when no spare is being started (tests, benchmarks). */
  async settled(): Promise<void> {
    while (this.#starting.size) await Promise.allSettled([...this.#starting.keys()]);
  }

  /**
   * Brackets a restore. Starting a spare costs the caller a synchronous process spawn and the host
   * the VMM's start-up; during a restore or a fork storm that would compete with the clones, so
   * refills wait until no restore is in flight.
   */
  begin(): void {
    this.#restoring++;
  }

  end(): void {
    this.#restoring = Math.max(0, this.#restoring - 1);
    // After the restore has returned to its caller, not inside it: the spawn is synchronous.
    if (this.#restoring === 0) setImmediate(() => this.#fill());
  }

  /** New spares will hold a clone of `disk`. */
  prime(disk: string): void {
    if (this.#primed === disk) return;
    this.#primed = disk;
  }

  /** Spares ready now that hold a network slot. */
  get networkSize(): number {
    return this.#ready.filter((s) => s.net).length;
  }

  /**
   * Moves a ready spare to `workspace` (which must not exist) for VM `vmId`, preferring one primed
   * with `disk`; a network spare when `network`, whose slot's lease then passes to `vmId`. Returns
   * undefined when none is ready or the move fails; starts a replacement.
   */
  adopt(workspace: string, vmId: string, disk: string, onOutput?: (line: OutputLine) => void, network = false): Adopted | undefined {
    if (network && !this.#wantNet && this.#networkTarget() > 0) {
      this.#wantNet = true;
      if (this.#restoring === 0) this.#fill();
    }
    const fits = (s: Spare) => Boolean(s.net) === network;
    let i = this.#ready.findIndex((s) => fits(s) && s.disk === disk);
    if (i === -1) i = this.#ready.findLastIndex(fits);
    if (i < 0) return undefined;
    const [spare] = this.#ready.splice(i, 1);
    if (!spare.proc.alive) {
      rmSync(spare.dir, { recursive: true, force: true });
      this.#fill();
      return undefined;
    }
    try {
      mkdirSync(path.dirname(workspace), { recursive: true });
      // Replaces an empty directory; fails on a non-empty one or across filesystems.
      renameSync(spare.dir, workspace);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      this.o.log?.('spare not adopted', { spare: spare.id, vmId, err: (err as Error).message });
      // The spare is untouched when the target was the problem: keep it for the next restore.
      if (code === 'ENOTEMPTY' || code === 'EEXIST' || code === 'ENOTDIR') this.#ready.push(spare);
      else void this.#discard(spare).then(() => this.#fill());
      return undefined;
    }
    let net: NetworkAttachment | undefined;
    if (spare.net) {
      try {
        net = this.o.network!.transfer!(spare.id, vmId);
      } catch (err) {
        this.o.log?.('spare not adopted', { spare: spare.id, vmId, err: (err as Error).message });
        void this.#discard({ ...spare, dir: workspace }).then(() => this.#fill());
        return undefined;
      }
    }
    this.#fill();
    rmSync(path.join(workspace, PID_FILE), { force: true });
    const diskReady = spare.disk !== undefined && spare.disk === disk;
    if (spare.disk !== undefined && !diskReady) rmSync(path.join(workspace, FILES.rootfs), { force: true });
    const layout = directLayout(workspace);
    spare.proc.relocate(layout, vmId, onOutput);
    return { proc: spare.proc, layout, diskReady, net };
  }

  /** Stops every spare and removes their directories; waits for spares being started. */
  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#retryTimer);
    await this.settled();
    const all = this.#ready.splice(0);
    await Promise.allSettled(all.map((s) => this.#discard(s)));
  }

  #networkTarget(): number {
    return this.o.network?.transfer ? (this.o.networkCount ?? 0) : 0;
  }

  #fill(): void {
    const concurrency = this.o.concurrency ?? 2;
    const count = (net: boolean) => this.#ready.filter((s) => Boolean(s.net) === net).length + [...this.#starting.values()].filter((n) => n === net).length;
    while (!this.#closed && this.#restoring === 0 && this.#retryTimer === undefined && this.#starting.size < concurrency) {
      let net: boolean;
      if (count(false) < this.o.count) net = false;
      else if (this.#wantNet && count(true) < this.#networkTarget()) net = true;
      else break;
      const p = this.#startOne(net).finally(() => {
        this.#starting.delete(p);
        this.#fill();
      });
      this.#starting.set(p, net);
    }
  }

  async #startOne(withNet: boolean): Promise<void> {
    const hex = randomBytes(5).toString('hex');
    const id = `spare-${hex}`;
    const dir = path.join(this.o.dir, `${PREFIX}${hex}`);
    let spare: Spare | undefined;
    let net: NetworkAttachment | undefined;
    try {
      mkdirSync(dir);
      if (withNet) net = await this.o.network!.attach(id);
      const proc = await launchFirecracker(
        {
          binary: this.driver.binary,
          vmId: id,
          layout: directLayout(dir),
          netns: net?.netns,
          logLevel: this.driver.logLevel,
          env: this.driver.env,
          apiTimeoutMs: this.driver.apiTimeoutMs,
        },
        this.driver.spawner,
      );
      spare = { id, dir, proc, net };
      writeFileSync(path.join(dir, PID_FILE), `${proc.pid}\n`);
      await proc.waitReady(this.driver.startTimeoutMs);
      const disk = this.#primed;
      if (disk !== undefined && existsSync(disk)) {
        await cloneDisk(disk, path.join(dir, FILES.rootfs));
        spare.disk = disk;
      }
      if (this.#closed) throw new Error('pool closed');
      this.#failures = 0;
      this.#ready.push(spare);
      // A spare whose VMM dies is useless: drop it and make another.
      void proc.exited.then(() => {
        const i = this.#ready.indexOf(spare!);
        if (i === -1) return;
        this.#ready.splice(i, 1);
        rmSync(dir, { recursive: true, force: true });
        void spare!.net?.release();
        this.#fill();
      });
    } catch (err) {
      if (spare) await this.#discard(spare);
      else {
        rmSync(dir, { recursive: true, force: true });
        await net?.release();
      }
      if (this.#closed) return;
      this.#failures++;
      const wait = Math.min((this.o.retryMs ?? 1000) * 2 ** (this.#failures - 1), 30_000);
      this.o.log?.('spare VMM failed to start', { err: (err as Error).message, retryInMs: wait });
      this.#retryTimer = setTimeout(() => {
        this.#retryTimer = undefined;
        this.#fill();
      }, wait);
      this.#retryTimer.unref();
    }
  }

  async #discard(spare: Spare): Promise<void> {
    await spare.proc.stop({ graceful: false });
    rmSync(spare.dir, { recursive: true, force: true });
    // After a transfer this spare's id holds nothing any more and the release is a no-op.
    await spare.net?.release();
  }
}

/**
 * Ends the spare VMMs a previous run left in `dir` and removes their directories. A pid is only
 * signalled while it still runs with that directory as its working directory, so a recycled pid
 * is never hit.
 */
export function reapSpares(dir: string): number {
  let reaped = 0;
  for (const name of readdirSync(dir)) {
    if (!name.startsWith(PREFIX)) continue;
    const spareDir = path.join(dir, name);
    try {
      const pid = Number(readFileSync(path.join(spareDir, PID_FILE), 'utf8').trim());
      if (Number.isInteger(pid) && pid > 1 && readlinkSync(`/proc/${pid}/cwd`) === spareDir) {
        // Spares lead their own process group (the guest of an emulator goes with it).
        process.kill(-pid, 'SIGKILL');
      }
    } catch {
      // No pid file, or the process is gone: only the directory is left.
    }
    rmSync(spareDir, { recursive: true, force: true });
    reaped++;
  }
  return reaped;
}
