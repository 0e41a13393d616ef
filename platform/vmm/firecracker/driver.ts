/**
 * The Firecracker machine driver: microVMs on KVM with real memory snapshots.
 *
 * `boot` and `restore` run the named step lists of boot.ts and restore.ts on a fresh context;
 * whatever fails, the context's cleanup stacks unwind so no process, socket, workspace, jail or
 * disk clone is left, and the error names the failing step. `fork` pauses a running source once,
 * snapshots it, resumes it and restores N clones concurrently from that one snapshot; the clones
 * share its memory file, and a snapshot directory the driver made is removed with the last clone.
 * The composition root builds one driver from `FirecrackerDriverOptions`.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import type { BootSpec, DriverCapabilities, DriverStats, Machine, MachineDriver, RestoreSpec, SnapshotFiles } from '../port.ts';
import { runBoot } from './boot.ts';
import { reflinkWorks } from './disk.ts';
import { FcInvalidState } from './errors.ts';
import { newContext, unwind, type FlowContext } from './flow.ts';
import { FirecrackerMachine } from './machine.ts';
import { diffSnapshotsOn, resolveOptions, type FirecrackerDriverOptions, type ResolvedOptions } from './options.ts';
import { runRestore } from './restore.ts';
import { SparePool } from './spares.ts';

export type { FirecrackerDriverOptions, NetworkAttachment, NetworkProvider } from './options.ts';
export { FirecrackerMachine } from './machine.ts';
export { BOOT_STEPS } from './boot.ts';
export { RESTORE_STEPS } from './restore.ts';

/** What each clone of a fork is created with; unspecified fields come from the source. */
export type CloneSpec = Partial<Omit<RestoreSpec, 'snapshot'>> & { id?: string };

export interface ForkOptions {
  /** Number of clones (ignored when `clones` is given). */
  count?: number;
  clones?: CloneSpec[];
  /** Where the fork's snapshot goes. Default: a directory the driver removes with the last clone. */
  snapshotDir?: string;
}

export interface ForkResult {
  snapshot: SnapshotFiles;
  clones: FirecrackerMachine[];
}

export class FirecrackerDriver implements MachineDriver {
  readonly name = 'firecracker' as const;
  readonly capabilities: DriverCapabilities;
  readonly options: ResolvedOptions;
  #machines = new Set<FirecrackerMachine>();
  readonly spares: SparePool | undefined;
  /** Whether machines that ask for incremental snapshots get them (see `diffSnapshots`). */
  readonly incrementalSnapshots: boolean;

  readonly #ownsSpawner: boolean;

  constructor(options: FirecrackerDriverOptions) {
    this.options = resolveOptions(options);
    this.#ownsSpawner = options.spawner === undefined;
    const probe = (options.diffSnapshots ?? 'auto') === 'auto' && options.workspacesDir !== undefined;
    if (probe) mkdirSync(options.workspacesDir!, { recursive: true });
    this.incrementalSnapshots = diffSnapshotsOn(options.diffSnapshots, probe && reflinkWorks(options.workspacesDir!));
    // Spares need a directory beside the workspaces (rename) and no jail (paths tied to the id).
    if ((options.spares ?? 0) > 0 && options.workspacesDir && !options.jailer) {
      this.spares = new SparePool(this.options, {
        count: options.spares!,
        networkCount: options.networkSpares,
        network: options.network,
        dir: options.workspacesDir,
        log: options.log,
      });
    }
    this.capabilities = {
      snapshot: 'memory',
      pause: true,
      fork: true,
      exec: true,
      isolation: options.jailer ? 'KVM microVM (Firecracker) in a jailer chroot with cgroups, dropped privileges' : 'KVM microVM (Firecracker)',
    };
  }

  /** Machines started by this driver and not yet destroyed. */
  get machines(): ReadonlySet<FirecrackerMachine> {
    return this.#machines;
  }

  boot(spec: BootSpec): Promise<FirecrackerMachine> {
    return this.#create(spec, runBoot);
  }

  stats(): DriverStats {
    if (!this.spares) return { spares: {} };
    const network = this.spares.networkSize;
    return { spares: { plain: this.spares.size - network, network } };
  }

  /** Restores `spec.snapshot`; spares made from now on hold a clone of its disk (see spares.ts). */
  async restore(spec: RestoreSpec): Promise<FirecrackerMachine> {
    const machine = await this.#restore(spec);
    this.spares?.prime(spec.snapshot.disk);
    return machine;
  }

