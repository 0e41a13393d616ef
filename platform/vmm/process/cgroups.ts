/**
 * One cgroup per sandbox, so that a sandbox's memory, process count and CPU share are bounded by
 * the kernel rather than by whatever the sandboxed code agrees to. rlimits do not do this: they
 * count per process (a fork resets them) or per uid (shared by every sandbox of the driver), and
 * RLIMIT_AS bounds address space, not memory in use (a Node process maps gigabytes it never
 * touches).
 *
 * A sandbox's group is entered through the launcher (spawner.ts `cgroups`): it moves itself
 * in right before its spawn and back after, so the child is inside from its first instruction and
 * nothing it forks can start outside (`SandboxCgroup.spawn` lists the files for that).
 *
 * Layout. cgroup v1: in each of the memory, pids and cpu hierarchies, a driver group
 * `ignition-<pid>-<n>` under the daemon's own cgroup there (so a service's own limits still cover
 * its sandboxes), and a child `<id>` per sandbox. cgroup v2: the same under the daemon's cgroup,
 * which must be writable (root, or a delegated subtree); see openV2 for the daemon's own move.
 * Groups of daemons that died are removed by the next to open.
 */
import { accessSync, constants, existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';

export interface SandboxLimits {
  memoryMiB: number;
  pids: number;
  /** 1..10000 with cgroup v2's meaning: 100 is the default, a sandbox at 200 gets twice its share. */
  cpuWeight: number;
}

export interface CgroupSupport {
  version: 'v1' | 'v2';
  memory: boolean;
  /** Swap is limited too (v1 memory.memsw.*, v2 memory.swap.max), so a sandbox cannot page out past its limit. */
  swap: boolean;
  pids: boolean;
  cpu: boolean;
  /** cpu.idle exists (Linux 5.15+). */
  idle: boolean;
}

export interface SandboxCgroup {
  /** The cgroup.procs files the launcher writes its pid into before the spawn (v1: one per hierarchy; v2: one), and those it goes back to after it. */
  readonly spawn: Array<{ procs: string; home: string }>;
  setLimits(limits: Partial<SandboxLimits>): void;
  /** cpu.idle = 1 / 0 (where support.idle): an idle group only gets CPU nobody else wants. */
  setIdle(idle: boolean): void;
  /** Processes of the group the kernel's OOM killer has killed (v2 with memory.oom.group: every member killed counts). */
  oomKills(): number;
  memory(): { currentBytes?: number; peakBytes?: number };
  /** Kills whatever is left in the group and removes it; rejects only if it is still busy after a few seconds. */
  remove(): Promise<void>;
}

type Controller = 'memory' | 'pids' | 'cpu';
const CONTROLLERS: Controller[] = ['memory', 'pids', 'cpu'];
/** A driver group: the pid tells whether its daemon still runs; n tells drivers of one process apart (tests open several). */
const DRIVER_GROUP = /^ignition-(\d+)-\d+$/;
/** v2: the leaf the daemon moves itself into (openV2). */
const DAEMON_LEAF = 'ignition-daemon';
const REMOVE_TIMEOUT_MS = 3000;
let opened = 0;

const V1_FIX =
  'run the daemon as root (cgroup v1 cannot delegate groups to other users), or on a cgroup v2 host start it in a delegated cgroup of its own: systemd-run --user --scope -p Delegate=yes <daemon command>';
const V2_FIX =
  'start the daemon in a delegated cgroup of its own: systemd-run --scope -p Delegate=yes <daemon command> (rootless: systemd-run --user --scope -p Delegate=yes <daemon command>)';

/** What the groups of one driver share: where they live and which optional files the kernel has. */
interface Layout {
  support: CgroupSupport;
  /** v2 files that older kernels lack: memory.oom.group (4.19), cgroup.kill (5.14). */
  oomGroup: boolean;
  kill: boolean;
}

/**
 * v2 only: the daemon's move into its leaf is done once per process and shared by its drivers;
 * the last one to close moves the daemon back (see releaseV2).
 */
interface V2Home {
  dir: string;
  leaf: string;
  controllers: Controller[];
  /** Controllers this process enabled in the daemon group's subtree_control, to disable again. */
  enabled: Controller[];
  users: number;
}
const v2Homes = new Map<string, V2Home>();
/** A driver group in one hierarchy (v2: one for all three) and the cgroup.procs of the daemon's group there. */
interface Parent {
  controllers: Controller[];
  dir: string;
  home: string;
}
/** Driver groups this process made: any other group named with its pid is a dead daemon's whose pid came round again. */
const ours = new Set<string>();

export class SandboxCgroups {
  private closed = false;

  private constructor(
    private readonly layout: Layout,
    private readonly parents: Parent[],
    private readonly v2home?: V2Home,
  ) {}

  get support(): CgroupSupport {
    return this.layout.support;
  }

  /**
   * This driver's group(s), or why there can be none. `root` is where the cgroup filesystems are
   * mounted and `selfCgroup` the text of /proc/self/cgroup: both only for tests on a fake tree.
   */
  static open(opts: { root?: string; selfCgroup?: string } = {}): SandboxCgroups | { reason: string; fix: string } {
    const root = opts.root ?? '/sys/fs/cgroup';
    let self = opts.selfCgroup;
    try {
      self ??= readFileSync('/proc/self/cgroup', 'utf8');
    } catch {
      return { reason: 'no /proc/self/cgroup: not Linux, or a kernel without cgroups', fix: 'run the daemon on Linux with cgroups mounted at /sys/fs/cgroup' };
    }
    // A pure v2 host mounts cgroup2 at the root itself; a v1 or "hybrid" host mounts a tmpfs there
    // with one directory per v1 hierarchy (hybrid's cgroup2 at ./unified holds no controllers).
    const result = existsSync(path.join(root, 'cgroup.controllers')) ? openV2(root, self) : openV1(root, self);
    return 'reason' in result ? result : new SandboxCgroups(result.layout, result.parents, result.home);
  }

  /** A group for sandbox `id` (unique among this driver's live sandboxes) with `limits` applied. */
  create(id: string, limits: SandboxLimits): SandboxCgroup {
    if (this.closed) throw new Error('the sandbox cgroups are closed');
    if (!/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(id)) throw new Error(`not a usable cgroup name: ${JSON.stringify(id)}`);
    checkLimits(limits);
    const made: string[] = [];
    const dirs: Partial<Record<Controller, string>> = {};
    try {
      for (const p of this.parents) {
        const dir = path.join(p.dir, id);
        mkdirSync(dir);
        made.push(dir);
        for (const c of p.controllers) dirs[c] = dir;
      }
      const group = new Group(
        this.layout,
        dirs,
        made,
        this.parents.map((p, i) => ({ procs: path.join(made[i], 'cgroup.procs'), home: p.home })),
      );
      if (this.layout.support.version === 'v2' && dirs.memory) {
        // No swap at all: a sandbox over its limit is killed rather than slowing the host by paging.
        if (this.layout.support.swap) write(path.join(dirs.memory, 'memory.swap.max'), 0);
        // An OOM kill takes the whole sandbox rather than one process of it (say the function's
        // Node while bwrap and the agent stay up), so a sandbox is never left half alive.
        if (this.layout.oomGroup) write(path.join(dirs.memory, 'memory.oom.group'), 1);
      }
      group.setLimits(limits);
      return group;
    } catch (err) {
      for (const dir of made) tryRmdir(dir);
      throw err;
    }
  }

  /** Removes the driver's groups, once its sandboxes are gone. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    // A sandbox group still here is one whose remove() never ran. Its processes are moved home
    // (so the group can go now, close is synchronous) and killed: at home no limit holds them.
    for (const p of this.parents) {
      clearDriverGroup(p.dir, p.home);
      ours.delete(p.dir);
    }
    if (this.v2home) releaseV2(this.v2home);
  }
}

class Group implements SandboxCgroup {
  private weight = 100;
  private idle = false;
  private removing?: Promise<void>;

  constructor(
    private readonly layout: Layout,
    private readonly dirs: Partial<Record<Controller, string>>,
    /** Every directory of the group (v1: one per hierarchy). */
    private readonly all: string[],
    readonly spawn: Array<{ procs: string; home: string }>,
  ) {}

  setLimits(limits: Partial<SandboxLimits>): void {
    checkLimits(limits);
    const v1 = this.layout.support.version === 'v1';
    const { memory, pids, cpu } = this.dirs;
    if (limits.memoryMiB !== undefined && memory) {
      const bytes = limits.memoryMiB * 1024 * 1024;
      if (v1) setMemoryV1(memory, bytes, this.layout.support.swap);
      else write(path.join(memory, 'memory.max'), bytes);
    }
    if (limits.pids !== undefined && pids) write(path.join(pids, 'pids.max'), limits.pids);
    if (limits.cpuWeight !== undefined && cpu) {
      this.weight = limits.cpuWeight;
      // The kernel refuses a weight for an idle group (EINVAL); setIdle(false) applies it.
      if (!this.idle) this.writeWeight();
    }
  }

  setIdle(idle: boolean): void {
    const cpu = this.dirs.cpu;
    if (!cpu || !this.layout.support.idle) return;
    write(path.join(cpu, 'cpu.idle'), idle ? 1 : 0);
    this.idle = idle;
    // Leaving idle sets the group's weight back to the default, not to the one it had (seen on
    // Linux 6.18: cpu.shares 2048, idle 1, idle 0, cpu.shares 1024): restore ours.
    if (!idle) this.writeWeight();
  }

  oomKills(): number {
    const memory = this.dirs.memory;
    if (!memory) return 0;
    const file = this.layout.support.version === 'v1' ? 'memory.oom_control' : 'memory.events';
    const m = /^oom_kill (\d+)$/m.exec(readOr(path.join(memory, file), ''));
    return m ? Number(m[1]) : 0;
  }

  memory(): { currentBytes?: number; peakBytes?: number } {
    const memory = this.dirs.memory;
    if (!memory) return {};
    const [current, peak] = this.layout.support.version === 'v1' ? ['memory.usage_in_bytes', 'memory.max_usage_in_bytes'] : ['memory.current', 'memory.peak'];
    return { currentBytes: readNumber(path.join(memory, current)), peakBytes: readNumber(path.join(memory, peak)) };
  }

  remove(): Promise<void> {
    this.removing ??= this.removeNow();
    return this.removing;
  }

  private async removeNow(): Promise<void> {
    const deadline = Date.now() + REMOVE_TIMEOUT_MS;
    let left = [...this.all];
    for (let wait = 1; ; wait = Math.min(wait * 2, 50)) {
      const pids = [...new Set(left.flatMap((dir) => readPids(path.join(dir, 'cgroup.procs'))))];
      if (pids.length) {
        // cgroup.kill also catches a fork under way, which a kill by pid can miss (hence the loop).
        if (this.layout.kill) write(path.join(left[0], 'cgroup.kill'), 1);
        else for (const pid of pids) trySigkill(pid);
      } else {
        // Empty: rmdir can still meet EBUSY while a killed task finishes its exit; ENOENT is gone already.
        left = left.filter((dir) => !tryRmdir(dir, true));
        if (!left.length) return;
      }
      if (Date.now() > deadline) throw new Error(`cgroup ${left[0]} still busy after ${REMOVE_TIMEOUT_MS} ms (processes: ${pids.join(' ') || 'none'})`);
      await new Promise((resolve) => setTimeout(resolve, wait));
    }
  }

  private writeWeight() {
    const cpu = this.dirs.cpu!;
    if (this.layout.support.version === 'v2') write(path.join(cpu, 'cpu.weight'), this.weight);
    // v1 shares (2..262144) scaled so that 1024, v1's default, is weight 100, v2's: sandboxes then
    // weigh against the daemon's other tasks as they would on v2. (The kernel's own v1-to-v2
    // conversion maps 1024 to 39, and the inverse runc uses maps 100 to 2597.)
    else write(path.join(cpu, 'cpu.shares'), Math.min(262144, Math.max(2, Math.round((this.weight * 1024) / 100))));
  }
}

