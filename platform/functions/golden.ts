/**
 * Building a version's golden snapshot (the deploy flow of docs/ARCHITECTURE.md):
 *
 *   build machine boots → agent loads the bundle and runs warmup() → (memory-snapshot drivers:
 *   pause and snapshot) → the files enter the registry as a `golden` snapshot.
 *
 * On the process driver the machine boots with the bundle already named (it loads and warms it
 * before reporting ready) and the golden artifact is the bundle and its map; the healthy build
 * machine is handed back so the pool can adopt it as the first instance. On a memory-snapshot
 * driver the build machine is destroyed after the snapshot.
 *
 * While the daemon serves traffic the build machine boots at background CPU priority (the caller
 * says so): the serving instances and the daemon come first. It is still at that priority when
 * handed back; the pool raises it before the version serves (Pool.promote).
 *
 * Failures are typed by phase: `function_load_failed` (threw at import, no handler),
 * `function_warmup_failed`, or the driver's own error.
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { AgentClient, AgentProblemError } from '../guest/agent-client.ts';
import type { Registry } from '../registry/registry.ts';
import type { Snapshot } from '../registry/types.ts';
import type { Machine, MachineDriver, MachinePriority, StepTiming } from '../vmm/port.ts';
import type { MachineRecords } from '../vmm/records.ts';
import { MachineStartFailed } from '../vmm/errors.ts';
import { newId } from '../ids.ts';
import type { FunctionSettings } from '../config/schema.ts';
import { FunctionLoadFailed, FunctionWarmupFailed } from './errors.ts';
import { yieldToEventLoop } from '../yield.ts';

export interface GoldenInput {
  fn: string;
  versionId: string;
  code: string;
  map: string;
  entry: string;
  settings: FunctionSettings;
  env: Record<string, string>;
  /** `background` while other versions serve traffic (default `normal`). */
  priority?: MachinePriority;
}

export interface GoldenResult {
  snapshot: Snapshot;
  timings: StepTiming[];
  /** A running, loaded machine the pool may adopt (process driver), else undefined. */
  machine?: Machine;
  client?: AgentClient;
}

export interface GoldenDeps {
  driver: MachineDriver;
  registry: Registry;
  records: MachineRecords;
  workspacesDir: string;
  /** Files of the base image (firecracker), by role. */
  baseImage?: Record<string, string>;
  onOutput?: (machineId: string, line: { stream: 'stdout' | 'stderr'; line: string }) => void;
}

export async function buildGolden(input: GoldenInput, deps: GoldenDeps): Promise<GoldenResult> {
  const timings: StepTiming[] = [];
  const step = async <T>(name: string, fn: () => Promise<T> | T): Promise<T> => {
    // Requests in flight go first: see yield.ts.
    await yieldToEventLoop();
    const t = performance.now();
    try {
      return await fn();
    } finally {
      timings.push({ step: name, ms: performance.now() - t });
    }
  };
  const id = newId('vm');
  const workspace = path.join(deps.workspacesDir, id);
  const staging = path.join(deps.workspacesDir, `${id}.staging`);
  mkdirSync(staging, { recursive: true });
  const bundlePath = path.join(staging, 'function.mjs');
  const mapPath = `${bundlePath}.map`;
  writeFileSync(bundlePath, input.code);
  writeFileSync(mapPath, input.map);
  const memorySnapshot = deps.driver.capabilities.snapshot === 'memory';
  deps.records.insert({ id, driver: deps.driver.name, role: 'build', fn: input.fn, version: input.versionId, workspace, state: 'starting' });

  let machine: Machine | undefined;
  let client: AgentClient | undefined;
  let keep = false;
  try {
    machine = await step('boot', async () => {
      try {
        return await deps.driver.boot({
          id,
          workspace,
          image: deps.baseImage,
          // Memory-snapshot drivers get the bundle through the agent below.
          bundle: memorySnapshot ? undefined : bundlePath,
          env: input.env,
          network: input.settings.network,
          memoryMiB: input.settings.memoryMiB,
          vcpus: input.settings.vcpus,
          labels: { function: input.fn, version: input.versionId },
          priority: input.priority ?? 'normal',
        });
      } catch (err) {
        throw translateStartError(err, input.fn);
      }
    });
    const m = machine;
    if (deps.onOutput) m.onOutput((line) => deps.onOutput!(id, line));
    deps.records.update(id, { state: 'running', pid: m.pid ?? null });
    client = new AgentClient(m, { connections: input.settings.concurrency });
    const c = client;
    const files: Record<string, string> = { bundle: bundlePath, sourcemap: mapPath };
    if (memorySnapshot) {
      await step('load', async () => {
        try {
          await c.loadFunction({ code: input.code, map: input.map, filename: 'function.mjs', env: input.env, warmup: true }, input.settings.timeoutMs + 30_000);
        } catch (err) {
          throw translateAgentError(err, input.fn);
        }
      });
      // The agent's connections die with the snapshot; close ours first.
      await c.close();
      const snapDir = path.join(staging, 'snapshot');
      mkdirSync(snapDir, { recursive: true });
      Object.assign(files, await step('snapshot', () => m.snapshot(snapDir)));
    } else {
      await step('health', () => c.health());
    }
    const snapshot = await step('registry', () =>
      deps.registry.createSnapshot({
        kind: 'golden',
        driver: deps.driver.name,
        files,
        config: { entry: input.entry, memoryMiB: input.settings.memoryMiB, vcpus: input.settings.vcpus, agentPort: 52 },
        labels: { 'ignition.function': input.fn, 'ignition.version': input.versionId },
      }),
    );
    keep = !memorySnapshot;
    return keep ? { snapshot, timings, machine: m, client: c } : { snapshot, timings };
  } finally {
    rmSync(staging, { recursive: true, force: true });
    if (!keep) {
      await client?.close();
      await machine?.destroy().catch(() => {});
      rmSync(workspace, { recursive: true, force: true });
      deps.records.remove(id);
    }
  }
}

/** A machine that died while loading the function: say why in the function's terms. */
function translateStartError(err: unknown, fn: string): unknown {
  if (MachineStartFailed.is(err)) {
    const guestCode = err.data.guestCode as string | undefined;
    if (guestCode === 'function_load_failed' || guestCode === 'function_no_handler') {
      return FunctionLoadFailed(`function ${fn} failed to load: ${err.message.replace(/^.*?: /, '')}`, { cause: err, data: { output: err.data.output } });
    }
    if (guestCode === 'function_warmup_failed') return FunctionWarmupFailed(`function ${fn}: ${err.message.replace(/^.*?: /, '')}`, { cause: err });
  }
  return err;
}

function translateAgentError(err: unknown, fn: string): unknown {
  if (err instanceof AgentProblemError) {
    if (err.code === 'function_load_failed' || err.code === 'function_no_handler')
      return FunctionLoadFailed(`function ${fn} failed to load: ${err.detail}`, { cause: err });
    if (err.code === 'function_warmup_failed') return FunctionWarmupFailed(`function ${fn}: ${err.detail}`, { cause: err });
  }
  return err;
}
