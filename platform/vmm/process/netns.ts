/**
 * Network namespaces for sandboxes without network, made ahead and reused (process driver).
 *
 * A sandbox without network runs in a network namespace of its own that holds only a loopback
 * device, so it can reach nothing. Creating a namespace is not cheap for the rest of the host:
 * measured on the 2-vCPU benchmark host under a steady open-loop load, the requests due in the
 * 100 ms after a deploy's answer (when the replacement of the spare sandbox starts) had a median
 * latency of 8.7-12.9 ms with bwrap creating the sandbox's namespace against 5.3-5.4 ms without
 * one (an experiment, not a mode), and the p99 of the second after the answer was 47-52 ms
 * against 23-26 ms.
 *
 * So where the daemon may (root: the bind mounts and setns() need CAP_SYS_ADMIN), the driver keeps
 * namespaces as bind mounts in a directory of the data dir (what `ip netns add` does), and a
 * sandbox without network starts inside a free one through nsenter(1) instead of bwrap's
 * `--unshare-net`. Two sandboxes never share one:
 *  - a namespace is lent to one sandbox and comes back only after the sandbox has exited and no
 *    process is left in it (checked through /proc), else it is unmounted and dropped;
 *  - the sandbox holds no capability, so it cannot have changed the namespace's devices,
 *    addresses, routes or sysctls, and its sockets closed with its processes.
 *
 * A start that finds none free falls back to `--unshare-net` and has one more made in the
 * background, so the pool grows to what the host runs at once (a deploy under traffic needs three:
 * the old version's instance, the new one, and the spare sandbox's replacement) and then stops
 * creating them. At most `maxFree` are kept free; the rest are unmounted as they come back.
 * Namespaces left by a crashed daemon are unmounted when the next one starts.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Logger } from '../../log.ts';

/** Runs a command to its end: its exit code (null when killed or not started) and its stderr. */
export type CommandRunner = (file: string, args: string[]) => Promise<{ code: number | null; stderr: string }>;

export interface NetnsTools {
  unshare: string;
  nsenter: string;
  umount: string;
  ip: string;
}

const find = (names: string[]) => names.find((p) => existsSync(p));

/**
 * The tools the pool needs and the privilege it needs, or why it cannot be used here (then every
 * sandbox without network gets a new namespace from bwrap, as before).
 */
export function netnsSupport(): { tools: NetnsTools } | { reason: string } {
  if (process.geteuid?.() !== 0) return { reason: 'not root (bind-mounting and entering namespaces needs CAP_SYS_ADMIN)' };
  const unshare = find(['/usr/bin/unshare', '/bin/unshare']);
  const nsenter = find(['/usr/bin/nsenter', '/bin/nsenter']);
  const umount = find(['/usr/bin/umount', '/bin/umount']);
  const ip = find(['/usr/sbin/ip', '/sbin/ip', '/usr/bin/ip', '/bin/ip']);
  if (!unshare || !nsenter || !umount) return { reason: 'util-linux unshare, nsenter or umount not found' };
  if (!ip) return { reason: 'ip(8) not found (apt-get install -y iproute2)' };
  return { tools: { unshare, nsenter, umount, ip } };
}

