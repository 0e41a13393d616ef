/**
 * User-managed machines (`ignition vm …`, `/v1/vms`): the low-level surface under functions.
 *
 * A VM runs the agent like any instance, booted from a base image or restored from a registry
 * snapshot, and is recorded in the machines table (role `vm`). `kill` stops it and keeps the
 * record; `rm` removes record and workspace. What a driver cannot do (a process cannot be
 * snapshotted or forked) is a typed `unsupported` error, never a fake.
 */
import path from 'node:path';
import { mkdtempSync, rmSync } from 'node:fs';
import { AgentClient } from '../guest/agent-client.ts';
import { BadRequest, Conflict, NotFound, Unsupported } from '../errors.ts';
import { newId } from '../ids.ts';
import type { Snapshot } from '../registry/types.ts';
import type { Machine, OutputLine } from '../vmm/port.ts';
import type { MachineRecord } from '../vmm/records.ts';
import type { ExecEvent, ExecRequest } from '../../agent/protocol.ts';
import { assertFunctionName } from '../functions/names.ts';
import { MachineNotRunning } from '../vmm/errors.ts';
import type { InstanceDeps } from '../functions/instance.ts';
import { checkVmSize } from './limits.ts';

export interface VmServiceDeps extends Omit<InstanceDeps, 'runtimeEnv'> {
  /** Base image files by role (firecracker: kernel, rootfs); undefined for the process driver. */
  baseImage?: Record<string, string>;
}

export interface RunVmInput {
  name?: string;
  /** Registry snapshot (id, name or tag) to restore from; otherwise boot the base image. */
  snapshot?: string;
  /** Registry base-image snapshot to boot; default: the configured base image. */
  image?: string;
  memoryMiB?: number;
  vcpus?: number;
  env?: Record<string, string>;
  network?: boolean;
}

interface Live {
  machine: Machine;
  memoryMiB: number;
  vcpus: number;
  client: AgentClient;
  name: string | null;
  source: string | null;
}

export class VmService {
  private readonly live = new Map<string, Live>();
  /** Name → id, for every VM record (running or not): names outlive a daemon restart. */
  private readonly names = new Map<string, string>();

  constructor(private readonly deps: VmServiceDeps) {
    for (const r of deps.records.list('vm')) if (r.name) this.names.set(r.name, r.id);
  }

  async run(input: RunVmInput) {
    checkVmSize('memoryMiB', input.memoryMiB);
    checkVmSize('vcpus', input.vcpus);
    if (input.name !== undefined) {
      assertFunctionName(input.name, 'VM name');
      if (this.names.has(input.name)) throw Conflict(`a VM named "${input.name}" already exists`);
    }
    const id = newId('vm');
    const workspace = path.join(this.deps.workspacesDir, id);
    let snapshot: Snapshot | undefined;
    if (input.snapshot) snapshot = this.deps.registry.get(input.snapshot);
    // A restored VM has the memory and vCPUs its snapshot was taken with; nothing can change them.
    const size = snapshot ? restoredSize(snapshot, input) : { memoryMiB: input.memoryMiB ?? 128, vcpus: input.vcpus ?? 1 };
    const spec = {
      id,
      workspace,
      ...size,
      env: input.env ?? {},
      network: input.network ?? false,
      labels: { vm: input.name ?? id },
      // A VM of this surface is snapshotted and forked at will: later snapshots can be Diffs.
      incrementalSnapshots: true,
      // From the first line on, so `vm logs` shows the guest coming up.
      onOutput: (line: OutputLine) => this.deps.logs.ingest({ fn: id, machine: id }, line),
    };
    const image = input.image ? this.deps.registry.filePaths(this.deps.registry.get(input.image)) : this.deps.baseImage;
    this.deps.records.insert({ id, driver: this.deps.driver.name, role: 'vm', workspace, state: 'starting', name: input.name ?? null });
    if (input.name !== undefined) this.names.set(input.name, id);
    let machine: Machine;
    try {
      machine = snapshot
        ? await this.deps.driver.restore({ ...spec, snapshot: this.deps.registry.filePaths(snapshot) })
        : await this.deps.driver.boot({ ...spec, image });
    } catch (err) {
      this.deps.records.remove(id);
      if (input.name !== undefined) this.names.delete(input.name);
      rmSync(workspace, { recursive: true, force: true });
      throw err;
    }
    return this.adopt(machine, input.name ?? null, snapshot?.id ?? null, spec, false);
  }

