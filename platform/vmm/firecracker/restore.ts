/**
 * Restore as a named step list: the boot list without its configuration steps, plus the snapshot
 * steps. A fresh Firecracker process per clone (load is refused once any boot resource is set),
 * the snapshot's disk cloned copy-on-write to the path the snapshot stored (there is no drive
 * override), the memory file mapped straight from the registry with the File backend (shared by
 * every clone, never copied), the vsock socket overridden per clone and any TAP swapped for the
 * clone's own, resumed by the load itself, then the agent's health over vsock (connections never
 * survive a restore).
 * With a spare pool the fresh process was started ahead (spares.ts): the workspace step adopts it
 * and spawn and api-ready drop out of the list, as does the disk step when the spare holds a clone
 * of this snapshot's disk already, and the network step when it was a network spare (its slot
 * comes with it).
 */
import { rmSync, statSync } from 'node:fs';
import path from 'node:path';
import type { OutputLine, RestoreSpec } from '../port.ts';
import { cloneDisk } from './disk.ts';
import { FcRestoreFailed, FcSnapshotMissing } from './errors.ts';
import { agentHealthStep, apiReadyStep, need, networkStep, spawnStep, workspaceStep, type FlowContext } from './flow.ts';
import { guestNetworkStep } from './guest-network.ts';
import { FILES } from './layout.ts';
import type { Adopted, SparePool } from './spares.ts';
import { runSteps, type Step } from './steps.ts';

const api = (ctx: FlowContext) => need(ctx.proc, 'process').client;
const snap = (ctx: FlowContext) => (ctx.spec as RestoreSpec).snapshot;

export const SNAPSHOT_ROLES = ['state', 'memory', 'disk'] as const;

/** The paths the load call uses (staged into the jail when jailed). */
interface Staged {
  state: string;
  memory: string;
}
const staged = new WeakMap<FlowContext, Staged>();
/** The spare pool a restore may adopt from, and the spare it adopted. */
const pools = new WeakMap<FlowContext, SparePool>();
const adopted = new WeakMap<FlowContext, Adopted>();

/**
 * The workspace of a restore: a spare VMM's, renamed into place, when the pool has one and the VM
 * can use it (no jailer, no network slot of its own: see spares.ts); otherwise a new directory.
 * Adopting registers the same cleanups spawn would, so an unwind stops and removes it alike.
 */
const restoreWorkspaceStep: Step<FlowContext> = {
  name: 'workspace',
  run(ctx) {
    const pool = pools.get(ctx);
    const forward = (line: OutputLine) => {
      for (const l of ctx.listeners) l(line);
    };
    const spare = pool && !ctx.opts.jailer ? pool.adopt(ctx.spec.workspace, ctx.spec.id, snap(ctx).disk, forward, ctx.spec.network) : undefined;
    if (!spare) return workspaceStep.run(ctx);
    adopted.set(ctx, spare);
    ctx.files.defer('workspace', () => rmSync(ctx.spec.workspace, { recursive: true, force: true }));
    ctx.layout = spare.layout;
    if (spare.net) {
      // Released after the process has stopped, as the network step's slot is.
      const net = spare.net;
      ctx.resources.defer('network', () => net.release());
      ctx.net = net;
    }
    ctx.proc = spare.proc;
    ctx.resources.defer('firecracker process', () => spare.proc.stop({ graceful: false }));
  },
};
const fresh = (ctx: FlowContext) => !adopted.has(ctx);

export const RESTORE_STEPS: readonly Step<FlowContext>[] = [
  {
    name: 'check-snapshot',
    run(ctx) {
      for (const role of SNAPSHOT_ROLES) {
        const file = snap(ctx)[role];
        let size = -1;
        try {
          size = file ? statSync(file).size : -1;
        } catch {
          size = -1;
        }
        if (size <= 0) {
          throw FcSnapshotMissing(`snapshot ${role} file ${file ?? '(not given)'} is missing or empty`, { data: { role, path: file } });
        }
      }
    },
  },
  restoreWorkspaceStep,
  {
    name: 'disk',
    when: (ctx) => !adopted.get(ctx)?.diskReady,
    async run(ctx) {
      const layout = need(ctx.layout, 'layout');
      await cloneDisk(snap(ctx).disk, path.join(layout.root, FILES.rootfs));
      layout.own(path.join(layout.root, FILES.rootfs));
    },
  },
  // An adopted network spare brought its slot along.
  { ...networkStep, when: (ctx) => ctx.spec.network && ctx.net === undefined },
  { ...spawnStep, when: fresh },
  { ...apiReadyStep, when: fresh },
  {
    name: 'stage-snapshot',
    run(ctx) {
      const layout = need(ctx.layout, 'layout');
      staged.set(ctx, {
        state: layout.stage(snap(ctx).state, 'vmstate.snap'),
        // Hard link or nothing: the memory file is never copied.
        memory: layout.stage(snap(ctx).memory, 'memory.snap', { noCopy: true }),
      });
    },
  },
  {
    name: 'snapshot-load',
    run(ctx) {
      const files = need(staged.get(ctx), 'staged snapshot');
      const net = ctx.net;
      return api(ctx).loadSnapshot(
        {
          snapshot_path: files.state,
          mem_backend: { backend_type: 'File', backend_path: files.memory },
          // Not saved in the snapshot: sent on every load (on only for incremental snapshots).
          track_dirty_pages: ctx.trackDirtyPages,
          // Nothing needs doing between load and resume: one API call fewer on every restore.
          resume_vm: true,
          vsock_override: { uds_path: FILES.vsock },
          ...(net ? { network_overrides: [{ iface_id: net.ifaceId, host_dev_name: net.hostDevName }] } : {}),
        },
        { timeoutMs: Math.max(ctx.opts.apiTimeoutMs, 30_000) },
      );
    },
  },
  agentHealthStep((o) => o.restoreAgentTimeoutMs),
  // Only with a network attachment: flush the guest's neighbours (slot) or re-address it (bridge).
  guestNetworkStep,
];

/** Runs the restore list; throws `fc_restore_failed` naming the step (or `fc_snapshot_missing`). */
export async function runRestore(ctx: FlowContext, steps: readonly Step<FlowContext>[] = RESTORE_STEPS, spares?: SparePool): Promise<void> {
  if (spares) pools.set(ctx, spares);
  await runSteps(steps, ctx, ctx.timings, FcRestoreFailed, `restore of ${ctx.spec.id}`, (e) => ctx.opts.onStep?.({ ...e, vmId: ctx.spec.id, flow: 'restore' }));
}
