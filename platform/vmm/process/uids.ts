/**
 * Host uids for sandboxes when the daemon runs as root: each sandbox runs as an unprivileged uid
 * of its own, never as root, not even inside its user namespace's mapping.
 *
 * Why not root mapped to nobody: bwrap started by root maps the sandbox's uid to host uid 0, so
 * anything that gets past the mount namespace acts as root on the host, and root is exempt from
 * RLIMIT_NPROC. Why one uid per sandbox rather than one for all: RLIMIT_NPROC counts every process
 * of a host uid, so a shared uid would let one function's fork bomb starve the others' forks.
 *
 * The uids come from a range no account uses (BASE.. BASE+COUNT, inside the range systemd
 * documents for containers' uids); each driver starts at a random point of it, so daemons on one
 * host (tests run several) rarely pick the same one, and a collision would only share a
 * process count: the sandboxes still see nothing of each other (separate pid and mount namespaces).
 */
import { randomInt } from 'node:crypto';

export const SANDBOX_UID_BASE = 1_800_000_000;
const COUNT = 1 << 20;

export class SandboxUids {
  private readonly used = new Set<number>();
  private next = randomInt(COUNT);

  /** A free uid (its gid is the same number). */
  take(): number {
    for (let i = 0; i < COUNT; i++) {
      const uid = SANDBOX_UID_BASE + ((this.next + i) % COUNT);
      if (this.used.has(uid)) continue;
      this.used.add(uid);
      this.next = (this.next + i + 1) % COUNT;
      return uid;
    }
    throw new Error('no free sandbox uid');
  }

  release(uid: number): void {
    this.used.delete(uid);
  }

  /** Ids for a probe sandbox (not reserved: the probe ends before any sandbox starts). */
  probeIds(): { uid: number; gid: number } {
    const uid = SANDBOX_UID_BASE + this.next;
    return { uid, gid: uid };
  }
}
