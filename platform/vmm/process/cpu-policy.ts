/**
 * How a sandbox that serves nothing yet (a deploy's build machine, a new version's pre-warmed
 * instances, a spare) shares the host's CPU with the ones that serve traffic: the process
 * driver's one scheduling policy.
 *
 * Where each sandbox has a cgroup of its own with a `cpu.idle` file (Linux 5.15+, cgroup v1 and
 * v2; cgroups.ts), a background sandbox's group is idle: the kernel gives it only CPU that no
 * other group wants, for its whole process tree, from its first instruction (the launcher spawns
 * it inside the group), and the daemon can take it back out without any privilege. Elsewhere the
 * policy is plain: every sandbox runs at the daemon's own priority, and the daemon says so in
 * `/v1/info` and at start.
 *
 * This replaced a stack of thread nice values, autogroup nice values, a shared idle group and
 * SIGSTOP/SIGCONT pacing of background starts: the operations benchmark, run against both in the
 * same session, did not show them worth their lines (docs/DEPLOYS.md, "CPU for background work").
 */
import type { MachinePriority } from '../port.ts';
import type { SandboxCgroup } from './cgroups.ts';

export interface CpuPolicy {
  /** `idle` (background groups get only spare CPU) or `plain` (no difference). */
  readonly name: 'idle' | 'plain';
  /** Gives a sandbox's group the priority's share; called before its spawn and at every change. */
  apply(cgroup: SandboxCgroup | undefined, priority: MachinePriority): void;
}

/** Every sandbox at the daemon's priority. */
export const PLAIN: CpuPolicy = { name: 'plain', apply: () => undefined };

/** Background sandboxes in idle cgroups. */
export const IDLE_GROUPS: CpuPolicy = { name: 'idle', apply: (cgroup, priority) => cgroup?.setIdle(priority === 'background') };

/** The policy a host supports: idle groups where sandboxes have cgroups with cpu.idle. */
export function cpuPolicyFor(support: { idle: boolean } | undefined): CpuPolicy {
  return support?.idle ? IDLE_GROUPS : PLAIN;
}
