/**
 * Cold boot as a named step list. The order follows what Firecracker requires and what it costs:
 * the rootfs is cloned into the workspace first (the base image is never written), the process is
 * spawned and proven ready, the pre-boot resources are configured (machine, kernel, drive, net,
 * vsock, entropy), `InstanceStart`, then readiness is proven again at the guest: the agent's health
 * over vsock. A function bundle, if any, is loaded and warmed by the agent last.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { agentRequest } from './agent.ts';
import { cloneDisk } from './disk.ts';
import { FcBootFailed, FcConfigInvalid } from './errors.ts';
import { agentHealthStep, apiReadyStep, need, networkStep, spawnStep, workspaceStep, type FlowContext } from './flow.ts';
import { FILES } from './layout.ts';
import { runSteps, type Step } from './steps.ts';
import { guestBootArgs } from './guest-network.ts';

const api = (ctx: FlowContext) => need(ctx.proc, 'process').client;

function imageFile(ctx: FlowContext, role: 'kernel' | 'rootfs'): string {
  const file = ctx.spec.image?.[role] ?? ctx.opts[role];
  if (!file || !existsSync(file)) {
    throw FcConfigInvalid(`${role} image ${file || '(none configured)'} does not exist`, { data: { role, path: file } });
  }
  return file;
}

export const BOOT_STEPS: readonly Step<FlowContext>[] = [
  workspaceStep,
  {
    name: 'disk',
    async run(ctx) {
      const layout = need(ctx.layout, 'layout');
      const src = imageFile(ctx, 'rootfs');
      imageFile(ctx, 'kernel');
      // Removed with the workspace (or the jail): the files stack already covers it.
      await cloneDisk(src, path.join(layout.root, FILES.rootfs));
      // Opened read-write by the VMM, which runs as the jail's uid under the jailer.
      layout.own(path.join(layout.root, FILES.rootfs));
    },
  },
  networkStep,
  spawnStep,
  apiReadyStep,
  {
    name: 'machine-config',
    run: (ctx) =>
      api(ctx).putMachineConfig({
        vcpu_count: ctx.spec.vcpus,
        mem_size_mib: ctx.spec.memoryMiB,
        smt: false,
        ...(ctx.trackDirtyPages ? { track_dirty_pages: true } : {}),
      }),
  },
  {
    name: 'boot-source',
    run(ctx) {
      const kernel = need(ctx.layout, 'layout').stage(imageFile(ctx, 'kernel'), 'vmlinux');
      // A VM with network gets its address on the command line (init reads ignition.ip=), so a
      // golden snapshot holds the address every clone slot gives its guest.
      return api(ctx).putBootSource({ kernel_image_path: kernel, boot_args: guestBootArgs(ctx.opts.bootArgs, ctx.net) });
    },
  },
  {
    name: 'drives',
    // Relative to the VMM's cwd, so a snapshot of this VM restores in any other workspace.
    run: (ctx) => api(ctx).putDrive({ drive_id: 'rootfs', path_on_host: FILES.rootfs, is_root_device: true, is_read_only: false }),
  },
  {
    name: 'network-interfaces',
    when: (ctx) => ctx.net !== undefined,
    run(ctx) {
      const net = need(ctx.net, 'network');
      return api(ctx).putNetworkInterface({ iface_id: net.ifaceId, host_dev_name: net.hostDevName, guest_mac: net.guestMac });
    },
  },
  {
    name: 'vsock',
    run: (ctx) => api(ctx).putVsock({ guest_cid: ctx.opts.guestCid, uds_path: FILES.vsock }),
  },
  {
    name: 'entropy',
    // virtio-rng lets clones reseed from the host instead of sharing the snapshot's pool.
    run: (ctx) => api(ctx).putEntropy({}),
  },
  { name: 'instance-start', run: (ctx) => api(ctx).instanceStart() },
  agentHealthStep((o) => o.bootAgentTimeoutMs),
  {
    name: 'load-function',
    when: (ctx) => ctx.spec.bundle !== undefined,
    async run(ctx) {
      const bundle = need(ctx.spec.bundle, 'bundle');
      const code = readFileSync(bundle, 'utf8');
      const map = existsSync(`${bundle}.map`) ? readFileSync(`${bundle}.map`, 'utf8') : undefined;
      const res = await agentRequest<{ detail?: string }>(
        need(ctx.layout, 'layout').vsock,
        'PUT',
        '/v1/function',
        { code, map, filename: path.basename(bundle), env: ctx.spec.env },
        ctx.opts.bootAgentTimeoutMs,
      );
      if (res.status !== 200) throw new Error(`agent refused the function (${res.status}): ${res.body?.detail ?? 'no detail'}`);
    },
  },
];

/** Runs the boot list; on failure unwinds everything acquired and throws `fc_boot_failed`. */
export async function runBoot(ctx: FlowContext, steps: readonly Step<FlowContext>[] = BOOT_STEPS): Promise<void> {
  await runSteps(steps, ctx, ctx.timings, FcBootFailed, `boot of ${ctx.spec.id}`, (e) => ctx.opts.onStep?.({ ...e, vmId: ctx.spec.id, flow: 'boot' }));
}
