/**
 * Benchmark 8, network and guest: network slot set-up and teardown with and without the pool,
 * and kernel memory per slot (measure/network.ts: needs root, and works inside private
 * namespaces it creates, never on the host's own links); the agent's start-up to ready as a plain
 * process and, when IGNITION_BENCH_IMAGE names a built base image, that image's size
 * (measure/image.ts).
 */
import { existsSync } from 'node:fs';
import { benchNetwork, type BenchNetworkResult } from './measure/network.ts';
import { measureAgentStartup, measureImageSize } from './measure/image.ts';
import { AGENT } from './lib/servers.ts';
import { fmt, mib, ms } from './lib/stats.ts';
import type { BenchContext, BenchResult, Table } from './lib/types.ts';

export async function runGuestNetwork(ctx: BenchContext): Promise<BenchResult> {
  const tables: Table[] = [];
  const notes: string[] = [];
  let net: BenchNetworkResult | null = null;
  const slots = ctx.quick ? 10 : 40;
  if (process.getuid?.() === 0) {
    ctx.log('network: slots');
    try {
      net = await benchNetwork({ slots });
    } catch (err) {
      notes.push(`Network bench failed: ${(err as Error).message.split('\n')[0]}`);
    }
  } else {
    notes.push('Network bench not run: it needs root (sudo npm run bench).');
  }
  if (net) {
    const row = (what: string, s: BenchNetworkResult['setupOnDemandMs']) => [what, ms(s.median), ms(s.p95), ms(s.max)];
    tables.push({
      title: `Network slots (${net.slots} per phase)`,
      columns: ['operation', 'p50', 'p95', 'max'],
      rows: [
        row('set-up on demand (no pool)', net.setupOnDemandMs),
        row('teardown', net.teardownMs),
        row('acquire from the pool', net.acquirePooledMs),
        row('acquire from the pool with a non-default policy', net.acquirePooledWithPolicyMs),
        ['fill the pool (all slots, background)', ms(net.poolFillMs), '—', '—'],
      ],
    });
    tables.push({
      title: 'Memory per slot',
      columns: ['measure', 'KiB per slot'],
      rows: [
        ['MemAvailable drop', fmt(net.memory.memAvailablePerSlotKiB, 0)],
        ['kernel slab growth', fmt(net.memory.slabPerSlotKiB, 0)],
        ['cgroup memory growth', net.memory.cgroupPerSlotKiB === null ? 'n/a' : fmt(net.memory.cgroupPerSlotKiB, 0)],
      ],
    });
  }
  ctx.log('guest: agent start-up');
  const agent = await measureAgentStartup({ agentBundle: AGENT, runs: ctx.quick ? 5 : 20 });
  const guestRows: Table['rows'] = [['agent start-up to ready (plain process, --uds)', ms(agent.medianMs), ms(agent.maxMs)]];
  const image = process.env.IGNITION_BENCH_IMAGE;
  let size = null;
  if (image && existsSync(image)) {
    size = measureImageSize(image);
    notes.push(`Base image ${image}: ${mib(size.apparentBytes)} apparent, ${mib(size.allocatedBytes)} allocated.`);
  } else {
    notes.push('Base image size not measured: set IGNITION_BENCH_IMAGE=<rootfs.ext4> to a built image (ignition image build). Boot under QEMU and on KVM come from the image and live Firecracker benches.');
  }
  tables.push({ title: 'Guest agent', columns: ['measure', 'p50', 'max'], rows: guestRows });
  return {
    id: 'guest-network',
    title: 'Network and guest',
    measures: 'Network slot costs (set-up, teardown, pooled acquisition, memory) and the guest agent\'s start-up to ready.',
    workload: `Network: ${slots} slots per phase in a private namespace playing the host (root). Agent: \`node dist/agent.mjs --uds <tmp>\` spawned until it prints its ready line.`,
    runs: `${slots} slot operations per phase; ${agent.samplesMs.length} agent starts.`,
    tables,
    goals: [],
    notes,
    raw: { network: net, agent, image: size },
  };
}
