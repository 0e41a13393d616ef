/**
 * An instance: one machine restored from a version's golden snapshot, with its agent client and
 * the bookkeeping the pool needs (requests in flight, when it was last used, whether it may take
 * more work).
 *
 * `startInstance` is the restore path of an invocation: restore → agent client → `POST
 * /v1/restore` (clock, entropy, env and the function's onRestore hook), each step timed.
 */
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { AgentClient } from '../guest/agent-client.ts';
import type { Logger } from '../log.ts';
import type { Registry } from '../registry/registry.ts';
import type { Machine, MachineDriver, MachinePriority, StepTiming } from '../vmm/port.ts';
import type { MachineRecords } from '../vmm/records.ts';
import type { VersionRecord } from './repository.ts';
import type { LogSink } from './logs.ts';
import { newId } from '../ids.ts';

export interface InstanceDeps {
  driver: MachineDriver;
  registry: Registry;
  records: MachineRecords;
  logs: LogSink;
  logger: Logger;
  workspacesDir: string;
  /** Environment added after restore (secrets): never part of the snapshot or the deploy env. */
  runtimeEnv?: (fn: string) => Record<string, string>;
}

export class Instance {
  inflight = 0;
  served = 0;
  lastUsed = Date.now();
  /** No new requests; destroyed once the in-flight ones finish. */
  retiring = false;
  dead = false;

  constructor(
    readonly machine: Machine,
    readonly client: AgentClient,
    readonly version: VersionRecord,
    readonly timings: StepTiming[],
    /** Ids of the invocations in flight (the invoker keeps it), to name raw output lines. */
    readonly invocations: Set<string> = new Set(),
  ) {}

  get id() {
    return this.machine.id;
  }
}

/** Starts an instance; `priority: 'background'` for a version that does not serve yet. */
export async function startInstance(version: VersionRecord, deps: InstanceDeps, priority: MachinePriority = 'normal'): Promise<Instance> {
  const id = newId('vm');
  const workspace = path.join(deps.workspacesDir, id);
  const snapshot = deps.registry.get(version.snapshotId);
  const files = deps.registry.filePaths(snapshot);
  const timings: StepTiming[] = [];
  const t0 = performance.now();
  deps.records.insert({ id, driver: deps.driver.name, role: 'instance', fn: version.fn, version: version.id, workspace, state: 'starting' });
  let machine: Machine | undefined;
  try {
    machine = await deps.driver.restore({
      id,
      workspace,
      snapshot: files,
      digests: Object.fromEntries(Object.entries(snapshot.files).map(([role, f]) => [role, f.digest])),
      env: version.env,
      network: version.settings.network,
      memoryMiB: version.settings.memoryMiB,
      vcpus: version.settings.vcpus,
      labels: { function: version.fn, version: version.id },
      priority,
    });
    timings.push(...machine.timings);
    const m = machine;
    const invocations = new Set<string>();
    m.onOutput((line) => {
      const only = invocations.size === 1 ? invocations.values().next().value : undefined;
      deps.logs.ingest({ fn: version.fn, version: version.id, machine: id, invocation: only }, line);
    });
    deps.records.update(id, { state: 'running', pid: m.pid ?? null });
    const client = new AgentClient(m, { connections: version.settings.concurrency });
    const t1 = performance.now();
    await client.restore({ timeMs: Date.now(), entropy: randomBytes(32).toString('base64'), env: { ...version.env, ...deps.runtimeEnv?.(version.fn) } });
    timings.push({ step: 'agent-restore', ms: performance.now() - t1 });
    timings.push({ step: 'total', ms: performance.now() - t0 });
    deps.logger.debug('instance started', { vm: id, fn: version.fn, version: version.id, timings });
    return new Instance(m, client, version, timings, invocations);
  } catch (err) {
    await machine?.destroy().catch(() => {});
    deps.records.remove(id);
    throw err;
  }
}

export async function destroyInstance(instance: Instance, deps: Pick<InstanceDeps, 'records'>): Promise<void> {
  instance.dead = true;
  await instance.client.close();
  await instance.machine.destroy().catch(() => {});
  deps.records.remove(instance.id);
}
