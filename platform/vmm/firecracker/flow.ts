/**
 * What boot and restore share: the context both step lists work on, and the steps both contain
 * (workspace, network slot, spawn, API readiness, agent health). Each step that acquires something
 * registers its cleanup at once, on `resources` (released by stop) or `files` (removed by
 * destroy), so a failure at any later step unwinds exactly what exists.
 */
import { mkdirSync, rmSync } from 'node:fs';
import type { BootSpec, OutputLine, StepTiming } from '../port.ts';
import { waitForAgent, type AgentHealth } from './agent.ts';
import { CleanupStack } from './cleanup.ts';
import { IgnitionError } from '../../errors.ts';
import { FcConfigInvalid } from './errors.ts';
import { directLayout, jailedLayout, type Layout } from './layout.ts';
import type { NetworkAttachment, ResolvedOptions } from './options.ts';
import { launchFirecracker, type FirecrackerProcess } from './process.ts';
import type { Step } from './steps.ts';

export interface FlowContext {
  spec: BootSpec;
  opts: ResolvedOptions;
  resources: CleanupStack;
  files: CleanupStack;
  timings: StepTiming[];
  listeners: Set<(line: OutputLine) => void>;
  layout?: Layout;
  proc?: FirecrackerProcess;
  net?: NetworkAttachment;
  health?: AgentHealth;
  /** Dirty page tracking for this VM: incremental snapshots are on and the spec asks for them. */
  trackDirtyPages: boolean;
}

export function newContext(spec: BootSpec, opts: ResolvedOptions, incremental = false): FlowContext {
  return {
    spec,
    opts,
    trackDirtyPages: incremental && spec.incrementalSnapshots === true,
    resources: new CleanupStack(),
    files: new CleanupStack(),
    timings: [],
    listeners: new Set(spec.onOutput ? [spec.onOutput] : []),
  };
}

/** Runs both stacks: the process and slot first, then the files. */
export async function unwind(ctx: FlowContext): Promise<Error[]> {
  const a = await ctx.resources.run();
  const b = await ctx.files.run();
  return [...a, ...b];
}

export const need = <T>(value: T | undefined, what: string): T => {
  if (value === undefined) throw new Error(`internal: ${what} is not ready`);
  return value;
};

export const workspaceStep: Step<FlowContext> = {
  name: 'workspace',
  run(ctx) {
    const { spec, opts } = ctx;
    mkdirSync(spec.workspace, { recursive: true });
    ctx.files.defer('workspace', () => rmSync(spec.workspace, { recursive: true, force: true }));
    const layout = opts.jailer ? jailedLayout(spec.workspace, opts.jailer, opts.binary, spec.id) : directLayout(spec.workspace);
    ctx.files.defer('layout', () => layout.dispose());
    ctx.layout = layout;
  },
};

export const networkStep: Step<FlowContext> = {
  name: 'network',
  when: (ctx) => ctx.spec.network,
  async run(ctx) {
    if (!ctx.opts.network) {
      throw FcConfigInvalid(`VM ${ctx.spec.id} asks for network access but the Firecracker driver has no network provider`);
    }
    const net = await ctx.opts.network.attach(ctx.spec.id);
    // Registered before the process, so it runs after the VMM has exited (the stack runs in
    // reverse): a slot is torn down only once nothing holds its TAP or its namespace.
    ctx.resources.defer('network', () => net.release());
    ctx.net = net;
  },
};

export const spawnStep: Step<FlowContext> = {
  name: 'spawn',
  async run(ctx) {
    const proc = await launchFirecracker(
      {
        binary: ctx.opts.binary,
        vmId: ctx.spec.id,
        layout: need(ctx.layout, 'layout'),
        jailer: ctx.opts.jailer,
        // A clone slot's TAP exists only inside the slot's namespace: the VMM must start there.
        netns: ctx.net?.netns,
        logLevel: ctx.opts.logLevel,
        env: ctx.opts.env,
        apiTimeoutMs: ctx.opts.apiTimeoutMs,
        onOutput: (line) => {
          for (const l of ctx.listeners) l(line);
        },
      },
      ctx.opts.spawner,
    );
    ctx.resources.defer('firecracker process', () => proc.stop({ graceful: false }));
    ctx.proc = proc;
  },
};

export const apiReadyStep: Step<FlowContext> = {
  name: 'api-ready',
  run: (ctx) => need(ctx.proc, 'process').waitReady(ctx.opts.startTimeoutMs),
};

export function agentHealthStep(timeoutOf: (opts: ResolvedOptions) => number): Step<FlowContext> {
  return {
    name: 'agent-health',
    async run(ctx) {
      const proc = need(ctx.proc, 'process');
      try {
        ctx.health = await waitForAgent(need(ctx.layout, 'layout').vsock, timeoutOf(ctx.opts), proc.exited, ctx.spec.id);
      } catch (err) {
        // The console tail usually says why the guest never came up (panic, agent crash).
        if (err instanceof IgnitionError) err.data.console = proc.stderrTail.slice(-2000);
        throw err;
      }
    },
  };
}