type Opened = { layout: Layout; parents: Parent[]; home?: V2Home } | { reason: string; fix: string };

function openV1(root: string, self: string): Opened {
  // The daemon's own group in each hierarchy: on this kind of host they differ (a service's memory
  // group can be nested while its cpu group is the root).
  const own = new Map<string, string>();
  for (const line of self.split('\n')) {
    const [, names, rel] = line.split(':');
    if (names && rel !== undefined) for (const name of names.split(',')) own.set(name, rel);
  }
  const found: Array<{ c: Controller; base: string }> = [];
  for (const c of CONTROLLERS) {
    const mount = v1Mount(root, c);
    const rel = own.get(c);
    if (mount && rel !== undefined) found.push({ c, base: path.join(mount, rel) });
  }
  if (!found.length)
    return {
      reason: `no cgroup v1 memory, pids or cpu hierarchy this process is in under ${root}, and no cgroup v2 mounted there`,
      fix: 'run the daemon on a Linux host with cgroups mounted at /sys/fs/cgroup (cgroup v2, or v1 with the memory, pids and cpu controllers)',
    };
  const n = ++opened;
  const parents: Parent[] = [];
  for (const { c, base } of found) {
    const home = path.join(base, 'cgroup.procs');
    removeStale(base, home);
    const dir = path.join(base, `ignition-${process.pid}-${n}`);
    try {
      mkdirSync(dir);
      ours.add(dir);
    } catch (err) {
      for (const p of parents) {
        tryRmdir(p.dir);
        ours.delete(p.dir);
      }
      const e = err as NodeJS.ErrnoException;
      const denied = e.code === 'EACCES' || e.code === 'EPERM' || e.code === 'EROFS';
      return { reason: `cgroup v1: cannot make ${dir} (${e.code ?? e.message})${denied ? ': not writable by this user' : ''}`, fix: V1_FIX };
    }
    parents.push({ controllers: [c], dir, home });
  }
  const dirOf = (c: Controller) => parents.find((p) => p.controllers[0] === c)?.dir;
  const mem = dirOf('memory');
  const cpu = dirOf('cpu');
  const support: CgroupSupport = {
    version: 'v1',
    memory: mem !== undefined,
    // Only with swap accounting (CONFIG_MEMCG_SWAP and not swapaccount=0) does v1 have memsw.
    swap: mem !== undefined && existsSync(path.join(mem, 'memory.memsw.limit_in_bytes')),
    pids: dirOf('pids') !== undefined,
    cpu: cpu !== undefined,
    idle: cpu !== undefined && existsSync(path.join(cpu, 'cpu.idle')),
  };
  return { layout: { support, oomGroup: false, kill: false }, parents };
}