/** The inode of the network namespace `pid` is in, or undefined when it cannot be read. */
function netnsInode(pid: string): number | undefined {
  try {
    const m = /^net:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/ns/net`));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

/** Whether any process is in the namespace bind-mounted at `file` (an unreadable file counts as yes). */
export function netnsInUse(file: string): boolean {
  let ino: number;
  try {
    ino = statSync(file).ino;
  } catch {
    return true;
  }
  for (const entry of readdirSync('/proc')) {
    if (/^\d+$/.test(entry) && netnsInode(entry) === ino) return true;
  }
  return false;
}

/** How long after a sandbox exits its namespace is checked for stragglers and lent again. */
const RELEASE_DELAY_MS = 500;
const RELEASE_TRIES = 10;

export class NetnsPool {
  readonly #free: string[] = [];
  readonly #lent = new Set<string>();
  /** Creations and unmounts, one at a time. */
  #chain: Promise<void>;
  #growing = false;
  #disabled = false;
  #closed = false;
  readonly #timers = new Set<NodeJS.Timeout>();

  constructor(
    private readonly o: { dir: string; tools: NetnsTools; run: CommandRunner; logger: Logger; initial: number; maxFree: number; releaseDelayMs?: number },
  ) {
    this.#chain = this.#sweep();
    for (let i = 0; i < o.initial; i++) this.#chain = this.#chain.then(() => this.#make());
  }

  /** Namespaces free now, and lent to running sandboxes. */
  get stats(): { free: number; lent: number } {
    return { free: this.#free.length, lent: this.#lent.size };
  }

  /** Resolves when no creation or unmount is under way (tests). */
  async settled(): Promise<void> {
    let seen: Promise<void> | undefined;
    while (seen !== this.#chain) {
      seen = this.#chain;
      await seen;
    }
  }

  /**
   * A free namespace's file for a sandbox to enter (nsenter --net=FILE), or undefined: the caller
   * then has bwrap create one, and one more is made for next time.
   */
  take(): string | undefined {
    const file = this.#free.pop();
    if (file) {
      this.#lent.add(file);
      return file;
    }
    this.#grow();
    return undefined;
  }

  /**
   * The sandbox that entered `file` has exited. After a short delay, and only once no process is
   * left in the namespace, it is free again (or unmounted beyond `maxFree`).
   */
  release(file: string, tries = RELEASE_TRIES): void {
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      if (this.#closed) return;
      if (netnsInUse(file)) {
        if (tries > 1) return this.release(file, tries - 1);
        this.o.logger.warn('a network namespace still has processes after its sandbox exited; dropping it', { file });
        this.#drop(file);
        return;
      }
      this.#lent.delete(file);
      if (this.#disabled || this.#free.length >= this.o.maxFree) this.#drop(file);
      else this.#free.push(file);
    }, this.o.releaseDelayMs ?? RELEASE_DELAY_MS);
    timer.unref();
    this.#timers.add(timer);
  }

  /** Unmounts every namespace (free or lent: call it once the sandboxes are gone) and the directory. */
  async close(): Promise<void> {
    this.#closed = true;
    for (const t of this.#timers) clearTimeout(t);
    this.#timers.clear();
    await this.#chain.catch(() => {});
    const all = [...this.#free, ...this.#lent];
    this.#free.length = 0;
    this.#lent.clear();
    await this.#unmount(all);
    rmSync(this.o.dir, { recursive: true, force: true });
  }

  #grow() {
    if (this.#growing || this.#disabled || this.#closed) return;
    this.#growing = true;
    this.#chain = this.#chain.then(() => this.#make()).finally(() => (this.#growing = false));
  }

  /** One new namespace with its loopback device up (as bwrap's --unshare-net leaves it). */
  async #make(): Promise<void> {
    if (this.#disabled || this.#closed) return;
    const file = path.join(this.o.dir, `ns-${randomBytes(6).toString('hex')}`);
    try {
      mkdirSync(this.o.dir, { recursive: true, mode: 0o700 });
      writeFileSync(file, '', { mode: 0o600 });
      // unshare creates the namespace, bind-mounts it on `file` and runs ip inside it.
      const r = await this.o.run(this.o.tools.unshare, [`--net=${file}`, this.o.tools.ip, 'link', 'set', 'lo', 'up']);
      if (r.code !== 0) throw new Error(r.stderr.trim() || `unshare exited with ${r.code}`);
    } catch (err) {
      this.#disabled = true;
      this.o.logger.warn('could not make a network namespace; sandboxes without network get a new one each', { err: (err as Error).message });
      await this.#unmount([file]);
      return;
    }
    if (this.#closed) await this.#unmount([file]);
    else this.#free.push(file);
  }

  #drop(file: string) {
    this.#lent.delete(file);
    this.#chain = this.#chain.then(() => this.#unmount([file]));
  }

  /** Unmounts and removes `files` (one umount for all of them; ones never mounted are just removed). */
  async #unmount(files: string[]): Promise<void> {
    if (!files.length) return;
    const mounted = files.filter((f) => existsSync(f));
    if (mounted.length) await this.o.run(this.o.tools.umount, ['-l', ...mounted]).catch(() => undefined);
    for (const f of mounted) rmSync(f, { force: true });
  }

  /** Namespaces a previous daemon left (it crashed or was killed): unmounted and removed. */
  async #sweep(): Promise<void> {
    let names: string[];
    try {
      names = readdirSync(this.o.dir);
    } catch {
      return;
    }
    if (names.length) this.o.logger.info('removing network namespaces left by a previous run', { count: names.length });
    await this.#unmount(names.map((n) => path.join(this.o.dir, n)));
  }
}