  async #restore(spec: RestoreSpec): Promise<FirecrackerMachine> {
    this.spares?.begin();
    try {
      return await this.#create(spec, (ctx) => runRestore(ctx, undefined, this.spares));
    } finally {
      this.spares?.end();
    }
  }

  async #create(spec: BootSpec, run: (ctx: FlowContext) => Promise<void>): Promise<FirecrackerMachine> {
    const ctx = newContext(spec, this.options, this.incrementalSnapshots);
    try {
      await run(ctx);
    } catch (err) {
      await unwind(ctx);
      throw err;
    }
    const machine = new FirecrackerMachine({
      id: spec.id,
      layout: ctx.layout!,
      proc: ctx.proc!,
      resources: ctx.resources,
      files: ctx.files,
      timings: ctx.timings,
      listeners: ctx.listeners,
      memoryMiB: spec.memoryMiB,
      vcpus: spec.vcpus,
      env: spec.env,
      labels: spec.labels,
      network: spec.network,
      incrementalSnapshots: spec.incrementalSnapshots,
      trackDirtyPages: ctx.trackDirtyPages,
      memoryBase: 'snapshot' in spec ? (spec as RestoreSpec).snapshot.memory : undefined,
      onStep: this.options.onStep,
      onGone: (m) => this.#machines.delete(m),
    });
    this.#machines.add(machine);
    return machine;
  }

  /**
   * Forks a running machine into N clones: pause once, snapshot, resume, then restore every clone
   * concurrently. All or nothing: if any clone fails, the others are destroyed and the error
   * (naming the clone's failing step) is thrown.
   */
  async fork(source: Machine, options: ForkOptions = {}): Promise<ForkResult> {
    if (!(source instanceof FirecrackerMachine) || !this.#machines.has(source)) {
      throw FcInvalidState(`VM ${source.id} was not started by this Firecracker driver and cannot be forked by it`);
    }
    if (source.state !== 'running') {
      throw FcInvalidState(`cannot fork VM ${source.id}: it is ${source.state} (needs running)`, {
        data: { vmId: source.id, state: source.state, attempted: 'fork' },
      });
    }
    const specs: CloneSpec[] = options.clones ?? Array.from({ length: options.count ?? 1 }, () => ({}));
    const base = this.options.workspacesDir ?? path.dirname(source.workspace);
    const owned = options.snapshotDir === undefined;
    const dir = options.snapshotDir ?? mkdtempSync(path.join(base, `.fork-${source.id}-`));
    let snapshot: SnapshotFiles;
    try {
      snapshot = await source.snapshot(dir);
    } catch (err) {
      if (owned) rmSync(dir, { recursive: true, force: true });
      throw err;
    }
    // The snapshot must outlive every clone (their memory is mapped from it).
    let refs = specs.length;
    const release = () => {
      if (--refs === 0 && owned) rmSync(dir, { recursive: true, force: true });
    };
    const init = source.init;
    const results = await Promise.allSettled(
      specs.map((c) => {
        const id = c.id ?? `${source.id}_f${randomBytes(4).toString('hex')}`;
        // Not restore(): a fork's snapshot is one-off, so spares are not primed with its disk.
        return this.#restore({
          id,
          workspace: c.workspace ?? path.join(base, id),
          memoryMiB: c.memoryMiB ?? init.memoryMiB,
          vcpus: c.vcpus ?? init.vcpus,
          env: c.env ?? init.env,
          network: c.network ?? init.network,
          incrementalSnapshots: c.incrementalSnapshots ?? init.incrementalSnapshots,
          labels: { ...init.labels, ...c.labels, forkOf: source.id },
          image: c.image,
          bundle: c.bundle,
          snapshot,
        });
      }),
    );
    const clones: FirecrackerMachine[] = [];
    let failure: unknown;
    for (const r of results) {
      if (r.status === 'fulfilled') {
        clones.push(r.value);
        r.value.init.files.defer('fork snapshot reference', release);
      } else {
        failure ??= r.reason;
        release();
      }
    }
    if (failure !== undefined) {
      await Promise.allSettled(clones.map((c) => c.destroy()));
      throw failure;
    }
    return { snapshot, clones };
  }

  /** Stops every machine this driver started (records and workspaces stay). */
  async close(): Promise<void> {
    await Promise.allSettled([...this.#machines].map((m) => m.stop({ graceMs: 0 })));
    await this.spares?.close();
    // Its own launcher only: one handed in is the caller's to close.
    if (this.#ownsSpawner) await this.options.spawner.close();
  }
}