/** Where the v1 hierarchy with controller `c` is mounted: ./cpu, or a co-mount such as ./cpu,cpuacct. */
function v1Mount(root: string, c: Controller): string | undefined {
  const names = [c, ...readdirOr(root).filter((n) => n.split(',').includes(c))];
  return names.map((n) => path.join(root, n)).find((dir) => existsSync(path.join(dir, 'cgroup.procs')));
}

function openV2(root: string, self: string): Opened {
  const rel = /^0::(\/.*)$/m.exec(self)?.[1];
  if (rel === undefined) return { reason: 'cgroup v2: /proc/self/cgroup has no 0:: line', fix: V2_FIX };
  const dir = path.join(root, rel);
  let home = v2Homes.get(dir);
  if (!home) {
    const moved = moveDaemonV2(dir);
    if ('reason' in moved) return moved;
    home = moved;
    v2Homes.set(dir, home);
  }
  home.users++;
  const homeProcs = path.join(home.leaf, 'cgroup.procs');
  removeStale(dir, homeProcs);
  const parent = path.join(dir, `ignition-${process.pid}-${++opened}`);
  try {
    mkdirSync(parent);
    ours.add(parent);
    // The driver group holds no process, so it may hand the controllers on to the sandboxes' groups.
    write(path.join(parent, 'cgroup.subtree_control'), home.controllers.map((c) => `+${c}`).join(' '));
  } catch (err) {
    tryRmdir(parent);
    ours.delete(parent);
    releaseV2(home);
    return { reason: `cgroup v2: cannot make ${parent}: ${(err as Error).message}`, fix: V2_FIX };
  }
  // The leaf is a child of the daemon's group as the driver group is: the same interface files.
  const has = (file: string) => existsSync(path.join(home.leaf, file));
  const on = (c: Controller) => home.controllers.includes(c);
  const support: CgroupSupport = {
    version: 'v2',
    memory: on('memory'),
    // memory.swap.max is missing without swap accounting (swapaccount=0 or no CONFIG_MEMCG_SWAP).
    swap: on('memory') && has('memory.swap.max'),
    pids: on('pids'),
    cpu: on('cpu'),
    idle: on('cpu') && has('cpu.idle'),
  };
  const layout: Layout = { support, oomGroup: on('memory') && has('memory.oom.group'), kill: has('cgroup.kill') };
  return { layout, parents: [{ controllers: home.controllers, dir: parent, home: homeProcs }], home };
}