  /** `subscribe`: the machine's output is not yet going to the logs (a fork clone's is not). */
  private adopt(machine: Machine, name: string | null, source: string | null, size: { memoryMiB: number; vcpus: number }, subscribe = true) {
    const client = new AgentClient(machine);
    if (subscribe) machine.onOutput((line) => this.deps.logs.ingest({ fn: machine.id, machine: machine.id }, line));
    this.live.set(machine.id, { machine, client, name, source, memoryMiB: size.memoryMiB, vcpus: size.vcpus });
    this.deps.records.update(machine.id, { state: machine.state, pid: machine.pid ?? null });
    void machine.exited.then(() => {
      if (this.live.has(machine.id)) this.deps.records.update(machine.id, { state: 'stopped', pid: null });
    });
    return this.describe(machine.id);
  }

  /** Resolves an id or a name to a record. */
  private record(ref: string): MachineRecord {
    const id = this.names.get(ref) ?? ref;
    const r = this.deps.records.get(id);
    if (!r || r.role !== 'vm') throw NotFound(`no VM "${ref}"`, { data: { vm: ref } });
    return r;
  }

  private running(ref: string): Live {
    const r = this.record(ref);
    const live = this.live.get(r.id);
    if (!live || live.machine.state === 'stopped' || live.machine.state === 'failed') {
      throw MachineNotRunning(`VM ${r.id} is not running (state: ${live?.machine.state ?? r.state})`, { data: { vm: r.id } });
    }
    return live;
  }

  list() {
    return this.deps.records.list('vm').map((r) => this.describe(r.id));
  }

  describe(ref: string) {
    const r = this.record(ref);
    const live = this.live.get(r.id);
    return {
      id: r.id,
      name: r.name ?? null,
      driver: r.driver,
      state: live?.machine.state ?? r.state,
      pid: live?.machine.pid ?? null,
      workspace: r.workspace,
      memoryMiB: live?.memoryMiB ?? null,
      vcpus: live?.vcpus ?? null,
      source: live?.source ?? null,
      timings: live?.machine.timings ?? [],
      createdAt: new Date(r.createdAt).toISOString(),
    };
  }

  async pause(ref: string) {
    await this.running(ref).machine.pause();
    this.deps.records.update(this.record(ref).id, { state: 'paused' });
    return this.describe(ref);
  }

  async resume(ref: string) {
    await this.running(ref).machine.resume();
    this.deps.records.update(this.record(ref).id, { state: 'running' });
    return this.describe(ref);
  }

  exec(ref: string, req: ExecRequest, signal?: AbortSignal): AsyncGenerator<ExecEvent> {
    if (!this.deps.driver.capabilities.exec) throw Unsupported(`the ${this.deps.driver.name} driver cannot exec`);
    const live = this.running(ref);
    // A paused guest cannot answer: refuse at once rather than hang until the client gives up.
    if (live.machine.state === 'paused') {
      throw Conflict(`VM ${live.machine.id} is paused: resume it to exec`, { data: { vm: live.machine.id, state: 'paused' } });
    }
    return live.client.exec(req, signal);
  }