/**
 * cgroup v2 lets a group (other than the root) either hold processes or enable controllers for
 * its children, never both. The daemon's group holds the daemon, so it first moves itself (every
 * thread: cgroup.procs moves the whole process) into a leaf child, then enables memory, pids and
 * cpu for the children. Processes of the group other than the daemon's are not moved: they are not
 * the daemon's to move (a shell, a supervisor), and a launcher started before open() would have to
 * be moved as well, so open() must come first; either way the daemon needs a group of its own.
 */
function moveDaemonV2(dir: string): V2Home | { reason: string; fix: string } {
  const available = readOr(path.join(dir, 'cgroup.controllers'), '').split(/\s+/);
  const controllers = CONTROLLERS.filter((c) => available.includes(c));
  if (!controllers.length)
    return {
      reason: `cgroup v2: none of the memory, pids and cpu controllers is available in the daemon's cgroup ${dir}`,
      fix: `${V2_FIX}; for a rootless daemon also delegate the controllers to user sessions (a drop-in for user@.service with Delegate=cpu memory pids, then log in again)`,
    };
  for (const file of [dir, path.join(dir, 'cgroup.procs'), path.join(dir, 'cgroup.subtree_control')]) {
    try {
      accessSync(file, constants.W_OK);
    } catch {
      return { reason: `cgroup v2: the daemon's cgroup is not delegated to it: ${file} is not writable by uid ${process.getuid?.()}`, fix: V2_FIX };
    }
  }
  const others = readPids(path.join(dir, 'cgroup.procs')).filter((pid) => pid !== process.pid);
  if (others.length)
    return {
      reason: `cgroup v2: the daemon's cgroup ${dir} also holds other processes (${others.slice(0, 5).join(' ')}${others.length > 5 ? ' ...' : ''}), and v2 lets a group with processes enable no controllers for its children`,
      fix: V2_FIX,
    };
  const already = readOr(path.join(dir, 'cgroup.subtree_control'), '').split(/\s+/);
  const enabled = controllers.filter((c) => !already.includes(c));
  const leaf = path.join(dir, DAEMON_LEAF);
  try {
    if (!existsSync(leaf)) mkdirSync(leaf);
    write(path.join(leaf, 'cgroup.procs'), process.pid);
    if (enabled.length) write(path.join(dir, 'cgroup.subtree_control'), enabled.map((c) => `+${c}`).join(' '));
  } catch (err) {
    // E.g. a process forked into the group meanwhile (EBUSY): go back to where the daemon was.
    try {
      write(path.join(dir, 'cgroup.procs'), process.pid);
    } catch {
      // the daemon stays in the leaf, which is within its own group anyway
    }
    tryRmdir(leaf);
    return { reason: `cgroup v2: cannot move the daemon into ${leaf} and enable controllers in ${dir}: ${(err as Error).message}`, fix: V2_FIX };
  }
  return { dir, leaf, controllers, enabled, users: 0 };
}

/** The last driver of the process is closed: the daemon (and what it started since) goes back to its own group. */
function releaseV2(home: V2Home) {
  if (--home.users > 0) return;
  v2Homes.delete(home.dir);
  try {
    // Processes may enter the daemon's group only once it enables no controllers for children again.
    if (home.enabled.length) write(path.join(home.dir, 'cgroup.subtree_control'), home.enabled.map((c) => `-${c}`).join(' '));
    for (const pid of readPids(path.join(home.leaf, 'cgroup.procs'))) tryMove(path.join(home.dir, 'cgroup.procs'), pid);
    rmdirSync(home.leaf);
  } catch {
    // Left as it is: the daemon keeps running in its leaf, which the next open() reuses.
  }
}

/** Removes the driver groups of daemons that are gone (their pid no longer runs). */
function removeStale(base: string, home: string) {
  for (const name of readdirOr(base)) {
    const pid = Number(DRIVER_GROUP.exec(name)?.[1]);
    const dir = path.join(base, name);
    if (!pid || ours.has(dir) || (pid !== process.pid && existsSync(`/proc/${pid}`))) continue;
    clearDriverGroup(dir, home);
  }
}

/** Empties and removes a driver group: its sandbox groups' processes are moved home and killed (see close()). */
function clearDriverGroup(dir: string, home: string) {
  for (const entry of readdirOr(dir, true)) {
    const sandbox = path.join(dir, entry);
    for (const pid of readPids(path.join(sandbox, 'cgroup.procs'))) {
      tryMove(home, pid);
      trySigkill(pid);
    }
    tryRmdir(sandbox);
  }
  for (const pid of readPids(path.join(dir, 'cgroup.procs'))) tryMove(home, pid);
  tryRmdir(dir);
}