  async snapshot(ref: string, name?: string) {
    const live = this.running(ref);
    if (this.deps.driver.capabilities.snapshot !== 'memory') {
      throw Unsupported(`the ${this.deps.driver.name} driver cannot snapshot a running machine (no memory snapshot); use the firecracker driver`, {
        phase: 'snapshot',
      });
    }
    await live.client.close();
    const dir = mkdtempSync(path.join(this.deps.workspacesDir, `.snap-${live.machine.id}-`));
    try {
      const files = await live.machine.snapshot(dir);
      const snapshot = await this.deps.registry.createSnapshot({
        name: name ?? null,
        kind: 'manual',
        driver: this.deps.driver.name,
        parent: live.source,
        files,
        config: { memoryMiB: live.memoryMiB, vcpus: live.vcpus, agentPort: 52 },
        labels: { 'ignition.vm': live.machine.id },
      });
      // `dir` goes below; the registry's identical copy is the base of this VM's next snapshot.
      live.machine.rebase?.(this.deps.registry.filePaths(snapshot));
      return snapshot;
    } finally {
      rmSync(dir, { recursive: true, force: true });
      this.live.set(live.machine.id, { ...live, client: new AgentClient(live.machine) });
    }
  }

  async fork(ref: string, count: number) {
    const live = this.running(ref);
    const driver = this.deps.driver;
    if (!driver.fork) throw Unsupported(`the ${driver.name} driver cannot fork a running machine`, { phase: 'snapshot' });
    if (!Number.isInteger(count) || count < 1 || count > 1000)
      throw BadRequest(`fork count must be an integer from 1 to 1000 (got ${count})`, { data: { count } });
    await live.client.close();
    const { clones } = await driver.fork(live.machine, { count });
    this.live.set(live.machine.id, { ...live, client: new AgentClient(live.machine) });
    return clones.map((m) => {
      this.deps.records.insert({ id: m.id, driver: this.deps.driver.name, role: 'vm', workspace: m.workspace, state: m.state, pid: m.pid });
      return this.adopt(m, null, live.machine.id, live);
    });
  }

  /** Stops the VM; the record stays (state `stopped`). */
  async kill(ref: string) {
    const r = this.record(ref);
    const live = this.live.get(r.id);
    if (live) {
      await live.client.close();
      await live.machine.stop({ graceMs: 1000 });
    }
    this.deps.records.update(r.id, { state: 'stopped', pid: null });
    return this.describe(r.id);
  }

  /** Stops the VM and removes its record and workspace. */
  async remove(ref: string) {
    const r = this.record(ref);
    const live = this.live.get(r.id);
    if (live) {
      await live.client.close();
      await live.machine.destroy();
      this.live.delete(r.id);
    }
    if (r.name) this.names.delete(r.name);
    rmSync(r.workspace, { recursive: true, force: true });
    this.deps.records.remove(r.id);
    this.deps.logs.deleteFunction(r.id);
    return { removed: r.id };
  }

  logs(ref: string, limit = 200) {
    return this.deps.logs.query(this.record(ref).id, { limit });
  }

  async close() {
    for (const live of this.live.values()) {
      await live.client.close();
      await live.machine.stop({ graceMs: 1000 }).catch(() => {});
      this.deps.records.update(live.machine.id, { state: 'stopped', pid: null });
    }
    this.live.clear();
  }
}

/** The size of a VM restored from `snapshot`; sizes the caller gives must match it. */
function restoredSize(snapshot: Snapshot, input: RunVmInput): { memoryMiB: number; vcpus: number } {
  const config = snapshot.config as { memoryMiB?: unknown; vcpus?: unknown };
  const memoryMiB = typeof config.memoryMiB === 'number' ? config.memoryMiB : (input.memoryMiB ?? 128);
  const vcpus = typeof config.vcpus === 'number' ? config.vcpus : (input.vcpus ?? 1);
  if ((input.memoryMiB !== undefined && input.memoryMiB !== memoryMiB) || (input.vcpus !== undefined && input.vcpus !== vcpus)) {
    throw BadRequest(
      `snapshot ${snapshot.id} was taken with ${memoryMiB} MiB and ${vcpus} vCPU(s); a VM restored from it has the same (leave out --memory/--vcpus)`,
      {
        data: { snapshot: snapshot.id, memoryMiB, vcpus },
      },
    );
  }
  return { memoryMiB, vcpus };
}