/** v1 requires memsw >= the memory limit at every step: memsw first when raising, the limit first when lowering. */
function setMemoryV1(dir: string, bytes: number, swap: boolean) {
  const limit = path.join(dir, 'memory.limit_in_bytes');
  const memsw = path.join(dir, 'memory.memsw.limit_in_bytes');
  if (!swap) return write(limit, bytes);
  const order = bytes > (readNumber(limit) ?? Infinity) ? [memsw, limit] : [limit, memsw];
  for (const file of order) write(file, bytes);
}

function checkLimits(l: Partial<SandboxLimits>) {
  const bad = (what: string, v: unknown) => new RangeError(`sandbox cgroup: ${what} must be ${v}`);
  if (l.memoryMiB !== undefined && !(Number.isInteger(l.memoryMiB) && l.memoryMiB > 0)) throw bad('memoryMiB', 'a positive integer');
  if (l.pids !== undefined && !(Number.isInteger(l.pids) && l.pids > 0)) throw bad('pids', 'a positive integer');
  if (l.cpuWeight !== undefined && !(Number.isInteger(l.cpuWeight) && l.cpuWeight >= 1 && l.cpuWeight <= 10000))
    throw bad('cpuWeight', 'an integer in 1..10000');
}

/** A write to a cgroup file; the kernel's errors name no file, so this one does. */
function write(file: string, value: number | string) {
  try {
    writeFileSync(file, String(value));
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw Object.assign(new Error(`cannot write ${value} to ${file}: ${e.message}`), { code: e.code });
  }
}

function readOr(file: string, fallback: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return fallback;
  }
}

/** A number from a cgroup file; undefined for "max" or a file this kernel lacks. */
function readNumber(file: string): number | undefined {
  const text = readOr(file, '').trim();
  return text && Number.isFinite(Number(text)) ? Number(text) : undefined;
}

function readPids(procs: string): number[] {
  return readOr(procs, '').split('\n').filter(Boolean).map(Number);
}

function readdirOr(dir: string, dirsOnly = false): string[] {
  try {
    return readdirSync(dir, { withFileTypes: true })
      .filter((e) => !dirsOnly || e.isDirectory())
      .map((e) => e.name);
  } catch {
    return [];
  }
}

function tryMove(procs: string, pid: number) {
  try {
    writeFileSync(procs, String(pid));
  } catch {
    // gone meanwhile (ESRCH), or exiting
  }
}

function trySigkill(pid: number) {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // gone already
  }
}

/**
 * True once the directory is gone (removed now, or already); false while it stays, e.g. EBUSY
 * while a killed task finishes its exit. `strict`: errors other than EBUSY are thrown.
 */
function tryRmdir(dir: string, strict = false): boolean {
  try {
    rmdirSync(dir);
    return true;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return true;
    if (strict && code !== 'EBUSY') throw err;
    return false;
  }
}
